"""Tests for twin.network.assign: BPR user equilibrium by (bi-)conjugate Frank-Wolfe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import twin.network.assign as assign_module
from twin._errors import AssignmentError
from twin.network.assign import (
    AssignmentResult,
    Method,
    Network,
    assign,
    assign_tntp,
    compare_flows,
)
from twin.network.tntp import TNTPData, read_tntp

SIOUX_FALLS = Path(__file__).parents[2].parent / "shared" / "data" / "tntp" / "SiouxFalls"
BEST_TSTT = 7_480_225.3
BEST_BECKMANN = 4_231_335.3
METHODS: list[Method] = ["bfw", "cfw", "fw"]


def make_net(links: list[tuple[int, int, float, float]], n_nodes: int, *, b: float = 0.15,
             power: float = 4.0, first_thru_node: int = 0,
             zone_nodes: list[int] | None = None) -> Network:
    """A network from (from, to, capacity, fft) rows."""
    frm, to, cap, fft = (list(col) for col in zip(*links, strict=True))
    return Network(n_nodes=n_nodes, from_node=frm, to_node=to, capacity=cap, fft=fft, b=b,
                   power=power, length=1.0, first_thru_node=first_thru_node,
                   zone_nodes=list(range(n_nodes)) if zone_nodes is None else zone_nodes)


# --- Sioux Falls against the published best-known solution ---------------------------------

@pytest.fixture(scope="module")
def sioux() -> tuple[AssignmentResult, TNTPData]:
    return assign_tntp(SIOUX_FALLS, gap=1e-5, method="bfw")


def test_sioux_falls_reaches_gap(sioux) -> None:
    res, _ = sioux
    assert res.converged
    assert res.relative_gap <= 1e-5
    assert res.gap_history[-1] == res.relative_gap
    assert res.gap_history.size == res.iterations
    assert 20 < res.iterations < 1000
    assert res.relative_gap == pytest.approx((res.tstt - res.sptt) / res.tstt)


def test_sioux_falls_tstt_matches_best_known(sioux) -> None:
    res, data = sioux
    assert abs(res.tstt / BEST_TSTT - 1) < 1e-3
    assert abs(res.beckmann / BEST_BECKMANN - 1) < 1e-4
    assert res.tstt == pytest.approx(float(res.flows @ res.times))
    assert data.best_tstt == pytest.approx(BEST_TSTT, rel=1e-7)


def test_sioux_falls_every_link_flow_within_one_percent(sioux) -> None:
    res, data = sioux
    cmp = compare_flows(res, data.best_flows)
    assert cmp.n_compared == 76
    assert cmp.max_flow_diff_pct < 1.0
    assert cmp.mean_flow_diff_pct < cmp.max_flow_diff_pct


def test_sioux_falls_times_follow_bpr(sioux) -> None:
    res, data = sioux
    net = data.network
    expected = net.fft * (1 + net.b * (res.flows / net.capacity) ** net.power)
    np.testing.assert_allclose(res.times, expected, rtol=1e-12)
    assert data.best_costs is not None
    np.testing.assert_allclose(res.times, data.best_costs, rtol=1e-2)


def test_both_tree_accumulations_agree(sioux, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small forests use pointer jumping, large ones a breadth-first search: same answer."""
    res, data = sioux
    grid, demand = grid_with_zones(first_thru_node=4)  # zone copies, zero-time connectors
    jumping = assign(grid, demand, gap=1e-6)
    monkeypatch.setattr(assign_module, "_SMALL_FOREST", 0)
    bfs = assign(data.network, data.demand, gap=1e-5)
    assert bfs.iterations == res.iterations
    np.testing.assert_allclose(bfs.flows, res.flows, rtol=1e-9)
    np.testing.assert_allclose(assign(grid, demand, gap=1e-6).flows, jumping.flows, rtol=1e-9)


@pytest.mark.parametrize(("method", "target"), [("cfw", 1e-4), ("fw", 1e-3)])
def test_sioux_falls_other_methods(sioux, method: Method, target: float) -> None:
    _, data = sioux
    res = assign(data.network, sp.csr_matrix(data.demand), gap=target, method=method)
    assert res.converged
    assert res.method == method
    assert abs(res.tstt / BEST_TSTT - 1) < 5e-3


