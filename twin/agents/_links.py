"""Engine configuration and effective link parameters, constant or varying by hour.

:func:`link_params` turns the road graph, the node controls and the interventions into the
:class:`LinkState` the mobility engine moves vehicles through: free-flow time (with the delay of
the node a link enters), flow capacity and storage of every directed link. Capacity and delay
may vary by hour of day:

- ``hourly_capacity``: a capacity multiplier per link and hour, an ``(n_links, 24)`` array or
  a sparse list of ``(links, hours, factor)``; a factor 0 closes the link in that hour: no
  vehicle enters it (those already on it leave at its capacity), routes of the trips departing
  then avoid it;
- ``hourly_node_factor`` / ``hourly_node_delay_s``: the capacity factor and the delay of the
  links entering a node, per node and hour (``(n_nodes, 24)``, or ``(nodes, hours, value)``
  entries overriding the constant ones), e.g. signals gone dark in a power outage.

:mod:`twin.agents.mobility` re-exports every public name.

Examples
--------
>>> load_engine_config(step_s=2.0).step_s
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

from twin._errors import SimulationError
from twin._resources import data_dir
from twin.network.roads import RoadGraph

__all__ = ["HOURS", "KERNELS", "EngineConfig", "Hourly", "LinkState", "hourly_values",
           "link_params", "load_engine_config", "node_controls"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
HOURS = 24
KERNELS = ("numba", "numpy")
#: Per-hour values: an (n, 24) array, or a sparse list of (indices, hours, value) entries.
Hourly = ArrayLike | Sequence[tuple[Any, Any, float]]


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of the mobility engine (``agents/traffic.yaml``; see the comments there).

    Attributes
    ----------
    step_s : float
        Simulated seconds per step.
    vehicle_length_m : float
        Space one car takes in a standing queue.
    min_storage_veh : float
        Smallest storage of a link, in vehicles.
    signal_factor, adaptive_signal_factor, roundabout_factor, dark_signal_factor : float
        Capacity factor (0-1] of links entering a node with that control.
    signal_delay_s, adaptive_signal_delay_s, roundabout_delay_s, dark_signal_delay_s : float
        Mean delay added to the free-flow time of links entering such a node.
    stuck_s : float
        Seconds a vehicle waits for a full next link before squeezing onto it.
    progress_every_s : float
        Simulated seconds between progress callbacks.
    kernel : {"numba", "numpy"}
        Stepping kernel: compiled loops, or the vectorised numpy reference (same results).
    """

    step_s: float
    vehicle_length_m: float
    min_storage_veh: float
    signal_factor: float
    adaptive_signal_factor: float
    roundabout_factor: float
    dark_signal_factor: float
    signal_delay_s: float
    adaptive_signal_delay_s: float
    roundabout_delay_s: float
    dark_signal_delay_s: float
    stuck_s: float
    progress_every_s: float
    kernel: str = "numba"

    def __post_init__(self) -> None:
        problems = []
        if self.kernel not in KERNELS:
            problems.append(f"kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        for f in fields(self):
            if f.name == "kernel":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"{f.name} must be a number, got {value!r}")
                continue
            if f.name.endswith("_factor"):
                if not 0.0 < value <= 1.0:
                    problems.append(f"{f.name} must be in (0, 1], got {value}")
            elif f.name.endswith("delay_s") or f.name == "min_storage_veh":
                if value < 0:
                    problems.append(f"{f.name} must be >= 0, got {value}")
            elif not value > 0:
                problems.append(f"{f.name} must be > 0, got {value}")
        if problems:
            msg = "engine config: " + "; ".join(problems) + " (see agents/traffic.yaml)"
            raise SimulationError(msg)


def load_engine_config(path: str | Path | None = None, **overrides: Any) -> EngineConfig:
    """Read the engine parameters from ``path`` (default ``agents/traffic.yaml``).

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with every :class:`EngineConfig` field.
    **overrides
        Fields to replace, e.g. ``step_s=2.0``.

    Raises
    ------
    SimulationError
        Missing, unknown or out-of-range parameters (all listed, with the valid names).

    Examples
    --------
    >>> load_engine_config(step_s=2.0).step_s
    2.0
    """
    file = Path(path) if path is not None else data_dir("agents") / "traffic.yaml"
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        msg = f"{file}: cannot read the engine config: {err}"
        raise SimulationError(msg) from err
    if not isinstance(raw, dict):
        msg = f"{file}: expected a mapping of parameter: value"
        raise SimulationError(msg)
    names = [f.name for f in fields(EngineConfig)]
    raw.update(overrides)
    unknown = sorted(set(raw) - set(names))
    missing = [n for n in names if n not in raw and n != "kernel"]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown parameters {unknown}")
        if missing:
            parts.append(f"missing parameters {missing}")
        msg = f"{file}: " + "; ".join(parts) + f"; valid names: {', '.join(names)}"
        raise SimulationError(msg)
    try:
        return EngineConfig(**{n: raw[n] for n in names if n in raw})
    except SimulationError as err:
        msg = f"{file}: {err}"
        raise SimulationError(msg) from err


