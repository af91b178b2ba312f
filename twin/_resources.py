"""Where twin finds the files users edit: the data dictionary, agent profiles, scenarios.

In a source checkout they are the top-level folders ``layers/``, ``agents/`` and ``scenarios/``;
in an installed wheel they are packaged under ``twin/_data/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir"]

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``"layers"``, ``"agents"`` or ``"scenarios"``).

    Examples
    --------
    >>> data_dir("layers").joinpath("roads.yaml").exists()
    True
    """
    if name not in {"layers", "agents", "scenarios"}:
        msg = f"unknown data folder {name!r}; expected layers, agents or scenarios"
        raise ValueError(msg)
    checkout = _PKG.parent / name
    if checkout.is_dir():
        return checkout
    return _PKG / "_data" / name
