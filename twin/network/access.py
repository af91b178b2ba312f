"""Accessibility on arrays: travel times to the nearest facility, jobs reachable in a time budget.

Times are door to door, in seconds, with scipy's multi-source Dijkstra (one run per facility kind,
whatever the number of facilities):

- ``walk``: the walk graph (the ``paths`` layer, or the roads both ways) at ``walk_speed_mps``;
  a building or facility reaches the network at its nearest node, walking the straight line.
- ``transit``: the walk graph plus the transit routes running at ``hour``: walk to a stop, wait
  half the headway, ride at the route's speed between consecutive stops (both directions), get
  off and walk. Walking all the way stays possible, so this is "walk, or transit where faster".
  A route's stops are its ``stop_ids`` (facilities), else points every ``stop_spacing_m``.
- ``car``: the road graph at free-flow speed plus the mean delay of signalised nodes, with roads
  closed at ``hour`` (``twin.extras["events"]`` of type ``close_roads``) left out; walking to and
  from the nearest road node.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import Twin, new_meta
>>> roads = gpd.GeoDataFrame({"id": ["r1"], "u": ["a"], "v": ["b"], "length_m": [400.0],
...     "speed_kph": [36.0], "oneway": [False], "capacity_vph": [600.0], "lanes": [1]},
...     geometry=[shapely.LineString([(0, 0), (400, 0)])], crs=3067)
>>> nodes = gpd.GeoDataFrame({"id": ["a", "b"], "control": ["none", "none"]},
...     geometry=shapely.points([(0, 0), (400, 0)]), crs=3067)
>>> b = gpd.GeoDataFrame({"id": ["h"], "residents": [10], "jobs": [0]},
...     geometry=[shapely.box(-5, -5, 5, 5)], crs=3067)
>>> f = gpd.GeoDataFrame({"id": ["c"], "kind": ["clinic"]},
...     geometry=[shapely.Point(400, 0)], crs=3067)
>>> t = Twin(layers={"roads": roads, "road_nodes": nodes, "buildings": b, "facilities": f},
...          meta=new_meta("t", 3067))
>>> nearest_facility_times(t, ["clinic"], ["walk"]).round(0).to_dict("records")
[{'clinic_walk': 300.0, 'clinic': 300.0}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from twin._errors import SimulationError
from twin.layers.store import Twin
from twin.network.roads import min_csr, road_graph, walk_graph

__all__ = [
    "MODES",
    "AccessGraph",
    "access_graph",
    "jobs_reachable",
    "nearest_facility_times",
    "nearest_times",
]

MODES = ("walk", "transit", "car")
WALK_SPEED_MPS = 4.8 / 3.6
_EPS = 1e-6
# mean delay (s) at a node by its control, for the car graph (as agents/traffic.yaml)
_NODE_DELAY_S = {"signal": 12.0, "adaptive_signal": 7.0, "roundabout": 4.0}


@dataclass(frozen=True)
class AccessGraph:
    """A routing graph for one mode, costs in seconds.

    Attributes
    ----------
    mode : str
    matrix : scipy.sparse.csr_matrix
        Directed costs (s); nodes ``0 .. len(xy) - 1`` are the places one can start or end at,
        further nodes (transit stops of a route) are only passed through.
    xy : ndarray (n, 2)
        Coordinates of the nodes one can start or end at.
    walk_speed_mps : float
        Speed of the walk between a place and its nearest node.
    """

    mode: str
    matrix: sp.csr_matrix
    xy: np.ndarray
    walk_speed_mps: float

    @cached_property
    def _main(self) -> tuple[np.ndarray, cKDTree]:
        """Nodes of the main component and a k-d tree over them (built once per graph)."""
        n = len(self.xy)
        _, label = csgraph.connected_components(self.matrix, directed=True,
                                                connection="weak")
        main = np.bincount(label[:n]).argmax()
        cand = np.flatnonzero(label[:n] == main)
        return cand, cKDTree(self.xy[cand])

    @cached_property
    def reverse(self) -> sp.csr_matrix:
        """The transposed matrix (searches towards a node), built once per graph."""
        return sp.csr_matrix(self.matrix.T)

    def snap(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of the main component for each point, and the time (s) to walk to it.

        The main component is the largest (weakly) connected one among the place nodes, so a
        building never lands on an island of the network, such as a footpath loop in a park.
        """
        if len(points) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        cand, tree = self._main
        dist, idx = tree.query(points)
        return cand[np.asarray(idx, np.int64)], np.asarray(dist, float) / self.walk_speed_mps


