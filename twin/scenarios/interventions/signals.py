"""Signal interventions: adaptive signals, retimed fixed signals.

Signals act on the capacity and delay of the links entering a node (``agents/traffic.yaml``:
``signal_factor`` 0.6 of capacity and 12 s delay; ``adaptive_signal_factor`` 0.72 and 7 s).

- ``adaptive_signals`` turns the selected signalised intersections into ``adaptive_signal``
  nodes in ``road_nodes`` (the engine's adaptive factor and delay apply). With
  ``capacity_gain_pct`` the gain over a fixed signal is given instead of taken from the config:
  ``twin.extras["params"]["node_capacity_factor"][node] = signal_factor x (1 + gain)``.
- ``signal_timing`` keeps fixed signals but retimes them (``capacity_gain_pct``, optional
  ``delay_s``), through ``extras["params"]["node_capacity_factor"]`` / ``["node_delay_s"]``.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> n = gpd.GeoDataFrame({"id": ["a", "b"], "control": ["signal", "none"]},
...                      geometry=shapely.points([(0, 0), (1, 0)]), crs=3067)
>>> t = Twin(layers={"road_nodes": n}, meta=new_meta("t", 3067))
>>> out = adaptive_signals(t.copy(), {"where": {"ids": ["a", "b"]}, "capacity_gain_pct": 15},
...                        np.random.default_rng(0))
>>> out.layers["road_nodes"]["control"].tolist(), out.extras["params"]["node_capacity_factor"]
(['adaptive_signal', 'none'], {'a': 0.69})
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twin._errors import ScenarioError
from twin.layers.store import Twin
from twin.scenarios.registry import Param, highlight, intervention, set_param
from twin.scenarios.selectors import select

__all__ = ["adaptive_signals", "signal_timing"]


def _signal_factor() -> float:
    from twin.agents.mobility import load_engine_config

    return float(load_engine_config().signal_factor)


def _signal_nodes(twin: Twin, where: Any, controls: tuple[str, ...], what: str) -> list[str]:
    ids = select(twin, "road_nodes", where)
    nodes = twin.layer("road_nodes")
    ctrl = nodes.set_index(nodes["id"].astype(str))["control"].astype(str)
    chosen = [i for i in ids.tolist() if ctrl.get(i) in controls]
    if not chosen:
        msg = (f"{what}: the selection has {len(ids)} road node(s) but no intersection with "
               f"control {' or '.join(controls)}; select signalised intersections")
        raise ScenarioError(msg)
    return chosen


def _node_param(twin: Twin, name: str, values: dict[str, float]) -> None:
    current = dict(twin.extras.get("params", {}).get(name, {}))
    current.update(values)
    set_param(twin, name, current)


@intervention("adaptive_signals", family="signals", params={
    "where": Param("where", layer="road_nodes", required=True,
                   description="Selector of the intersections (zone_kind, zone_ids, ids, ...)"),
    "capacity_gain_pct": Param("float", min=0, max=66,
                               description="capacity gain over a fixed signal, % "
                                           "(default: agents/traffic.yaml, +20%)"),
})
def adaptive_signals(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Replace fixed signals by adaptive ones in the selected intersections."""
    ids = _signal_nodes(twin, params.get("where"), ("signal", "adaptive_signal"),
                        "adaptive_signals")
    nodes = twin.layer("road_nodes").copy()
    hit = nodes["id"].astype(str).isin(ids)
    nodes.loc[hit, "control"] = "adaptive_signal"
    if "control_source" in nodes:
        nodes.loc[hit, "control_source"] = "user"
    twin.layers["road_nodes"] = nodes
    gain = params.get("capacity_gain_pct")
    if gain is not None:
        factor = round(min(1.0, _signal_factor() * (1 + float(gain) / 100)), 6)
        _node_param(twin, "node_capacity_factor", dict.fromkeys(ids, factor))
        set_param(twin, "signal_capacity_gain_pct", float(gain))
    highlight(twin, "road_nodes", ids)
    return twin


@intervention("signal_timing", family="signals", params={
    "where": Param("where", layer="road_nodes", required=True,
                   description="Selector of the intersections"),
    "capacity_gain_pct": Param("float", default=5.0, min=-50, max=66,
                               description="capacity change of the retimed signals, %"),
    "delay_s": Param("float", min=0, max=120,
                     description="mean delay per vehicle after retiming, s (default: config)"),
})
def signal_timing(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Retime fixed signals (green splits, coordination): capacity and delay change.

    Examples
    --------
    >>> # {type: signal_timing, where: {zone_ids: [z3]}, capacity_gain_pct: 8}
    """
    ids = _signal_nodes(twin, params.get("where"), ("signal",), "signal_timing")
    gain = float(params.get("capacity_gain_pct") or 0.0)
    factor = round(min(1.0, _signal_factor() * (1 + gain / 100)), 6)
    _node_param(twin, "node_capacity_factor", dict.fromkeys(ids, factor))
    if params.get("delay_s") is not None:
        _node_param(twin, "node_delay_s", dict.fromkeys(ids, float(params["delay_s"])))
    highlight(twin, "road_nodes", ids)
    return twin