@dataclass(frozen=True)
class LinkState:
    """Effective parameters of every directed link for the engine (index = RoadGraph link).

    Attributes
    ----------
    fft_s : ndarray of float
        Free-flow time including the delay of the node the link enters, when nothing varies
        by hour (use it for routing outside the hours in ``hour_fft_s``).
    flow_cap_per_s : ndarray of float
        Vehicles per second that may leave the link (0 on a link closed all day).
    storage_veh : ndarray of float
        Vehicles the link holds.
    from_node, to_node : ndarray of int
    hour_fft_s, hour_cap_per_s : ndarray (n_links, 24) of float, optional
        Free-flow time and flow capacity in each hour of day, when they vary by hour.
    hour_closed : ndarray (n_links, 24) of bool, optional
        Links no vehicle may enter in that hour.
    """

    fft_s: FloatArray
    flow_cap_per_s: FloatArray
    storage_veh: FloatArray
    from_node: IntArray
    to_node: IntArray
    hour_fft_s: FloatArray | None = None
    hour_cap_per_s: FloatArray | None = None
    hour_closed: BoolArray | None = None

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.fft_s.size)

    @property
    def closed(self) -> BoolArray:
        """True on links no vehicle may use all day (capacity 0)."""
        return self.flow_cap_per_s <= 0

    @property
    def varies(self) -> bool:
        """True when capacity, delay or closures vary by hour."""
        return self.hour_cap_per_s is not None

    def fft_by_hour(self) -> FloatArray:
        """Free-flow time per link and hour, ``(n_links, 24)``."""
        if self.hour_fft_s is not None:
            return self.hour_fft_s
        return np.repeat(self.fft_s[:, None], HOURS, axis=1)

    def cap_by_hour(self) -> FloatArray:
        """Flow capacity (veh/s) per link and hour, ``(n_links, 24)``."""
        if self.hour_cap_per_s is not None:
            return self.hour_cap_per_s
        return np.repeat(self.flow_cap_per_s[:, None], HOURS, axis=1)

    def closed_by_hour(self) -> BoolArray:
        """Links closed (no entry) per hour, ``(n_links, 24)``: all-day and hourly closures."""
        out = np.repeat(self.closed[:, None], HOURS, axis=1)
        if self.hour_closed is not None:
            out |= self.hour_closed
        return out


def node_controls(graph: RoadGraph, config: EngineConfig) -> tuple[FloatArray, FloatArray]:
    """Capacity factor and delay (s) of every node from its control and ``config``.

    Start from these to build ``node_factor`` / ``node_delay_s`` overrides for
    :func:`link_params` (e.g. an outage: signal nodes get ``config.dark_signal_factor``).

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> g = SimpleNamespace(control=np.array(["none", "signal", "adaptive_signal"]))
    >>> f, d = node_controls(g, load_engine_config())
    >>> f.tolist(), d.tolist()
    ([1.0, 0.6, 0.72], [0.0, 12.0, 7.0])
    """
    control = np.asarray(graph.control).astype(str)
    factor = np.ones(control.size)
    delay = np.zeros(control.size)
    for kind in ("signal", "adaptive_signal", "roundabout"):
        m = control == kind
        factor[m] = getattr(config, f"{kind}_factor")
        delay[m] = getattr(config, f"{kind}_delay_s")
    return factor, delay


def _per(values: ArrayLike | None, n: int, what: str, default: float) -> FloatArray:
    """``values`` as a float array of length ``n`` (``default`` when None), checked."""
    if values is None:
        return np.full(n, default)
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        msg = f"{what}: expected {n} values, got shape {arr.shape}"
        raise SimulationError(msg)
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        msg = (f"{what}: values must be finite and >= 0; index {int(bad[0])} is "
               f"{arr[bad[0]]} ({bad.size} bad)")
        raise SimulationError(msg)
    return arr


