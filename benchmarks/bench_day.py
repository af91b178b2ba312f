"""A simulated day: twin's queue-based mobility engine vs UXsim, and the whole day pipeline.

Networks: the synthetic city ``synthetic_twin(residents, seed=1)``; 100,000 residents give
10,173 nodes and 39,960 directed links of 50 m.

Engine demand (generated here, the same for twin and UXsim): homes weighted by the buildings'
residents, workplaces and errand places by their jobs; 45% of residents commute by car
(home->work around 07:45, back around 17:15) and 20% make a car errand tour (out 09:00-19:00,
back 30-120 minutes later): about 1.3 car trips per resident. Routes: free-flow shortest paths
(``twin.network.routing.route_pairs`` on the engine's link times, signal delays included),
all-or-nothing, so the arterials into the centre congest and spill back.

Rows:

- ``engine``: ``simulate_links`` on every trip (one vehicle per trip), 05:00-24:00, numba
  kernel; the peer is the same engine with its numpy reference kernel (identical results).
- ``vs UXsim (python)`` / ``vs UXsim (C++)``: the same kind of demand at UXsim's granularity on
  a city small enough for UXsim (see below). UXsim moves platoons of ``deltan = 5`` vehicles;
  twin runs every fifth trip (in departure order) with flow and storage capacity x 0.2 (what
  ``--sample 0.2`` does). Both are credited 5 vehicle-trips per simulated platoon/agent. UXsim
  gets the same nodes, links (length, speed, lanes, jam density 1 / 7.5 m per lane), outflow
  capacity (``capacity_out`` = twin's signal-reduced capacity), and one ``addVehicle`` per
  platoon at the same origin node, destination node and departure; route updates are off
  (``duo_update_time`` beyond the day) so both drive free-flow shortest paths; vehicle logging
  off. Ratio: twin's vehicle-trips per wall second over UXsim's (above 1: twin faster).
- UXsim on the 100,000-resident city: its memory grows with links x time steps (four float64
  curves per link per step) plus nodes x links (route preferences) plus nodes^2 (routing
  matrices): ~10.8 GB estimated for the C++ engine on 05:00-10:00 alone, and a trial passed
  15 GB of RSS while building the scenario (stopped there). The row reports the estimate; only
  when 1.5x it fits in half the free memory does UXsim C++ run the morning 05:00-10:00 on the
  full city against twin on the same window.
- ``pipeline``: ``twin.agents.simulate`` on the 100,000-resident twin (population, plans,
  external demand, routing, mode choice, engine, route learning), 1 iteration and the default
  iterations, each in a fresh process (wall time and peak RSS of that process).

Wall times on a shared machine vary with its load: CPU seconds are reported beside them.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import row

from twin.agents.mobility import (
    EngineResult,
    LinkState,
    Trips,
    link_params,
    load_engine_config,
    simulate_links,
)
from twin.layers.synthetic import synthetic_twin
from twin.network.roads import RoadGraph, road_graph
from twin.network.routing import nearest_nodes, route_pairs

START, END = 5 * 3600.0, 24 * 3600.0
DELTAN = 5
ROOT = Path(__file__).resolve().parents[1]
PIPELINE_TIMEOUT_S = 3600


@dataclass
class City:
    """Network and vehicle demand of one benchmark city."""

    residents: int
    graph: RoadGraph
    links: LinkState
    origin: np.ndarray
    dest: np.ndarray
    trips: Trips


def make_city(residents: int, seed: int = 1) -> City:
    """The synthetic city of ``residents`` and its generated, routed vehicle trips."""
    twin = synthetic_twin(residents, seed=seed)
    graph = road_graph(twin.layers["roads"], twin.layers["road_nodes"])
    links = link_params(graph, load_engine_config())
    b = twin.layers["buildings"]
    centroid = b.geometry.centroid
    node, _ = nearest_nodes(graph.xy, np.column_stack([centroid.x, centroid.y]))
    rng = np.random.default_rng(seed)
    res = b["residents"].to_numpy(dtype=float)
    jobs = b["jobs"].to_numpy(dtype=float)
    n_comm = round(0.45 * residents)
    n_err = round(0.20 * residents)
    home = node[rng.choice(len(b), n_comm + n_err, p=res / res.sum())]
    work = node[rng.choice(len(b), n_comm, p=jobs / jobs.sum())]
    errand = node[rng.choice(len(b), n_err, p=jobs / jobs.sum())]
    am = np.clip(rng.normal(7.75, 0.75, n_comm), 5.0, 11.0) * 3600
    pm = np.clip(rng.normal(17.25, 1.0, n_comm), 14.0, 22.0) * 3600
    out = rng.uniform(9.0, 19.0, n_err) * 3600
    back = out + rng.uniform(1800, 7200, n_err)
    hc, he = home[:n_comm], home[n_comm:]
    origin = np.concatenate([hc, work, he, errand])
    dest = np.concatenate([work, hc, errand, he])
    depart = np.concatenate([am, pm, out, back])
    keep = origin != dest
    origin, dest, depart = origin[keep], dest[keep], depart[keep]
    paths = route_pairs(graph, origin, dest, cost=links.fft_s)
    ok = paths.found
    trips = Trips(depart_s=depart, route_ptr=paths.ptr, route_links=paths.links).sample(ok)
    return City(residents, graph, links, origin[ok], dest[ok], trips)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _every(depart: np.ndarray, k: int, window: tuple[float, float]) -> np.ndarray:
    """Mask of every ``k``-th trip in departure order among those departing in ``window``."""
    inside = np.flatnonzero((depart >= window[0]) & (depart < window[1]))
    order = inside[np.argsort(depart[inside], kind="stable")]
    keep = np.zeros(depart.size, dtype=bool)
    keep[order[::k]] = True
    return keep


def run_twin(city: City, *, sample: float = 1.0, kernel: str = "numba",
             window: tuple[float, float] = (START, END)) -> tuple[EngineResult, int, float]:
    """The engine on the trips departing in ``window`` (every ``1/sample``-th, capacity scaled).

    Returns the result, the agents simulated and the CPU seconds.
    """
    config = load_engine_config(kernel=kernel)
    keep = _every(city.trips.depart_s, round(1 / sample), window)
    links = city.links if sample == 1.0 else link_params(
        city.graph, config, flow_factor=sample, storage_factor=sample)
    trips = city.trips.sample(keep)
    c0 = time.process_time()
    res = simulate_links(links, trips, config, start_s=window[0], end_s=window[1])
    return res, trips.n, time.process_time() - c0


def uxsim_memory_gb(city: City, window: tuple[float, float] = (START, END)) -> float:
    """UXsim's main arrays for ``city``: link curves, route preferences, routing matrices."""
    steps = (window[1] - window[0]) / DELTAN
    n_l, n_n = city.graph.n_links, city.graph.n_nodes
    return (n_l * steps * 4 * 8 + n_n * n_l * 8 + n_n * n_n * 28) / 1e9


