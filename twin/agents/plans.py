"""Activity plans -> trips, and mode choice.

Each resident's chain (``home-work-errand-home`` ...) becomes activities at places (home, the
work or school place of :mod:`twin.agents.population`, errand places drawn by a gravity model
over facilities and shops) and one trip between each pair of consecutive activities. Departure
times follow the profiles: the first from the activity's departure mixture, the next ones after
the travel time and the activity's drawn duration.

Mode choice is a multinomial logit per chain (one mode for the whole chain) on generalised
cost = money + value of time x weighted minutes, over the modes available for every trip:

- car (a car is available and the road graph connects the places): free-flow time on the
  shortest path, plus access time; cost per km and parking at the destination;
- transit: walk to one of the nearest stops, wait half the headway, ride along the route at
  its speed (stop-to-stop distance along the route), walk from the stop; no transfers;
- walk and bike: distance on the walk graph at their speeds, up to their range.

In-commuters drive with the configured share (else transit), residents working outside drive
when a car is available with the configured probability; through traffic drives. An agent for
whom no mode is available is not simulated but counted, with the reason, in ``unrouted``.

Examples
--------
>>> mixture_draw([{"mean_h": 8.0, "sd_h": 0.0, "weight": 1.0}], 2, np.random.default_rng(0))
array([28800., 28800.])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from twin.agents.external import ExternalConfig, ExternalDemand
from twin.agents.population import Population, PopulationConfig, draw_rows, pick_places
from twin.layers.store import Twin
from twin.network.roads import RoadGraph, WalkGraph
from twin.network.routing import (
    CLOSED_COST,
    pair_costs,
    path_costs,
    route_pairs,
    take_paths,
    walk_distances,
)

if TYPE_CHECKING:
    from twin.agents.model import Places
    from twin.agents.population import Zones
    from twin.agents.services import ServicesConfig

__all__ = ["MODES", "Plans", "Transit", "build_plans", "mixture_draw",
           "transit_costs", "transit_network"]

MODES = ("car", "transit", "walk", "bike")
#: Up to this many road nodes, mode choice sees the car's exact free-flow time of every trip;
#: on larger twins the time between the places' zones.
EXACT_CAR_NODES = 3000
_CAR, _TRANSIT, _WALK, _BIKE = range(4)


def mixture_draw(components: list[dict[str, float]], n: int,
                 rng: np.random.Generator, hour_factor: Mapping[int, float] | None = None
                 ) -> np.ndarray:
    """``n`` times of day (s) from a mixture of normals given in hours.

    ``hour_factor`` (hour -> multiplier, calibration) reweights the density in each hour; the
    draws are moved by the monotone map between the two distributions, so the same random
    numbers give the same draws when every factor is 1.
    """
    w = np.array([c["weight"] for c in components], dtype=float)
    k = rng.choice(len(components), size=n, p=w / w.sum())
    mean = np.array([c["mean_h"] for c in components])[k]
    sd = np.array([c["sd_h"] for c in components])[k]
    t = mean + sd * rng.standard_normal(n)
    if hour_factor and n and any(float(v) != 1.0 for v in hour_factor.values()):
        from twin.agents.calibrate_profile import reweight_hours

        t = reweight_hours(t, components, hour_factor)
    return t * 3600.0


@dataclass(frozen=True)
class Transit:
    """Direct transit connections between stops, and the stops near every place.

    Attributes
    ----------
    gen_min, time_min, ride_m : ndarray (n_stops, n_stops)
        Best direct connection: generalised minutes (weighted wait + ride), minutes (wait +
        ride) and ride distance; ``inf`` where no route serves both stops.
    place_stops : ndarray (n_places, k) of int
        Nearest stops of each place within walking range (-1 padding).
    place_walk_m : ndarray (n_places, k)
        Walking distance to them.
    """

    gen_min: np.ndarray
    time_min: np.ndarray
    ride_m: np.ndarray
    place_stops: np.ndarray
    place_walk_m: np.ndarray


def transit_network(twin: Twin, places: Places, walk: WalkGraph,
                    config: PopulationConfig) -> Transit | None:
    """Direct stop-to-stop connections of ``transit_routes`` and the stops near each place.

    Routes are ridden in both directions; stops are the facilities named in ``stop_ids``.
    Returns None when the twin has no usable route.

    Examples
    --------
    >>> # transit_network(twin, places, walk_graph(...), load_population_config())
    """
    routes = twin.layer("transit_routes")
    fac = twin.layer("facilities")
    if len(routes) == 0 or len(fac) == 0 or "stop_ids" not in routes:
        return None
    index = {str(i): k for k, i in enumerate(fac["id"].astype(str))}
    cfg = config.modes["transit"]
    seqs = []
    for sid, geom, hw, spd in zip(routes["stop_ids"].fillna(""), routes.geometry,
                                  routes["headway_min"].astype(float),
                                  routes["speed_kph"].astype(float), strict=True):
        ks = [index[s.strip()] for s in str(sid).split(",") if s.strip() in index]
        if len(ks) >= 2 and geom is not None:
            seqs.append((ks, geom, hw, spd))
    if not seqs:
        return None
    used = np.unique(np.concatenate([np.array(s[0]) for s in seqs]))
    stop_of = {int(f): i for i, f in enumerate(used)}
    s_n = len(used)
    gen = np.full((s_n, s_n), np.inf)
    tmin = np.full((s_n, s_n), np.inf)
    ride = np.full((s_n, s_n), np.inf)
    fxy = np.column_stack([fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()])
    import shapely

    for ks, geom, hw, spd in seqs:  # one loop per route, vectorised over its stop pairs
        pos = shapely.line_locate_point(geom, shapely.points(fxy[ks]))
        s = np.array([stop_of[k] for k in ks])
        dist = np.abs(pos[:, None] - pos[None, :])
        t = dist / (spd / 3.6) / 60.0
        g = cfg["wait_weight"] * hw / 2 + t
        better = g < gen[np.ix_(s, s)]
        np.fill_diagonal(better, False)
        ii, jj = np.nonzero(better)
        gen[s[ii], s[jj]] = g[ii, jj]
        tmin[s[ii], s[jj]] = hw / 2 + t[ii, jj]
        ride[s[ii], s[jj]] = dist[ii, jj]
    stop_xy = fxy[used]
    from twin.network.routing import nearest_nodes

    stop_node, stop_snap = nearest_nodes(walk.xy, stop_xy)
    from scipy.sparse.csgraph import dijkstra

    reach = float(cfg["max_access_m"])
    dist = dijkstra(walk.csr(), directed=False, indices=stop_node, limit=reach)
    acc = dist[:, places.walk_node].T + stop_snap[None, :] + places.walk_snap_m[:, None]
    acc[acc > reach] = np.inf
    k = int(min(cfg["stops_per_place"], s_n))
    near = np.argsort(acc, axis=1, kind="stable")[:, :k]
    walk_m = np.take_along_axis(acc, near, axis=1)
    near = np.where(np.isfinite(walk_m), near, -1)
    return Transit(gen_min=gen, time_min=tmin, ride_m=ride, place_stops=near,
                   place_walk_m=walk_m)


def transit_costs(tr: Transit, origin: np.ndarray, dest: np.ndarray, config: PopulationConfig
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best direct transit option per (origin place, destination place).

    Returns
    -------
    (minutes, generalised minutes, distance m)
        ``inf`` where no stop pair within walking range is served by one route.
    """
    cfg = config.modes["transit"]
    speed = cfg["walk_speed_kph"] * 1000.0 / 60.0  # m per minute
    so, wo = tr.place_stops[origin], tr.place_walk_m[origin]
    sd, wd = tr.place_stops[dest], tr.place_walk_m[dest]
    ok = (so[:, :, None] >= 0) & (sd[:, None, :] >= 0)
    a, b = np.maximum(so, 0)[:, :, None], np.maximum(sd, 0)[:, None, :]
    walk_min = (wo[:, :, None] + wd[:, None, :]) / speed
    gen = np.where(ok, tr.gen_min[a, b] + cfg["walk_weight"] * walk_min, np.inf)
    n = len(origin)
    flat = gen.reshape(n, -1)
    best = np.argmin(flat, axis=1) if n else np.zeros(0, np.int64)
    g = flat[np.arange(n), best]
    kk = tr.place_stops.shape[1]
    i, j = best // kk, best % kk
    rows = np.arange(n)
    sa, sb = np.maximum(so[rows, i], 0), np.maximum(sd[rows, j], 0)
    w = wo[rows, i] + wd[rows, j]
    minutes = np.where(np.isfinite(g), tr.time_min[sa, sb] + w / speed, np.inf)
    dist = np.where(np.isfinite(g), tr.ride_m[sa, sb] + w, np.inf)
    return minutes, g, dist


