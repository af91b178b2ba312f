"""The mobility engine: a capacity-constrained, queue-based link model (MATSim QSim spirit).

Each directed link of the :class:`~twin.network.roads.RoadGraph` is a FIFO queue with a
free-flow time, a flow capacity and a storage capacity (length x lanes / vehicle length):

- a vehicle that enters a link cannot leave it before ``enter + fft``;
- a link lets at most ``flow_cap_per_s * step_s`` vehicles leave per step (fractional capacity
  accumulates across steps, up to one step's worth or one vehicle);
- a vehicle leaves onto its next link only if that link has free storage, so a full link holds
  vehicles back on the one before it (spillback); the head blocks those behind it (FIFO);
- a departing vehicle waits beside its first link until that link has free storage, then
  enters it at its start (its trip time includes the whole first link);
- a trip arrives when it leaves its last link (downstream storage is ignored); a trip with an
  empty route arrives when it departs;
- a vehicle held back by a full next link for ``stuck_s`` squeezes onto it (deadlock safety),
  counted in :attr:`EngineResult.squeezed`.

Several vehicles wanting the same free space are served first come, first served (earliest
exit time first; ties by link index). Nothing is random: the same input gives the same arrays.
Links entering a node with a signal, an adaptive signal or a roundabout get the configured
capacity factor and extra delay (``agents/traffic.yaml``).

Trip times are exact where nothing holds a vehicle back (a free-flow trip takes exactly the
sum of its links' free-flow times); a vehicle held back leaves at the clock of the step it moves
in. Recorded times keep each link's FIFO order.

Two kernels apply these rules (``kernel`` in the config): :mod:`twin.agents._queue`, numpy over
the arrays of candidates of each step (the links due, their head vehicles, the vehicles waiting
to depart; no Python call per vehicle), and :mod:`twin.agents._queue_jit`, the same steps
compiled with numba (the default, 2-5x faster: numpy's per-call overhead alone puts a floor of
~10 s CPU under a 19-hour day of 1 s steps). They return identical arrays.

Examples
--------
>>> import numpy as np
>>> links = LinkState(fft_s=np.array([10.0, 20.0]), flow_cap_per_s=np.array([0.5, 0.5]),
...                   storage_veh=np.array([10.0, 10.0]), from_node=np.array([0, 1]),
...                   to_node=np.array([1, 2]))
>>> trips = Trips.from_routes([18000.0, 18000.5], [[0, 1], [0, 1]])
>>> res = simulate_links(links, trips, load_engine_config(), end_s=18100.0)
>>> res.arrive_s.tolist()
[18030.0, 18032.0]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

from twin._errors import SimulationError
from twin._resources import data_dir
from twin.agents import _queue
from twin.network.roads import RoadGraph

__all__ = [
    "EngineConfig",
    "EngineResult",
    "LinkState",
    "Trips",
    "link_params",
    "load_engine_config",
    "node_controls",
    "simulate_links",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
HOURS = 24
KERNELS = ("numba", "numpy")


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
        Free-flow time including the delay of the node the link enters (use it for routing).
    flow_cap_per_s : ndarray of float
        Vehicles per second that may leave the link (0 on a closed link).
    storage_veh : ndarray of float
        Vehicles the link holds.
    from_node, to_node : ndarray of int
    """

    fft_s: FloatArray
    flow_cap_per_s: FloatArray
    storage_veh: FloatArray
    from_node: IntArray
    to_node: IntArray

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.fft_s.size)

    @property
    def closed(self) -> NDArray[np.bool_]:
        """True on links no vehicle may use (capacity 0)."""
        return self.flow_cap_per_s <= 0


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


