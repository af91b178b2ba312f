"""Routing: twin's grouped scipy Dijkstra vs osmnx.routing.shortest_path (networkx), same pairs.

Network: the synthetic 100,000-resident city (``synthetic_twin(100000, seed=1)``: ~10,000 nodes,
~40,000 directed links), free-flow travel time per directed link. 10,000 random OD pairs
(``--quick``: 1,000) between nodes of its largest strongly connected part.

- twin: :func:`twin.network.routing.route_pairs` (one Dijkstra per distinct origin, paths
  backtracked for all pairs at once, returned as CSR link arrays);
- peer: ``osmnx.routing.shortest_path(G, origs, dests, weight="travel_time", cpus=1)`` on a
  networkx MultiDiGraph with the same nodes and links, built outside the timing.

Both must find paths of equal cost (summing the cheapest parallel link between consecutive
nodes of osmnx's node paths); the row reports how many differ by more than 1e-6 s.
Ratio: osmnx's wall time over twin's (above 1: twin faster).
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, row

from twin.network.roads import RoadGraph, road_graph
from twin.network.routing import largest_component, route_pairs

RESIDENTS = 100_000
PAIRS = 10_000
QUICK_PAIRS = 1_000


def _city() -> RoadGraph:
    from twin.layers.synthetic import synthetic_twin

    twin = synthetic_twin(RESIDENTS, seed=1)
    return road_graph(twin.layers["roads"], twin.layers["road_nodes"])


def _networkx(graph: RoadGraph) -> Any:
    import networkx as nx

    g = nx.MultiDiGraph(crs="EPSG:32651")
    for i, (x, y) in enumerate(graph.xy):
        g.add_node(i, x=float(x), y=float(y))
    for k in range(graph.n_links):
        g.add_edge(int(graph.from_node[k]), int(graph.to_node[k]), key=k,
                   travel_time=float(graph.fft_s[k]))
    return g


def _peer_costs(g: Any, routes: list[list[int] | None]) -> np.ndarray:
    out = np.full(len(routes), np.inf)
    for i, r in enumerate(routes):
        if r is None:
            continue
        out[i] = sum(min(d["travel_time"] for d in g.get_edge_data(a, b).values())
                     for a, b in itertools.pairwise(r))
    return out


def bench_routing(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """10,000 random OD pairs on the 100k-resident synthetic city: twin vs osmnx (networkx)."""
    import osmnx as ox

    graph = _city()
    rng = np.random.default_rng(2026)
    pool = np.flatnonzero(largest_component(graph))
    n = QUICK_PAIRS if quick else PAIRS
    o, d = rng.choice(pool, n), rng.choice(pool, n)
    route_pairs(graph, o[:50], d[:50])  # warm up
    twin_s, paths = median_time(lambda: route_pairs(graph, o, d), repeat)
    g = _networkx(graph)
    t0 = time.perf_counter()
    routes = ox.routing.shortest_path(g, o.tolist(), d.tolist(), weight="travel_time", cpus=1)
    peer_s = time.perf_counter() - t0
    peer_cost = _peer_costs(g, routes)
    diff = np.abs(peer_cost - paths.cost)
    unequal = int(np.sum(~(np.isclose(peer_cost, paths.cost, rtol=0, atol=1e-6)
                          | (np.isinf(peer_cost) & np.isinf(paths.cost)))))
    return [row(
        "routing", "seconds_for_od_pairs", twin_s, "osmnx.routing.shortest_path", peer_s,
        pairs=int(n), nodes=int(graph.n_nodes), links=int(graph.n_links),
        distinct_origins=int(np.unique(o).size), twin_ms_per_pair=round(1000 * twin_s / n, 4),
        peer_ms_per_pair=round(1000 * peer_s / n, 3),
        unequal_costs=unequal, max_cost_diff_s=float(np.nanmax(np.where(
            np.isfinite(diff), diff, 0.0))), links_returned=int(paths.links.size),
        peer_repeat=1,
    )]


BENCHMARKS = {"routing": bench_routing}