def hourly_values(values: Hourly | None, n: int, base: FloatArray, what: str, *,
                  positive: bool = False) -> FloatArray | None:
    """``values`` as an ``(n, 24)`` array: dense as given, sparse entries over ``base``.

    ``values`` is an array of shape ``(n, 24)``, or a list of ``(indices, hours, value)``
    entries (indices and hours: an int or a sequence of ints) setting ``value`` on those rows
    and hours of ``base`` broadcast to every hour; None gives None. Values must be finite and
    >= 0 (> 0 with ``positive``).

    Raises
    ------
    SimulationError
        Wrong shape, an index or hour out of range, a bad value (naming ``what``).

    Examples
    --------
    >>> v = hourly_values([([1], range(7, 9), 0.0)], 2, np.ones(2), "capacity")
    >>> v[1, 6:10].tolist(), v[0, 7]
    ([1.0, 0.0, 0.0, 1.0], np.float64(1.0))
    """
    if values is None:
        return None
    dense: Any = values if isinstance(values, np.ndarray) else None
    if dense is None:
        try:
            as_array = np.asarray(values, dtype=float)
        except (TypeError, ValueError):   # ragged: a list of entries
            as_array = None
        if as_array is not None and as_array.shape == (n, HOURS):
            dense = as_array
    if dense is not None:
        out = np.array(dense, dtype=float)
        if out.shape != (n, HOURS):
            msg = f"{what}: expected an array of shape ({n}, 24), got {out.shape}"
            raise SimulationError(msg)
    else:
        out = np.repeat(np.asarray(base, dtype=float)[:, None], HOURS, axis=1)
        entries: Any = values
        for k, entry in enumerate(entries):
            try:
                idx, hours, value = entry
            except (TypeError, ValueError) as err:
                msg = f"{what}: entry {k} must be (indices, hours, value), got {entry!r}"
                raise SimulationError(msg) from err
            idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
            hrs = np.atleast_1d(np.asarray(hours, dtype=np.int64))
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                bad_i = int(idx[(idx < 0) | (idx >= n)][0])
                msg = f"{what}: entry {k} has index {bad_i} outside 0..{n - 1}"
                raise SimulationError(msg)
            if hrs.size and (hrs.min() < 0 or hrs.max() >= HOURS):
                bad_h = int(hrs[(hrs < 0) | (hrs >= HOURS)][0])
                msg = f"{what}: entry {k} has hour {bad_h} outside 0..23"
                raise SimulationError(msg)
            out[np.ix_(idx, hrs)] = float(value)
    bad = ~np.isfinite(out) | ((out <= 0) if positive else (out < 0))
    if bad.any():
        i, h = (int(a[0]) for a in np.nonzero(bad))
        msg = (f"{what}: values must be finite and {'> 0' if positive else '>= 0'}; "
               f"row {i} hour {h} is {out[i, h]} ({int(bad.sum())} bad)")
        raise SimulationError(msg)
    return out


