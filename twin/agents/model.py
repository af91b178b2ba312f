"""The mesa model of one representative weekday: its places, residents, plans, route learning.

The model's space is a set of places (:class:`Places`: buildings, facilities, gateways as
arrays), each attached to a road node (the nearest one in the largest strongly connected part
of the road graph, unless that is much further than the nearest node) and to a walk-graph node,
and grouped into :class:`Zones` (road nodes, or grid cells on large twins) for the gravity
models.

:class:`CityModel` owns the seed (``self.rng``: every draw of population synthesis, plans, mode
choice and re-routing), the simulated clock, the :class:`Resident` agents (an AgentSet, each
agent pointing at its row in the model's arrays) and a DataCollector of hourly KPIs. The heavy
work is done by plain functions over arrays: routing (:mod:`twin.network.routing`) and the
mobility engine (:func:`twin.agents.mobility.simulate_links`).

One :meth:`CityModel.step` simulates the day once (an iteration). Between iterations a share
``1 / (k + 1)`` of the car trips (method of successive averages) is re-routed on the link times
experienced in the last iteration in the hour of departure (on twins with more than
``LARGE_TWIN_NODES`` nodes: in the period of the day, ``PERIODS_H``, unless capacity varies by
hour), as perceived by drivers (``route_choice.class_factor``). Links closed in an hour
(``close_roads`` events, :mod:`twin.agents.day_inputs`) cost ``CLOSED_COST`` for the trips
departing in that hour or the hour before: their routes avoid them from the start (the initial
routes of those trips are rebuilt on that hour's costs), and re-routing keeps them away.
After each iteration the relative gap
``sum(route cost - shortest cost) / sum(route cost)`` of the car trips (both on those link
costs; on large twins over the trips of at most ``GAP_ORIGINS`` random origins per time bin) is
recorded in :attr:`CityModel.gaps`.

Examples
--------
>>> # model = CityModel(twin, seed=1); model.run(); model.gaps
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np

from twin._errors import SimulationError
from twin.agents.day_inputs import engine_inputs
from twin.agents.external import (
    ExternalConfig,
    external_demand,
    gateway_table,
    load_external_config,
)
from twin.agents.mobility import (
    EngineConfig,
    EngineResult,
    Hourly,
    Trips,
    link_params,
    load_engine_config,
    simulate_links,
)
from twin.agents.places import Places, build_places
from twin.agents.plans import Plans, build_plans, transit_network
from twin.agents.population import (
    PopulationConfig,
    load_population_config,
    make_zones,
    synthesize,
)
from twin.layers.store import Twin
from twin.network.roads import road_graph, walk_graph
from twin.network.routing import (
    CLOSED_COST,
    pair_costs,
    path_costs,
    replace_paths,
    route_pairs,
    take_paths,
    travel_time_matrix,
)

__all__ = ["CityModel", "Places", "Resident", "build_places"]

#: Twins with more road nodes re-route on the link times of periods of the day, not hours.
LARGE_TWIN_NODES = 3000
#: Period bounds (hours) on large twins: 05-07, 07-10, 10-15, 15-19, 19-24.
PERIODS_H = np.array([0, 7, 10, 15, 19, 24])
#: The relative gap probes at most this many origin nodes per time bin.
GAP_ORIGINS = 400

#: progress(iteration (1-based), simulated clock in s)
Progress = Callable[[int, float], None]


class Resident(mesa.Agent):
    """A resident of the twin; its data live in the model's arrays at row ``index``.

    Examples
    --------
    >>> # [a.kind for a in model.agents_by_type[Resident]][:3]
    """

    def __init__(self, model: CityModel, index: int, kind: str) -> None:
        super().__init__(model)
        self.index = int(index)
        self.kind = str(kind)

    @property
    def home_id(self) -> str:
        """Id of the home building."""
        m: CityModel = self.model
        return str(m.places.ids[m.population.home[self.index]])

    @property
    def mode(self) -> str | None:
        """Mode of the agent's trips (None when it makes none)."""
        m: CityModel = self.model
        t = np.flatnonzero(m.plans.trip_agent == self.index)
        return str(m.plans.trip_mode[t[0]]) if t.size else None


