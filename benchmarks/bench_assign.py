"""Static assignment: twin's bfw vs AequilibraE's bfw on Sioux Falls, to relative gap 1e-5.

Both run in this process on the same links and demand. Timed for twin: ``assign`` (graph
building included); for AequilibraE: building the traffic class and assignment and ``execute``
(its ``Graph.prepare_graph`` and the matrix are built once, outside the timing, as twin's
``Network`` is). AequilibraE uses all cores (its default; ``peer_value``) and, as twin does, one
core (``peer_1core_value``).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, row

from twin.network.assign import Network, assign, compare_flows
from twin.network.tntp import TNTPData, read_tntp

SIOUX_FALLS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tntp" / "SiouxFalls"
BEST_TSTT = 7_480_225.3
GAP = 1e-5
T = TypeVar("T")


def _timed(func: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """Median wall time, median CPU time of this process (all threads), last result."""
    cpu: list[float] = []

    def run() -> T:
        start = time.process_time()
        out = func()
        cpu.append(time.process_time() - start)
        return out

    wall, out = median_time(run, repeat)
    return wall, statistics.median(cpu), out


def _aequilibrae_setup(data: TNTPData) -> tuple[Any, Any]:
    """Build AequilibraE's graph and demand matrix for ``data``."""
    os.environ["AEQ_SHOW_PROGRESS"] = "FALSE"  # read when aequilibrae is imported
    import pandas as pd
    from aequilibrae.matrix import AequilibraeMatrix
    from aequilibrae.paths import Graph

    # after the import, which sets DEBUG: silence per-iteration warnings on stderr
    logging.getLogger("aequilibrae").setLevel(logging.ERROR)

    net: Network = data.network
    ids = data.node_ids
    frame = pd.DataFrame({
        "link_id": np.arange(1, net.n_links + 1),
        "a_node": ids[net.from_node], "b_node": ids[net.to_node],
        "direction": np.ones(net.n_links, dtype=np.int8),
        # AequilibraE rejects zero free-flow times (TNTP connectors have them)
        "free_flow_time": np.maximum(net.fft, 1e-6),
        "capacity": net.capacity, "b": net.b, "power": net.power,
    })
    zones = ids[net.zone_nodes].astype(np.int64)
    graph = Graph()
    graph.network = frame
    graph.prepare_graph(zones)
    graph.set_graph("free_flow_time")
    graph.set_skimming(["free_flow_time"])
    # AequilibraE blocks passing through all zones or none
    graph.set_blocked_centroid_flows(bool(net.first_thru_node > 0))
    matrix = AequilibraeMatrix()
    matrix.create_empty(zones=zones.size, matrix_names=["demand"], memory_only=True)
    matrix.index[:] = zones
    matrix.matrices[:, :, 0] = data.demand
    matrix.computational_view(["demand"])
    return graph, matrix


def _aequilibrae_run(graph: Any, matrix: Any,
                     cores: int | None = None) -> tuple[int, float, np.ndarray]:
    """One AequilibraE bfw run; return iterations, final gap and link flows (link order)."""
    from aequilibrae.paths import TrafficAssignment, TrafficClass

    tclass = TrafficClass("car", graph, matrix)
    assig = TrafficAssignment()
    assig.set_classes([tclass])
    assig.set_vdf("BPR")
    assig.set_vdf_parameters({"alpha": "b", "beta": "power"})
    assig.set_capacity_field("capacity")
    assig.set_time_field("free_flow_time")
    assig.set_algorithm("bfw")
    if cores is not None:
        assig.set_cores(cores)
    assig.max_iter = 5000
    assig.rgap_target = GAP
    assig.execute()
    report = assig.report()
    flows = assig.results()["demand_ab"].sort_index().to_numpy()
    return int(report["iteration"].max()), float(report["rgap"].iloc[-1]), flows


def bench_assign(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """Seconds to relative gap 1e-5 on Sioux Falls: twin bfw vs AequilibraE bfw."""
    data = read_tntp(SIOUX_FALLS)
    net, demand = data.network, data.demand
    if not quick:
        assign(net, demand, gap=1e-3)  # warm up imports and caches
    twin_s, twin_cpu, res = _timed(lambda: assign(net, demand, gap=GAP, method="bfw"), repeat)
    graph, matrix = _aequilibrae_setup(data)
    if not quick:
        _aequilibrae_run(graph, matrix)  # warm up
    aeq_s, aeq_cpu, (aeq_iter, aeq_gap, aeq_flows) = _timed(
        lambda: _aequilibrae_run(graph, matrix), repeat)
    # the same resources as twin (one core)
    aeq_1core_s, aeq_1core_cpu, _ = _timed(
        lambda: _aequilibrae_run(graph, matrix, cores=1), repeat)
    times = net.fft * (1 + net.b * (aeq_flows / net.capacity) ** net.power)
    aeq_tstt = float(aeq_flows @ times)
    best = data.best_flows if data.best_flows is not None else np.full(net.n_links, np.nan)
    return [row(
        "assign", "seconds_to_gap_1e-5", twin_s, "aequilibrae-bfw", aeq_s,
        network="SiouxFalls", twin_iterations=res.iterations, peer_iterations=aeq_iter,
        twin_gap=float(res.relative_gap), peer_gap=aeq_gap,
        twin_tstt=round(res.tstt, 1), peer_tstt=round(aeq_tstt, 1),
        twin_tstt_diff_pct=round(100 * (res.tstt / BEST_TSTT - 1), 4),
        peer_tstt_diff_pct=round(100 * (aeq_tstt / BEST_TSTT - 1), 4),
        twin_max_flow_diff_pct=round(compare_flows(res, best).max_flow_diff_pct, 4),
        peer_max_flow_diff_pct=round(compare_flows(aeq_flows, best).max_flow_diff_pct, 4),
        peer_version=_aequilibrae_version(), peer_cores=os.cpu_count(),
        peer_1core_value=round(aeq_1core_s, 4), ratio_1core=round(aeq_1core_s / twin_s, 3),
        # CPU seconds: steadier than wall time when other work shares the machine
        twin_cpu_s=round(twin_cpu, 4), peer_cpu_s=round(aeq_cpu, 4),
        peer_1core_cpu_s=round(aeq_1core_cpu, 4),
        ratio_cpu_1core=round(aeq_1core_cpu / twin_cpu, 3),
    )]


def _aequilibrae_version() -> str:
    from importlib.metadata import version

    return version("aequilibrae")


BENCHMARKS = {"assign": bench_assign}