def link_params(graph: RoadGraph, config: EngineConfig, *, flow_factor: float = 1.0,
                storage_factor: float = 1.0, capacity_scale: ArrayLike | None = None,
                node_factor: ArrayLike | None = None,
                node_delay_s: ArrayLike | None = None,
                hourly_capacity: Hourly | None = None,
                hourly_node_factor: Hourly | None = None,
                hourly_node_delay_s: Hourly | None = None) -> LinkState:
    """Effective free-flow time, flow capacity and storage of every directed link.

    Capacity per direction is ``graph.capacity_vph`` times the factor of the node the link
    enters (its control, or ``node_factor``), times ``capacity_scale`` and ``flow_factor``.
    Storage is ``length_m * lanes / vehicle_length_m * storage_factor``, but at least
    ``min_storage_veh``, one step's flow and the vehicles the link holds at capacity in free
    flow (in any hour). The free-flow time includes the node's delay.

    Parameters
    ----------
    graph : RoadGraph
    config : EngineConfig
    flow_factor, storage_factor : float
        Scale capacity and storage for a sampled population (``--sample F``: both ``F``).
    capacity_scale : array-like (n_links,), optional
        Per-link capacity multiplier (interventions: lanes; 0 closes the link all day).
    node_factor : array-like (n_nodes,), optional
        Capacity factor per node, replacing the control's (outage, adaptive-signal gain).
    node_delay_s : array-like (n_nodes,), optional
        Delay per node, replacing the control's (signal timing).
    hourly_capacity : (n_links, 24) array or list of (links, hours, factor), optional
        Capacity multiplier per link and hour on top of ``capacity_scale``; 0 closes the link
        in that hour (no entry; vehicles on it leave at its capacity).
    hourly_node_factor, hourly_node_delay_s : (n_nodes, 24) array or list of
        (nodes, hours, value), optional
        Node capacity factor (> 0) and delay per hour, replacing the constant ones (a list
        overrides them in the hours it names).

    Raises
    ------
    SimulationError
        Negative or non-finite capacities, lengths or free-flow times (naming the link),
        arrays of the wrong shape, non-positive flow/storage factors or node factors.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.network.roads import road_graph
    >>> roads = gpd.GeoDataFrame({"id": ["r1"], "u": ["a"], "v": ["b"], "oneway": [True],
    ...     "length_m": [75.0], "speed_kph": [36.0], "capacity_vph": [1800.0], "lanes": [2]},
    ...     geometry=[shapely.LineString([(0, 0), (75, 0)])], crs=3067)
    >>> nodes = gpd.GeoDataFrame({"id": ["a", "b"], "control": ["none", "signal"]},
    ...     geometry=shapely.points([(0, 0), (75, 0)]), crs=3067)
    >>> ls = link_params(road_graph(roads, nodes), load_engine_config())
    >>> ls.fft_s.tolist(), ls.flow_cap_per_s.tolist(), ls.storage_veh.tolist()
    ([19.5], [0.3], [20.0])
    >>> dark = link_params(road_graph(roads, nodes), load_engine_config(),
    ...                    hourly_node_factor=[([1], [17, 18], 0.4)])
    >>> (dark.hour_cap_per_s[0, [16, 17]] * 3600).tolist(), dark.hour_fft_s[0, 17]
    ([1080.0, 720.0], np.float64(19.5))
    """
    n = graph.n_links
    for name, value in (("flow_factor", flow_factor), ("storage_factor", storage_factor)):
        if not (np.isfinite(value) and value > 0):
            msg = f"{name} must be > 0, got {value}"
            raise SimulationError(msg)
    cap = np.asarray(graph.capacity_vph, dtype=float)
    fft = np.asarray(graph.fft_s, dtype=float)
    length = np.asarray(graph.length_m, dtype=float)
    lanes = np.asarray(graph.lanes, dtype=float)
    for what, arr in (("capacity_vph", cap), ("free-flow time", fft), ("length_m", length),
                      ("lanes", lanes)):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
        if bad.size:
            ids = [str(graph.link_ids[i]) for i in bad[:5]]
            msg = (f"roads: links {ids} have a negative or missing {what} "
                   f"({bad.size} links); fix the roads layer (twin layers validate)")
            raise SimulationError(msg)
    scale = _per(capacity_scale, n, "capacity_scale", 1.0)
    default_factor, default_delay = node_controls(graph, config)
    nf = _per(node_factor, graph.n_nodes, "node_factor", 1.0) if node_factor is not None \
        else default_factor
    nd = _per(node_delay_s, graph.n_nodes, "node_delay_s", 0.0) if node_delay_s is not None \
        else default_delay
    to_node = np.asarray(graph.to_node, dtype=np.int64)
    flow = cap / 3600.0 * nf[to_node] * scale * flow_factor
    fft_eff = fft + nd[to_node]
    storage = length * np.maximum(lanes, 1.0) / config.vehicle_length_m * storage_factor
    storage = np.maximum.reduce([storage, np.full(n, config.min_storage_veh),
                                 flow * config.step_s, flow * fft_eff])
    hc = hourly_values(hourly_capacity, n, np.ones(n), "hourly_capacity")
    hf = hourly_values(hourly_node_factor, graph.n_nodes, nf, "hourly_node_factor",
                       positive=True)
    hd = hourly_values(hourly_node_delay_s, graph.n_nodes, nd, "hourly_node_delay_s")
    hour_fft = hour_cap = hour_closed = None
    if hc is not None or hf is not None or hd is not None:
        nf_h = hf if hf is not None else np.repeat(nf[:, None], HOURS, axis=1)
        nd_h = hd if hd is not None else np.repeat(nd[:, None], HOURS, axis=1)
        hc = hc if hc is not None else np.ones((n, HOURS))
        hour_closed = (hc <= 0) & (flow > 0)[:, None]
        # a closed hour keeps the link's capacity for the vehicles already on it
        hour_cap = (cap / 3600.0 * scale * flow_factor)[:, None] * nf_h[to_node] \
            * np.where(hc > 0, hc, 1.0)
        hour_fft = fft[:, None] + nd_h[to_node]
        storage = np.maximum.reduce([storage, hour_cap.max(axis=1) * config.step_s,
                                     (hour_cap * hour_fft).max(axis=1)])
    return LinkState(fft_s=fft_eff, flow_cap_per_s=flow, storage_veh=storage,
                     from_node=np.asarray(graph.from_node, dtype=np.int64), to_node=to_node,
                     hour_fft_s=hour_fft, hour_cap_per_s=hour_cap, hour_closed=hour_closed)
