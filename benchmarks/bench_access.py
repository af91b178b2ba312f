"""Accessibility: the nearest facility of each kind for every building, by walk and by car.

City: the synthetic 100,000-resident city (``synthetic_twin(100000, seed=0)``: ~19,700
buildings, ~10,200 road nodes, 39 facilities of 6 kinds besides 99 bus stops; ``--quick``:
20,000 residents).
Kinds: every facility kind but bus stops; modes: walk (the walk network) and car (free flow
plus signal delays); times from each building to the nearest facility of the kind, door to
door (:func:`twin.network.access.nearest_facility_times`).

- twin: one scipy Dijkstra call per mode, searching from one super-source per kind at once
  (:func:`twin.network.access.nearest_times`);
- peer: ``networkx.multi_source_dijkstra_path_length`` per mode and kind on a DiGraph with
  the same edges, the facilities joined to a super-source by their walking offsets (the graph
  is built outside the timing, as in the routing benchmark).

Rows: the search itself (same prepared graphs and snapped points for both; ratio = networkx
over twin), and the whole computation from the twin's layers (graphs, snapping, search, the
table), which must take under 10 s. Both must give the same times (max difference reported).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, row

from twin.network.access import _points, access_graph, nearest_facility_times, nearest_times

RESIDENTS = 100_000
QUICK_RESIDENTS = 20_000
MODES = ("walk", "car")


def _prepared(twin: Any, kinds: list[str]) -> dict[str, Any]:
    b_xy = _points(twin.layer("buildings"))
    fac = twin.layer("facilities")
    f_kind = fac["kind"].astype(str).to_numpy()
    f_xy = _points(fac)
    out = {}
    for mode in MODES:
        g = access_graph(twin, mode)
        b_node, b_walk = g.snap(b_xy)
        f_node, f_walk = g.snap(f_xy)
        _ = g.reverse
        sources = {k: (f_node[f_kind == k], f_walk[f_kind == k]) for k in kinds}
        out[mode] = (g, b_node, b_walk, sources)
    return out


def _twin_search(prep: dict[str, Any]) -> dict[str, np.ndarray]:
    res = {}
    for mode, (g, b_node, b_walk, sources) in prep.items():
        dist = nearest_times(g, sources, towards=True)
        for k, d in dist.items():
            res[f"{k}_{mode}"] = d[b_node] + b_walk
    return res


def _nx_graphs(prep: dict[str, Any]) -> dict[str, Any]:
    import networkx as nx

    graphs = {}
    for mode, (g, *_rest) in prep.items():
        m = g.reverse.tocoo()
        dg = nx.DiGraph()
        dg.add_nodes_from(range(m.shape[0]))
        dg.add_weighted_edges_from(zip(m.row.tolist(), m.col.tolist(), m.data.tolist(),
                                       strict=True))
        graphs[mode] = dg
    return graphs


def _peer_search(prep: dict[str, Any], graphs: dict[str, Any]) -> dict[str, np.ndarray]:
    import networkx as nx

    res = {}
    for mode, (g, b_node, b_walk, sources) in prep.items():
        dg = graphs[mode]
        n = g.reverse.shape[0]
        for k, (nodes, offset) in sources.items():
            src = ("source", k)
            for v, w in zip(nodes.tolist(), offset.tolist(), strict=True):
                old = dg.get_edge_data(src, v)
                if old is None or w < old["weight"]:
                    dg.add_edge(src, v, weight=max(w, 1e-6))
            lengths = nx.multi_source_dijkstra_path_length(dg, {src})
            dg.remove_node(src)
            dist = np.full(n, np.inf)
            keys = np.fromiter((v for v in lengths if not isinstance(v, tuple)), np.int64)
            dist[keys] = [lengths[int(v)] for v in keys]
            res[f"{k}_{mode}"] = dist[b_node] + b_walk
    return res


def bench_access(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """Nearest facility of each kind for every building, walk and car: twin vs networkx."""
    from twin.layers.synthetic import synthetic_twin

    residents = QUICK_RESIDENTS if quick else RESIDENTS
    twin = synthetic_twin(residents, seed=0)
    kinds = sorted(set(twin.layer("facilities")["kind"].astype(str)) - {"bus_stop"})
    nearest_facility_times(twin, kinds, MODES)       # warm up (imports, caches)
    total_s, table = median_time(lambda: nearest_facility_times(twin, kinds, MODES), repeat)
    t0 = time.perf_counter()
    prep = _prepared(twin, kinds)
    prep_s = time.perf_counter() - t0
    search_s, ours = median_time(lambda: _twin_search(prep), max(repeat, 5))
    t0 = time.perf_counter()
    graphs = _nx_graphs(prep)
    nx_build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = _peer_search(prep, graphs)
    peer_s = time.perf_counter() - t0
    diffs = [np.nanmax(np.abs(np.where(np.isfinite(ours[c]), ours[c] - theirs[c], 0.0)))
             for c in ours]
    unequal = sum(int(np.sum(np.isfinite(ours[c]) != np.isfinite(theirs[c]))) for c in ours)
    same: dict[str, Any] = {"buildings": len(table), "kinds": len(kinds), "modes": list(MODES),
            "facilities": int((twin.layer("facilities")["kind"] != "bus_stop").sum()),
            "walk_nodes": int(prep["walk"][0].matrix.shape[0]),
            "car_nodes": int(prep["car"][0].matrix.shape[0]),
            "max_time_diff_s": float(max(diffs)), "reachability_differs": unequal,
            "residents": residents}
    return [
        row("access", "seconds, search: nearest facility per kind, every building, walk+car",
            search_s, "networkx.multi_source_dijkstra_path_length", peer_s,
            peer_repeat=1, **same),
        row("access", "seconds, whole computation from the twin's layers (target < 10 s)",
            total_s, "networkx search + the same preparation", prep_s + peer_s,
            twin_prepare_s=round(prep_s, 4), networkx_graph_build_s=round(nx_build_s, 3),
            under_10_s=bool(total_s < 10.0), **same),
    ]


BENCHMARKS = {"access": bench_access}