def _points(frame: gpd.GeoDataFrame) -> np.ndarray:
    if len(frame) == 0:
        return np.zeros((0, 2))
    return shapely.get_coordinates(shapely.point_on_surface(frame.geometry.to_numpy()))


def _walk(twin: Twin, speed: float) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    paths = twin.layers.get("paths")
    w = walk_graph(paths, twin.layer("roads"), twin.layer("road_nodes"))
    n = len(w.node_ids)
    f = np.concatenate([w.from_node, w.to_node])
    t = np.concatenate([w.to_node, w.from_node])
    c = np.concatenate([w.length_m, w.length_m]) / speed
    return min_csr(n, f, t, c)[0], w.xy, w.node_ids


def _closed_roads(twin: Twin, hour: float) -> set[str]:
    closed: set[str] = set()
    for ev in twin.extras.get("events", []):
        if ev.get("type") != "close_roads":
            continue
        start, end = [*list(ev.get("hours") or [0, 24]), 24][:2]
        if float(start) <= hour < float(end):
            closed.update(str(i) for i in ev.get("road_ids", []))
    return closed


def _route_stops(route: pd.Series, geom: shapely.LineString, stops: pd.DataFrame,
                 spacing: float) -> np.ndarray:
    """Positions (m along the line) of a route's stops."""
    ids = [s for s in str(route.get("stop_ids") or "").split(",") if s.strip()]
    known = [s.strip() for s in ids if s.strip() in stops.index]
    if len(known) >= 2:
        pos = np.array([geom.project(stops.loc[s, "geometry"]) for s in known])
    else:
        pos = np.arange(0.0, geom.length + 1e-9, spacing)
        if geom.length - pos[-1] > spacing / 3:
            pos = np.append(pos, geom.length)
    return np.unique(np.round(pos, 1))


def _transit_edges(twin: Twin, xy: np.ndarray, speed: float, hour: float,
                   spacing: float) -> tuple[list[np.ndarray], int]:
    routes = twin.layer("transit_routes")
    if len(routes) == 0:
        return [], 0
    fac = twin.layer("facilities")
    stops = fac.set_index(fac["id"].astype(str)) if len(fac) else fac
    tree = cKDTree(xy)
    n_base = len(xy)
    rows: list[np.ndarray] = []
    extra = 0
    for _, r in routes.iterrows():
        geom = r.geometry
        if geom is None or geom.is_empty or geom.geom_type != "LineString":
            continue
        start = float(r.get("start_hour", 0) or 0)
        end = float(r.get("end_hour", 24) or 24)
        if not start <= hour < end:
            continue
        pos = _route_stops(r, geom, stops, spacing)
        if len(pos) < 2:
            continue
        pts = shapely.get_coordinates(shapely.line_interpolate_point(geom, pos))
        dist, near = tree.query(pts)
        ids = n_base + extra + np.arange(len(pos))
        extra += len(pos)
        wait = float(r.get("headway_min", 10) or 10) * 60.0 / 2.0
        v = max(float(r.get("speed_kph", 18) or 18), 1.0) / 3.6
        walk_s = dist / speed
        ride = np.diff(pos) / v
        rows += [np.column_stack([near, ids, walk_s + wait]),       # walk to stop, board
                 np.column_stack([ids, near, walk_s + _EPS]),       # alight, walk away
                 np.column_stack([ids[:-1], ids[1:], ride]),        # ride forward
                 np.column_stack([ids[1:], ids[:-1], ride])]        # and back
    return rows, extra