class CityModel(mesa.Model):
    """One representative weekday of a twin.

    Parameters
    ----------
    twin : Twin
        Needs ``roads``, ``road_nodes`` and ``buildings`` with residents.
    seed : int
        Seeds ``self.rng``; every draw comes from it.
    iterations : int
        Simulated days of route learning (>= 1).
    sample : float
        Share of the residents and external demand simulated (0 < sample <= 1); link
        capacities and storage are scaled by it, totals scaled back.
    start_h, end_h : float
        The simulated day.
    progress : callable, optional
        ``progress(iteration, clock_s)``.
    population_config, external_config, engine_config : optional
        Defaults from ``agents/population.yaml``, ``agents/external.yaml``,
        ``agents/traffic.yaml``.
    capacity_scale : ndarray, optional
        Per directed link capacity multiplier (interventions).
    node_factor : ndarray, optional
        Per node capacity factor replacing the control's (interventions).
    node_delay_s : ndarray, optional
        Per node delay replacing the control's (signal timing).
    hourly_capacity, hourly_node_factor, hourly_node_delay_s : optional
        Per-hour capacity multipliers (0: closed), node factors and delays (see
        :func:`twin.agents.mobility.link_params`), on top of those of ``twin.extras``.

    The twin's ``extras`` (scenario interventions: node factors and delays, road closures,
    dark signals) apply too (:func:`twin.agents.day_inputs.engine_inputs`).

    Raises
    ------
    SimulationError
        No roads, no residents, bad parameters, or nobody could be routed.
    """

    def __init__(self, twin: Twin, *, seed: int, iterations: int = 5, sample: float = 1.0,
                 start_h: float = 5.0, end_h: float = 24.0, progress: Progress | None = None,
                 population_config: PopulationConfig | None = None,
                 external_config: ExternalConfig | None = None,
                 engine_config: EngineConfig | None = None,
                 capacity_scale: np.ndarray | None = None,
                 node_factor: np.ndarray | None = None,
                 node_delay_s: np.ndarray | None = None,
                 hourly_capacity: Hourly | None = None,
                 hourly_node_factor: Hourly | None = None,
                 hourly_node_delay_s: Hourly | None = None) -> None:
        super().__init__(seed=seed)
        if iterations < 1:
            msg = f"iterations must be >= 1 (got {iterations})"
            raise SimulationError(msg)
        if not 0 < sample <= 1:
            msg = f"sample must be in (0, 1] (got {sample})"
            raise SimulationError(msg)
        if not 0 <= start_h < end_h <= 24:
            msg = f"the day must satisfy 0 <= start_h < end_h <= 24 (got {start_h}, {end_h})"
            raise SimulationError(msg)
        self.seed_value = int(seed)
        self.iterations = int(iterations)
        self.sample = float(sample)
        self.start_s, self.end_s = start_h * 3600.0, end_h * 3600.0
        self.progress = progress
        self.timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.config = population_config or load_population_config()
        self.ext_config = external_config or load_external_config()
        self.engine_config = engine_config or load_engine_config()
        roads, nodes = twin.layer("roads"), twin.layer("road_nodes")
        self.graph = road_graph(roads, nodes)
        self.road_ids = roads["id"].astype(str).to_numpy()[self.graph.road_index]
        paths = twin.layers.get("paths")
        self.walk = walk_graph(paths, roads, nodes)
        self.notes: list[str] = []
        inputs = engine_inputs(twin, self.graph, self.engine_config, start_h=start_h,
                               end_h=end_h, capacity_scale=capacity_scale,
                               node_factor=node_factor, node_delay_s=node_delay_s)
        self.notes.extend(inputs.notes)
        opts = inputs.link_options()
        for name, extra in (("hourly_capacity", hourly_capacity),
                            ("hourly_node_factor", hourly_node_factor),
                            ("hourly_node_delay_s", hourly_node_delay_s)):
            if extra is not None:
                opts[name] = _merge_hourly(extra, opts.get(name))
        self.links = link_params(self.graph, self.engine_config, flow_factor=self.sample,
                                 storage_factor=self.sample, **opts)
        # drivers' perceived cost factor by road class; closed links are never routed over
        factors = self.config.route_choice["class_factor"]
        self.route_factor = np.array([float(factors.get(str(h), 1.0))
                                      for h in self.graph.highway])
        self.route_cost = np.where(self.links.closed, CLOSED_COST,
                                   self.links.fft_s * self.route_factor)
        self.time_cost = np.where(self.links.closed, CLOSED_COST, self.links.fft_s)
        self.places = build_places(twin, self.graph, self.walk, self.config)
        self.zones = make_zones(self.places, self.graph, self.time_cost,
                                max_zones=int(self.config.destinations["max_zones"]))
        self.gateways = gateway_table(self.graph, self.places, self.ext_config)
        self.timings["network_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._synthesize(twin)
        self.timings["plans_s"] = time.perf_counter() - t0
        Resident.create_agents(self, self.population.n, list(range(self.population.n)),
                               list(self.population.kind))
        self.car_trips = np.flatnonzero(self.plans.trip_mode == "car")
        self.route_ptr, self.route_links = take_paths(self.plans.route_ptr,
                                                      self.plans.route_links, self.car_trips)
        if self.links.hour_closed is not None and self.links.hour_closed.any():
            self._avoid_closures()
        self.gaps: list[float] = []
        self.result: EngineResult | None = None
        self.clock_s = self.start_s
        self.datacollector = mesa.DataCollector(model_reporters={
            "hour": lambda m: int(m.clock_s // 3600),
            "departures": lambda m: m._hourly("departures"),
            "car_departures": lambda m: m._hourly("car_departures"),
            "vehicles_entering_links": lambda m: m._hourly("entries"),
            "congested_links": lambda m: m._hourly("congested"),
            "mean_vc": lambda m: m._hourly("mean_vc"),
        })

    # -- building the day -------------------------------------------------------------------

    def _synthesize(self, twin: Twin) -> None:
        g, z, gw = self.graph, self.zones, self.gateways
        minutes_out = travel_time_matrix(g, z.node, gw.node, cost=self.time_cost) / 60.0
        minutes_in = travel_time_matrix(g, gw.node, z.node, cost=self.time_cost) / 60.0
        metres = np.where(self.links.closed, np.inf, g.length_m)
        metres_gw = travel_time_matrix(g, gw.node, gw.node, cost=np.minimum(metres, CLOSED_COST))
        metres_gw[metres_gw >= CLOSED_COST] = np.inf
        if self.links.closed.any():
            self.notes.extend(_cut_gateways(g.node_ids[gw.node], metres_gw))
        self.population = synthesize(
            self.places, z, self.config, self.rng, sample=self.sample,
            gateway_minutes=minutes_out, gateway_weight=gw.exit_vph * gw.exit_weight)
        pop = self.population
        inside = (pop.main >= 0) & (self.places.kind[np.maximum(pop.main, 0)] == "building")
        works = np.array(["-work-" in c for c in pop.chain], dtype=bool)
        filled = np.bincount(pop.main[inside & works], minlength=self.places.n)
        self.external = external_demand(
            self.places, gw, g, z.of_place, minutes_in, minutes_out, metres_gw, filled,
            self.ext_config, self.config.destinations["gateway_beta_per_min"], self.rng,
            sample=self.sample, hours=(int(self.start_s // 3600), int(np.ceil(self.end_s / 3600))))
        transit = transit_network(twin, self.places, self.walk, self.config)
        self.plans: Plans = build_plans(
            pop, self.external, self.places, z, g, self.walk, transit, self.route_cost,
            self.links.fft_s, self.config, self.ext_config, self.rng, start_s=self.start_s,
            end_s=self.end_s, online_share=_online_share(twin))
        if self.plans.n_trips == 0 and self.plans.unrouted:
            reasons = "; ".join(f"{v} {k}" for k, v in self.plans.unrouted.items())
            msg = f"no agent could be routed: {reasons}"
            raise SimulationError(msg)

    # -- the day ----------------------------------------------------------------------------

    def step(self) -> None:
        """Simulate the day once; re-route first (MSA) from the second iteration on."""
        k = len(self.gaps)
        if k > 0 and self.result is not None:
            t0 = time.perf_counter()
            self._reroute(self.result, share=1.0 / (k + 1))
            self.timings["reroute_s"] = self.timings.get("reroute_s", 0.0) + (
                time.perf_counter() - t0)
        t0 = time.perf_counter()
        trips = Trips(depart_s=self.plans.trip_depart_s[self.car_trips],
                      route_ptr=self.route_ptr, route_links=self.route_links)
        progress = None
        if self.progress is not None:
            it, cb = k + 1, self.progress

            def progress(clock: float) -> None:
                cb(it, clock)

        self.result = simulate_links(self.links, trips, self.engine_config, start_s=self.start_s,
                                     end_s=self.end_s, progress=progress)
        self.timings["engine_s"] = self.timings.get("engine_s", 0.0) + (
            time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.gaps.append(self._gap(self.result))
        self.timings["gap_s"] = self.timings.get("gap_s", 0.0) + time.perf_counter() - t0
        if self.progress is not None:
            self.progress(k + 1, self.end_s)

    def run(self) -> None:
        """Run every iteration, then walk the clock through the day collecting hourly KPIs."""
        while len(self.gaps) < self.iterations:
            self.step()
        self.clock_s = self.start_s
        while self.clock_s < self.end_s:
            self.datacollector.collect(self)
            self.clock_s += 3600.0

    def _bins(self) -> np.ndarray:
        """Time bin of each hour of day: the hours themselves, or on large twins (more than
        LARGE_TWIN_NODES nodes, and nothing varying by hour) the periods of PERIODS_H."""
        hours = np.arange(24)
        if self.graph.n_nodes <= LARGE_TWIN_NODES or self.links.varies:
            return hours
        return np.clip(np.searchsorted(PERIODS_H, hours, side="right") - 1, 0,
                       len(PERIODS_H) - 2)

    def _closed_bins(self, of_hour: np.ndarray) -> np.ndarray:
        """Links out of reach per bin (n_bins x n_links): closed all day, or in an hour of the
        bin or the hour after it (a trip departing just before a closure avoids it too)."""
        closed_h = self.links.closed_by_hour()
        n_bins = int(of_hour.max()) + 1
        out = np.zeros((n_bins, closed_h.shape[0]), dtype=bool)
        for h in range(24):
            out[of_hour[h]] |= closed_h[:, h]
            if h > 0:
                out[of_hour[h - 1]] |= closed_h[:, h]
        return out

    def _bin_costs(self, result: EngineResult | None) -> tuple[np.ndarray, np.ndarray]:
        """Bin of each hour of day, and the perceived link costs per bin (n_bins x n_links).

        A bin's link time is the mean over its hours weighted by the vehicles entering (the
        free-flow time of its hours where none did; everywhere when ``result`` is None). Links
        closed in a bin (:meth:`_closed_bins`) cost CLOSED_COST.
        """
        of_hour = self._bins()
        n_bins = int(of_hour.max()) + 1
        fft_h = self.links.fft_by_hour()
        free = np.zeros((n_bins, fft_h.shape[0]))
        np.add.at(free, of_hour, fft_h.T)
        free /= np.bincount(of_hour, minlength=n_bins)[:, None]
        if result is None:
            mean = free
        else:
            entries = result.link_entries.astype(float)
            weight = np.zeros((n_bins, entries.shape[0]))
            total = np.zeros_like(weight)
            np.add.at(weight, of_hour, entries.T)
            np.add.at(total, of_hour, (entries * result.link_time_s).T)
            mean = np.divide(total, weight, out=free, where=weight > 0)
        cost = np.maximum(mean, 1e-3) * self.route_factor[None, :]
        return of_hour, np.where(self._closed_bins(of_hour), CLOSED_COST, cost)

    def _avoid_closures(self) -> None:
        """Re-route the car trips whose initial route uses a link closed in their time bin."""
        o, d, hour = self._od_nodes()
        of_hour, cost = self._bin_costs(None)
        b = of_hour[hour]
        lens = np.diff(self.route_ptr)
        owner = np.repeat(np.arange(len(o)), lens)
        hit = cost[b[owner], self.route_links] >= CLOSED_COST
        bad = np.unique(owner[hit])
        if bad.size == 0:
            return
        kept = self._route_on(bad, o, d, b, cost)
        if kept < bad.size:
            self.notes.append(f"{bad.size - kept} car trips find no route around a road closed "
                              "in their hour: they wait for it to reopen")

    def _od_nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.plans
        o = self.places.node[p.trip_origin[self.car_trips]]
        d = self.places.node[p.trip_dest[self.car_trips]]
        hour = np.clip((p.trip_depart_s[self.car_trips] // 3600).astype(np.int64), 0, 23)
        return o, d, hour

    def _reroute(self, result: EngineResult, *, share: float) -> None:
        """Give a share of the car trips the shortest route on last iteration's link times."""
        o, d, hour = self._od_nodes()
        pick = np.flatnonzero((self.rng.random(len(o)) < share) & (o != d))
        if pick.size == 0:
            return
        of_hour, cost = self._bin_costs(result)
        self._route_on(pick, o, d, of_hour[hour], cost)

    def _route_on(self, pick: np.ndarray, o: np.ndarray, d: np.ndarray, b: np.ndarray,
                  cost: np.ndarray) -> int:
        """Shortest routes for the car trips ``pick`` on the costs of their bin ``b``; a trip
        with no route that avoids closed links keeps its own. Returns how many got one."""
        lens, links, rows = [], [], []
        for k in np.unique(b[pick]):  # one routing call per time bin
            sel = pick[b[pick] == k]
            paths = route_pairs(self.graph, o[sel], d[sel], cost=cost[k])
            ok = np.flatnonzero(paths.found & (paths.cost < CLOSED_COST / 10))
            p2, l2 = take_paths(paths.ptr, paths.links, ok)
            lens.append(np.diff(p2))
            links.append(l2)
            rows.append(sel[ok])
        new_ptr = np.concatenate([[0], np.cumsum(np.concatenate(lens))]).astype(np.int64)
        self.route_ptr, self.route_links = replace_paths(
            self.route_ptr, self.route_links, np.concatenate(rows), new_ptr,
            np.concatenate(links))
        return int(sum(len(r) for r in rows))

    def _gap(self, result: EngineResult) -> float:
        """Relative gap of the car routes on the experienced link times of their time bin.

        ``sum(route cost - shortest cost) / sum(route cost)``; on twins where a bin has more than
        GAP_ORIGINS origin nodes, over the trips of GAP_ORIGINS origins drawn at random.
        """
        o, d, hour = self._od_nodes()
        if len(o) == 0:
            return 0.0
        of_hour, cost = self._bin_costs(result)
        b = of_hour[hour]
        owner = np.repeat(np.arange(len(o)), np.diff(self.route_ptr))
        route = np.bincount(owner, weights=cost[b[owner], self.route_links], minlength=len(o))
        num = den = 0.0
        for k in np.unique(b):
            sel = np.flatnonzero(b == k)
            origins = np.unique(o[sel])
            if len(origins) > GAP_ORIGINS:
                probe = np.sort(self.rng.choice(origins, GAP_ORIGINS, replace=False))
                sel = sel[np.isin(o[sel], probe)]
            mat, _ = self.graph.csr(cost[k])
            best = pair_costs(mat, o[sel], d[sel])
            num += float(np.sum(route[sel] - np.minimum(best, route[sel])))
            den += float(route[sel].sum())
        return num / den if den > 0 else 0.0

    # -- hourly reporters -------------------------------------------------------------------

    def _hourly(self, what: str) -> float:
        h = int(self.clock_s // 3600)
        p = self.plans
        if what == "departures":
            return float(np.count_nonzero((p.trip_depart_s // 3600) == h) / self.sample)
        if what == "car_departures":
            dep = p.trip_depart_s[self.car_trips]
            return float(np.count_nonzero((dep // 3600) == h) / self.sample)
        if self.result is None:
            return 0.0
        entries = self.result.link_entries[:, h]
        if what == "entries":
            return float(entries.sum() / self.sample)
        vc = self.link_vc()[:, h]
        if what == "congested":
            return float(np.count_nonzero(self.congested()[:, h]))
        return float(vc[entries > 0].mean()) if (entries > 0).any() else 0.0

    def capacity_vph(self) -> np.ndarray:
        """Effective capacity (veh/h, simulated scale) per link and hour (0 where closed)."""
        return np.where(self.links.closed_by_hour(), 0.0, self.links.cap_by_hour() * 3600.0)

    def link_vc(self) -> np.ndarray:
        """Volume / effective capacity per link and hour (n_links x 24) of the last iteration."""
        if self.result is None:
            return np.zeros((self.graph.n_links, 24))
        cap = self.capacity_vph()
        with np.errstate(divide="ignore", invalid="ignore"):
            vc = self.result.link_entries / cap
        return np.where(cap > 0, vc, 0.0)

    def congested(self) -> np.ndarray:
        """Congested link-hours (v/c above the threshold, or time over ratio x free flow)."""
        if self.result is None:
            return np.zeros((self.graph.n_links, 24), bool)
        k = self.config.kpis
        slow = self.result.link_time_s > k["congested_time_ratio"] * self.links.fft_by_hour()
        used = self.result.link_entries > 0
        return used & ((self.link_vc() > k["congested_vc"]) | slow)

    def free_flow_s(self) -> np.ndarray:
        """Free-flow time of every car trip on its current route (in its departure hour)."""
        if not self.links.varies:
            return path_costs(self.route_ptr, self.route_links, self.links.fft_s)
        _, _, hour = self._od_nodes()
        lens = np.diff(self.route_ptr)
        owner = np.repeat(np.arange(len(lens)), lens)
        per = self.links.fft_by_hour()[self.route_links, hour[owner]]
        return np.bincount(owner, weights=per, minlength=len(lens))

    def describe(self) -> dict[str, Any]:
        """Counts of what the model holds (agents, trips, links)."""
        p = self.plans
        return {"residents": int(self.population.n),
                "in_commuters": len(self.external.commuter_id),
                "through_trips": len(self.external.through_id),
                "trips": int(p.n_trips), "car_trips": len(self.car_trips),
                "links": int(self.graph.n_links), "nodes": int(self.graph.n_nodes)}


def _merge_hourly(first: Any, then: Any) -> Any:
    """Hourly values of a caller and of the twin's extras: entries of both (the extras' last).

    A dense ``(n, 24)`` array of the caller is kept as it is, with the extras' entries on top.
    """
    if then is None:
        return first
    if isinstance(first, np.ndarray):
        return _overlay(first, then)
    return [*list(first), *list(then)]


def _overlay(dense: np.ndarray, entries: Any) -> np.ndarray:
    out = np.asarray(dense, dtype=float).copy()
    for idx, hours, value in entries:
        out[np.ix_(np.atleast_1d(idx), np.atleast_1d(hours))] = float(value)
    return out


def _online_share(twin: Twin) -> float:
    """Share of the service-centre visits done online (``e_services``), from the extras."""
    share = (twin.extras.get("params") or {}).get("e_services_share", 0.0) or 0.0
    return min(max(float(share), 0.0), 1.0)


def _cut_gateways(ids: np.ndarray, metres: np.ndarray) -> list[str]:
    """A note naming the gateways the day's closures cut off from every other gateway.

    Examples
    --------
    >>> _cut_gateways(np.array(["g1", "g2", "g3"]),
    ...               np.array([[0, 5, np.inf], [5, 0, np.inf], [np.inf, np.inf, 0]]))[0][:39]
    'closed roads cut gateway(s) g3 off from'
    """
    off = np.eye(len(ids), dtype=bool)
    cut = ~(np.isfinite(np.where(off, np.inf, metres)).any(axis=1)
            | np.isfinite(np.where(off, np.inf, metres)).any(axis=0))
    if len(ids) < 2 or not cut.any():
        return []
    return [f"closed roads cut gateway(s) {', '.join(map(str, ids[cut]))} off from every other "
            "gateway: no through traffic enters or leaves there (it is not generated, not "
            "re-routed)"]