def run_uxsim(city: City, *, cpp: bool, window: tuple[float, float] = (START, END)
              ) -> tuple[float, float, int, int]:
    """UXsim on the same network and platoon demand: (wall s, CPU s, platoons, unfinished)."""
    import uxsim

    g, ls = city.graph, city.links
    duration = window[1] - window[0]
    world = uxsim.World(name="", deltan=DELTAN, tmax=duration, print_mode=0, save_mode=0,
                        show_mode=0, random_seed=0, duo_update_time=10 * duration,
                        vehicle_logging_timestep_interval=-1, cpp=cpp)
    for i in range(g.n_nodes):
        world.addNode(f"n{i}", float(g.xy[i, 0]), float(g.xy[i, 1]))
    for k in range(g.n_links):
        world.addLink(f"l{k}", f"n{g.from_node[k]}", f"n{g.to_node[k]}",
                      length=float(g.length_m[k]), free_flow_speed=float(g.speed_mps[k]),
                      number_of_lanes=int(g.lanes[k]), jam_density_per_lane=1 / 7.5,
                      capacity_out=float(ls.flow_cap_per_s[k]))
    idx = np.flatnonzero(_every(city.trips.depart_s, DELTAN, window))
    for i in idx:
        world.addVehicle(f"n{city.origin[i]}", f"n{city.dest[i]}",
                         float(city.trips.depart_s[i] - window[0]))
    w0, c0 = time.perf_counter(), time.process_time()
    world.exec_simulation()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    vehicles = list(world.VEHICLES.values())
    unfinished = sum(1 for v in vehicles if v.state != "end")
    return wall, cpu, len(vehicles), unfinished


