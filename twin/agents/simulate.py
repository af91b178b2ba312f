"""Simulate one representative weekday of a twin and write its results.

:func:`simulate` builds a :class:`~twin.agents.model.CityModel`, runs its learning iterations
and returns a :class:`DayResult`: the mobility KPIs, one row per trip, one row per road link and
hour, the activities (who is where, when: for building occupancy and facility visits), the
relative gap per iteration, timings and the agents that could not be routed (with reasons).
After the mobility day the power and water networks are solved for the day's demand (when the
twin has them, :mod:`twin.agents.utility_day`), then every registered day analysis
(:func:`register_day_analysis`, see :mod:`twin.agents.analysis`) adds its KPIs and tables.
:func:`write_day` writes ``kpis.json``, ``trips.parquet``, ``links.gpkg``, ``activities.parquet``,
``hourly.csv``, ``run.json``, the utility results (``power.parquet``, ``water.parquet``,
``utilities.gpkg``) and one ``<table>.parquet`` per analysis table, each atomically (temporary
file, then rename).

The same twin and seed give byte-identical ``kpis.json`` and ``trips.parquet``.

Examples
--------
>>> # res = simulate(read_twin("demo.twin.gpkg"), seed=1); write_day(res, "out")
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from twin import __version__
from twin.agents.analysis import (
    DayAnalysis,
    day_analyses,
    register_day_analysis,
    run_analyses,
    unregister_day_analysis,
)
from twin.agents.kpis import KPI_UNITS, mobility_kpis
from twin.agents.model import CityModel
from twin.agents.utility_day import solve_utilities
from twin.layers.store import Twin, file_hash
from twin.network.routing import path_costs

__all__ = ["BUILTIN_ANALYSES", "AssignedDay", "DayAnalysis", "DayResult", "assign_agents",
           "atomic_write", "day_analyses", "register_day_analysis", "simulate",
           "unregister_day_analysis", "write_assigned", "write_day"]

#: Modules that register day analyses when imported; :func:`simulate` imports those present
#: (so a Dask worker or a fresh process runs the same analyses as the caller).
BUILTIN_ANALYSES = ("twin.agents.services", "twin.agents.emergency")


@dataclass
class DayResult:
    """The outcome of :func:`simulate`.

    Attributes
    ----------
    kpis : dict
        KPI name -> value (units in :data:`twin.agents.kpis.KPI_UNITS`).
    trips : DataFrame
        One row per trip: agent, kind, purpose, mode, origin, destination, depart, arrive,
        duration, distance, free_flow, resident, commute, route (link ids).
    link_hours : DataFrame
        One row per directed road link and simulated hour: link_id, road_id, hour, volume,
        capacity_vph (effective in that hour: signals, dark signals; 0 while closed), vc,
        speed_kph, free_speed_kph, congested, length_m, highway, closed (no entry that hour).
    activities : DataFrame
        agent, activity, place_kind, place_id, start_s, end_s (not through traffic).
    online_visits : DataFrame
        agent, place_id: the service-centre visits done online (e-services; no trip).
    hourly : DataFrame
        The model's DataCollector: one row per simulated hour.
    gaps : list of float
        Relative gap after each iteration.
    timings : dict
        Seconds spent per phase, and ``total_s``.
    unrouted : dict
        Reason -> number of agents (or through trips) that could not be routed, and of agents
        whose work / school place could not be found.
    link_geometry : GeoSeries
        Road geometry per link id (reversed for the ``:rev`` direction).
    run : dict
        Seed, version, input hash, iterations, sample, counts, engine figures, and per day
        analysis the KPIs and tables it added.
    tables : dict
        Result tables of the day analyses, by name (written as ``<name>.parquet``).
    utilities : UtilityResult or None
        Hourly power and water results (:func:`twin.network.utilities.solve_day`), None when
        not solved.
    """

    kpis: dict[str, float]
    trips: pd.DataFrame
    link_hours: pd.DataFrame
    activities: pd.DataFrame
    hourly: pd.DataFrame
    gaps: list[float]
    timings: dict[str, float]
    unrouted: dict[str, int]
    link_geometry: gpd.GeoSeries
    run: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    utilities: Any = None
    online_visits: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"agent": pd.Series([], dtype=str), "place_id": pd.Series([], dtype=str)}))

    @property
    def unrouted_agents(self) -> int:
        """Number of agents that could not be routed or placed."""
        return int(sum(self.unrouted.values()))


def _load_builtin_analyses() -> None:
    for name in BUILTIN_ANALYSES:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name)


def simulate(twin: Twin, *, seed: int, iterations: int = 5, sample: float = 1.0,
             progress: Callable[[int, float], None] | None = None,
             analyses: Sequence[str] | None = None, utilities: bool = True,
             **model_options: Any) -> DayResult:
    """Simulate one representative weekday of ``twin``.

    Parameters
    ----------
    twin : Twin
    seed : int
        Every random draw comes from it.
    iterations : int
        Route-learning iterations (simulated days); the results are the last one's.
    sample : float
        Share of the population simulated (0 < sample <= 1).
    progress : callable, optional
        ``progress(iteration, clock_s)`` during the simulation.
    analyses : sequence of str, optional
        Day analyses to run after the mobility day (default: every registered one, see
        :func:`register_day_analysis`; ``()`` for none).
    utilities : bool
        Solve the power and water networks for the day (when the twin has them).
    **model_options
        Passed to :class:`~twin.agents.model.CityModel` (configs, ``capacity_scale``,
        ``node_factor``, ``start_h``, ``end_h``).

    Returns
    -------
    DayResult

    Raises
    ------
    SimulationError
        No roads, no residents, invalid parameters, nobody could be routed, an unknown or
        failing day analysis.

    Examples
    --------
    >>> # simulate(read_twin("demo.twin.gpkg"), seed=7, iterations=5).kpis["co2_t"]
    """
    t_start = time.perf_counter()
    _load_builtin_analyses()
    model = CityModel(twin, seed=seed, iterations=iterations, sample=sample, progress=progress,
                      **model_options)
    model.run()
    t0 = time.perf_counter()
    trips = _trips(model)
    link_hours = _link_hours(model)
    activities = _activities(model, trips)
    cfg = model.config.kpis
    unrouted = {**model.plans.unrouted, **model.population.unplaced}
    res = model.result
    assert res is not None
    kpis = mobility_kpis(trips, link_hours, sample=model.sample, end_s=model.end_s,
                         co2_g_per_vehicle_km=cfg["co2_g_per_vehicle_km"],
                         spillback_s=float(res.spillback_s.sum()),
                         unrouted_agents=round(sum(unrouted.values()) / model.sample))
    timings = {k: round(v, 3) for k, v in model.timings.items()}
    timings["results_s"] = round(time.perf_counter() - t0, 3)
    notes = list(model.notes)
    run: dict[str, Any] = {
        "seed": int(seed), "version": __version__, "iterations": int(iterations),
        "sample": float(sample), "start_h": model.start_s / 3600.0,
        "end_h": model.end_s / 3600.0, "gaps": [round(g, 6) for g in model.gaps],
        "input": str(twin.path) if twin.path else None,
        "input_hash": file_hash(twin.path) if twin.path and Path(twin.path).exists() else None,
        "counts": model.describe(), "unrouted": unrouted,
        "engine": {"unfinished": int(res.unfinished), "squeezed": int(res.squeezed),
                   "steps": int(res.steps)},
        "timings": timings, "notes": notes,
    }
    day = DayResult(kpis=kpis, trips=trips, link_hours=link_hours, activities=activities,
                    hourly=model.datacollector.get_model_vars_dataframe().reset_index(drop=True),
                    gaps=list(model.gaps), timings=timings, unrouted=unrouted,
                    link_geometry=_geometry(model, twin), run=run,
                    online_visits=pd.DataFrame({
                        "agent": model.plans.agent_id[model.plans.online_agent].astype(str),
                        "place_id": model.places.ids[model.plans.online_place].astype(str)}))
    if utilities:
        t0 = time.perf_counter()
        ud = solve_utilities(twin, activities, sample=model.sample)
        day.utilities = ud.result
        kpis.update(ud.kpis)
        run["utilities"] = ud.record
        notes.extend(ud.notes)
        timings["utilities_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    run["analyses"] = run_analyses(twin, day, seed, analyses)
    timings["analyses_s"] = round(time.perf_counter() - t0, 3)
    timings["total_s"] = round(time.perf_counter() - t_start, 3)
    return day


def _trips(model: CityModel) -> pd.DataFrame:
    p, g, res = model.plans, model.graph, model.result
    assert res is not None
    n = p.n_trips
    arrive = p.trip_depart_s + p.trip_time_s
    distance = p.trip_distance_m.copy()
    free_flow = np.full(n, np.nan)
    car = model.car_trips
    depart = p.trip_depart_s.copy()
    arrive[car] = res.arrive_s
    distance[car] = path_costs(model.route_ptr, model.route_links, g.length_m)
    free_flow[car] = model.free_flow_s()
    lens = np.zeros(n, np.int64)
    lens[car] = np.diff(model.route_ptr)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    first = np.zeros(n, np.int64)
    first[car] = model.route_ptr[:-1]
    # route links of every trip, in trip order (only car trips have any)
    starts = np.repeat(first - offsets[:-1], lens)
    links = model.route_links[starts + np.arange(int(offsets[-1]))] if offsets[-1] else \
        np.zeros(0, np.int64)
    # link ids dictionary-encoded: one string per link, an int32 per route element
    values = pa.DictionaryArray.from_arrays(pa.array(links.astype(np.int32)),
                                            pa.array(g.link_ids.astype(str), type=pa.string()))
    routes = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), values)
    prev = p.act_type[p.trip_act]
    commute = ((np.isin(p.trip_purpose, ["work", "school"])
                | np.isin(prev, ["work", "school"])) & (p.agent_kind[p.trip_agent] != "through"))
    places = model.places
    return pd.DataFrame({
        "agent": p.agent_id[p.trip_agent].astype(str),
        "kind": p.agent_kind[p.trip_agent].astype(str),
        "purpose": p.trip_purpose.astype(str),
        "mode": p.trip_mode.astype(str),
        "origin": places.ids[p.trip_origin].astype(str),
        "destination": places.ids[p.trip_dest].astype(str),
        "depart": depart,
        "arrive": arrive,
        "duration": arrive - depart,
        "distance": distance,
        "free_flow": free_flow,
        "resident": p.agent_resident[p.trip_agent],
        "commute": commute,
        "route": pd.arrays.ArrowExtensionArray(routes),
    })


def _link_hours(model: CityModel) -> pd.DataFrame:
    g, links, res = model.graph, model.links, model.result
    assert res is not None
    h0, h1 = int(model.start_s // 3600), int(np.ceil(model.end_s / 3600))
    hours = np.arange(h0, h1)
    nl = g.n_links
    entries = res.link_entries[:, h0:h1]
    cap = model.capacity_vph()[:, h0:h1]
    vc = model.link_vc()[:, h0:h1]
    t = res.link_time_s[:, h0:h1]
    free = g.length_m[:, None] / links.fft_by_hour()[:, h0:h1] * 3.6
    speed = np.where(entries > 0, g.length_m[:, None] / np.maximum(t, 1e-6) * 3.6, free)
    road_ids = model.road_ids
    return pd.DataFrame({
        "link_id": np.repeat(g.link_ids.astype(str), len(hours)),
        "road_id": np.repeat(road_ids, len(hours)),
        "hour": np.tile(hours, nl),
        "volume": (entries / model.sample).ravel(),
        "capacity_vph": (cap / model.sample).ravel(),
        "vc": vc.ravel(),
        "speed_kph": speed.ravel(),
        "free_speed_kph": free.ravel(),
        "congested": model.congested()[:, h0:h1].ravel(),
        "length_m": np.repeat(g.length_m, len(hours)),
        "highway": np.repeat(g.highway.astype(str), len(hours)),
        "closed": links.closed_by_hour()[:, h0:h1].ravel(),
    })


def _activities(model: CityModel, trips: pd.DataFrame) -> pd.DataFrame:
    p = model.plans
    start = np.zeros(len(p.act_agent))
    start[p.trip_act + 1] = trips["arrive"].to_numpy()
    end = np.maximum(p.act_end_s, start)
    keep = p.agent_kind[p.act_agent] != "through"
    places = model.places
    return pd.DataFrame({
        "agent": p.agent_id[p.act_agent].astype(str),
        "activity": p.act_type.astype(str),
        "place_kind": places.kind[p.act_place].astype(str),
        "place_id": places.ids[p.act_place].astype(str),
        "start_s": start,
        "end_s": end,
    })[keep].reset_index(drop=True)


def _geometry(model: CityModel, twin: Twin) -> gpd.GeoSeries:
    roads = twin.layer("roads")
    geom = roads.geometry.to_numpy()[model.graph.road_index]
    geom = np.where(model.graph.reverse, shapely.reverse(geom), geom)
    return gpd.GeoSeries(geom, index=model.graph.link_ids.astype(str), crs=roads.crs)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as plain Parquet (no pandas metadata: list columns read back anywhere)."""
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path)


