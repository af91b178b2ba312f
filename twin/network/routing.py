"""Routing on arrays: shortest paths, travel-time matrices and walk distances.

Every query is grouped by origin: one :func:`scipy.sparse.csgraph.dijkstra` call per block of
distinct origins builds their shortest-path trees, and the paths to all destinations of the
block are backtracked together, one vectorised step per link (no Python loop per node or per
OD pair). Paths come back as CSR arrays (``ptr``, ``links``): the directed link indices of
pair ``i`` are ``links[ptr[i]:ptr[i + 1]]``, in driving order.

Examples
--------
>>> import numpy as np
>>> from twin.network.roads import min_csr
>>> frm, to = np.array([0, 1, 0]), np.array([1, 2, 2])
>>> mat, pair_link = min_csr(3, frm, to, np.array([1.0, 1.0, 5.0]))
>>> p = shortest_paths(mat, pair_link, np.array([0, 0]), np.array([2, 1]))
>>> p.cost.tolist(), p.path(0).tolist(), p.path(1).tolist()
([2.0, 1.0], [0, 1], [0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from twin.network.roads import RoadGraph, WalkGraph

__all__ = [
    "CLOSED_COST",
    "Paths",
    "largest_component",
    "nearest_nodes",
    "pair_costs",
    "path_costs",
    "replace_paths",
    "route_pairs",
    "shortest_paths",
    "take_paths",
    "travel_time_matrix",
    "walk_distances",
]

#: Largest number of cells (origins x nodes) of one block of Dijkstra results held in memory.
BLOCK_CELLS = 4_000_000
#: Routing cost given to a closed link: paths costing a tenth of it or more are not used.
CLOSED_COST = 1e9


@dataclass(frozen=True)
class Paths:
    """Shortest paths of OD pairs as CSR arrays.

    Attributes
    ----------
    ptr : ndarray of int64, length n + 1
        Pair ``i`` uses ``links[ptr[i]:ptr[i + 1]]``.
    links : ndarray of int64
        Directed link indices, in driving order.
    cost : ndarray of float, length n
        Path cost (``inf`` where the destination cannot be reached).
    """

    ptr: np.ndarray
    links: np.ndarray
    cost: np.ndarray

    @property
    def n(self) -> int:
        """Number of OD pairs."""
        return len(self.cost)

    @property
    def found(self) -> np.ndarray:
        """True where a path exists (also for origin == destination)."""
        return np.isfinite(self.cost)

    @property
    def lengths(self) -> np.ndarray:
        """Number of links of each path."""
        return np.diff(self.ptr)

    def path(self, i: int) -> np.ndarray:
        """Links of pair ``i``."""
        return self.links[self.ptr[i]:self.ptr[i + 1]]


def _blocks(n_nodes: int, n_origins: int) -> int:
    return max(1, min(n_origins, BLOCK_CELLS // max(n_nodes, 1)))


def _grouped(origins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs sorted by origin: (order, distinct origins, start of each origin's run)."""
    order = np.argsort(origins, kind="stable")
    uniq, starts = np.unique(origins[order], return_index=True)
    return order, uniq, np.append(starts, len(origins))


def _check_nodes(n: int, *arrays: np.ndarray) -> None:
    for a in arrays:
        if a.size and (a.min() < 0 or a.max() >= n):
            msg = f"node index out of range 0..{n - 1}"
            raise ValueError(msg)