# --- small networks with analytical equilibria ---------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_two_parallel_links_linear(method: Method) -> None:
    # t1 = 10 + 0.1 v1, t2 = 20 + 0.05 v2, 300 trips: 10 + 0.1 v1 = 20 + 0.05 (300 - v1)
    net = make_net([(0, 1, 100.0, 10.0), (0, 1, 400.0, 20.0)], 2, b=1.0, power=1.0)
    res = assign(net, [[0, 300], [0, 0]], gap=1e-10, method=method)
    assert res.converged
    np.testing.assert_allclose(res.flows, [500 / 3, 400 / 3], rtol=1e-6)
    np.testing.assert_allclose(res.times, [80 / 3, 80 / 3], rtol=1e-6)
    assert res.tstt == pytest.approx(8000.0, rel=1e-6)
    assert res.beckmann == pytest.approx(6166.6667, rel=1e-6)


def test_two_routes_via_nodes_bpr() -> None:
    # both routes fft 10, capacities 100 and 200: equal times when v1 / 100 = v2 / 200
    links = [(0, 2, 100.0, 4.0), (2, 1, 100.0, 6.0), (0, 3, 200.0, 5.0), (3, 1, 200.0, 5.0)]
    net = make_net(links, 4, zone_nodes=[0, 1])
    res = assign(net, np.array([[0.0, 300.0], [0.0, 0.0]]), gap=1e-10)
    np.testing.assert_allclose(res.flows, [100, 100, 200, 200], rtol=1e-6)
    assert res.times[0] + res.times[1] == pytest.approx(11.5, rel=1e-6)
    assert res.tstt == pytest.approx(300 * 11.5, rel=1e-6)


def test_low_demand_uses_one_route() -> None:
    # at 50 trips route 1 costs 15 < 20: route 2 stays empty
    net = make_net([(0, 1, 100.0, 10.0), (0, 1, 400.0, 20.0)], 2, b=1.0, power=1.0)
    res = assign(net, [[0, 50], [0, 0]])
    np.testing.assert_allclose(res.flows, [50, 0], atol=1e-9)
    assert res.relative_gap == pytest.approx(0.0, abs=1e-12)
    assert res.iterations == 1


def test_zero_demand() -> None:
    net = make_net([(0, 1, 100.0, 10.0)], 2)
    res = assign(net, np.zeros((2, 2)))
    assert res.flows.tolist() == [0.0]
    assert (res.tstt, res.relative_gap, res.converged) == (0.0, 0.0, True)


def test_intrazonal_demand_is_ignored() -> None:
    net = make_net([(0, 1, 100.0, 10.0), (1, 0, 100.0, 10.0)], 2)
    res = assign(net, [[500.0, 7.0], [0.0, 0.0]])
    np.testing.assert_allclose(res.flows, [7.0, 0.0])


# --- first thru node ------------------------------------------------------------------------

SHORTCUT = [(0, 1, 100.0, 1.0), (1, 2, 100.0, 1.0), (0, 3, 100.0, 5.0), (3, 2, 100.0, 5.0)]


def test_zones_below_first_thru_node_are_not_passed_through() -> None:
    # zones 0, 1, 2; node 3 is the only thru node; 0 -> 1 -> 2 would be shorter
    demand = [[0, 0, 10], [0, 0, 4], [0, 0, 0]]
    blocked = make_net(SHORTCUT, 4, b=0.0, first_thru_node=3, zone_nodes=[0, 1, 2])
    res = assign(blocked, demand)
    np.testing.assert_allclose(res.flows, [0, 4, 10, 10])  # zone 1 still starts its own trips
    assert res.tstt == pytest.approx(10 * 10 + 4 * 1)
    free = make_net(SHORTCUT, 4, b=0.0, first_thru_node=0, zone_nodes=[0, 1, 2])
    np.testing.assert_allclose(assign(free, demand).flows, [10, 14, 0, 0])