def link_params(graph: RoadGraph, config: EngineConfig, *, flow_factor: float = 1.0,
                storage_factor: float = 1.0, capacity_scale: ArrayLike | None = None,
                node_factor: ArrayLike | None = None,
                node_delay_s: ArrayLike | None = None) -> LinkState:
    """Effective free-flow time, flow capacity and storage of every directed link.

    Capacity per direction is ``graph.capacity_vph`` times the factor of the node the link
    enters (its control, or ``node_factor``), times ``capacity_scale`` and ``flow_factor``.
    Storage is ``length_m * lanes / vehicle_length_m * storage_factor``, but at least
    ``min_storage_veh``, one step's flow and the vehicles the link holds at capacity in free
    flow. The free-flow time includes the node's delay.

    Parameters
    ----------
    graph : RoadGraph
    config : EngineConfig
    flow_factor, storage_factor : float
        Scale capacity and storage for a sampled population (``--sample F``: both ``F``).
    capacity_scale : array-like (n_links,), optional
        Per-link capacity multiplier (interventions: lanes; 0 closes the link).
    node_factor : array-like (n_nodes,), optional
        Capacity factor per node, replacing the control's (outage, adaptive-signal gain).
    node_delay_s : array-like (n_nodes,), optional
        Delay per node, replacing the control's.

    Raises
    ------
    SimulationError
        Negative or non-finite capacities, lengths or free-flow times (naming the link),
        arrays of the wrong length, non-positive flow/storage factors.

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
    return LinkState(fft_s=fft_eff, flow_cap_per_s=flow, storage_veh=storage,
                     from_node=np.asarray(graph.from_node, dtype=np.int64), to_node=to_node)


@dataclass
class Trips:
    """Vehicle trips of one day (car and bus vehicles).

    Attributes
    ----------
    depart_s : ndarray of float
        Departure time, seconds since midnight.
    route_ptr : ndarray of int64 (n + 1)
        Trip ``i`` drives ``route_links[route_ptr[i]:route_ptr[i + 1]]``.
    route_links : ndarray of int64
        Directed link indices of the RoadGraph, in driving order.
    """

    depart_s: FloatArray
    route_ptr: IntArray
    route_links: IntArray

    @property
    def n(self) -> int:
        """Number of trips."""
        return int(self.depart_s.size)

    @classmethod
    def from_routes(cls, depart_s: ArrayLike, routes: Sequence[Sequence[int]]) -> Trips:
        """Trips from departure times and one list of link indices per trip.

        Examples
        --------
        >>> Trips.from_routes([0.0, 5.0], [[0, 1], []]).route_ptr.tolist()
        [0, 2, 2]
        """
        lengths = np.array([len(r) for r in routes], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        links = (np.concatenate([np.asarray(r, dtype=np.int64) for r in routes])
                 if len(routes) and lengths.sum() else np.empty(0, dtype=np.int64))
        return cls(depart_s=np.asarray(depart_s, dtype=float), route_ptr=ptr,
                   route_links=links.astype(np.int64))

    def sample(self, keep: NDArray[np.bool_]) -> Trips:
        """The trips where ``keep`` is True (routes kept whole).

        Examples
        --------
        >>> Trips.from_routes([0.0, 5.0], [[0, 1], [2]]).sample(np.array([False, True])).route_links
        array([2])
        """
        keep = np.asarray(keep, dtype=bool)
        lengths = np.diff(self.route_ptr)[keep]
        rows = np.flatnonzero(keep)
        ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        starts = self.route_ptr[rows]
        idx = np.repeat(starts - ptr[:-1], lengths) + np.arange(int(ptr[-1]))
        return Trips(depart_s=self.depart_s[keep], route_ptr=ptr,
                     route_links=self.route_links[idx])


@dataclass
class EngineResult:
    """What :func:`simulate_links` returns.

    Attributes
    ----------
    arrive_s : ndarray (n_trips,)
        Arrival time; NaN if the trip had not arrived by ``end_s``.
    enter_s, exit_s : ndarray (len(route_links),)
        When each trip entered / left each link of its route (CSR aligned with
        ``trips.route_links``); NaN where it did not get there by ``end_s``.
    link_entries : ndarray (n_links, 24) of int
        Vehicles entering each link per hour of day.
    link_time_s : ndarray (n_links, 24)
        Mean experienced travel time of the vehicles entering the link in that hour (and
        leaving it by ``end_s``); the free-flow time where there are none.
    spillback_s : ndarray (n_links,)
        Seconds each link was full (storage reached), sampled every 10 simulated seconds.
    unfinished : int
        Trips not arrived by ``end_s`` (including those departing after it).
    squeezed : int
        Vehicles that squeezed onto a full link after waiting ``stuck_s``.
    steps : int
        Steps computed (idle stretches are skipped).
    wall_s : float
        Wall-clock seconds of the simulation.
    """

    arrive_s: FloatArray
    enter_s: FloatArray
    exit_s: FloatArray
    link_entries: IntArray
    link_time_s: FloatArray
    spillback_s: FloatArray
    unfinished: int
    squeezed: int
    steps: int
    wall_s: float


def _check_trips(links: LinkState, trips: Trips) -> tuple[FloatArray, IntArray, IntArray]:
    """Validate ``trips`` against ``links``; return depart, ptr, route as clean arrays."""
    depart = np.asarray(trips.depart_s, dtype=float)
    ptr = np.asarray(trips.route_ptr, dtype=np.int64)
    route = np.asarray(trips.route_links, dtype=np.int64)
    if ptr.shape != (depart.size + 1,) or ptr[0] != 0 or ptr[-1] != route.size \
            or np.any(np.diff(ptr) < 0):
        msg = (f"trips: route_ptr must have n_trips + 1 = {depart.size + 1} non-decreasing "
               f"entries from 0 to len(route_links) = {route.size}")
        raise SimulationError(msg)
    bad = np.flatnonzero(~np.isfinite(depart))
    if bad.size:
        msg = f"trips: trip {int(bad[0])} has no departure time ({bad.size} trips)"
        raise SimulationError(msg)
    if route.size and (route.min() < 0 or route.max() >= links.n_links):
        i = int(np.flatnonzero((route < 0) | (route >= links.n_links))[0])
        trip = int(np.searchsorted(ptr, i, side="right") - 1)
        msg = (f"trips: trip {trip} uses link {int(route[i])}, but the network has "
               f"{links.n_links} links (0..{links.n_links - 1})")
        raise SimulationError(msg)
    closed = links.closed[route] if route.size else np.zeros(0, dtype=bool)
    if closed.any():
        pos = np.flatnonzero(closed)
        trips_on = np.unique(np.searchsorted(ptr, pos, side="right") - 1)
        msg = (f"trips: {trips_on.size} trips (first: trip {int(trips_on[0])}) are routed "
               f"over closed link {int(route[pos[0]])}; route them on the LinkState's "
               "open links")
        raise SimulationError(msg)
    if route.size > 1:
        ends = np.zeros(route.size, dtype=bool)
        ends[ptr[1:][np.diff(ptr) > 0] - 1] = True
        inner = np.flatnonzero(~ends[:-1])
        gap = links.to_node[route[inner]] != links.from_node[route[inner + 1]]
        if gap.any():
            i = int(inner[np.flatnonzero(gap)[0]])
            trip = int(np.searchsorted(ptr, i, side="right") - 1)
            msg = (f"trips: the route of trip {trip} jumps from link {int(route[i])} to "
                   f"link {int(route[i + 1])}, which do not share a node")
            raise SimulationError(msg)
    return depart, ptr, route


def simulate_links(links: LinkState, trips: Trips, config: EngineConfig, *,
                   start_s: float = 5 * 3600, end_s: float = 24 * 3600,
                   progress: Callable[[float], None] | None = None) -> EngineResult:
    """Move ``trips`` through ``links`` from ``start_s`` to ``end_s``; see the module docstring.

    Trips departing before ``start_s`` start at ``start_s``; trips departing after ``end_s``
    do not start and count as unfinished.

    Parameters
    ----------
    links : LinkState
        From :func:`link_params`.
    trips : Trips
        Vehicle trips; routes must be connected and avoid closed links.
    config : EngineConfig
    start_s, end_s : float
        Simulated period, seconds since midnight.
    progress : callable, optional
        Called with the simulated clock (s) about every ``config.progress_every_s``.

    Raises
    ------
    SimulationError
        A malformed route, a link index out of range, a route over a closed link, or
        ``end_s <= start_s``.

    Examples
    --------
    >>> links = LinkState(fft_s=np.array([60.0]), flow_cap_per_s=np.array([1.0]),
    ...                   storage_veh=np.array([5.0]), from_node=np.array([0]),
    ...                   to_node=np.array([1]))
    >>> r = simulate_links(links, Trips.from_routes([18000.0], [[0]]), load_engine_config())
    >>> r.arrive_s.tolist(), r.link_entries[0, 5], r.unfinished
    ([18060.0], np.int64(1), 0)
    """
    if not end_s > start_s:
        msg = f"end_s ({end_s}) must be after start_s ({start_s})"
        raise SimulationError(msg)
    depart, ptr, route = _check_trips(links, trips)
    t0 = time.perf_counter()
    if config.kernel == "numba":
        from twin.agents import _queue_jit

        kernel = _queue_jit.run
    else:
        kernel = _queue.run
    out = kernel(np.asarray(links.fft_s, dtype=float),
                     np.asarray(links.flow_cap_per_s, dtype=float),
                     np.asarray(links.storage_veh, dtype=float),
                     np.asarray(links.from_node, dtype=np.int64),
                     np.asarray(links.to_node, dtype=np.int64), depart, ptr, route,
                     step=config.step_s, start=float(start_s), end=float(end_s),
                     stuck=config.stuck_s, progress=progress,
                     progress_every=config.progress_every_s)
    wall = time.perf_counter() - t0
    exit_s = _exit_times(out.enter, out.arrive, ptr)
    entries, mean_time = _link_hours(route, out.enter, exit_s, links.fft_s)
    return EngineResult(
        arrive_s=out.arrive, enter_s=out.enter, exit_s=exit_s, link_entries=entries,
        link_time_s=mean_time, spillback_s=out.spill,
        unfinished=int(np.count_nonzero(np.isnan(out.arrive))), squeezed=out.squeezed,
        steps=out.steps, wall_s=wall)


def _exit_times(enter: FloatArray, arrive: FloatArray, ptr: IntArray) -> FloatArray:
    """Exit time of every route element: the next element's entry, or the arrival."""
    exit_s = np.full(enter.size, np.nan)
    if enter.size:
        exit_s[:-1] = enter[1:]
        nonempty = np.flatnonzero(np.diff(ptr) > 0)
        exit_s[ptr[nonempty + 1] - 1] = arrive[nonempty]
    return exit_s