def access_graph(twin: Twin, mode: str, *, walk_speed_mps: float = WALK_SPEED_MPS,
                 hour: float = 8.0, stop_spacing_m: float = 400.0) -> AccessGraph:
    """The routing graph of one mode (``walk``, ``transit`` or ``car``).

    Raises
    ------
    SimulationError
        Unknown mode, or the twin has no roads (nor paths) to travel on.

    Examples
    --------
    >>> # access_graph(twin, "transit").matrix.shape -> (n_walk_nodes + n_route_stops, ...)
    """
    if mode not in MODES:
        msg = f"unknown access mode {mode!r}; valid modes: {', '.join(MODES)}"
        raise SimulationError(msg)
    if mode == "car":
        roads = twin.layer("roads")
        closed = _closed_roads(twin, hour)
        open_roads = roads[~roads["id"].astype(str).isin(closed)]
        if len(open_roads) == 0:
            msg = "car access: every road is closed or the twin has no roads"
            raise SimulationError(msg)
        g = road_graph(open_roads, twin.layer("road_nodes"))
        delay = np.array([_NODE_DELAY_S.get(str(c), 0.0) for c in g.control])
        cost = g.fft_s + delay[g.to_node]
        return AccessGraph("car", g.csr(cost)[0], g.xy, walk_speed_mps)
    matrix, xy, _ = _walk(twin, walk_speed_mps)
    if mode == "walk":
        return AccessGraph("walk", matrix, xy, walk_speed_mps)
    rows, extra = _transit_edges(twin, xy, walk_speed_mps, hour, stop_spacing_m)
    n = len(xy) + extra
    coo = matrix.tocoo()
    f, t, c = [coo.row], [coo.col], [coo.data]
    for r in rows:
        f.append(r[:, 0].astype(np.int64))
        t.append(r[:, 1].astype(np.int64))
        c.append(r[:, 2])
    full = min_csr(n, np.concatenate(f), np.concatenate(t), np.concatenate(c))[0]
    return AccessGraph("transit", full, xy, walk_speed_mps)


def nearest_times(graph: AccessGraph,
                  sources: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                  towards: bool) -> dict[str, np.ndarray]:
    """Least time between every node and the nearest source of each group, in one search.

    One super-source per group joins its nodes with their start offsets (the walk between a
    facility and its node); a single multi-source call of scipy's Dijkstra then searches from
    all super-sources at once (one shortest-path tree per group).

    Parameters
    ----------
    graph : AccessGraph
    sources : mapping
        Group (facility kind) -> (node indices, start offsets in s).
    towards : bool
        Times from each node *to* the nearest source (a visit), else from the sources.

    Returns
    -------
    dict
        Group -> times (s) per node of the graph (``inf`` where unreachable or no source).

    Examples
    --------
    >>> m, _ = min_csr(3, np.array([0, 1]), np.array([1, 2]), np.array([10.0, 10.0]))
    >>> g = AccessGraph("walk", m, np.zeros((3, 2)), 1.0)
    >>> nearest_times(g, {"a": (np.array([2]), np.array([5.0]))}, towards=True)["a"].tolist()
    [25.0, 15.0, 5.0]
    """
    mat = graph.reverse if towards else graph.matrix
    n = mat.shape[0]
    names = list(sources)
    out = {k: np.full(n, np.inf) for k in names}
    rows, cols, vals = [], [], []
    for k, name in enumerate(names):
        nodes, offset = (np.asarray(a) for a in sources[name])
        if len(nodes) == 0:
            continue
        order = np.lexsort((offset, nodes))            # the least offset per node
        nodes, offset = nodes[order], offset[order]
        first = np.r_[True, nodes[1:] != nodes[:-1]]
        rows.append(np.full(int(first.sum()), k))
        cols.append(nodes[first].astype(np.int64))
        vals.append(np.maximum(offset[first].astype(float), _EPS))
    if not rows:
        return out
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    counts = np.bincount(r, minlength=len(names))
    indptr = np.concatenate([mat.indptr, mat.indptr[-1] + np.cumsum(counts)])
    aug = sp.csr_matrix((np.concatenate([mat.data, v]), np.concatenate([mat.indices, c]),
                         indptr), shape=(n + len(names), n + len(names)))
    used = np.flatnonzero(counts > 0)
    dist = csgraph.dijkstra(aug, directed=True, indices=n + used)
    for i, g in enumerate(used.tolist()):
        out[names[g]] = np.asarray(dist[i, :n])
    return out


