"""The intervention registry: one small pure function per intervention type, registered by name.

An intervention is ``func(twin, params, rng) -> twin``: it gets a *copy* of the twin (never the
file), the validated parameters of one scenario entry and the run's numpy Generator, and returns
the changed twin. Layer changes go into ``twin.layers``; what the engines need beyond the layers
goes into ``twin.extras``:

- ``extras["events"]``: time-windowed events, dicts with a ``type`` and ``hours: [start, end)``:
  ``{"type": "close_roads", "road_ids": [...], "hours": [7, 10]}``,
  ``{"type": "power_outage", "power_node_ids": [...], "hours": [...]}``,
  ``{"type": "water_outage", "water_node_ids": [...], "hours": [...]}``;
- ``extras["params"]``: engine parameters keyed by name (e.g. ``"e_services_share"``,
  ``"power_peak_shave_pct"``, ``"signal_capacity_gain_pct"``), read by the engines with defaults;
- ``extras["highlight"]``: ``{layer: [feature ids]}`` that the maps highlight.

Costs (``cost`` and ``financing`` keys of an entry) are handled by the scenario runner, not by
the function. Parameter specs are declared with :class:`Param` so the scenario loader can check
types, ranges and allowed values before anything runs.

Examples
--------
>>> @intervention("example_noop", family="examples", params={
...     "factor": Param("float", min=0, max=10, default=1.0, description="unused")})
... def example_noop(twin, params, rng):
...     return twin
>>> get("example_noop").params["factor"].max
10
>>> unregister("example_noop")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin._errors import ScenarioError
from twin.layers.schemas import suggest
from twin.layers.store import Twin

__all__ = [
    "WHERE_PARAM",
    "InterventionType",
    "Param",
    "add_event",
    "get",
    "highlight",
    "intervention",
    "registry",
    "set_param",
    "unregister",
]

InterventionFunc = Callable[[Twin, dict[str, Any], np.random.Generator], Twin]


@dataclass(frozen=True)
class Param:
    """One parameter of an intervention type.

    ``type`` is one of ``float``, ``int``, ``str``, ``bool``, ``ids`` (a list of feature ids),
    ``where`` (a selector, see :mod:`twin.scenarios.selectors`), ``geometry`` (coordinates
    or WKT), ``point`` (``[x, y]``), ``points`` (a list of points), ``polygon`` (a list of
    points or WKT), ``hours`` (``[start, end]``), ``list`` or ``dict``. ``layer`` names the
    layer that ``ids`` refer to (the loader checks they exist).
    """

    type: str
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    layer: str | None = None
    description: str = ""


WHERE_PARAM = Param("where", description="Selector: zone_ids, zone_kind, ids, polygon or bbox")


@dataclass(frozen=True)
class InterventionType:
    """A registered intervention type."""

    name: str
    family: str
    func: InterventionFunc
    params: dict[str, Param] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, InterventionType] = {}


def intervention(name: str, *, family: str, params: dict[str, Param] | None = None,
                 description: str = "") -> Callable[[InterventionFunc], InterventionFunc]:
    """Register ``func`` as the intervention type ``name`` (a decorator)."""

    def deco(func: InterventionFunc) -> InterventionFunc:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            msg = f"intervention type {name!r} is registered twice"
            raise ValueError(msg)
        doc = description or (func.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = InterventionType(name, family, func, dict(params or {}), doc)
        return func

    return deco


def unregister(name: str) -> None:
    """Remove a type (tests)."""
    _REGISTRY.pop(name, None)


def _load_builtin() -> None:
    """Import the modules that register the built-in intervention families."""
    import importlib
    import pkgutil

    import twin.scenarios.interventions as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def registry() -> dict[str, InterventionType]:
    """All registered intervention types by name (built-ins loaded on first use).

    Examples
    --------
    >>> "road_close" in registry()
    True
    """
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> InterventionType:
    """One intervention type; unknown names raise ScenarioError listing the valid ones.

    Examples
    --------
    >>> get("road_clse")
    Traceback (most recent call last):
    ...
    twin._errors.ScenarioError: unknown intervention type 'road_clse' (did you mean ...
    """
    types = registry()
    if name not in types:
        msg = (f"unknown intervention type {name!r}{suggest(name, list(types))}; "
               f"valid types: {', '.join(types)}")
        raise ScenarioError(msg)
    return types[name]


def add_event(twin: Twin, event: dict[str, Any]) -> None:
    """Append a time-windowed event to ``twin.extras["events"]``."""
    twin.extras.setdefault("events", []).append(event)


def set_param(twin: Twin, name: str, value: Any) -> None:
    """Set an engine parameter in ``twin.extras["params"]``."""
    twin.extras.setdefault("params", {})[name] = value


def highlight(twin: Twin, layer: str, ids: list[str]) -> None:
    """Mark features for the maps to highlight."""
    twin.extras.setdefault("highlight", {}).setdefault(layer, [])
    twin.extras["highlight"][layer].extend(str(i) for i in ids)