@dataclass
class Plans:
    """Agents, activities and trips of one day, as arrays.

    Attributes
    ----------
    agent_id, agent_kind : ndarray of str
        Residents (``p..``: worker, student, retiree, other), in-commuters (``c..``:
        in_commuter) and through traffic (``x..``: through).
    agent_resident : ndarray of bool
    act_agent, act_type, act_place : ndarray
        Activities in order per agent (type home, work, school, errand or external).
    act_end_s : ndarray of float
        Planned end (the departure of the next trip; end of day for the last).
    trip_agent, trip_act : ndarray of int
        Agent and origin activity of each trip (the destination is ``trip_act + 1``).
    trip_purpose : ndarray of str
        Type of the destination activity (``through`` for through traffic).
    trip_origin, trip_dest : ndarray of int
        Places.
    trip_depart_s : ndarray of float
    trip_mode : ndarray of str
    trip_time_s, trip_distance_m : ndarray of float
        Modelled time and distance (car: free flow on the initial route).
    route_ptr, route_links : ndarray of int
        Initial (free-flow) road route of every trip (empty unless car).
    unrouted : dict
        Reason -> number of agents (or through trips) that could not be routed.
    online_agent, online_place : ndarray of int
        Service-centre visits done online (e-services): the agent and the facility it would
        have gone to. They make no trip.
    """

    agent_id: np.ndarray
    agent_kind: np.ndarray
    agent_resident: np.ndarray
    act_agent: np.ndarray
    act_type: np.ndarray
    act_place: np.ndarray
    act_end_s: np.ndarray
    trip_agent: np.ndarray
    trip_act: np.ndarray
    trip_purpose: np.ndarray
    trip_origin: np.ndarray
    trip_dest: np.ndarray
    trip_depart_s: np.ndarray
    trip_mode: np.ndarray
    trip_time_s: np.ndarray
    trip_distance_m: np.ndarray
    route_ptr: np.ndarray
    route_links: np.ndarray
    unrouted: dict[str, int] = field(default_factory=dict)
    online_agent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    online_place: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_trips(self) -> int:
        """Number of trips."""
        return len(self.trip_agent)