def _warm_up() -> None:
    """Load the compiled kernel (numba's cache) outside the timings."""
    links = LinkState(fft_s=np.array([1.0]), flow_cap_per_s=np.array([1.0]),
                      storage_veh=np.array([1.0]), from_node=np.array([0]),
                      to_node=np.array([1]))
    simulate_links(links, Trips.from_routes([START], [[0]]), load_engine_config(),
                   end_s=START + 10)


def _engine_row(city: City, repeat: int) -> dict[str, Any]:
    _warm_up()
    runs = [run_twin(city) for _ in range(max(1, repeat))]
    res, n, _ = runs[-1]
    wall = float(np.median([r[0].wall_s for r in runs]))
    cpu = float(np.median([r[2] for r in runs]))
    ref, _, ref_cpu = run_twin(city, kernel="numpy")
    same = bool(np.array_equal(ref.arrive_s, res.arrive_s, equal_nan=True))
    tt = res.arrive_s - city.trips.depart_s
    ff = np.add.reduceat(city.links.fft_s[city.trips.route_links], city.trips.route_ptr[:-1])
    return row("day", "engine vehicle-trips per wall s (05-24h, 1 vehicle per trip)", n / wall,
               "twin numpy kernel", n / ref.wall_s, ratio=ref.wall_s / wall,
               residents=city.residents, links=city.links.n_links, trips=n,
               route_links=int(city.trips.route_links.size), engine_wall_s=round(wall, 2),
               engine_cpu_s=round(cpu, 2), numpy_wall_s=round(ref.wall_s, 2),
               numpy_cpu_s=round(ref_cpu, 2), kernels_identical=same, steps=res.steps,
               unfinished=res.unfinished, squeezed=res.squeezed,
               mean_trip_min=round(float(np.nanmean(tt)) / 60, 2),
               mean_free_flow_min=round(float(ff.mean()) / 60, 2),
               spillback_link_hours=round(float(res.spillback_s.sum()) / 3600, 1),
               peak_rss_mb=round(_maxrss_mb()))


def _uxsim_rows(city: City, window: tuple[float, float], label: str, *,
                python: bool = True) -> list[dict[str, Any]]:
    res, n, cpu = run_twin(city, sample=1 / DELTAN, window=window)
    vt = n * DELTAN
    rate = vt / res.wall_s
    rows = []
    for cpp in ([False, True] if python else [True]):
        wall, ucpu, platoons, unfinished = run_uxsim(city, cpp=cpp, window=window)
        peer = "UXsim C++ (cpp=True)" if cpp else "UXsim python"
        rows.append(row("day", f"vehicle-trips per wall s, {label}, deltan=5 vs sample 0.2",
                        rate, peer, platoons * DELTAN / wall,
                        ratio=rate / (platoons * DELTAN / wall), residents=city.residents,
                        links=city.links.n_links, window_h=[window[0] / 3600, window[1] / 3600],
                        vehicle_trips=vt, twin_agents=n, twin_wall_s=round(res.wall_s, 3),
                        twin_cpu_s=round(cpu, 3), twin_unfinished=res.unfinished,
                        peer_platoons=platoons, peer_wall_s=round(wall, 2),
                        peer_cpu_s=round(ucpu, 2), peer_unfinished=unfinished,
                        peer_memory_estimate_gb=round(uxsim_memory_gb(city, window), 2),
                        peak_rss_mb=round(_maxrss_mb())))
    return rows


_PIPELINE = """
import gc, json, resource, sys, time
from twin.layers.synthetic import synthetic_twin
from twin.agents.simulate import simulate

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024

tw = synthetic_twin(int(sys.argv[1]), seed=1)
for it in map(int, sys.argv[2:]):
    gc.collect()
    open("/proc/self/clear_refs", "w").write("5")   # restart the peak-RSS count here
    base = peak_mb()
    w, c = time.perf_counter(), time.process_time()
    r = simulate(tw, seed=1, iterations=it)
    print(json.dumps({"iterations": it, "wall_s": time.perf_counter() - w,
                      "cpu_s": time.process_time() - c, "rss_mb": peak_mb(),
                      "rss_before_mb": base,
                      "process_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "timings": r.timings, "engine": r.run["engine"],
                      "counts": r.run["counts"], "gaps": r.gaps}), flush=True)
"""


