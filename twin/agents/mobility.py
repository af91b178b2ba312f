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
capacity factor and extra delay (``agents/traffic.yaml``). Capacity, delay and closures may
vary by hour (:func:`link_params`: ``hourly_capacity``, ``hourly_node_factor``,
``hourly_node_delay_s``): they change at the hour boundaries; a vehicle takes the free-flow time
a link has when it enters it; no vehicle enters a link closed in that hour (a vehicle wanting
it waits where it is until it reopens; routes should avoid it).

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
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._errors import SimulationError
from twin.agents import _queue
from twin.agents._links import (
    HOURS,
    KERNELS,
    EngineConfig,
    Hourly,
    LinkState,
    hourly_values,
    link_params,
    load_engine_config,
    node_controls,
)

__all__ = [
    "HOURS",
    "KERNELS",
    "EngineConfig",
    "EngineResult",
    "Hourly",
    "LinkState",
    "Trips",
    "hourly_values",
    "link_params",
    "load_engine_config",
    "node_controls",
    "simulate_links",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


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
        leaving it by ``end_s``); the free-flow time (of that hour) where there are none.
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
    closed = links.closed[route] if route.size else np.zeros(0, dtype=bool)  # all day
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
    fft0, cap0, closed0, changes = hour_changes(links, float(start_s), float(end_s))
    out = kernel(fft0, cap0, np.asarray(links.storage_veh, dtype=float),
                 np.asarray(links.from_node, dtype=np.int64),
                 np.asarray(links.to_node, dtype=np.int64), depart, ptr, route,
                 step=config.step_s, start=float(start_s), end=float(end_s),
                 stuck=config.stuck_s, progress=progress,
                 progress_every=config.progress_every_s, closed=closed0, changes=changes)
    wall = time.perf_counter() - t0
    exit_s = _exit_times(out.enter, out.arrive, ptr)
    entries, mean_time = _link_hours(route, out.enter, exit_s, links.fft_by_hour())
    return EngineResult(
        arrive_s=out.arrive, enter_s=out.enter, exit_s=exit_s, link_entries=entries,
        link_time_s=mean_time, spillback_s=out.spill,
        unfinished=int(np.count_nonzero(np.isnan(out.arrive))), squeezed=out.squeezed,
        steps=out.steps, wall_s=wall)


def hour_changes(links: LinkState, start_s: float, end_s: float
                 ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], _queue.Changes]:
    """The links' free-flow time, capacity and closure at ``start_s``, and their changes at the
    hour boundaries in ``(start_s, end_s]``.

    Examples
    --------
    >>> ls = LinkState(fft_s=np.array([10.0]), flow_cap_per_s=np.array([0.5]),
    ...     storage_veh=np.array([5.0]), from_node=np.array([0]), to_node=np.array([1]),
    ...     hour_fft_s=np.full((1, 24), 10.0), hour_cap_per_s=np.full((1, 24), 0.5),
    ...     hour_closed=np.arange(24)[None, :] == 8)
    >>> fft, cap, closed, ch = hour_changes(ls, 5 * 3600.0, 24 * 3600.0)
    >>> closed.tolist(), (ch.t / 3600).tolist(), ch.closed.tolist()
    ([False], [8.0, 9.0], [True, False])
    """
    h0 = int(min(max(start_s // 3600, 0), HOURS - 1))
    if not links.varies:
        return (np.asarray(links.fft_s, dtype=float).copy(),
                np.asarray(links.flow_cap_per_s, dtype=float).copy(),
                np.zeros(links.n_links, dtype=bool), _queue.Changes.none())
    fft_h, cap_h = links.fft_by_hour(), links.cap_by_hour()
    closed_h = links.hour_closed if links.hour_closed is not None else \
        np.zeros_like(fft_h, dtype=bool)
    t, ptr, lk = [], [0], []
    for h in range(h0 + 1, HOURS):
        tb = h * 3600.0
        if not start_s < tb <= end_s:
            continue
        diff = np.flatnonzero((fft_h[:, h] != fft_h[:, h - 1]) | (cap_h[:, h] != cap_h[:, h - 1])
                              | (closed_h[:, h] != closed_h[:, h - 1]))
        if diff.size:
            t.append(tb)
            lk.append(diff)
            ptr.append(ptr[-1] + diff.size)
    links_ch = np.concatenate(lk).astype(np.int64) if lk else np.zeros(0, np.int64)
    hours = np.repeat([int(x // 3600) for x in t], np.diff(ptr)).astype(np.int64)
    changes = _queue.Changes(np.asarray(t, dtype=float), np.asarray(ptr, dtype=np.int64),
                             links_ch, cap_h[links_ch, hours].astype(float),
                             fft_h[links_ch, hours].astype(float),
                             closed_h[links_ch, hours].astype(bool))
    return (fft_h[:, h0].astype(float).copy(), cap_h[:, h0].astype(float).copy(),
            closed_h[:, h0].astype(bool).copy(), changes)


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

    ``fft`` is the free-flow time per link and hour ``(n_links, 24)``, the time of the cells no
    vehicle entered. Works in place on a few temporaries (routes can have tens of millions of
    entries).
    """
    n_links = fft.shape[0]
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
    mean = np.asarray(fft, dtype=float).ravel().copy()
    has = count > 0
    mean[has] = total[has] / count[has]
    return entries.astype(np.int64).reshape(n_links, HOURS), mean.reshape(n_links, HOURS)