def nearest_facility_times(twin: Twin, kinds: Sequence[str] = ("clinic", "school",
                                                                 "service_centre"),
                           modes: Sequence[str] = ("walk", "transit"), *,
                           direction: str = "to", walk_speed_mps: float = WALK_SPEED_MPS,
                           hour: float = 8.0) -> pd.DataFrame:
    """Door-to-door time (s) between each building and the nearest facility of each kind.

    Parameters
    ----------
    twin : Twin
        Needs ``roads`` and ``road_nodes`` (and ``paths``, ``transit_routes`` when present),
        ``buildings`` and ``facilities``.
    kinds : sequence of str
        Facility kinds (``clinic``, ``school``, ``service_centre``, ``fire_station``, ...).
    modes : sequence of {"walk", "transit", "car"}
    direction : {"to", "from"}
        ``to``: from the building to the facility (a visit); ``from``: from the facility to
        the building (an emergency unit driving out).
    walk_speed_mps : float
    hour : float
        Hour of day: transit routes running then, roads closed then.

    Returns
    -------
    DataFrame
        Indexed by building id; a column ``<kind>_<mode>`` per kind and mode, and ``<kind>``
        with the least over the modes. ``inf`` where no facility of the kind can be reached.

    Raises
    ------
    SimulationError
        Unknown mode or direction, no network.

    Examples
    --------
    >>> # nearest_facility_times(twin, ["clinic"], ["walk", "transit"])["clinic"] <= 900
    """
    if direction not in ("to", "from"):
        msg = f"direction must be 'to' or 'from', got {direction!r}"
        raise SimulationError(msg)
    buildings = twin.layer("buildings")
    fac = twin.layer("facilities")
    b_xy = _points(buildings)
    out = pd.DataFrame(index=pd.Index(buildings["id"].astype(str).to_numpy(), name="id"))
    f_kind = fac["kind"].astype(str).to_numpy() if len(fac) else np.zeros(0, str)
    f_xy = _points(fac)
    for mode in modes:
        graph = access_graph(twin, mode, walk_speed_mps=walk_speed_mps, hour=hour)
        b_node, b_walk = graph.snap(b_xy)
        f_node, f_walk = graph.snap(f_xy)
        sources = {kind: (f_node[f_kind == kind], f_walk[f_kind == kind]) for kind in kinds}
        dist = nearest_times(graph, sources, towards=direction == "to")
        for kind in kinds:
            out[f"{kind}_{mode}"] = (dist[kind][b_node] + b_walk) if len(b_node) else []
    for kind in kinds:
        cols = [f"{kind}_{m}" for m in modes]
        out[kind] = out[cols].min(axis=1) if cols else np.inf
    return out


def jobs_reachable(twin: Twin, mode: str = "transit", *, budget_s: float = 1800.0,
                   walk_speed_mps: float = WALK_SPEED_MPS, hour: float = 8.0,
                   chunk: int = 512) -> pd.Series:
    """Jobs reachable from each building with residents within ``budget_s``.

    Returns
    -------
    Series
        Indexed by the ids of buildings with residents; the number of jobs (summed over
        buildings) whose door-to-door time from that building is within the budget.

    Examples
    --------
    >>> # (jobs_reachable(twin, "transit") * residents).sum() / residents.sum()
    """
    buildings = twin.layer("buildings")
    res = pd.to_numeric(buildings["residents"], errors="coerce").fillna(0).to_numpy()
    jobs = pd.to_numeric(buildings["jobs"], errors="coerce").fillna(0).to_numpy()
    ids = buildings["id"].astype(str).to_numpy()
    homes = np.flatnonzero(res > 0)
    work = np.flatnonzero(jobs > 0)
    out = pd.Series(0.0, index=pd.Index(ids[homes], name="id"))
    if len(homes) == 0 or len(work) == 0:
        return out
    graph = access_graph(twin, mode, walk_speed_mps=walk_speed_mps, hour=hour)
    xy = _points(buildings)
    h_node, h_walk = graph.snap(xy[homes])
    w_node, w_walk = graph.snap(xy[work])
    origins, inverse = np.unique(h_node, return_inverse=True)
    values = np.zeros(len(homes))
    for s in range(0, len(origins), chunk):
        sel = origins[s:s + chunk]
        dist = csgraph.dijkstra(graph.matrix, directed=True, indices=sel, limit=budget_s)
        sub = dist[:, w_node] + w_walk[None, :]
        member = np.flatnonzero((inverse >= s) & (inverse < s + len(sel)))
        rows = sub[inverse[member] - s]
        ok = rows <= (budget_s - h_walk[member])[:, None]
        values[member] = ok.astype(float) @ jobs[work]
    out[:] = values
    return out
