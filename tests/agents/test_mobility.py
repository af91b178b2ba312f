"""The queue-based mobility engine on tiny networks made in code."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from twin._errors import SimulationError
from twin.agents.mobility import (
    EngineConfig,
    LinkState,
    Trips,
    link_params,
    load_engine_config,
    node_controls,
    simulate_links,
)
from twin.network.roads import RoadGraph, road_graph
from twin.network.routing import route_pairs

T0 = 5 * 3600.0
KERNELS = ["numba", "numpy"]


def _graph(edges: list[tuple], controls: dict[str, str] | None = None) -> RoadGraph:
    """One-way roads ``(u, v, length_m, speed_kph, capacity_vph, lanes)``; nodes on a line."""
    names = sorted({e[0] for e in edges} | {e[1] for e in edges})
    xy = {n: (100.0 * i, 0.0) for i, n in enumerate(names)}
    roads = gpd.GeoDataFrame({
        "id": [f"r{i}" for i in range(len(edges))],
        "u": [e[0] for e in edges], "v": [e[1] for e in edges],
        "oneway": [True] * len(edges), "length_m": [float(e[2]) for e in edges],
        "speed_kph": [float(e[3]) for e in edges],
        "capacity_vph": [float(e[4]) for e in edges], "lanes": [int(e[5]) for e in edges],
        "highway": ["primary"] * len(edges)},
        geometry=[shapely.LineString([xy[e[0]], (xy[e[1]][0] + 1e-3, 1.0)]) for e in edges],
        crs=3067)
    ctl = controls or {}
    nodes = gpd.GeoDataFrame({"id": names, "control": [ctl.get(n, "none") for n in names]},
                             geometry=shapely.points([xy[n] for n in names]), crs=3067)
    return road_graph(roads, nodes)


def _config(kernel: str = "numba", **kw: float) -> EngineConfig:
    return load_engine_config(kernel=kernel, **kw)


def _grid(n: int = 5, length: float = 50.0, cap: float = 600.0) -> RoadGraph:
    """A two-way n x n grid, a signal at every other node."""
    edges = []
    for i in range(n):
        for j in range(n):
            a = f"n{i}_{j}"
            if i + 1 < n:
                edges += [(a, f"n{i + 1}_{j}", length, 36, cap, 1),
                          (f"n{i + 1}_{j}", a, length, 36, cap, 1)]
            if j + 1 < n:
                edges += [(a, f"n{i}_{j + 1}", length, 36, cap, 1),
                          (f"n{i}_{j + 1}", a, length, 36, cap, 1)]
    ctl = {f"n{i}_{j}": "signal" for i in range(n) for j in range(n) if (i + j) % 2 == 0}
    return _graph(edges, ctl)


def _random_trips(graph: RoadGraph, links: LinkState, n: int, seed: int,
                  spread_s: float = 1800.0) -> Trips:
    rng = np.random.default_rng(seed)
    o = rng.integers(0, graph.n_nodes, n)
    d = rng.integers(0, graph.n_nodes, n)
    paths = route_pairs(graph, o, d, cost=links.fft_s)
    depart = T0 + rng.uniform(0, spread_s, n)
    return Trips(depart_s=depart, route_ptr=paths.ptr, route_links=paths.links)


# ------------------------------------------------------------------ configuration
def test_config_defaults_and_overrides() -> None:
    cfg = load_engine_config()
    assert (cfg.step_s, cfg.vehicle_length_m, cfg.kernel) == (1.0, 7.5, "numba")
    assert cfg.signal_factor < cfg.adaptive_signal_factor < cfg.roundabout_factor <= 1.0
    assert load_engine_config(step_s=2.0, kernel="numpy").step_s == 2.0


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match=r"unknown parameters \['bogus'\].*valid names"):
        load_engine_config(bogus=1)
    bad = tmp_path / "t.yaml"
    bad.write_text("step_s: 1.0\n")
    with pytest.raises(SimulationError, match=r"t.yaml: missing parameters \['vehicle_length_m'"):
        load_engine_config(bad)
    with pytest.raises(SimulationError, match=r"signal_factor must be in \(0, 1\], got 1.5"):
        load_engine_config(signal_factor=1.5)
    with pytest.raises(SimulationError, match="step_s must be > 0"):
        load_engine_config(step_s=0)
    with pytest.raises(SimulationError, match="kernel must be one of numba, numpy"):
        load_engine_config(kernel="cuda")
    with pytest.raises(SimulationError, match="step_s must be a number, got 'fast'"):
        load_engine_config(step_s="fast")
    with pytest.raises(SimulationError, match="signal_delay_s must be >= 0, got -1"):
        load_engine_config(signal_delay_s=-1)
    bad.write_text("[1, 2]\n")
    with pytest.raises(SimulationError, match="expected a mapping"):
        load_engine_config(bad)
    with pytest.raises(SimulationError, match="cannot read the engine config"):
        load_engine_config(tmp_path / "missing.yaml")


# ------------------------------------------------------------------ link parameters
def test_link_params_capacity_storage_and_node_controls() -> None:
    g = _graph([("a", "b", 150, 36, 1800, 2), ("b", "c", 150, 36, 1800, 2),
                ("c", "d", 150, 36, 1800, 2), ("d", "e", 150, 36, 1800, 2)],
               {"b": "signal", "c": "adaptive_signal", "d": "roundabout"})
    cfg = load_engine_config()
    ls = link_params(g, cfg)
    assert np.allclose(ls.flow_cap_per_s * 3600, [1080, 1296, 1440, 1800])
    assert np.allclose(ls.fft_s, [15 + 12, 15 + 7, 15 + 4, 15])
    assert np.allclose(ls.storage_veh, 150 * 2 / 7.5)
    # sampled population: both scaled; storage still holds the link's free-flow load
    s = link_params(g, cfg, flow_factor=0.1, storage_factor=0.1)
    assert np.allclose(s.flow_cap_per_s, ls.flow_cap_per_s * 0.1)
    assert np.allclose(s.storage_veh, 4.0)
    # overrides: a dark signal, a closed link, lanes added
    factor, _ = node_controls(g, cfg)
    factor[g.control == "signal"] = cfg.dark_signal_factor
    o = link_params(g, cfg, node_factor=factor, capacity_scale=[1, 0, 1.5, 1])
    assert np.allclose(o.flow_cap_per_s * 3600, [720, 0, 2160, 1800])
    assert o.closed.tolist() == [False, True, False, False]
    assert np.allclose(link_params(g, cfg, node_delay_s=np.zeros(5)).fft_s, 15)


def test_link_params_minimum_storage() -> None:
    # a 7.5 m link at 3600 veh/h and 10 m/s: one vehicle of storage, raised to one step's flow
    g = _graph([("a", "b", 7.5, 36, 7200, 1)])
    ls = link_params(g, load_engine_config())
    assert ls.storage_veh.tolist() == [2.0]
    g2 = _graph([("a", "b", 1.0, 36, 100, 1)])
    assert link_params(g2, load_engine_config()).storage_veh.tolist() == [1.0]


def test_link_params_errors() -> None:
    g = _graph([("a", "b", 100, 36, 900, 1)])
    cfg = load_engine_config()
    neg = _graph([("a", "b", 100, 36, -5, 1)])
    with pytest.raises(SimulationError, match=r"roads: links \['r0'\] have a negative or missing "
                                              "capacity_vph"):
        link_params(neg, cfg)
    with pytest.raises(SimulationError, match=r"capacity_scale: expected 1 values"):
        link_params(g, cfg, capacity_scale=[1.0, 1.0])
    with pytest.raises(SimulationError, match="node_factor: values must be finite and >= 0"):
        link_params(g, cfg, node_factor=[1.0, -1.0])
    with pytest.raises(SimulationError, match="flow_factor must be > 0"):
        link_params(g, cfg, flow_factor=0)


# ------------------------------------------------------------------ engine semantics
@pytest.mark.parametrize("kernel", KERNELS)
def test_free_flow_trip_time_is_sum_of_fft(kernel: str) -> None:
    g = _graph([("a", "b", 100, 36, 1800, 1), ("b", "c", 300, 54, 1800, 1),
                ("c", "d", 33, 36, 1800, 1)])
    links = link_params(g, _config(kernel))
    assert np.allclose(links.fft_s, [10, 20, 3.3])
    trips = Trips.from_routes([T0 + 0.25, T0 + 100.7, T0 + 200.0, T0 - 50.0],
                              [[0, 1, 2], [1, 2], [2], [2]])
    res = simulate_links(links, trips, _config(kernel))
    assert np.allclose(res.arrive_s, [T0 + 33.55, T0 + 124.0, T0 + 203.3, T0 + 3.3])
    # per link: entered at the cumulative free-flow times, left fft later
    assert np.allclose(res.enter_s[:3], T0 + 0.25 + np.array([0, 10, 30]))
    assert np.allclose(res.exit_s - res.enter_s, links.fft_s[trips.route_links])
    assert res.unfinished == 0
    assert res.squeezed == 0
    assert res.link_entries[:, 5].tolist() == [1, 2, 4]


@pytest.mark.parametrize("kernel", KERNELS)
def test_empty_routes_and_trips_outside_the_period(kernel: str) -> None:
    g = _graph([("a", "b", 100, 36, 1800, 1)])
    links = link_params(g, _config(kernel))
    trips = Trips.from_routes([T0 + 10, T0 + 20, 23.9 * 3600], [[], [0], [0]])
    res = simulate_links(links, trips, _config(kernel), end_s=T0 + 3600)
    assert res.arrive_s[0] == T0 + 10
    assert res.arrive_s[1] == T0 + 30
    assert np.isnan(res.arrive_s[2])
    assert res.unfinished == 1


@pytest.mark.parametrize("kernel", KERNELS)
def test_bottleneck_passes_capacity_and_queue_dissipates(kernel: str) -> None:
    # A (3 km, 300 s, 3600 veh/h) -> B (100 m, 10 s, 600 veh/h) -> C
    g = _graph([("a", "b", 3000, 36, 3600, 1), ("b", "c", 100, 36, 600, 1),
                ("c", "d", 100, 36, 3600, 1)])
    cfg = _config(kernel)
    links = link_params(g, cfg)
    depart = T0 + 3.0 * np.arange(600)           # 1200 veh/h for 30 minutes
    depart = np.append(depart, 7 * 3600.0)        # one more, long after the peak
    trips = Trips.from_routes(depart, [[0, 1, 2]] * 601)
    res = simulate_links(links, trips, cfg)
    # B lets one vehicle out every 6 s from 05:05:10: 549 enter C by 06:00, 51 after
    assert res.link_entries[2, 5] == 549
    assert res.link_entries[2, 6] == 51
    assert res.link_entries[2, 7] == 1
    expected = T0 + 320.0 + 6.0 * np.arange(600)
    assert np.abs(res.arrive_s[:600] - expected).max() <= cfg.step_s
    # the queue has gone: the late trip drives at free flow
    assert res.arrive_s[600] == pytest.approx(7 * 3600 + 320.0)
    assert res.link_time_s[0, 7] == pytest.approx(300.0)
    assert res.link_time_s[0, 5] > 1.8 * 300.0   # queued on A behind the full B
    assert res.spillback_s[1] > 3000           # B full for most of the hour
    assert res.unfinished == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_spillback_holds_vehicles_upstream(kernel: str) -> None:
    cfg = _config(kernel, stuck_s=1e6)
    # A (150 m, 20 veh) -> B (short or long, 360 veh/h at its end) -> C
    def run(b_length: float) -> tuple[object, LinkState]:
        g = _graph([("a", "b", 150, 36, 3600, 1), ("b", "c", b_length, 36, 360, 1),
                    ("c", "d", 100, 36, 3600, 1)])
        links = link_params(g, cfg, node_delay_s=np.zeros(4))
        depart = T0 + 2.0 * np.arange(120)
        return simulate_links(links, Trips.from_routes(depart, [[0, 1, 2]] * 120), cfg), links

    short, links = run(75.0)                  # B holds 10 vehicles
    long, _ = run(1500.0)                     # B holds 200: the whole queue
    assert links.storage_veh[:2].tolist() == [20.0, 10.0]
    # the long B holds the queue: A stays at free flow
    assert long.link_time_s[0, 5] == pytest.approx(15.0)
    assert long.spillback_s[0] == 0
    # the short B fills and the queue spills back onto A: A's time rises, A fills
    assert short.link_time_s[0, 5] > 10 * 15.0
    assert short.spillback_s[1] > 0
    assert short.spillback_s[0] > 0
    # B never holds more than its storage; throughput is B's capacity either way
    on_b = _max_occupancy(short.enter_s[1::3], short.exit_s[1::3])
    assert on_b == 10
    assert short.link_entries[2, 5] == long.link_entries[2, 5] == 120
    assert np.nanmax(short.arrive_s) == pytest.approx(np.nanmax(long.arrive_s) - 140, abs=2)


def _max_occupancy(enter: np.ndarray, leave: np.ndarray) -> int:
    times = np.concatenate([enter, leave])
    delta = np.concatenate([np.ones(enter.size), -np.ones(leave.size)])
    order = np.lexsort((delta, times))         # leave before enter at equal times
    return int(np.cumsum(delta[order]).max())


@pytest.mark.parametrize("kernel", KERNELS)
def test_signals_reduce_throughput_adaptive_less(kernel: str) -> None:
    # four identical links ending at nodes with different control, saturated for an hour
    controls = {"e1": "none", "e2": "signal", "e3": "adaptive_signal", "e4": "roundabout"}
    edges = [(f"s{i}", f"e{i}", 100, 36, 900, 1) for i in range(1, 5)]
    g = _graph(edges, controls)
    cfg = _config(kernel)
    links = link_params(g, cfg)
    n = 1200
    depart = np.tile(T0 + 3600.0 * np.arange(n) / n, 4)
    trips = Trips.from_routes(depart, [[k] for k in range(4) for _ in range(n)])
    res = simulate_links(links, trips, cfg)
    served = np.array([np.count_nonzero(res.arrive_s[k * n:(k + 1) * n] < T0 + 3600)
                       for k in range(4)])
    assert served[0] > served[3] > served[2] > served[1]
    assert served[0] == pytest.approx(900, abs=4)
    assert served[1] / served[0] == pytest.approx(0.6, abs=0.01)
    assert served[2] / served[0] == pytest.approx(0.72, abs=0.01)
    assert served[3] / served[0] == pytest.approx(0.8, abs=0.01)
    # and they add delay: the first vehicle through each node
    first = res.arrive_s[::n] - T0
    assert first.tolist() == pytest.approx([10.0, 22.0, 17.0, 14.0])


@pytest.mark.parametrize("kernel", KERNELS)
def test_fifo_on_every_link(kernel: str) -> None:
    g = _grid(4)
    cfg = _config(kernel)
    links = link_params(g, cfg)
    trips = _random_trips(g, links, 800, seed=3, spread_s=600)
    res = simulate_links(links, trips, cfg, end_s=T0 + 7200)
    assert res.spillback_s.max() > 0         # congested, squeezes included
    for k in range(g.n_links):
        on = np.flatnonzero((trips.route_links == k) & ~np.isnan(res.exit_s))
        order = np.lexsort((res.exit_s[on], res.enter_s[on]))
        assert np.all(np.diff(res.exit_s[on][order]) >= 0), f"link {k} overtakes"
        assert np.all(res.exit_s[on] - res.enter_s[on] >= links.fft_s[k] - 1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_conservation(kernel: str) -> None:
    g = _grid(4)
    cfg = _config(kernel)
    links = link_params(g, cfg)
    trips = _random_trips(g, links, 1500, seed=5, spread_s=900)
    res = simulate_links(links, trips, cfg, end_s=T0 + 900)   # cut off mid-rush
    entered = ~np.isnan(res.enter_s)
    left = ~np.isnan(res.exit_s)
    assert not np.any(left & ~entered)
    assert res.unfinished == np.count_nonzero(np.isnan(res.arrive_s)) > 0
    # a trip still out is on exactly one link, or still waiting to enter its first
    trip_of = np.repeat(np.arange(trips.n), np.diff(trips.route_ptr))
    on_link = np.bincount(trip_of[entered & ~left], minlength=trips.n)
    out = np.isnan(res.arrive_s)
    started = np.bincount(trip_of[entered], minlength=trips.n) > 0
    assert np.all(on_link[out & started] == 1)
    assert np.all(on_link[~out] == 0)
    # per link: entries = exits + vehicles still on it
    ent = np.bincount(trips.route_links[entered], minlength=g.n_links)
    ext = np.bincount(trips.route_links[left], minlength=g.n_links)
    still = np.bincount(trips.route_links[entered & ~left], minlength=g.n_links)
    assert np.array_equal(ent, ext + still)
    assert res.link_entries.sum(axis=1).tolist() == ent.tolist()


def test_deterministic_and_kernels_agree() -> None:
    g = _grid(5, length=30.0, cap=400.0)
    links = link_params(g, load_engine_config())
    trips = _random_trips(g, links, 3000, seed=11, spread_s=1200)
    runs = [simulate_links(links, trips, _config(k, stuck_s=120.0), end_s=T0 + 5400)
            for k in ("numba", "numba", "numpy")]
    assert runs[0].squeezed > 0                  # congested enough to squeeze
    for other in runs[1:]:
        for name in ("arrive_s", "enter_s", "exit_s", "link_time_s", "spillback_s"):
            assert np.array_equal(getattr(runs[0], name), getattr(other, name),
                                  equal_nan=True), name
        assert np.array_equal(runs[0].link_entries, other.link_entries)
        assert (runs[0].squeezed, runs[0].steps, runs[0].unfinished) == \
            (other.squeezed, other.steps, other.unfinished)


@pytest.mark.parametrize("kernel", KERNELS)
def test_deadlock_resolved_by_stuck_time(kernel: str) -> None:
    # two one-vehicle links in a loop, each vehicle wanting the other's link
    g = _graph([("a", "b", 7.5, 36, 3600, 1), ("b", "a", 7.5, 36, 3600, 1)])
    cfg = _config(kernel, stuck_s=60.0)
    links = link_params(g, cfg)
    assert links.storage_veh.tolist() == [1.0, 1.0]
    res = simulate_links(links, Trips.from_routes([T0, T0], [[0, 1], [1, 0]]), cfg)
    assert res.squeezed == 2
    assert res.arrive_s.tolist() == pytest.approx([T0 + 0.75 + 60 + 0.75] * 2, abs=1.0)


@pytest.mark.parametrize("kernel", KERNELS)
def test_waiting_departures_need_storage(kernel: str) -> None:
    # 10 vehicles depart together onto a 2-vehicle link: they enter as space frees
    g = _graph([("a", "b", 15, 36, 3600, 1)])
    cfg = _config(kernel)
    links = link_params(g, cfg)
    res = simulate_links(links, Trips.from_routes([T0 + 0.5] * 10, [[0]] * 10), cfg)
    first = res.enter_s
    assert first[:2].tolist() == [T0 + 0.5, T0 + 0.5]
    assert np.all(np.diff(first) >= 0)
    assert np.all(np.diff(res.arrive_s) >= 1.0 - 1e-9)      # 3600 veh/h: one a second


def test_progress_reports_the_clock() -> None:
    g = _graph([("a", "b", 100, 36, 1800, 1)])
    seen: list[float] = []
    trips = Trips.from_routes(T0 + 30.0 * np.arange(20), [[0]] * 20)
    simulate_links(link_params(g, load_engine_config()), trips, load_engine_config(),
                   end_s=T0 + 3600, progress=seen.append)
    assert len(seen) >= 9
    assert seen == sorted(seen)
    assert all(T0 < s <= T0 + 3600 for s in seen)


def test_trips_helpers() -> None:
    t = Trips.from_routes([1.0, 2.0, 3.0], [[0, 1], [], [2]])
    assert t.n == 3
    assert t.route_ptr.tolist() == [0, 2, 2, 3]
    s = t.sample(np.array([True, False, True]))
    assert s.route_ptr.tolist() == [0, 2, 3]
    assert s.route_links.tolist() == [0, 1, 2]
    assert s.depart_s.tolist() == [1.0, 3.0]


def test_simulate_errors() -> None:
    g = _graph([("a", "b", 100, 36, 1800, 1), ("b", "c", 100, 36, 1800, 1),
                ("a", "c", 100, 36, 1800, 1)])
    cfg = load_engine_config()
    links = link_params(g, cfg)
    with pytest.raises(SimulationError, match="jumps from link 1 to link 0"):
        simulate_links(links, Trips.from_routes([T0], [[1, 0]]), cfg)
    with pytest.raises(SimulationError, match="trip 1 uses link 7, but the network has 3"):
        simulate_links(links, Trips.from_routes([T0, T0], [[0], [7]]), cfg)
    with pytest.raises(SimulationError, match="route_ptr must have n_trips"):
        simulate_links(links, Trips(np.array([T0]), np.array([0, 2]), np.array([0])), cfg)
    with pytest.raises(SimulationError, match="trip 0 has no departure time"):
        simulate_links(links, Trips.from_routes([np.nan], [[0]]), cfg)
    with pytest.raises(SimulationError, match=r"end_s \(18000.0\) must be after start_s"):
        simulate_links(links, Trips.from_routes([T0], [[0]]), cfg, start_s=T0, end_s=T0)
    closed = link_params(g, cfg, capacity_scale=[1, 1, 0])
    with pytest.raises(SimulationError, match="routed over closed link 2"):
        simulate_links(closed, Trips.from_routes([T0, T0], [[0, 1], [2]]), cfg)


# ------------------------------------------------------------------ capacity by hour
H = 3600.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_link_closed_7_to_9_lets_nobody_in_then(kernel: str) -> None:
    # two 60 s links a-b-c; b-c is closed in hours 7 and 8
    g = _graph([("a", "b", 600, 36, 1800, 1), ("b", "c", 600, 36, 1800, 1)])
    cfg = _config(kernel)
    links = link_params(g, cfg, hourly_capacity=[([1], [7, 8], 0.0)])
    assert links.closed_by_hour()[1].tolist() == [h in (7, 8) for h in range(24)]
    assert not links.closed.any()
    dep = [6 * H + 3540,    # reaches b-c at 07:00:00: held on a-b until it reopens
           6 * H + 3570,    # on b-c when it closes: leaves it at 07:00:30 as planned
           7.5 * H,         # departs onto the closed link: waits beside it until 09:00
           10 * H]          # after the closure: free flow
    res = simulate_links(links, Trips.from_routes(dep, [[0, 1], [1], [1], [1]]), cfg,
                         end_s=14 * H)
    assert (res.arrive_s - 6 * H).tolist() == [3 * H + 62, 3630, 3 * H + 60, 4 * H + 60]
    assert res.enter_s[1] == 9 * H + 1            # held for the stuck time and more: no squeeze
    assert res.squeezed == 0
    assert res.link_entries[1, 7:9].sum() == 0
    assert res.link_entries[1].tolist()[6:11] == [1, 0, 0, 2, 1]


@pytest.mark.parametrize("kernel", KERNELS)
def test_dark_signals_lower_throughput_only_in_their_hour(kernel: str) -> None:
    # 1,500 veh/h for a 1,800 veh/h road into a signal (x 0.6 = 1,080 veh/h); dark at 08-09
    g = _graph([("a", "b", 300, 36, 1800, 1), ("b", "c", 300, 36, 3600, 2)], {"b": "signal"})
    cfg = _config(kernel)
    dark = link_params(g, cfg, hourly_node_factor=[([1], [8], cfg.dark_signal_factor)],
                       hourly_node_delay_s=[([1], [8], cfg.dark_signal_delay_s)])
    assert (dark.hour_cap_per_s[0, [7, 8, 9]] * 3600).round(6).tolist() == [1080, 720, 1080]
    assert dark.hour_fft_s[0, [7, 8]].tolist() == [42.0, 40.0]   # 30 s + 12 s, + 10 s dark
    n = 6000
    trips = Trips.from_routes(6 * H + np.arange(n) * (4 * H / n), [[0, 1]] * n)
    res = simulate_links(dark, trips, cfg, end_s=14 * H)
    base = simulate_links(link_params(g, cfg), trips, cfg, end_s=14 * H)
    assert res.link_entries[1, 6:12].tolist() == [1068, 1080, 720, 1080, 1080, 972]
    assert base.link_entries[1, 6:12].tolist() == [1068, 1080, 1080, 1080, 1080, 612]
    assert res.link_time_s[0, 13] == 42.0                         # no entries: free flow


def test_hourly_changes_kernels_agree() -> None:
    g = _grid(5, length=30.0, cap=400.0)
    cfg = load_engine_config()
    rng = np.random.default_rng(3)
    shut = rng.choice(g.n_links, 6, replace=False)
    signals = np.flatnonzero(np.asarray(g.control) == "signal")
    links = link_params(g, cfg, hourly_capacity=[(shut, [5], 0.0), (shut[:3], [6], 0.5)],
                        hourly_node_factor=[(signals, [5, 6], cfg.dark_signal_factor)],
                        hourly_node_delay_s=[(signals, [5, 6], cfg.dark_signal_delay_s)])
    trips = _random_trips(g, link_params(g, cfg), 3000, seed=12, spread_s=2.5 * H)
    runs = [simulate_links(links, trips, _config(k, stuck_s=120.0), end_s=T0 + 4 * H)
            for k in ("numba", "numpy")]
    assert runs[0].squeezed > 0
    for name in ("arrive_s", "enter_s", "exit_s", "link_time_s", "spillback_s"):
        assert np.array_equal(getattr(runs[0], name), getattr(runs[1], name),
                              equal_nan=True), name
    assert np.array_equal(runs[0].link_entries, runs[1].link_entries)
    assert (runs[0].squeezed, runs[0].steps) == (runs[1].squeezed, runs[1].steps)
    assert runs[0].link_entries[shut, 5].sum() == 0


def test_hourly_values_dense_sparse_and_errors() -> None:
    g = _graph([("a", "b", 100, 36, 1800, 1), ("b", "c", 100, 36, 1800, 1)])
    cfg = load_engine_config()
    dense = np.ones((2, 24))
    dense[0, 7] = 0.5
    a = link_params(g, cfg, hourly_capacity=dense)
    b = link_params(g, cfg, hourly_capacity=[(0, 7, 0.5)])
    assert np.array_equal(a.hour_cap_per_s, b.hour_cap_per_s)
    assert a.hour_cap_per_s[0, 7] == pytest.approx(0.25)
    assert link_params(g, cfg).hour_cap_per_s is None
    for kwargs, message in [
        ({"hourly_capacity": np.ones((2, 23))}, r"hourly_capacity: expected an array of "
                                                r"shape \(2, 24\), got \(2, 23\)"),
        ({"hourly_capacity": [([5], [7], 0.0)]}, "entry 0 has index 5 outside 0..1"),
        ({"hourly_capacity": [([0], [24], 0.0)]}, "entry 0 has hour 24 outside 0..23"),
        ({"hourly_capacity": [([0], [7], -1.0)]}, r"finite and >= 0; row 0 hour 7 is -1.0"),
        ({"hourly_capacity": [(0, 7)]}, r"entry 0 must be \(indices, hours, value\)"),
        ({"hourly_node_factor": [([1], [8], 0.0)]}, r"hourly_node_factor: .* > 0; row 1 "),
        ({"hourly_node_delay_s": [([1], [8], np.nan)]}, "hourly_node_delay_s: values must"),
    ]:
        with pytest.raises(SimulationError, match=message):
            link_params(g, cfg, **kwargs)
