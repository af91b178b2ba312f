"""Tests for twin.network.routing: grouped Dijkstra, vectorised path reconstruction."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

import twin.network.routing as routing
from twin.network.roads import WalkGraph, min_csr, road_graph
from twin.network.routing import (
    largest_component,
    nearest_nodes,
    pair_costs,
    path_costs,
    replace_paths,
    route_pairs,
    shortest_paths,
    take_paths,
    travel_time_matrix,
    walk_distances,
)


def random_graph(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, m), rng.integers(0, n, m), rng.uniform(1.0, 10.0, m)


@pytest.mark.parametrize("block", [1, 7, 4_000_000])
def test_paths_match_networkx_and_are_connected(monkeypatch: pytest.MonkeyPatch,
                                                block: int) -> None:
    monkeypatch.setattr(routing, "BLOCK_CELLS", block * 60)
    n = 60
    frm, to, cost = random_graph(n, 240, seed=3)
    mat, pair_link = min_csr(n, frm, to, cost)
    rng = np.random.default_rng(4)
    o, d = rng.integers(0, n, 400), rng.integers(0, n, 400)
    paths = shortest_paths(mat, pair_link, o, d)
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    for k, (a, b, c) in enumerate(zip(frm, to, cost, strict=True)):
        g.add_edge(int(a), int(b), key=k, w=float(c))
    for i in range(len(o)):
        try:
            expect = nx.dijkstra_path_length(g, int(o[i]), int(d[i]), weight="w")
        except nx.NetworkXNoPath:
            expect = np.inf
        assert paths.cost[i] == pytest.approx(expect)
        links = paths.path(i)
        if len(links):
            assert frm[links[0]] == o[i]
            assert to[links[-1]] == d[i]
            assert np.all(to[links[:-1]] == frm[links[1:]])
            assert cost[links].sum() == pytest.approx(paths.cost[i])
        else:
            assert o[i] == d[i] or not np.isfinite(paths.cost[i])


def test_parallel_links_take_the_cheaper_one() -> None:
    mat, pl = min_csr(2, np.array([0, 0, 0]), np.array([1, 1, 1]), np.array([5.0, 2.0, 9.0]))
    p = shortest_paths(mat, pl, np.array([0]), np.array([1]))
    assert p.path(0).tolist() == [1]
    assert p.cost.tolist() == [2.0]


def test_unreachable_same_node_and_limit() -> None:
    mat, pl = min_csr(3, np.array([0, 1]), np.array([1, 2]), np.array([4.0, 4.0]))
    p = shortest_paths(mat, pl, np.array([0, 2, 1, 0]), np.array([2, 0, 1, 2]), limit=5.0)
    assert p.cost.tolist() == [np.inf, np.inf, 0.0, np.inf]
    assert p.lengths.tolist() == [0, 0, 0, 0]
    assert p.found.tolist() == [False, False, True, False]
    full = shortest_paths(mat, pl, np.array([0]), np.array([2]))
    assert full.path(0).tolist() == [0, 1]


def test_empty_query_and_bad_node() -> None:
    mat, pl = min_csr(2, np.array([0]), np.array([1]), np.array([1.0]))
    p = shortest_paths(mat, pl, np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert p.n == 0
    assert p.ptr.tolist() == [0]
    with pytest.raises(ValueError, match=r"node index out of range 0\.\.1"):
        shortest_paths(mat, pl, np.array([0]), np.array([5]))


def _line_twin() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    roads = gpd.GeoDataFrame({
        "id": ["r1", "r2", "r3"], "u": ["a", "b", "a"], "v": ["b", "c", "c"],
        "oneway": [False, False, True], "length_m": [100.0, 100.0, 400.0],
        "speed_kph": [36.0, 36.0, 36.0], "capacity_vph": [900.0] * 3, "lanes": [1, 1, 1]},
        geometry=[shapely.LineString([(0, 0), (100, 0)]),
                  shapely.LineString([(100, 0), (200, 0)]),
                  shapely.LineString([(0, 0), (200, 0)])], crs=3067)
    nodes = gpd.GeoDataFrame({"id": ["a", "b", "c"]},
                             geometry=shapely.points([(0, 0), (100, 0), (200, 0)]), crs=3067)
    return roads, nodes


def test_route_pairs_on_road_graph_uses_link_ids_and_custom_cost() -> None:
    g = road_graph(*_line_twin())
    p = route_pairs(g, np.array([0, 2]), np.array([2, 0]))
    assert g.link_ids[p.path(0)].tolist() == ["r1", "r2"]
    assert g.link_ids[p.path(1)].tolist() == ["r2:rev", "r1:rev"]
    assert p.cost.tolist() == [20.0, 20.0]
    cost = g.fft_s.copy()
    cost[g.link_ids == "r2"] = 100.0
    q = route_pairs(g, np.array([0]), np.array([2]), cost=cost)
    assert g.link_ids[q.path(0)].tolist() == ["r3"]
    assert path_costs(q.ptr, q.links, g.length_m).tolist() == [400.0]


def test_travel_time_matrix_and_pair_costs_agree() -> None:
    g = road_graph(*_line_twin())
    m = travel_time_matrix(g, np.array([0, 2, 0]), np.array([2, 1]))
    assert m.tolist() == [[20.0, 10.0], [0.0, 10.0], [20.0, 10.0]]
    full = travel_time_matrix(g, np.array([1]))
    assert full.shape == (1, 3)
    mat, _ = g.csr()
    assert pair_costs(mat, np.array([0, 2]), np.array([2, 1])).tolist() == [20.0, 10.0]


def test_walk_distances_are_undirected() -> None:
    w = WalkGraph(node_ids=np.array(["a", "b", "c", "d"]), xy=np.zeros((4, 2)),
                  from_node=np.array([0, 1]), to_node=np.array([1, 2]),
                  length_m=np.array([30.0, 50.0]))
    d = walk_distances(w, np.array([2, 0, 0, 3]), np.array([0, 2, 0, 0]))
    assert d.tolist() == [80.0, 80.0, 0.0, np.inf]
    assert walk_distances(w, np.array([0]), np.array([2]), limit=60.0).tolist() == [np.inf]


def test_take_and_replace_paths() -> None:
    ptr, links = np.array([0, 2, 2, 5]), np.array([1, 2, 7, 8, 9])
    p, lk = take_paths(ptr, links, np.array([2, 1, 0, 2]))
    assert p.tolist() == [0, 3, 3, 5, 8]
    assert lk.tolist() == [7, 8, 9, 1, 2, 7, 8, 9]
    p2, l2 = replace_paths(ptr, links, np.array([0, 1]), np.array([0, 1, 3]),
                           np.array([4, 5, 6]))
    assert p2.tolist() == [0, 1, 3, 6]
    assert l2.tolist() == [4, 5, 6, 7, 8, 9]


def test_path_costs_per_path_rows() -> None:
    ptr, links = np.array([0, 2, 3]), np.array([0, 1, 1])
    per_path = np.array([[1.0, 2.0], [10.0, 20.0]])
    assert path_costs(ptr, links, per_path).tolist() == [3.0, 20.0]


def test_largest_component_and_nearest_nodes() -> None:
    roads, nodes = _line_twin()
    island = gpd.GeoDataFrame({
        "id": ["r9"], "u": ["x"], "v": ["y"], "oneway": [False], "length_m": [10.0],
        "speed_kph": [36.0], "capacity_vph": [900.0], "lanes": [1]},
        geometry=[shapely.LineString([(900, 0), (910, 0)])], crs=3067)
    more = gpd.GeoDataFrame({"id": ["x", "y"]}, geometry=shapely.points([(900, 0), (910, 0)]),
                            crs=3067)
    both = gpd.GeoDataFrame(np.concatenate([roads.to_numpy(), island.to_numpy()]),
                            columns=roads.columns, geometry="geometry", crs=3067)
    both = both.astype({"oneway": bool, "length_m": float, "speed_kph": float,
                        "capacity_vph": float, "lanes": int})
    g = road_graph(both,
        gpd.GeoDataFrame(np.concatenate([nodes.to_numpy(), more.to_numpy()]),
                         columns=nodes.columns, geometry="geometry", crs=3067))
    main = largest_component(g)
    assert main.tolist() == [True, True, True, False, False]
    idx, dist = nearest_nodes(g.xy, np.array([[905.0, 3.0]]), candidates=main)
    assert idx.tolist() == [2]
    assert dist[0] == pytest.approx(np.hypot(705.0, 3.0))
    with pytest.raises(ValueError, match="no candidate nodes"):
        nearest_nodes(g.xy, np.array([[0.0, 0.0]]), candidates=np.zeros(5, bool))


def _grid_graph(n: int) -> tuple:
    xs, ys = np.meshgrid(np.arange(n) * 100.0, np.arange(n) * 100.0)
    ids = [f"n{i}" for i in range(n * n)]
    nodes = gpd.GeoDataFrame({"id": ids}, geometry=shapely.points(xs.ravel(), ys.ravel()),
                             crs=3067)
    rows = [(k, k + 1) for k in range(n * n) if (k + 1) % n] + \
        [(k, k + n) for k in range(n * n - n)]
    rng = np.random.default_rng(0)
    roads = gpd.GeoDataFrame({
        "id": [f"r{i}" for i in range(len(rows))], "u": [ids[a] for a, _ in rows],
        "v": [ids[b] for _, b in rows], "oneway": False, "length_m": 100.0,
        "speed_kph": rng.uniform(20, 60, len(rows)), "capacity_vph": 900.0, "lanes": 1},
        geometry=[shapely.LineString([(0, 0), (1, 1)])] * len(rows), crs=3067)
    return road_graph(roads, nodes)


def test_search_bounds_give_exact_paths() -> None:
    g = _grid_graph(30)
    rng = np.random.default_rng(5)
    o, d = rng.integers(0, g.n_nodes, 1500), rng.integers(0, g.n_nodes, 1500)
    assert np.unique(o).size >= 8 * 48  # enough origins: route_pairs guesses bounds
    mat, pl = g.csr()
    exact = shortest_paths(mat, pl, o, d)
    bounded = route_pairs(g, o, d)
    assert np.allclose(bounded.cost, exact.cost)
    assert np.array_equal(bounded.ptr, exact.ptr)
    assert np.array_equal(bounded.links, exact.links)
    assert np.allclose(pair_costs(mat, o, d, xy=g.xy), exact.cost)
    # bounds far too small: every pair is searched again without one
    again = shortest_paths(mat, pl, o, d, bound=0.5 * exact.cost)
    assert np.allclose(again.cost, exact.cost)
    assert np.array_equal(again.links, exact.links)


def test_travel_time_matrix_searches_from_the_fewer_side() -> None:
    g = _grid_graph(8)
    cost = g.fft_s.copy()
    cost[::3] *= 4.0  # directions differ
    mat, _ = g.csr(cost)
    from scipy.sparse.csgraph import dijkstra

    o, d = np.arange(0, 64, 3), np.array([5, 40])
    assert np.allclose(travel_time_matrix(g, o, d, cost=cost), dijkstra(mat, indices=o)[:, d])
    assert np.allclose(travel_time_matrix(g, d, o, cost=cost), dijkstra(mat, indices=d)[:, o])
