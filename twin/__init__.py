"""twin: an urban-planning digital twin.

Real city layers (roads, utilities, zones, buildings, facilities, sensors) in one GeoPackage,
agents that live in them, what-if scenarios with honest before/after comparisons, and offline 3D
maps.

Examples
--------
>>> import twin
>>> twin.__version__
'0.1.0'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("twin")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

__all__ = ["__version__"]