def _table(frame: pd.DataFrame, path: Path) -> None:
    """Write an analysis table: GeoParquet for a GeoDataFrame, plain Parquet otherwise."""
    if isinstance(frame, gpd.GeoDataFrame):
        frame.to_parquet(path, index=False)
    else:
        _parquet(frame.reset_index(drop=True), path)


def write_day(result: DayResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a day's results to ``out_dir`` (created if missing); return the files by kind.

    Files: ``kpis.json`` (name -> {value, unit}), ``trips.parquet``, ``links.gpkg`` (layer
    ``link_hours``: one feature per link and hour), ``activities.parquet``, ``hourly.csv``,
    ``run.json``, the utility results when solved (``power.parquet``, ``water.parquet``,
    ``utilities.gpkg``: :func:`twin.network.utilities.write_utility_results`), and
    ``<name>.parquet`` for every table of the day analyses (``result.tables``; a GeoDataFrame
    as GeoParquet).

    Examples
    --------
    >>> # write_day(simulate(twin, seed=1), "out")["kpis"].name
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {k: out / n for k, n in (("kpis", "kpis.json"), ("trips", "trips.parquet"),
                                     ("links", "links.gpkg"),
                                     ("activities", "activities.parquet"),
                                     ("hourly", "hourly.csv"), ("run", "run.json"))}
    kpis = {k: {"value": v, "unit": KPI_UNITS.get(k, "")} for k, v in result.kpis.items()}
    atomic_write(files["kpis"], lambda p: p.write_text(
        json.dumps(kpis, indent=1, sort_keys=True) + "\n", encoding="utf-8"))
    atomic_write(files["trips"], lambda p: _parquet(result.trips, p))
    lh = result.link_hours
    gdf = gpd.GeoDataFrame(lh, geometry=result.link_geometry.loc[lh["link_id"]].to_numpy(),
                           crs=result.link_geometry.crs)

    def _gpkg(p: Path) -> None:
        gdf.to_file(p, layer="link_hours", driver="GPKG", engine="pyogrio")

    atomic_write(files["links"], _gpkg)
    atomic_write(files["activities"], lambda p: _parquet(result.activities, p))
    atomic_write(files["hourly"], lambda p: result.hourly.to_csv(p, index=False))
    if result.utilities is not None:
        from twin.network.utilities import write_utility_results

        made = write_utility_results(result.utilities, out)
        files.update({k if k != "map" else "utilities": v for k, v in made.items()
                      if v.exists()})
    for name, frame in sorted(result.tables.items()):
        files[name] = out / f"{name}.parquet"
        atomic_write(files[name], functools.partial(_table, frame))
    run = {**result.run, "kpis": result.kpis, "files": sorted(f.name for f in files.values())}
    atomic_write(files["run"], lambda p: p.write_text(
        json.dumps(run, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8"))
    return files


@dataclass
class AssignedDay:
    """Static user equilibrium of the agents' car trips in one hour (:func:`assign_agents`).

    Attributes
    ----------
    result : AssignmentResult
        Iterations, relative gap, TSTT (veh-s in the hour), link flows and times.
    links : DataFrame
        One row per directed link: link_id, road_id, flow (veh/h), capacity_vph, vc,
        time_s, free_flow_s, highway.
    summary : dict
        Hour, trips, zones, iterations, relative gap, TSTT (veh-h), seed, sample, timings.
    link_geometry : GeoSeries
    """

    result: Any
    links: pd.DataFrame
    summary: dict[str, Any]
    link_geometry: gpd.GeoSeries


def assign_agents(twin: Twin, *, seed: int = 0, hour: int | None = None, sample: float = 1.0,
                  gap: float = 1e-5, max_iter: int = 2000,
                  **model_options: Any) -> AssignedDay:
    """Static assignment (bi-conjugate Frank-Wolfe, BPR) of the agents' car trips in one hour.

    The agents, plans and modes are those :func:`simulate` starts from (same seed); the OD
    matrix holds the car trips departing in ``hour`` (default: the hour with the most), between
    the road nodes of their origins and destinations, at full scale. Links carry their effective
    capacity (signals included) and free-flow time.

    Examples
    --------
    >>> # assign_agents(read_twin("demo.twin.gpkg"), seed=1).summary["relative_gap"]
    """
    import scipy.sparse as sp

    from twin.network.assign import Network, assign

    t0 = time.perf_counter()
    model = CityModel(twin, seed=seed, iterations=1, sample=sample, **model_options)
    p, g, links = model.plans, model.graph, model.links
    car = model.car_trips
    dep_h = (p.trip_depart_s[car] // 3600).astype(np.int64)
    if len(car) == 0:
        from twin._errors import SimulationError

        msg = "no car trips to assign: nobody in this twin drives"
        raise SimulationError(msg)
    h = int(np.bincount(dep_h).argmax()) if hour is None else int(hour)
    sel = car[dep_h == h]
    o = model.places.node[p.trip_origin[sel]]
    d = model.places.node[p.trip_dest[sel]]
    keep = o != d
    o, d = o[keep], d[keep]
    zones, inv = np.unique(np.concatenate([o, d]), return_inverse=True)
    nz = len(zones)
    demand = sp.coo_matrix((np.full(len(o), 1.0 / sample), (inv[:len(o)], inv[len(o):])),
                           shape=(nz, nz)).tocsr()
    open_ = np.flatnonzero(~links.closed)
    cap = links.flow_cap_per_s * 3600.0 / sample
    net = Network(n_nodes=g.n_nodes, from_node=g.from_node[open_], to_node=g.to_node[open_],
                  capacity=cap[open_], fft=links.fft_s[open_], b=np.full(len(open_), 0.15),
                  power=np.full(len(open_), 4.0),
                  length=g.length_m[open_], first_thru_node=0, zone_nodes=zones,
                  link_ids=g.link_ids[open_])
    res = assign(net, demand, gap=gap, max_iter=max_iter, method="bfw")
    flow = np.zeros(g.n_links)
    time_s = links.fft_s.copy()
    flow[open_] = res.flows
    time_s[open_] = res.times
    with np.errstate(divide="ignore", invalid="ignore"):
        vc = np.where(cap > 0, flow / cap, 0.0)
    table = pd.DataFrame({"link_id": g.link_ids.astype(str), "road_id": model.road_ids,
                          "flow": flow, "capacity_vph": cap, "vc": vc, "time_s": time_s,
                          "free_flow_s": links.fft_s, "highway": g.highway.astype(str)})
    summary = {"hour": h, "car_trips": round(float(demand.sum()), 3), "zones": int(nz),
               "iterations": int(res.iterations), "relative_gap": float(res.relative_gap),
               "tstt_veh_h": float(res.tstt / 3600.0), "converged": bool(res.converged),
               "max_vc": float(vc.max(initial=0.0)), "seed": int(seed), "sample": float(sample),
               "version": __version__, "wall_s": round(time.perf_counter() - t0, 3)}
    return AssignedDay(result=res, links=table, summary=summary,
                       link_geometry=_geometry(model, twin))


def write_assigned(day: AssignedDay, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``links.gpkg`` (layer ``link_flows``) and ``summary.json`` of :func:`assign_agents`.

    Examples
    --------
    >>> # write_assigned(assign_agents(twin), "out")["summary"].name
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"links": out / "links.gpkg", "summary": out / "summary.json"}
    gdf = gpd.GeoDataFrame(day.links, geometry=day.link_geometry.loc[
        day.links["link_id"]].to_numpy(), crs=day.link_geometry.crs)
    atomic_write(files["links"], lambda p: gdf.to_file(p, layer="link_flows", driver="GPKG",
                                                  engine="pyogrio"))
    atomic_write(files["summary"], lambda p: p.write_text(
        json.dumps(day.summary, indent=1, sort_keys=True) + "\n", encoding="utf-8"))
    return files
