"""What the interventions left in ``twin.extras`` for the mobility engine, as link parameters.

Scenario interventions change the layers, and leave what the layers cannot hold in
``twin.extras`` (see :mod:`twin.scenarios.registry`). :func:`engine_inputs` turns it into the
arguments of :func:`twin.agents.mobility.link_params`:

- ``extras["params"]["node_capacity_factor"]`` and ``["node_delay_s"]`` ({road node id: value},
  adaptive signals, signal timing) replace the capacity factor and the delay of those nodes'
  controls;
- ``close_roads`` events close their roads (both directions) in their hours
  (``hours: [start, end)``; an hour is closed if the window covers any of it): for the whole
  simulated day through ``capacity_scale`` 0, else hour by hour through ``hourly_capacity``;
- ``signals_dark`` events (a substation outage, a flood) turn the signalised nodes they name
  (``road_node_ids``) into dark signals in their hours: ``dark_signal_factor`` and
  ``dark_signal_delay_s`` of ``agents/traffic.yaml``.

``power_outage`` and ``water_outage`` events are for the utilities (:mod:`twin.agents.utility_day`).

Examples
--------
>>> hours_of([7, 9.5])
[7, 8, 9]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.agents._links import EngineConfig, node_controls
from twin.layers.store import Twin
from twin.network.roads import RoadGraph

__all__ = ["SIGNAL_CONTROLS", "EngineInputs", "engine_inputs", "hours_of"]

#: Node controls that go dark without power.
SIGNAL_CONTROLS = ("signal", "adaptive_signal")


@dataclass
class EngineInputs:
    """Arguments for :func:`twin.agents.mobility.link_params` from a twin's extras.

    Attributes
    ----------
    capacity_scale : ndarray (n_links,) or None
        0 on the links closed for the whole simulated day.
    node_factor, node_delay_s : ndarray (n_nodes,) or None
        Capacity factor and delay of every node, where interventions replaced some.
    hourly_capacity : list of (links, hours, factor) or None
        Factor 0 on the links closed in some hours.
    hourly_node_factor, hourly_node_delay_s : list of (nodes, hours, value) or None
        Dark signals in their hours.
    notes : list of str
        Ids that are not in the twin (ignored).
    """

    capacity_scale: np.ndarray | None = None
    node_factor: np.ndarray | None = None
    node_delay_s: np.ndarray | None = None
    hourly_capacity: list[tuple[np.ndarray, list[int], float]] | None = None
    hourly_node_factor: list[tuple[np.ndarray, list[int], float]] | None = None
    hourly_node_delay_s: list[tuple[np.ndarray, list[int], float]] | None = None
    notes: list[str] = field(default_factory=list)

    def link_options(self) -> dict[str, Any]:
        """The keyword arguments of ``link_params`` that are set."""
        names = ("capacity_scale", "node_factor", "node_delay_s", "hourly_capacity",
                 "hourly_node_factor", "hourly_node_delay_s")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def hours_of(window: Sequence[float] | None) -> list[int]:
    """The hours of day (0-23) a ``[start, end)`` window covers (all day when None).

    Examples
    --------
    >>> hours_of([17, 20]), hours_of(None)[:3], hours_of([22, 30])
    ([17, 18, 19], [0, 1, 2], [22, 23])
    """
    start, end = (list(window) if window else [0, 24])[:2]
    lo, hi = max(0, math.floor(float(start))), min(24, math.ceil(float(end)))
    return list(range(lo, hi))


def _node_values(graph: RoadGraph, values: Mapping[str, float], base: np.ndarray,
                 what: str, notes: list[str]) -> np.ndarray:
    out = base.copy()
    ids = [str(k) for k in values]
    idx = graph.node_index(ids)
    missing = [i for i, k in zip(ids, idx, strict=True) if k < 0]
    if missing:
        notes.append(f"{what}: road nodes {missing[:5]} are not in the road graph (ignored)")
    vals = np.asarray([float(v) for v in values.values()], dtype=float)
    out[idx[idx >= 0]] = vals[idx >= 0]
    return out


def engine_inputs(twin: Twin, graph: RoadGraph, config: EngineConfig, *,
                  start_h: float = 5.0, end_h: float = 24.0,
                  capacity_scale: np.ndarray | None = None,
                  node_factor: np.ndarray | None = None,
                  node_delay_s: np.ndarray | None = None) -> EngineInputs:
    """Link-parameter arguments from ``twin.extras`` (see the module docstring).

    Parameters
    ----------
    twin : Twin
    graph : RoadGraph
        The road graph of ``twin`` (its link and node order).
    config : EngineConfig
        Node controls and the dark-signal factor and delay.
    start_h, end_h : float
        The simulated day: a closure covering it is a closure for the whole day.
    capacity_scale, node_factor, node_delay_s : ndarray, optional
        Given by the caller; the extras apply on top of them.

    Examples
    --------
    >>> # engine_inputs(twin, road_graph(roads, nodes), load_engine_config()).link_options()
    """
    extras = twin.extras or {}
    params = dict(extras.get("params") or {})
    out = EngineInputs(capacity_scale=capacity_scale, node_factor=node_factor,
                       node_delay_s=node_delay_s)
    base_f, base_d = node_controls(graph, config)
    if params.get("node_capacity_factor"):
        start = base_f if node_factor is None else np.asarray(node_factor, dtype=float)
        out.node_factor = _node_values(graph, dict(params["node_capacity_factor"]), start,
                                       "node_capacity_factor", out.notes)
    if params.get("node_delay_s"):
        start = base_d if node_delay_s is None else np.asarray(node_delay_s, dtype=float)
        out.node_delay_s = _node_values(graph, dict(params["node_delay_s"]), start,
                                        "node_delay_s", out.notes)
    roads = twin.layer("roads")
    link_road = roads["id"].astype(str).to_numpy()[graph.road_index] if len(roads) else \
        np.zeros(0, dtype=object)
    control = np.asarray(graph.control).astype(str)
    all_day: set[str] = set()
    hourly: list[tuple[np.ndarray, list[int], float]] = []
    dark_f: list[tuple[np.ndarray, list[int], float]] = []
    dark_d: list[tuple[np.ndarray, list[int], float]] = []
    day = set(range(math.floor(start_h), math.ceil(end_h)))
    for ev in extras.get("events") or []:
        kind = ev.get("type")
        hours = hours_of(ev.get("hours"))
        if kind == "close_roads":
            ids = sorted({str(r) for r in ev.get("road_ids") or []})
            unknown = sorted(set(ids) - set(link_road.tolist()))
            if unknown:
                out.notes.append(f"close_roads: roads {unknown[:5]} are not in the road graph "
                                 "(ignored)")
            if day <= set(hours):
                all_day.update(ids)
            elif hours:
                links = np.flatnonzero(np.isin(link_road, ids))
                if links.size:
                    hourly.append((links, hours, 0.0))
        elif kind == "signals_dark":
            ids = [str(n) for n in ev.get("road_node_ids") or []]
            idx = graph.node_index(ids) if ids else np.zeros(0, np.int64)
            if (idx < 0).any():
                missing = [i for i, k in zip(ids, idx, strict=True) if k < 0]
                out.notes.append(f"signals_dark: road nodes {missing[:5]} are not in the road "
                                 "graph (ignored)")
            idx = idx[idx >= 0]
            nodes = idx[np.isin(control[idx], SIGNAL_CONTROLS)]
            if nodes.size and hours:
                dark_f.append((nodes, hours, float(config.dark_signal_factor)))
                dark_d.append((nodes, hours, float(config.dark_signal_delay_s)))
    if all_day:
        scale = (np.ones(graph.n_links) if capacity_scale is None
                 else np.asarray(capacity_scale, dtype=float).copy())
        scale[np.isin(link_road, sorted(all_day))] = 0.0
        out.capacity_scale = scale
    out.hourly_capacity = hourly or None
    out.hourly_node_factor = dark_f or None
    out.hourly_node_delay_s = dark_d or None
    return out