def test_first_thru_node_from_tntp(tmp_path: Path) -> None:
    rows = "".join(f"{a + 1} {b + 1} {c} 1 {t} 0 4 ;\n" for a, b, c, t in SHORTCUT)
    head = "<NUMBER OF ZONES> 3\n<NUMBER OF NODES> 4\n<FIRST THRU NODE> {}\n<END OF METADATA>\n"
    trips = "<NUMBER OF ZONES> 3\nOrigin 1\n3 : 10;\nOrigin 2\n3 : 4;\n"
    for ftn, expected in ((4, [0, 4, 10, 10]), (1, [10, 14, 0, 0])):
        folder = tmp_path / f"ftn{ftn}"
        folder.mkdir()
        (folder / "s_net.tntp").write_text(head.format(ftn) + rows)
        (folder / "s_trips.tntp").write_text(trips)
        res, _ = assign_tntp(folder)
        np.testing.assert_allclose(res.flows, expected)


def grid_with_zones(first_thru_node: int) -> tuple[Network, np.ndarray]:
    """A 4 x 4 grid (nodes 4..19) with 4 zones on zero-time connectors; zone 1 touches two
    far corners, so passing through it is a shortcut."""
    links: list[tuple[int, int, float, float]] = []
    for i in range(4):
        for j in range(4):
            u = 4 + 4 * i + j
            if j < 3:
                links += [(u, u + 1, 300.0, 2.0), (u + 1, u, 300.0, 2.0)]
            if i < 3:
                links += [(u, u + 4, 300.0, 2.0), (u + 4, u, 300.0, 2.0)]
    attach = {0: [4], 1: [5, 18], 2: [19], 3: [10]}
    for zone, nodes in attach.items():
        for node in nodes:
            links += [(zone, node, 1e4, 0.0), (node, zone, 1e4, 0.0)]
    demand = np.full((4, 4), 200.0)
    return make_net(links, 20, first_thru_node=first_thru_node, zone_nodes=[0, 1, 2, 3]), demand


@pytest.mark.parametrize("method", METHODS)
def test_blocked_zones_carry_only_their_own_trips(method: Method) -> None:
    net, demand = grid_with_zones(first_thru_node=4)
    res = assign(net, demand, gap=1e-4, method=method, max_iter=5000)
    assert res.converged
    np.fill_diagonal(demand, 0.0)
    for zone in range(4):
        inflow = res.flows[net.to_node == zone].sum()
        outflow = res.flows[net.from_node == zone].sum()
        assert inflow == pytest.approx(demand[:, zone].sum())
        assert outflow == pytest.approx(demand[zone].sum())
    free = assign(net_free := grid_with_zones(first_thru_node=0)[0], demand, gap=1e-4)
    assert free.flows[net_free.to_node == 1].sum() > demand[:, 1].sum() + 1.0
    assert free.tstt < res.tstt