def _residents_activities(pop: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(agent, sequence, type) of every resident activity, sorted by agent then sequence."""
    agents, seqs, types = [], [], []
    for chain in np.unique(pop.chain.astype(str)):  # one loop per distinct chain (a handful)
        who = np.flatnonzero(pop.chain == chain)
        steps = chain.split("-")
        agents.append(np.repeat(who, len(steps)))
        seqs.append(np.tile(np.arange(len(steps)), len(who)))
        types.append(np.tile(np.array(steps, dtype=object), len(who)))
    a, s, t = np.concatenate(agents), np.concatenate(seqs), np.concatenate(types)
    o = np.lexsort((s, a))
    return a[o], s[o], t[o]


def _errand_weight(places: Places, config: PopulationConfig) -> np.ndarray:
    attr = config.destinations["errand_attraction"]
    w = np.zeros(places.n)
    fac = places.kind == "facility"
    w[fac] = [float(attr["facility"].get(u, 0.0)) for u in places.use[fac]]
    bld = places.kind == "building"
    w[bld] = places.jobs[bld] * np.array([float(attr["building_jobs"].get(u, 0.0))
                                          for u in places.use[bld]])
    if w.sum() <= 0:
        w = places.jobs.astype(float)
    if w.sum() <= 0:
        w = (places.kind == "building").astype(float)
    return w


def _draw_errands(origin: np.ndarray, zones: Zones, weight: np.ndarray,
                  beta: float, rng: np.random.Generator) -> np.ndarray:
    zw = np.bincount(zones.of_place, weights=weight, minlength=zones.n)
    oz = zones.of_place[origin]
    rows, row_of = np.unique(oz, return_inverse=True)
    det = np.exp(-beta * zones.minutes[rows]) * zw[None, :]
    zone = draw_rows(det, row_of, rng)
    return pick_places(zone, zones.of_place, weight, rng, slots=False)


def _durations(types: np.ndarray, config: PopulationConfig, rng: np.random.Generator
               ) -> np.ndarray:
    out = np.zeros(len(types))
    draw = rng.standard_normal(len(types))
    for act, spec in config.activities.items():
        m = types == act
        d = spec["duration_h"]
        out[m] = np.maximum(d["min"], d["mean"] + d["sd"] * draw[m]) * 3600.0
    return out


@dataclass
class _Legs:
    """Per-trip costs of every mode (rows = trips); car: perceived free-flow seconds."""

    car_s: np.ndarray
    car_m: np.ndarray
    walk_m: np.ndarray
    transit_min: np.ndarray
    transit_gen: np.ndarray
    transit_m: np.ndarray


def _legs(o: np.ndarray, d: np.ndarray, places: Places, walk: WalkGraph,
          transit: Transit | None, road: sp.csr_matrix, road_xy: np.ndarray,
          zones: Zones | None, config: PopulationConfig) -> _Legs:
    """Costs of the trips (o -> d places) by every mode, computed once per distinct pair.

    The car's distance is taken on the walk graph (the streets) for the choice; the route
    itself is found only for the trips that drive (:func:`_car_routes`). With ``zones`` (large
    twins), the car's time is the free-flow time between the places' zones.
    """
    if zones is None:
        nodes, inv = np.unique(np.column_stack([places.node[o], places.node[d]]), axis=0,
                               return_inverse=True)
        car = pair_costs(road, nodes[:, 0], nodes[:, 1], xy=road_xy)
        car = np.where(car < CLOSED_COST / 10, car, np.inf)[inv.ravel()]  # no closed link
    else:  # a large twin: free-flow time between the zones of the places
        zo, zd = zones.of_place[o], zones.of_place[d]
        car = np.where(zones.linked[zo, zd], 60.0 * zones.minutes[zo, zd], np.inf)
    reach = 1000.0 * max(config.modes["walk"]["max_km"], config.modes["bike"]["max_km"])
    wn, winv = np.unique(np.column_stack([places.walk_node[o], places.walk_node[d]]), axis=0,
                         return_inverse=True)
    wd = walk_distances(walk, wn[:, 0], wn[:, 1], limit=reach)
    walk_m = wd[winv.ravel()] + places.walk_snap_m[o] + places.walk_snap_m[d]
    walk_m[o == d] = 0.0
    crow = 1.3 * np.linalg.norm(places.xy[o] - places.xy[d], axis=1)
    if transit is None:
        t_min = t_gen = t_m = np.full(len(o), np.inf)
    else:
        pairs, pinv = np.unique(np.column_stack([o, d]), axis=0, return_inverse=True)
        t_min, t_gen, t_m = (x[pinv.ravel()] for x in transit_costs(
            transit, pairs[:, 0], pairs[:, 1], config))
    return _Legs(car_s=car, car_m=np.where(np.isfinite(walk_m), walk_m, crow), walk_m=walk_m,
                 transit_min=t_min, transit_gen=t_gen, transit_m=t_m)


def _car_routes(o_node: np.ndarray, d_node: np.ndarray, graph: RoadGraph, link_cost: np.ndarray,
                link_time: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Routes (CSR), free-flow times, lengths and found flags of car trips (per node pair)."""
    nodes, inv = np.unique(np.column_stack([o_node, d_node]), axis=0, return_inverse=True)
    inv = inv.ravel()
    paths = route_pairs(graph, nodes[:, 0], nodes[:, 1], cost=link_cost)
    ptr, links = take_paths(paths.ptr, paths.links, inv)
    time_s = path_costs(paths.ptr, paths.links, link_time)[inv]
    length = path_costs(paths.ptr, paths.links, graph.length_m)[inv]
    found = (paths.found & (paths.cost < CLOSED_COST / 10))[inv]
    return ptr, links, time_s, length, found


def _choose_modes(legs: _Legs, trip_tour: np.ndarray, purpose: np.ndarray, n_tours: int,
                  car: np.ndarray, vot: np.ndarray, config: PopulationConfig,
                  rng: np.random.Generator) -> np.ndarray:
    """Logit choice of one mode per tour; -1 where no mode is available."""
    m = config.modes
    vmin = vot[trip_tour] / 60.0
    parking = np.array([float(m["car"]["parking_eur"].get(p, 0.0)) for p in purpose])
    gc = np.empty((len(trip_tour), 4))
    gc[:, _CAR] = (vmin * (legs.car_s / 60 + m["car"]["access_min"])
                   + m["car"]["cost_per_km_eur"] * legs.car_m / 1000 + parking)
    gc[:, _TRANSIT] = vmin * legs.transit_gen + m["transit"]["fare_eur"]
    walk_min = legs.walk_m / (m["walk"]["speed_kph"] / 0.06)
    bike_min = legs.walk_m / (m["bike"]["speed_kph"] / 0.06)
    gc[:, _WALK] = vmin * m["walk"]["weight"] * walk_min
    gc[:, _BIKE] = vmin * m["bike"]["weight"] * bike_min
    gc[:, _WALK] = np.where(legs.walk_m <= 1000 * m["walk"]["max_km"], gc[:, _WALK], np.inf)
    gc[:, _BIKE] = np.where(legs.walk_m <= 1000 * m["bike"]["max_km"], gc[:, _BIKE], np.inf)
    gc[~np.isfinite(gc)] = np.inf
    total = np.zeros((n_tours, 4))
    bad = np.zeros((n_tours, 4), bool)
    for k in range(4):
        fin = np.isfinite(gc[:, k])
        total[:, k] = np.bincount(trip_tour[fin], weights=gc[fin, k], minlength=n_tours)
        bad[:, k] = np.bincount(trip_tour[~fin], minlength=n_tours) > 0
    bad[:, _CAR] |= ~car
    asc = np.array([m[x]["asc"] for x in MODES])
    beta = config.choice["cost_coefficient_per_eur"]
    util = asc[None, :] - beta * total + rng.gumbel(size=(n_tours, 4))
    util[bad] = -np.inf
    pick = np.argmax(util, axis=1)
    return np.where(bad.all(axis=1), -1, pick)


def _forced_transit(legs: _Legs, config: PopulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and distance (m) of a non-car trip made by rule: transit, else walking.

    ``inf`` where neither a direct transit line nor the walk graph connects the places.
    """
    ws = config.modes["walk"]["speed_kph"] / 3.6
    t = np.where(np.isfinite(legs.transit_min), legs.transit_min * 60, legs.walk_m / ws)
    dist = np.where(np.isfinite(legs.transit_min), legs.transit_m, legs.walk_m)
    return t, dist


def build_plans(pop: Population, ext: ExternalDemand, places: Places, zones: Zones,
                graph: RoadGraph, walk: WalkGraph, transit: Transit | None,
                link_cost: np.ndarray, link_time: np.ndarray, config: PopulationConfig,
                ext_config: ExternalConfig,
                rng: np.random.Generator, *, start_s: float = 5 * 3600,
                end_s: float = 24 * 3600, services: ServicesConfig | None = None,
                online_share: float = 0.0) -> Plans:
    """Activities, trips, modes and departure times of every agent for one day.

    Parameters
    ----------
    pop : Population
    ext : ExternalDemand
    places : Places
    zones : Zones
    graph : RoadGraph
    walk : WalkGraph
    transit : Transit or None
    link_cost : ndarray
        Perceived free-flow cost per directed link, for the initial car routes.
    link_time : ndarray
        Free-flow time per directed link (s).
    config : PopulationConfig
    ext_config : ExternalConfig
    rng : numpy Generator
    start_s, end_s : float
        The simulated day; departures are kept inside it.
    services : ServicesConfig, optional
        Visit rates to public facilities (default ``agents/services.yaml``): residents'
        ``service`` activities (:func:`twin.agents.services.add_service_visits`), at a
        facility of the visited kind drawn by a gravity model on free-flow minutes x capacity.
    online_share : float
        Share of the service-centre visits done online (e-services): those visits are taken
        out of the chains (no trip; a home-service-home chain becomes a day at home) and kept
        in ``Plans.online_agent`` / ``online_place``.

    Returns
    -------
    Plans

    Examples
    --------
    >>> # build_plans(pop, ext, places, zones, graph, walk, transit, cost, links.fft_s, cfg,
    >>> #             ecfg, rng)
    """
    from twin.agents.services import (
        add_service_visits,
        draw_visit_places,
        go_online,
        load_services_config,
        visited_kinds,
    )

    svc = services if services is not None else load_services_config()
    if "service" not in config.activities:   # profiles without visits time them as errands
        config = replace(config, activities={**config.activities,
                                             "service": config.activities["errand"]})
    r = pop.n
    a_res, s_res, t_res = _residents_activities(pop)
    a_res, s_res, t_res, k_res = add_service_visits(pop.kind, a_res, s_res, t_res,
                                                    visited_kinds(places, svc), svc, rng)
    p_res = np.where(t_res == "home", pop.home[a_res], pop.main[a_res])
    nc = len(ext.commuter_id)
    a_com = np.repeat(np.arange(r, r + nc), 3)
    t_com = np.tile(np.array(["external", "work", "external"], dtype=object), nc)
    p_com = np.column_stack([ext.commuter_entry, ext.commuter_job, ext.commuter_exit]).ravel()
    nx = len(ext.through_id)
    a_thr = np.repeat(np.arange(r + nc, r + nc + nx), 2)
    t_thr = np.tile(np.array(["external", "external"], dtype=object), nx)
    p_thr = np.column_stack([ext.through_entry, ext.through_exit]).ravel()
    act_agent = np.concatenate([a_res, a_com, a_thr]).astype(np.int64)
    act_type = np.concatenate([t_res, t_com, t_thr]).astype(object)
    act_place = np.concatenate([p_res, p_com, p_thr]).astype(np.int64)
    # errands, in chain order (the origin is the previous activity's place)
    weight = _errand_weight(places, config)
    seq = np.concatenate([s_res, np.tile([0, 1, 2], nc), np.tile([0, 1], nx)])
    visit_kind = np.concatenate([k_res, np.full(3 * nc + 2 * nx, "", dtype=object)])
    for k in range(1, int(seq.max(initial=0)) + 1):
        e = np.flatnonzero((act_type == "errand") & (seq == k))
        if e.size:
            act_place[e] = _draw_errands(act_place[e - 1], zones, weight,
                                         config.destinations["errand_beta_per_min"], rng)
        for kind in np.unique(visit_kind[(act_type == "service") & (seq == k)]):
            v = np.flatnonzero((visit_kind == kind) & (act_type == "service") & (seq == k))
            act_place[v] = draw_visit_places(act_place[v - 1], str(kind), places, zones,
                                             float(svc.visit_beta_per_min), rng)
    online_agent = online_place = np.zeros(0, np.int64)
    if online_share > 0:
        keep_act, online = go_online(act_agent, act_type, act_place, visit_kind,
                                     online_share, rng)
        online_agent, online_place = act_agent[online], act_place[online]
        act_agent, act_type, act_place = act_agent[keep_act], act_type[keep_act], \
            act_place[keep_act]
        seq = seq[keep_act]
    duration = _durations(act_type, config, rng)
    # trips between consecutive activities of an agent
    same = act_agent[1:] == act_agent[:-1]
    trip_act = np.flatnonzero(same)
    trip_agent = act_agent[trip_act]
    o, d = act_place[trip_act], act_place[trip_act + 1]
    purpose = act_type[trip_act + 1].copy()
    purpose[trip_agent >= r + nc] = "through"
    purpose[(trip_agent >= r) & (trip_agent < r + nc) & (purpose == "external")] = "home"
    legs = _legs(o, d, places, walk, transit, graph.csr(link_cost)[0], graph.xy,
                 None if graph.n_nodes <= EXACT_CAR_NODES else zones, config)
    n_agents = r + nc + nx
    mode = np.full(len(trip_act), -1, dtype=np.int64)
    unrouted: dict[str, int] = {}
    # residents: logit by tour, or the out-commuter rule when a place is a gateway
    res = trip_agent < r
    outside = np.bincount(act_agent[places.kind[act_place] == "gateway"],
                          minlength=n_agents)[:r] > 0
    car_ok = np.bincount(trip_agent[~np.isfinite(legs.car_s)], minlength=n_agents) == 0
    choice = _choose_modes(_subset(legs, res), trip_agent[res], purpose[res], r, pop.car,
                           pop.vot, config, rng)
    drive_out = (pop.car & car_ok[:r]
                 & (rng.random(r) < ext_config.out_commuters["car_share_if_car_available"]))
    choice = np.where(outside, np.where(drive_out, _CAR, _TRANSIT), choice)
    mode[res] = choice[trip_agent[res]]
    com = (trip_agent >= r) & (trip_agent < r + nc)
    drive_in = np.zeros(n_agents, bool)
    drive_in[r:r + nc] = ext.commuter_car
    mode[com] = np.where(drive_in[trip_agent[com]] & car_ok[trip_agent[com]], _CAR, _TRANSIT)
    ft, fd = _forced_transit(legs, config)
    # a chain made by transit by rule (outside work, in-commuters) needs every leg connected
    stuck = np.zeros(n_agents, bool)
    stuck[trip_agent[(mode == _TRANSIT) & ~np.isfinite(ft)]] = True
    mode[stuck[trip_agent]] = -1
    choice[stuck[:r]] = -1
    lost = np.flatnonzero((choice < 0) & (np.bincount(trip_agent[res], minlength=r) > 0))
    if lost.size:
        cut = np.bincount(trip_agent[res & ~np.isfinite(legs.walk_m)], minlength=r)[lost] > 0
        for reason, count in (
                ("disconnected: no road or walking path between the agent's places",
                 int(cut.sum())),
                ("out of reach: no car, beyond walking and cycling range, and no direct "
                 "transit connection", int((~cut).sum()))):
            if count:
                unrouted[reason] = count
    if stuck[r:r + nc].any():
        unrouted["in-commuters without a car and with no transit or walking path between "
                 "their gateway and their job"] = int(stuck[r:r + nc].sum())
    thr = trip_agent >= r + nc
    mode[thr] = np.where(np.isfinite(legs.car_s[thr]), _CAR, -1)
    if (thr & (mode < 0)).any():
        unrouted["through trips with no road path between their gateways"] = int(
            (thr & (mode < 0)).sum())
    # routes of the trips that drive; times and distances by the chosen mode
    car = mode == _CAR
    ptr, links, car_time, car_len, found = _car_routes(
        places.node[o[car]], places.node[d[car]], graph, link_cost, link_time)
    if not found.all():  # zone-level times promised a road the places' nodes do not have
        lost_car = np.zeros(n_agents, bool)
        lost_car[trip_agent[car][~found]] = True
        unrouted["no road path for a car trip between the nodes of its places"] = int(
            lost_car.sum())
        mode[lost_car[trip_agent]] = -1
        keep_car = ~lost_car[trip_agent[car]]
        ptr, links = take_paths(ptr, links, np.flatnonzero(keep_car))
        car_time, car_len = car_time[keep_car], car_len[keep_car]
        car = mode == _CAR
    w_kph, b_kph = config.modes["walk"]["speed_kph"], config.modes["bike"]["speed_kph"]
    time_s = np.select([mode == _TRANSIT, mode == _WALK, mode == _BIKE],
                       [ft, legs.walk_m / (w_kph / 3.6), legs.walk_m / (b_kph / 3.6)], np.nan)
    dist = np.where(mode == _TRANSIT, fd, legs.walk_m)
    time_s[car] = car_time
    dist[car] = car_len
    sched = time_s + np.where(car, 60.0 * config.modes["car"]["access_min"], 0.0)
    depart = _schedule(act_type, trip_act, trip_agent, duration, sched, r, nc,
                       ext.through_depart_s, config, rng, start_s, end_s)
    keep = mode >= 0
    act_end = np.full(len(act_agent), float(end_s))
    act_end[trip_act[keep]] = depart[keep]
    dropped = np.zeros(n_agents, bool)
    dropped[trip_agent[~keep]] = True
    routed_acts = ~dropped[act_agent] | ((seq == 0) & (act_agent < r))
    lens = np.zeros(len(mode), np.int64)
    lens[car] = np.diff(ptr)
    ptr2 = np.zeros(int(keep.sum()) + 1, np.int64)
    np.cumsum(lens[keep], out=ptr2[1:])
    return Plans(
        agent_id=np.concatenate([pop.agent_id, ext.commuter_id, ext.through_id]).astype(object),
        agent_kind=np.concatenate([pop.kind, np.full(nc, "in_commuter", object),
                                   np.full(nx, "through", object)]).astype(object),
        agent_resident=np.arange(n_agents) < r,
        act_agent=act_agent[routed_acts], act_type=act_type[routed_acts],
        act_place=act_place[routed_acts], act_end_s=act_end[routed_acts],
        trip_agent=trip_agent[keep], trip_act=_renumber(trip_act[keep], routed_acts),
        trip_purpose=purpose[keep], trip_origin=o[keep], trip_dest=d[keep],
        trip_depart_s=depart[keep], trip_mode=np.array(MODES, dtype=object)[mode[keep]],
        trip_time_s=time_s[keep], trip_distance_m=dist[keep], route_ptr=ptr2,
        route_links=links, unrouted=unrouted, online_agent=online_agent,
        online_place=online_place)


def _renumber(acts: np.ndarray, kept: np.ndarray) -> np.ndarray:
    return (np.cumsum(kept) - 1)[acts]


def _subset(legs: _Legs, mask: np.ndarray) -> _Legs:
    rows = np.flatnonzero(mask)
    return _Legs(legs.car_s[rows], legs.car_m[rows], legs.walk_m[rows], legs.transit_min[rows],
                 legs.transit_gen[rows], legs.transit_m[rows])


def _schedule(act_type: np.ndarray, trip_act: np.ndarray,
              trip_agent: np.ndarray, duration: np.ndarray, travel: np.ndarray, r: int,
              nc: int, through_depart: np.ndarray, config: PopulationConfig,
              rng: np.random.Generator, start_s: float, end_s: float) -> np.ndarray:
    """Departure of every trip: the first from the profile, then travel + activity duration."""
    depart = np.full(len(trip_act), np.nan)
    first = np.r_[True, trip_agent[1:] != trip_agent[:-1]] if len(trip_act) else \
        np.zeros(0, bool)
    heads = np.flatnonzero(first)
    kinds = act_type[trip_act[heads] + 1]
    kinds = np.where(trip_agent[heads] >= r + nc, "through", kinds)
    kinds = np.where((trip_agent[heads] >= r) & (trip_agent[heads] < r + nc), "work", kinds)
    for act, spec in config.activities.items():
        m = heads[kinds == act]
        depart[m] = mixture_draw(spec["departure"], m.size, rng,
                                 config.departure_hour_factor)
    thr = heads[kinds == "through"]
    depart[thr] = through_depart[trip_agent[thr] - r - nc]
    depart[heads] = np.clip(depart[heads], start_s, end_s - 60.0)
    pos = np.arange(len(trip_act)) - np.maximum.accumulate(np.where(first, np.arange(
        len(trip_act)), 0)) if len(trip_act) else np.zeros(0, np.int64)
    for k in range(1, int(pos.max(initial=0)) + 1):
        t = np.flatnonzero(pos == k)
        prev = t - 1
        depart[t] = depart[prev] + np.nan_to_num(travel[prev]) + duration[trip_act[t]]
    return np.clip(depart, start_s, end_s - 60.0)