def _link_hours(route: IntArray, enter: FloatArray, exit_s: FloatArray, fft: FloatArray
                ) -> tuple[IntArray, FloatArray]:
    """Entries per link and hour of entry, and the mean experienced time of those entries.

    Works in place on a few temporaries (routes can have tens of millions of entries).
    """
    n_links = fft.size
    cells = n_links * HOURS
    reached = np.flatnonzero(~np.isnan(enter))
    t_in = enter[reached]
    key = t_in / 3600.0
    np.floor(key, out=key)
    np.clip(key, 0, HOURS - 1, out=key)
    key += route[reached] * float(HOURS)          # exact: far below 2**53
    tt = exit_s[reached]
    del reached
    tt -= t_in
    del t_in
    keys = key.astype(np.int64)
    del key
    entries = np.bincount(keys, minlength=cells)
    done = ~np.isnan(tt)
    if not done.all():
        keys, tt = keys[done], tt[done]
    del done
    total = np.bincount(keys, weights=tt, minlength=cells)
    count = np.bincount(keys, minlength=cells)
    mean = np.repeat(np.asarray(fft, dtype=float), HOURS)
    has = count > 0
    mean[has] = total[has] / count[has]
    return entries.astype(np.int64).reshape(n_links, HOURS), mean.reshape(n_links, HOURS)