def shortest_paths(mat: sp.csr_matrix, pair_link: np.ndarray, origins: np.ndarray,
                   destinations: np.ndarray, *, limit: float = np.inf,
                   bound: np.ndarray | None = None) -> Paths:
    """Shortest paths of OD pairs on a CSR graph made by :func:`~twin.network.roads.min_csr`.

    Parameters
    ----------
    mat : csr_matrix
        Link costs by (from node, to node), the minimum over parallel links.
    pair_link : ndarray
        The link behind each stored entry of ``mat`` (from ``min_csr``).
    origins, destinations : ndarray of int
        Node indices, one per OD pair.
    limit : float
        Costs above this are not searched (the pair is then unreachable).
    bound : ndarray, optional
        A guess of each pair's cost from above: origins are searched only that far first
        (much less of a large graph for short pairs), and the pairs not found within their
        bound are searched again without one. Results are exact either way.

    Returns
    -------
    Paths

    Examples
    --------
    >>> from twin.network.roads import min_csr
    >>> m, pl = min_csr(2, np.array([0]), np.array([1]), np.array([3.0]))
    >>> p = shortest_paths(m, pl, np.array([0, 1, 1]), np.array([1, 0, 1]))
    >>> p.cost.tolist(), p.lengths.tolist()
    ([3.0, inf, 0.0], [1, 0, 0])
    >>> shortest_paths(m, pl, np.array([0]), np.array([1]), bound=np.array([1.0])).cost.tolist()
    [3.0]
    """
    origins = np.asarray(origins, dtype=np.int64)
    destinations = np.asarray(destinations, dtype=np.int64)
    n = mat.shape[0]
    _check_nodes(n, origins, destinations)
    m = len(origins)
    cost = np.full(m, np.inf)
    if m == 0:
        return Paths(np.zeros(1, np.int64), np.zeros(0, np.int64), cost)
    mat = sp.csr_matrix(mat)
    rows_of_entries = np.repeat(np.arange(n, dtype=np.int64), np.diff(mat.indptr))
    keys = rows_of_entries * n + mat.indices.astype(np.int64)
    order, uniq, starts = _grouped(origins)
    reach = np.full(len(uniq), float(limit))
    if bound is not None:
        ob = np.maximum.reduceat(np.asarray(bound, dtype=float)[order], starts[:-1])
        reach = np.minimum(reach, ob)
    by_reach = np.argsort(reach, kind="stable")
    group_of = np.repeat(np.arange(len(uniq)), np.diff(starts))  # origin group of order[i]
    block = _blocks(n, len(uniq))
    pids: list[np.ndarray] = []
    steps: list[int] = []
    links: list[np.ndarray] = []
    for b0 in range(0, len(uniq), block):
        which = np.sort(by_reach[b0:b0 + block])
        src = uniq[which]
        dist, pred = dijkstra(mat, directed=True, indices=src, return_predecessors=True,
                              limit=float(reach[which].max()))
        member = np.zeros(len(uniq), bool)
        member[which] = True
        sel = order[member[group_of]]
        row = np.searchsorted(src, origins[sel])
        cur = destinations[sel].copy()
        cost[sel] = dist[row, cur]
        act = np.flatnonzero(np.isfinite(cost[sel]) & (cur != origins[sel]))
        step = 0
        while act.size:
            prev = pred[row[act], cur[act]].astype(np.int64)
            k = np.searchsorted(keys, prev * n + cur[act])
            pids.append(sel[act])
            steps.append(step)
            links.append(pair_link[k])
            cur[act] = prev
            act = act[prev != origins[sel[act]]]
            step += 1
    paths = _assemble(m, pids, steps, links, cost)
    if bound is None:
        return paths
    again = np.flatnonzero(~np.isfinite(cost) & (reach[np.searchsorted(uniq, origins)] < limit))
    if again.size == 0:
        return paths
    redo = shortest_paths(mat, pair_link, origins[again], destinations[again], limit=limit)
    cost = paths.cost.copy()
    cost[again] = redo.cost
    ptr, lk = replace_paths(paths.ptr, paths.links, again, redo.ptr, redo.links)
    return Paths(ptr, lk, cost)


def _assemble(m: int, pids: list[np.ndarray], steps: list[int],
              links: list[np.ndarray], cost: np.ndarray) -> Paths:
    if not pids:
        return Paths(np.zeros(m + 1, np.int64), np.zeros(0, np.int64), cost)
    pid = np.concatenate(pids)
    stp = np.repeat(np.asarray(steps, np.int64), [len(p) for p in pids])
    lnk = np.concatenate(links).astype(np.int64)
    o = np.lexsort((-stp, pid))
    ptr = np.zeros(m + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(pid, minlength=m))
    return Paths(ptr, lnk[o], cost)