def _pipeline(residents: int, iterations: list[int]) -> list[dict[str, Any]]:
    """``simulate`` in a fresh process, 1 iteration then the default: wall, CPU, peak RSS.

    The peak RSS (VmHWM) is restarted before each run (``/proc/self/clear_refs``), so it is
    the peak while simulating, the generated twin's layers included (as ``twin simulate``
    holds the twin read from its file); ``process_rss_mb`` is the process's peak including
    the generation of the twin.
    """
    try:
        out = subprocess.run([sys.executable, "-c", _PIPELINE, str(residents),
                              *map(str, iterations)], capture_output=True, text=True,
                             cwd=ROOT, check=True, timeout=PIPELINE_TIMEOUT_S)
        stdout = out.stdout
    except subprocess.TimeoutExpired as err:
        stdout = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    done = {r["iterations"] for r in rows}
    rows += [{"iterations": it, "timed_out_s": PIPELINE_TIMEOUT_S} for it in iterations
             if it not in done]
    return rows


def _pipeline_rows(residents: int) -> list[dict[str, Any]]:
    from twin.agents.model import CityModel

    default = CityModel.__init__.__kwdefaults__["iterations"]
    rows = []
    for p in _pipeline(residents, sorted({1, int(default)})):
        it = p["iterations"]
        if "timed_out_s" in p:
            rows.append(row("day", f"simulate {residents:,} residents, {it} iteration(s): wall s",
                            float("nan"), "issue 3 bar (120 s, 4 GB)", 120.0, ratio=0.0,
                            timed_out_s=p["timed_out_s"]))
            continue
        rows.append(row("day", f"simulate {residents:,} residents, {it} iteration(s): wall s",
                        p["wall_s"], "issue 3 bar (120 s, 4 GB)", 120.0,
                        cpu_s=round(p["cpu_s"], 1), peak_rss_mb=round(p["rss_mb"]),
                        rss_before_mb=round(p["rss_before_mb"]),
                        process_peak_rss_mb=round(p["process_rss_mb"]),
                        under_4gb=p["rss_mb"] < 4096, timings=p["timings"],
                        engine=p["engine"], counts=p["counts"],
                        gaps=[round(g, 4) for g in p["gaps"]],
                        car_trips_per_wall_s=round(p["counts"]["car_trips"] * it
                                                   / p["timings"]["engine_s"], 1)))
    return rows


def _free_memory_gb() -> float:
    with open("/proc/meminfo") as fh:
        info = dict(line.split(":", 1) for line in fh)
    return float(info["MemAvailable"].split()[0]) / 1e6


def bench_day(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """A simulated day of the synthetic city: twin's engine vs UXsim (Python and C++)."""
    full = make_city(1_000 if quick else 100_000)
    rows = [_engine_row(full, repeat)]
    # UXsim side by side: a city it fits, the whole day (quick: 1,000 residents, 07:00-07:30)
    small = full if quick else make_city(10_000)
    window = (7 * 3600.0, 7.5 * 3600.0) if quick else (START, END)
    rows += _uxsim_rows(small, window, f"{small.residents:,}-resident city")
    # the full city: UXsim C++ on the morning if its arrays fit in half the free memory
    am = (START, 10 * 3600.0)
    if quick:
        return rows + _pipeline_rows(1_000)
    need = uxsim_memory_gb(full, am)
    if 1.5 * need < _free_memory_gb() / 2:   # measured: RSS passed 1.4x the estimate
        rows += _uxsim_rows(full, am, f"{full.residents:,}-resident city 05-10h", python=False)
    else:
        rows.append(row("day", f"UXsim on the {full.residents:,}-resident city", float("nan"),
                        "UXsim C++", float("nan"), ratio=float("nan"), not_run=(
                            f"needs ~{need:.1f} GB for 05-10h, "
                            f"~{uxsim_memory_gb(full):.1f} GB for the day; "
                            f"{_free_memory_gb():.1f} GB free")))
    rows += _pipeline_rows(100_000)
    return rows


BENCHMARKS = {"day": bench_day}