def test_parallel_links_with_zero_time() -> None:
    # a zero-time link parallel to a congestible one: all flow takes the free one
    net = make_net([(0, 1, 100.0, 0.0), (0, 1, 100.0, 1.0), (1, 2, 100.0, 1.0)], 3)
    res = assign(net, [[0, 0, 50], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(res.flows, [50, 0, 50])


# --- options and errors ---------------------------------------------------------------------

def test_progress_and_max_iter() -> None:
    net, demand = grid_with_zones(first_thru_node=4)
    seen: list[tuple[int, float]] = []
    res = assign(net, demand, gap=1e-12, max_iter=5, method="fw",
                 progress=lambda i, g: seen.append((i, g)))
    assert [i for i, _ in seen] == [1, 2, 3, 4, 5]
    assert res.iterations == 5
    assert not res.converged
    np.testing.assert_allclose([g for _, g in seen], res.gap_history)


def test_sparse_and_dense_demand_agree() -> None:
    net, demand = grid_with_zones(first_thru_node=4)
    dense = assign(net, demand, gap=1e-6)
    sparse = assign(net, sp.coo_array(demand), gap=1e-6)
    np.testing.assert_allclose(dense.flows, sparse.flows)


def test_unreachable_pair() -> None:
    net = make_net([(0, 1, 100.0, 1.0)], 2)
    with pytest.raises(AssignmentError, match=r"no path from node 1 to node 0 \(demand 3\)"):
        assign(net, [[0, 0], [3, 0]])


@pytest.mark.parametrize(("demand", "match"), [
    (np.zeros((3, 3)), r"demand has shape \(3, 3\), expected \(2, 2\)"),
    ([[0, -1], [0, 0]], r"demand must be finite and >= 0"),
    ([[0, np.nan], [0, 0]], r"demand must be finite and >= 0"),
])
def test_bad_demand(demand: object, match: str) -> None:
    net = make_net([(0, 1, 100.0, 1.0)], 2)
    with pytest.raises(AssignmentError, match=match):
        assign(net, demand)


def test_bad_options() -> None:
    net = make_net([(0, 1, 100.0, 1.0)], 2)
    with pytest.raises(AssignmentError, match=r"unknown method 'msa'; choose one of bfw, cfw"):
        assign(net, [[0, 1], [0, 0]], method="msa")  # type: ignore[arg-type]
    with pytest.raises(AssignmentError, match=r"gap must be > 0"):
        assign(net, [[0, 1], [0, 0]], gap=0.0)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("capacity", -5.0, r"link 1 \(node 0 -> 1\): capacity must be >= 0 \(got capacity = -5"),
    ("capacity", 0.0, r"link 1 \(node 0 -> 1\): capacity must be > 0 when fft and b are"),
    ("fft", -1.0, r"link 1 \(node 0 -> 1\): free-flow time must be >= 0 \(got fft = -1"),
    ("b", np.nan, r"link 1 .*: b must be >= 0"),
    ("power", -2.0, r"link 1 .*: power must be >= 0"),
])
def test_bad_link_parameters(field: str, value: float, match: str) -> None:
    params = {"capacity": [100.0, 100.0], "fft": [1.0, 1.0], "b": [0.15, 0.15],
              "power": [4.0, 4.0]}
    params[field][0] = value
    with pytest.raises(AssignmentError, match=match):
        Network(n_nodes=2, from_node=[0, 1], to_node=[1, 0], length=1.0, first_thru_node=0,
                zone_nodes=[0, 1], link_ids=[1, 2], **params)


def test_bad_network_structure() -> None:
    with pytest.raises(AssignmentError, match=r"link 0 \(node 0 -> 5\): not in 0\.\.1"):
        make_net([(0, 5, 100.0, 1.0)], 2)
    with pytest.raises(AssignmentError, match=r"capacity has shape \(1,\), expected \(2,\)"):
        Network(n_nodes=2, from_node=[0, 1], to_node=[1, 0], capacity=[1.0], fft=1.0, b=0.15,
                power=4, length=1.0, first_thru_node=0, zone_nodes=[0, 1])
    with pytest.raises(AssignmentError, match=r"zone_nodes lists a node twice"):
        make_net([(0, 1, 100.0, 1.0)], 2, zone_nodes=[1, 1])
    with pytest.raises(AssignmentError, match=r"0 <= first_thru_node <= n_nodes"):
        make_net([(0, 1, 100.0, 1.0)], 2, first_thru_node=3)
    with pytest.raises(AssignmentError, match=r"from_node must hold integer node indices"):
        Network(n_nodes=2, from_node=[0.5], to_node=[1], capacity=1.0, fft=1.0, b=0.15,
                power=4, length=1.0, first_thru_node=0, zone_nodes=[0, 1])


def test_compare_flows() -> None:
    cmp = compare_flows(np.array([110.0, 50.0, 7.0, 1.0]), [100.0, 50.0, 0.0, np.nan])
    assert (cmp.max_flow_diff_pct, cmp.worst_link, cmp.n_compared) == (
        pytest.approx(10.0), 0, 2)
    assert cmp.mean_flow_diff_pct == pytest.approx(5.0)
    with pytest.raises(AssignmentError, match=r"2 flows but 3 reference flows"):
        compare_flows([1.0, 2.0], [1.0, 2.0, 3.0])


def test_read_then_assign_matches_assign_tntp(sioux) -> None:
    res, _ = sioux
    data = read_tntp(SIOUX_FALLS / "SiouxFalls_net.tntp")
    again = assign(data.network, data.demand)
    np.testing.assert_array_equal(again.flows, res.flows)