def _bounds(xy: np.ndarray, mat: sp.csr_matrix, origins: np.ndarray, destinations: np.ndarray,
            *, directed: bool = True, sample: int = 48) -> np.ndarray | None:
    """Guess each pair's cost from above from its straight-line distance.

    ``a x distance + b``, with ``a`` and ``b`` fitted on the exact costs of the pairs of a
    few origins; None when there are too few distinct origins for bounds to pay off.
    """
    uniq = np.unique(origins)
    if len(uniq) < 8 * sample:
        return None
    crow = np.linalg.norm(xy[origins] - xy[destinations], axis=1)
    probe_src = uniq[:: max(1, len(uniq) // sample)][:sample]
    probe = np.isin(origins, probe_src)
    dist = dijkstra(mat, directed=directed, indices=probe_src)
    c = dist[np.searchsorted(probe_src, origins[probe]), destinations[probe]]
    x = crow[probe]
    ok = np.isfinite(c) & (x > 0)
    if ok.sum() < 16:
        return None
    # a tight guess: the few pairs it misses are searched again in full
    a = float(np.quantile(c[ok] / x[ok], 0.75))
    b = float(np.quantile(np.maximum(c[ok] - a * x[ok], 0.0), 0.9))
    return a * crow + b


def route_pairs(graph: RoadGraph, origins: np.ndarray, destinations: np.ndarray, *,
                cost: np.ndarray | None = None, limit: float = np.inf) -> Paths:
    """Shortest paths between road nodes on the road graph.

    Parameters
    ----------
    graph : RoadGraph
    origins, destinations : ndarray of int
        Node indices of the graph, one per OD pair.
    cost : ndarray, optional
        Cost per directed link (default: free-flow time in seconds).
    limit : float
        Costs above this are not searched.

    Returns
    -------
    Paths
        Links are indices into ``graph.link_ids``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.network.roads import road_graph
    >>> roads = gpd.GeoDataFrame({"id": ["r1", "r2"], "u": ["a", "b"], "v": ["b", "c"],
    ...     "oneway": [False, False], "length_m": [100.0, 100.0], "speed_kph": [36.0, 36.0],
    ...     "capacity_vph": [900.0, 900.0], "lanes": [1, 1]},
    ...     geometry=[shapely.LineString([(0, 0), (100, 0)]),
    ...               shapely.LineString([(100, 0), (200, 0)])], crs=3067)
    >>> nodes = gpd.GeoDataFrame({"id": ["a", "b", "c"]},
    ...     geometry=shapely.points([(0, 0), (100, 0), (200, 0)]), crs=3067)
    >>> g = road_graph(roads, nodes)
    >>> p = route_pairs(g, np.array([2]), np.array([0]))
    >>> g.link_ids[p.path(0)].tolist(), p.cost.tolist()
    (['r2:rev', 'r1:rev'], [20.0])
    """
    mat, pair_link = graph.csr(cost)
    origins = np.asarray(origins, dtype=np.int64)
    destinations = np.asarray(destinations, dtype=np.int64)
    _check_nodes(graph.n_nodes, origins, destinations)
    bound = _bounds(graph.xy, mat, origins, destinations)
    return shortest_paths(mat, pair_link, origins, destinations, limit=limit, bound=bound)


def pair_costs(mat: sp.csr_matrix, origins: np.ndarray, destinations: np.ndarray, *,
               limit: float = np.inf, directed: bool = True,
               xy: np.ndarray | None = None) -> np.ndarray:
    """Shortest-path cost of each OD pair (no paths), grouped by origin.

    With node coordinates ``xy`` and many distinct origins, each origin is first searched only
    as far as a guess of its pairs' costs from their straight-line distances (much less of a
    large graph when trips are short), the pairs it misses again in full; results are exact.

    Examples
    --------
    >>> from twin.network.roads import min_csr
    >>> m, _ = min_csr(3, np.array([0, 1]), np.array([1, 2]), np.array([2.0, 3.0]))
    >>> pair_costs(m, np.array([0, 0, 2]), np.array([2, 1, 0])).tolist()
    [5.0, 2.0, inf]
    """
    origins = np.asarray(origins, dtype=np.int64)
    destinations = np.asarray(destinations, dtype=np.int64)
    n = mat.shape[0]
    _check_nodes(n, origins, destinations)
    out = np.full(len(origins), np.inf)
    if len(origins) == 0:
        return out
    bound = None if xy is None else _bounds(xy, mat, origins, destinations, directed=directed)
    order, uniq, starts = _grouped(origins)
    reach = np.full(len(uniq), float(limit))
    if bound is not None:
        reach = np.minimum(reach, np.maximum.reduceat(bound[order], starts[:-1]))
    by_reach = np.argsort(reach, kind="stable")
    group_of = np.repeat(np.arange(len(uniq)), np.diff(starts))
    block = _blocks(n, len(uniq))
    for b0 in range(0, len(uniq), block):
        which = np.sort(by_reach[b0:b0 + block])
        src = uniq[which]
        dist = dijkstra(mat, directed=directed, indices=src, limit=float(reach[which].max()))
        member = np.zeros(len(uniq), bool)
        member[which] = True
        sel = order[member[group_of]]
        out[sel] = dist[np.searchsorted(src, origins[sel]), destinations[sel]]
    if bound is not None:
        again = np.flatnonzero(~np.isfinite(out) & (reach[np.searchsorted(uniq, origins)] < limit))
        if again.size:
            out[again] = pair_costs(mat, origins[again], destinations[again], limit=limit,
                                    directed=directed)
    return out


def travel_time_matrix(graph: RoadGraph, origins: np.ndarray,
                       destinations: np.ndarray | None = None, *,
                       cost: np.ndarray | None = None, limit: float = np.inf) -> np.ndarray:
    """Shortest travel times (s) from every origin node to every destination node.

    Parameters
    ----------
    graph : RoadGraph
    origins : ndarray of int
        Node indices (rows).
    destinations : ndarray of int, optional
        Node indices (columns); all nodes when omitted.
    cost : ndarray, optional
        Cost per directed link (default: free-flow time).
    limit : float
        Times above this are ``inf``.

    Examples
    --------
    >>> # travel_time_matrix(g, np.array([0, 1]), np.array([2])) -> array of shape (2, 1)
    """
    mat, _ = graph.csr(cost)
    origins = np.asarray(origins, dtype=np.int64)
    cols = (np.arange(graph.n_nodes) if destinations is None
            else np.asarray(destinations, dtype=np.int64))
    _check_nodes(graph.n_nodes, origins, cols)
    if len(origins) == 0 or len(cols) == 0:
        return np.full((len(origins), len(cols)), np.inf)
    if np.unique(cols).size < np.unique(origins).size:
        # fewer destinations: search backwards from them on the reversed graph
        return _matrix(sp.csr_matrix(mat.T), cols, origins, limit).T
    return _matrix(mat, origins, cols, limit)


def _matrix(mat: sp.csr_matrix, origins: np.ndarray, cols: np.ndarray,
            limit: float) -> np.ndarray:
    out = np.full((len(origins), len(cols)), np.inf)
    uniq, inverse = np.unique(origins, return_inverse=True)
    block = _blocks(mat.shape[0], len(uniq))
    for b0 in range(0, len(uniq), block):
        src = uniq[b0:b0 + block]
        dist = dijkstra(mat, directed=True, indices=src, limit=limit)[:, cols]
        rows = np.flatnonzero((inverse >= b0) & (inverse < b0 + block))
        out[rows] = dist[inverse[rows] - b0]
    return out


def walk_distances(walk: WalkGraph, origins: np.ndarray, destinations: np.ndarray, *,
                   limit: float = np.inf) -> np.ndarray:
    """Network distance (m) of each OD pair of walk-graph nodes (``inf`` beyond ``limit``).

    Examples
    --------
    >>> w = WalkGraph(node_ids=np.array(["a", "b", "c"]), xy=np.zeros((3, 2)),
    ...               from_node=np.array([0, 1]), to_node=np.array([1, 2]),
    ...               length_m=np.array([40.0, 60.0]))
    >>> walk_distances(w, np.array([2, 0]), np.array([0, 1])).tolist()
    [100.0, 40.0]
    """
    return pair_costs(walk.csr(), origins, destinations, limit=limit, directed=False,
                      xy=walk.xy)


def path_costs(ptr: np.ndarray, links: np.ndarray, link_cost: np.ndarray) -> np.ndarray:
    """Sum of ``link_cost`` along each CSR path.

    ``link_cost`` is one cost per link, or one row per path (``(n_paths, n_links)``) when each
    path is costed at its own times.

    Examples
    --------
    >>> path_costs(np.array([0, 2, 2, 3]), np.array([0, 1, 1]), np.array([1.0, 2.0])).tolist()
    [3.0, 0.0, 2.0]
    """
    n = len(ptr) - 1
    owner = np.repeat(np.arange(n), np.diff(ptr))
    c = link_cost[links] if np.ndim(link_cost) == 1 else link_cost[owner, links]
    return np.bincount(owner, weights=c, minlength=n)


def take_paths(ptr: np.ndarray, links: np.ndarray,
               rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR sub-array of paths ``rows`` (in that order).

    Examples
    --------
    >>> p, l = take_paths(np.array([0, 2, 3]), np.array([5, 6, 7]), np.array([1, 0]))
    >>> p.tolist(), l.tolist()
    ([0, 1, 3], [7, 5, 6])
    """
    rows = np.asarray(rows, dtype=np.int64)
    lens = ptr[rows + 1] - ptr[rows]
    new_ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lens, out=new_ptr[1:])
    idx = np.repeat(ptr[rows] - new_ptr[:-1], lens) + np.arange(new_ptr[-1])
    return new_ptr, links[idx]


def replace_paths(ptr: np.ndarray, links: np.ndarray, rows: np.ndarray, new_ptr: np.ndarray,
                  new_links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace the paths ``rows`` of a CSR path set by the paths in (new_ptr, new_links).

    Examples
    --------
    >>> p, l = replace_paths(np.array([0, 1, 2]), np.array([4, 5]), np.array([1]),
    ...                      np.array([0, 2]), np.array([8, 9]))
    >>> p.tolist(), l.tolist()
    ([0, 1, 3], [4, 8, 9])
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = len(ptr) - 1
    lens = np.diff(ptr).copy()
    start = ptr[:-1].copy()
    lens[rows] = np.diff(new_ptr)
    start[rows] = new_ptr[:-1] + len(links)
    data = np.concatenate([links, new_links]).astype(np.int64)
    out_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=out_ptr[1:])
    idx = np.repeat(start - out_ptr[:-1], lens) + np.arange(out_ptr[-1])
    return out_ptr, data[idx]


def largest_component(graph: RoadGraph) -> np.ndarray:
    """Boolean mask of the nodes in the largest strongly connected component.

    Examples
    --------
    >>> # largest_component(road_graph(roads, road_nodes)).sum() -> nodes every trip can reach
    """
    mat, _ = graph.csr()
    _, labels = connected_components(mat, directed=True, connection="strong")
    return labels == np.argmax(np.bincount(labels))


def nearest_nodes(node_xy: np.ndarray, points: np.ndarray, *,
                  candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest node (among ``candidates`` if given) to each point, and its distance.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [10.0, 0.0]])
    >>> idx, d = nearest_nodes(xy, np.array([[9.0, 0.0], [1.0, 0.0]]))
    >>> idx.tolist(), d.tolist()
    ([1, 0], [1.0, 1.0])
    >>> nearest_nodes(xy, np.array([[9.0, 0.0]]), candidates=np.array([True, False]))[0].tolist()
    [0]
    """
    pool = np.arange(len(node_xy)) if candidates is None else np.flatnonzero(candidates)
    if len(pool) == 0:
        msg = "no candidate nodes to attach points to"
        raise ValueError(msg)
    tree = cKDTree(node_xy[pool])
    dist, k = tree.query(np.asarray(points, dtype=float).reshape(-1, 2))
    return pool[np.asarray(k, dtype=np.int64)], np.asarray(dist, dtype=float)
