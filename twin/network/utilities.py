"""Utilities in the loop: hourly building demand from the agents, one day of power and water.

- :func:`hourly_demand`: each building's power (MW) and water (L/s) per hour follow who is inside
  (the day simulation's activities), plus a base load per floor area by use; profiles in
  ``agents/utility.yaml``. Smart meters (peak shaving / shifting) and rooftop solar from
  ``twin.extras["params"]`` apply here.
- :func:`solve_day`: 24 hourly pandapower power flows and one extended-period EPANET run with
  pressure-dependent demand and leaks; power outages and water outages of ``twin.extras
  ["events"]`` apply in their hours. An hour that does not converge is recorded (NaN and a
  flag), never raised.
- :func:`utility_kpis`, :func:`write_utility_results`, :func:`check_utilities`.

Examples
--------
>>> # twin = read_twin("demo.twin.gpkg")
>>> # power_mw, water_lps = hourly_demand(twin, day.activities)
>>> # result = solve_day(twin, power_mw, water_lps); utility_kpis(result)["peak_line_loading_pct"]
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

from twin._errors import Finding, UtilityError
from twin._resources import data_dir
from twin.layers.store import Twin
from twin.network.power import PowerNet, build_power_net, unsupplied
from twin.network.water import WaterNet, build_water_network, run_epanet, water_islands

__all__ = [
    "KPI_UNITS",
    "UtilityReport",
    "UtilityResult",
    "check_utilities",
    "hourly_demand",
    "load_profiles",
    "run_utilities",
    "solve_day",
    "typical_activities",
    "utility_kpis",
    "write_utility_results",
]

HOURS = np.arange(24)
#: Units of :func:`utility_kpis`.
KPI_UNITS = {
    "peak_line_loading_pct": "%", "peak_transformer_loading_pct": "%",
    "overloaded_line_hours": "line-h", "min_voltage_pu": "p.u.", "power_unserved_mwh": "MWh",
    "grid_energy_mwh": "MWh", "power_unsolved_hours": "h", "min_pressure_m": "m",
    "water_pressure_deficit_node_h": "node-h", "unmet_water_m3": "m3",
    "water_leakage_m3": "m3", "water_supplied_m3": "m3", "water_unsolved_hours": "h",
}
_RECYCLE = {"trafo": False, "bus_pq": True, "bfsw": False}
log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def load_profiles(path: str | None = None) -> dict[str, Any]:
    """Read ``agents/utility.yaml`` (or ``path``), checking every profile has 24 values.

    Examples
    --------
    >>> load_profiles()["power"]["power_factor"]
    0.95
    """
    p = Path(path) if path else data_dir("agents") / "utility.yaml"
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        msg = f"{p}: cannot read the utility profiles ({err})"
        raise UtilityError(msg) from err
    for sector in ("power", "water"):
        for group in ("base_profile", "activity_profile"):
            for name, values in (raw.get(sector, {}).get(group) or {}).items():
                if len(values) != 24:
                    msg = (f"{p}: {sector}.{group}.{name} has {len(values)} values; give 24, "
                           "one per hour from 00:00")
                    raise UtilityError(msg)
    if len(raw["solar"]["profile"]) != 24:
        msg = f"{p}: solar.profile needs 24 values"
        raise UtilityError(msg)
    return dict(raw)


# --- demand -------------------------------------------------------------------------------------

def _place_rows(twin: Twin, acts: pd.DataFrame) -> np.ndarray:
    """Row of the buildings layer where each activity takes place (-1: outside the twin)."""
    b = twin.layer("buildings")
    index = pd.Index(b["id"].astype(str))
    kind = acts["place_kind"].astype(str).to_numpy()
    pid = acts["place_id"].astype(str)
    rows = np.where(kind == "building", index.get_indexer(pid), -1)
    fac = kind == "facility"
    f = twin.layer("facilities")
    if fac.any() and len(f) and len(b):
        near = gpd.sjoin_nearest(f[["id", "geometry"]], b[["geometry"]].reset_index(drop=True),
                                 how="left", max_distance=150.0)
        near = near[~near.index.duplicated()]
        table = pd.Series(near["index_right"].fillna(-1).astype(int).to_numpy(),
                          index=near["id"].astype(str))
        rows[fac] = table.reindex(pid[fac]).fillna(-1).astype(int).to_numpy()
    return rows


def occupancy(twin: Twin, activities: pd.DataFrame, *, sample: float = 1.0
              ) -> dict[str, np.ndarray]:
    """Person-hours inside each building per hour, by activity: ``{activity: (n_b, 24)}``.

    ``activities`` has ``agent, activity, place_kind, place_id, start_s, end_s`` (seconds
    from midnight; an optional ``weight``). An activity without an end lasts to midnight, and
    the agent's night before its first activity is spent where its day ends. Each agent
    stands for ``1 / sample`` people (a simulation of a sample of the population).
    """
    need = ["agent", "activity", "place_kind", "place_id", "start_s", "end_s"]
    missing = [c for c in need if c not in activities.columns]
    if missing:
        msg = (f"activities: missing column(s) {missing}; expected {need} (the day "
               "simulation's DayResult.activities)")
        raise UtilityError(msg)
    acts = activities.reset_index(drop=True)
    n_b = len(twin.layer("buildings"))
    rows = _place_rows(twin, acts)
    start = pd.to_numeric(acts["start_s"], errors="coerce").fillna(0.0).to_numpy(float)
    end = pd.to_numeric(acts["end_s"], errors="coerce").to_numpy(float)
    if not 0 < sample <= 1:
        msg = f"sample must be in (0, 1], got {sample}"
        raise UtilityError(msg)
    weight = (pd.to_numeric(acts["weight"], errors="coerce").fillna(1.0).to_numpy(float)
              if "weight" in acts else np.ones(len(acts))) / sample
    act = acts["activity"].astype(str).str.lower().to_numpy()
    # the night before the first activity: where the day ends (an open last activity)
    agent = acts["agent"].to_numpy()
    order = np.lexsort((start, agent))
    first = np.ones(len(order), dtype=bool)
    first[1:] = agent[order][1:] != agent[order][:-1]
    last = np.roll(first, -1)
    f_idx, l_idx = order[first], order[last]
    wrap = np.isnan(end[l_idx]) & (start[f_idx] > 0)
    end = np.where(np.isnan(end), 86400.0, end)
    over = end[l_idx] > 86400.0
    seg_start = np.concatenate([start, np.zeros(int(wrap.sum())), np.zeros(int(over.sum()))])
    seg_end = np.concatenate([end, start[f_idx][wrap], end[l_idx][over] - 86400.0])
    pick = np.concatenate([np.arange(len(acts)), l_idx[wrap], l_idx[over]])
    lo = HOURS * 3600.0
    ov = np.clip(np.minimum(seg_end[:, None], lo + 3600.0) - np.maximum(seg_start[:, None], lo),
                 0.0, 3600.0) / 3600.0 * weight[pick][:, None]
    keep = rows[pick] >= 0
    code, names = pd.factorize(act[pick][keep])
    group = code * n_b + rows[pick][keep]
    ovk = ov[keep]
    grid = np.column_stack([np.bincount(group, weights=ovk[:, h], minlength=len(names) * n_b)
                            for h in HOURS]) if len(group) else np.zeros((0, 24))
    return {str(name): grid[k * n_b:(k + 1) * n_b] for k, name in enumerate(names)}


def _by_use(table: dict[str, Any], uses: np.ndarray, default: float = 0.0) -> np.ndarray:
    return np.array([float(table.get(u, table.get("other", default))) for u in uses])


def _profiles(table: dict[str, list[float]], keys: np.ndarray) -> np.ndarray:
    default = np.asarray(table.get("default", [1.0] * 24), dtype=float)
    return np.array([np.asarray(table.get(k, default), dtype=float) for k in keys]
                    ).reshape(len(keys), 24)


def _sector(cfg: dict[str, Any], area: np.ndarray, uses: np.ndarray,
            occ: dict[str, np.ndarray], base_key: str, person_key: str, per_day: bool
            ) -> np.ndarray:
    base = _by_use(cfg[base_key], uses) * area
    if per_day:  # litres per day -> litres per hour, shaped by the profile (mean 1)
        prof = _profiles(cfg["base_profile"], uses)
        prof = prof / prof.mean(axis=1, keepdims=True) / 24.0
    else:
        prof = _profiles(cfg["base_profile"], uses)
    out = base[:, None] * prof
    per = cfg[person_key]
    for act, grid in occ.items():
        rate = float(per.get(act, per.get("other", 0.0)))
        shape = np.asarray(cfg["activity_profile"].get(act, cfg["activity_profile"]["default"]))
        out += grid * rate * shape[None, :]
    return out


def _shave(load: np.ndarray, pct: float, shift: bool) -> np.ndarray:
    """Cap each row at (1 - pct) of its peak; the excess is dropped, or moved to the valleys."""
    if pct <= 0:
        return load
    peak = load.max(axis=1, keepdims=True)
    cap = peak * (1.0 - pct / 100.0)
    excess = np.clip(load - cap, 0.0, None)
    out = load - excess
    if shift:
        room = np.clip(cap - out, 0.0, None)
        total = room.sum(axis=1, keepdims=True)
        moved = np.minimum(excess.sum(axis=1, keepdims=True), total)
        out = out + np.divide(room * moved, total, out=np.zeros_like(room), where=total > 0)
    return out


def hourly_demand(twin: Twin, activities: pd.DataFrame, *, sample: float = 1.0
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each building's power (MW, net of rooftop solar) and water (L/s) demand, hour by hour.

    Parameters
    ----------
    twin : Twin
        Buildings with ``use`` and ``floor_area_m2``; engine parameters in
        ``twin.extras["params"]``: ``smart_meter_buildings`` (ids; all when absent),
        ``power_peak_shave_pct``, ``power_peak_shift_pct``, ``water_peak_shave_pct``,
        ``water_peak_shift_pct``, ``rooftop_solar_kwp`` ({building id: kWp}).
    activities : DataFrame
        ``agent, activity, place_kind, place_id, start_s, end_s`` (see :func:`occupancy`).
    sample : float
        Share of the population the activities stand for (``simulate(..., sample=F)``).

    Returns
    -------
    (power_mw, water_lps)
        DataFrames indexed by building id, columns 0..23 (hour from 00:00).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> b = gpd.GeoDataFrame({"id": ["h"], "use": ["residential"], "floor_area_m2": [100.0]},
    ...                      geometry=[shapely.box(0, 0, 10, 10)], crs=3067)
    >>> t = Twin({"buildings": b}, new_meta("t", 3067))
    >>> acts = pd.DataFrame({"agent": [1], "activity": ["home"], "place_kind": ["building"],
    ...                      "place_id": ["h"], "start_s": [0.0], "end_s": [None]})
    >>> p, w = hourly_demand(t, acts)
    >>> round(p.loc["h", 19] * 1e6), round(float(w.loc["h", 7]) * 3600, 1)  # W 19:00, L/h 7:00
    (720, 20.0)
    """
    cfg = load_profiles()
    b = twin.layer("buildings")
    uses = b["use"].astype(object).where(b["use"].notna(), "other").astype(str).to_numpy()
    area = pd.to_numeric(b["floor_area_m2"], errors="coerce").fillna(0.0).clip(lower=0).to_numpy()
    occ = occupancy(twin, activities, sample=sample)
    power = _sector(cfg["power"], area, uses, occ, "base_w_per_m2", "per_person_w", False) / 1e6
    water = _sector(cfg["water"], area, uses, occ, "base_l_per_m2_day", "per_person_lph",
                    True) / 3600.0
    params = twin.extras.get("params") or {}
    ids = pd.Index(b["id"].astype(str))
    metered = np.ones(len(b), dtype=bool)
    if params.get("smart_meter_buildings") is not None:
        metered = ids.isin([str(i) for i in params["smart_meter_buildings"]])
    for name, arr in (("power", power), ("water", water)):
        shave = float(params.get(f"{name}_peak_shave_pct", 0.0) or 0.0)
        shift = float(params.get(f"{name}_peak_shift_pct", 0.0) or 0.0)
        for pct, moving in ((shave, False), (shift, True)):
            if pct > 0:
                arr[metered] = _shave(arr[metered], pct, moving)
    kwp = params.get("rooftop_solar_kwp") or {}
    if kwp:
        s = cfg["solar"]
        prof = np.asarray(s["profile"], dtype=float) * float(s.get("season_factor", 1.0))
        k = pd.Series(kwp, dtype=float).reindex(ids).fillna(0.0).to_numpy()
        power = power - k[:, None] * prof[None, :] / 1000.0
    return (pd.DataFrame(power, index=ids, columns=HOURS),
            pd.DataFrame(water, index=ids, columns=HOURS))


def typical_activities(twin: Twin, *, seed: int = 0) -> pd.DataFrame:
    """A plausible weekday where the day simulation has not run: a stand-in, not a forecast.

    Residents are home at night; half of them work (in the twin where it has jobs, weighted by
    jobs, else outside), 15% study at education buildings, a third of the rest run an errand
    at a shop; in-commuters fill the jobs left. Times are drawn from ``seed``.

    Examples
    --------
    >>> # acts = typical_activities(twin); acts.columns.tolist()[:3] == ["agent", "activity", ...]
    """
    rng = np.random.default_rng(seed)
    b = twin.layer("buildings")
    ids = b["id"].astype(str).to_numpy()
    res = pd.to_numeric(b["residents"], errors="coerce").fillna(0).astype(int).to_numpy()
    jobs = pd.to_numeric(b["jobs"], errors="coerce").fillna(0).clip(lower=0).to_numpy(float)
    home = np.repeat(np.arange(len(b)), res)
    n = len(home)
    role = rng.choice(3, size=n, p=[0.5, 0.15, 0.35])
    uses = b["use"].astype(str).to_numpy()

    def draw(weights: np.ndarray, k: int) -> np.ndarray:
        return (rng.choice(len(weights), size=k, p=weights / weights.sum()) if weights.sum() > 0
                else np.full(k, -1))

    edu = np.where(uses == "education", b["floor_area_m2"].fillna(0).to_numpy(float), 0.0)
    shop = np.where(np.isin(uses, ["retail", "commercial", "mixed"]),
                    b["floor_area_m2"].fillna(0).to_numpy(float), 0.0)
    workers = np.flatnonzero(role == 0)
    place = np.full(n, -1)
    place[workers] = draw(jobs, len(workers))
    place[role == 1] = draw(edu, int((role == 1).sum()))
    errand = (role == 2) & (rng.random(n) < 1 / 3)
    place[errand] = draw(shop, int(errand.sum()))
    filled = np.bincount(place[workers][place[workers] >= 0], minlength=len(b))
    incoming = np.repeat(np.arange(len(b)), np.clip(np.round(jobs - filled), 0, None).astype(int))
    leave = np.where(role == 2, rng.normal(11.0, 1.0, n), rng.normal(7.8, 0.6, n)) * 3600
    stay = np.where(role == 0, rng.normal(8.8, 0.7, n), np.where(role == 1, 7.0, 1.2)) * 3600
    out = place >= 0
    agents = np.arange(n)
    m = len(incoming)
    c_leave = rng.normal(8.2, 0.6, m) * 3600
    c_back = c_leave + rng.normal(8.8, 0.7, m) * 3600
    frames = [
        pd.DataFrame({"agent": agents, "activity": "home", "place_kind": "building",
                      "place_id": ids[home], "start_s": 0.0,
                      "end_s": np.where(out, leave, np.nan)}),
        pd.DataFrame({"agent": agents[out], "activity": np.array(["work", "school", "errand"])[
            role[out]], "place_kind": "building", "place_id": ids[place[out]],
            "start_s": leave[out] + 900, "end_s": leave[out] + 900 + stay[out]}),
        pd.DataFrame({"agent": agents[out], "activity": "home", "place_kind": "building",
                      "place_id": ids[home[out]], "start_s": leave[out] + 1800 + stay[out],
                      "end_s": np.nan}),
        pd.DataFrame({"agent": n + np.arange(m), "activity": "work", "place_kind": "building",
                      "place_id": ids[incoming], "start_s": c_leave, "end_s": c_back}),
    ]
    return pd.concat(frames, ignore_index=True)


# --- one day of power and water -----------------------------------------------------------------

@dataclass
class UtilityResult:
    """Hourly results of :func:`solve_day`; frames indexed by layer id, columns hours 0..23."""

    branch_loading: pd.DataFrame      # power_lines (lines, cables, transformers): loading %
    branch_kind: pd.Series
    bus_vm: pd.DataFrame              # power_nodes: voltage p.u. (NaN: not supplied / solved)
    bus_unserved_mw: pd.DataFrame     # power_nodes: demand of buildings and loads not supplied
    grid_mw: pd.Series                # power drawn from the external grid(s)
    power_ok: np.ndarray              # the power flow converged in that hour
    node_pressure: pd.DataFrame       # water_nodes: pressure, m
    node_expected_lps: pd.DataFrame   # junctions: demand asked for (buildings and fixed)
    node_delivered_lps: pd.DataFrame  # junctions: demand delivered (pressure-dependent)
    node_leak_lps: pd.DataFrame       # junctions: leakage
    pipe_flow_lps: pd.DataFrame       # water_pipes: flow
    pipe_velocity_mps: pd.DataFrame
    water_ok: np.ndarray
    notes: list[str] = field(default_factory=list)
    unsupplied_buildings: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def _hours(event: dict[str, Any]) -> np.ndarray:
    a, b = (event.get("hours") or [0, 24])[:2]
    return (HOURS >= int(a)) & (HOURS < int(b))


def _power_day(twin: Twin, pnet: PowerNet, power_mw: pd.DataFrame, events: list[dict[str, Any]],
               notes: list[str]) -> dict[str, Any]:
    import pandapower as pp

    net = pnet.net
    b = twin.layer("buildings")
    cfg = load_profiles()["power"]
    nb = len(net.bus)
    at = pnet.bus_index(b["power_node"].astype(str).where(b["power_node"].notna(), "")
                        if "power_node" in b else [""] * len(b))
    load = power_mw.reindex(b["id"].astype(str)).fillna(0.0).to_numpy(float)
    bus_load = np.zeros((nb, 24))
    np.add.at(bus_load, at[at >= 0], load[at >= 0])
    loose = np.clip(load[at < 0], 0.0, None).sum(axis=0)
    buses = np.flatnonzero(np.abs(bus_load).sum(axis=1) > 0)
    lidx = np.asarray(pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0, name="buildings")
                      ) if len(buses) else np.array([], dtype=np.int64)
    fixed = net.load.index.difference(lidx)
    fixed_p = np.zeros(nb)
    np.add.at(fixed_p, net.load.bus[fixed].to_numpy(int),
              (net.load.p_mw[fixed] * net.load.scaling[fixed]).to_numpy(float)
              * net.load.in_service[fixed].to_numpy(bool))
    tan = math.tan(math.acos(float(cfg["power_factor"])))
    numba = bool(cfg.get("numba", False))
    out_mask = np.zeros((24, nb), dtype=bool)
    for ev in events:
        if ev.get("type") == "power_outage":
            idx = pnet.bus_index([str(i) for i in ev.get("power_node_ids", [])])
            if (idx < 0).any():
                bad = [i for i, k in zip(ev["power_node_ids"], idx, strict=True) if k < 0][:3]
                msg = f"power_outage event: power_nodes {bad} do not exist in the twin"
                raise UtilityError(msg)
            out_mask[np.ix_(_hours(ev), idx)] = True
    in_service = net.bus.in_service.to_numpy(bool).copy()
    vm, bl, tl = np.full((24, nb), np.nan), [], []
    grid, ok = np.full(24, np.nan), np.zeros(24, dtype=bool)
    state: bytes | None = None
    pos = net.load.index.get_indexer(lidx)
    p_col = net.load.p_mw.to_numpy(float, copy=True)
    q_col = net.load.q_mvar.to_numpy(float, copy=True)
    for h in HOURS:
        p_col[pos] = bus_load[buses, h]
        q_col[pos] = bus_load[buses, h] * tan
        net.load["p_mw"] = p_col
        net.load["q_mvar"] = q_col
        key = out_mask[h].tobytes()
        full = key != state
        if full:
            net.bus["in_service"] = in_service & ~out_mask[h]
        live = net.bus.in_service.to_numpy(bool)
        if not live[net.ext_grid.bus.to_numpy(int)[net.ext_grid.in_service.to_numpy(bool)]
                    ].any():  # a blackout: nothing to solve, nothing supplied
            ok[h], state = True, None
            bl.append(np.full(len(net.line), np.nan))
            tl.append(np.full(len(net.trafo), np.nan))
            grid[h] = 0.0
            continue
        try:
            if full:
                pp.runpp(net, init="auto", numba=numba)
            else:
                pp.runpp(net, recycle=_RECYCLE, numba=numba)
            state = key
            ok[h] = True
            vm[h] = net.res_bus.vm_pu.to_numpy(float, copy=True)
            bl.append(net.res_line.loading_percent.to_numpy(float, copy=True))
            tl.append(net.res_trafo.loading_percent.to_numpy(float, copy=True))
            grid[h] = float(net.res_ext_grid.p_mw.sum())
        except Exception as err:  # one hour failing is a result, not a crash
            state = None
            bl.append(np.full(len(net.line), np.nan))
            tl.append(np.full(len(net.trafo), np.nan))
            notes.append(f"power flow hour {h:02d}:00 did not converge ({type(err).__name__}: "
                         f"{err}); run `twin utilities check` for a diagnosis")
    dead = np.isnan(vm) & ok[:, None]
    unserved = np.where(dead.T, np.clip(bus_load, 0, None) + fixed_p[:, None], 0.0)
    return {"vm": vm.T, "line": np.array(bl).T, "trafo": np.array(tl).T, "grid": grid,
            "ok": ok, "unserved": unserved, "loose": loose,
            "unsupplied": b["id"].astype(str).to_numpy()[(at < 0) & (load.max(axis=1) > 0)]}


def _hourly_patterns(wn: Any) -> None:
    """Make every pattern hourly (repeat or average), so building patterns can join them."""
    step = int(wn.options.time.pattern_timestep or 3600)
    if step == 3600:
        return
    for name in wn.pattern_name_list:
        pat = wn.get_pattern(name)
        mult = np.asarray(pat.multipliers, dtype=float)
        if step % 3600 == 0:
            pat.multipliers = np.repeat(mult, step // 3600).tolist()
        elif 3600 % step == 0:
            k = 3600 // step
            pad = (-len(mult)) % k
            pat.multipliers = np.concatenate([mult, mult[:pad]]).reshape(-1, k).mean(axis=1
                                                                                     ).tolist()
        else:
            msg = (f"water model: pattern time step {step} s is not a multiple or divisor of "
                   "one hour; resample the patterns to hourly")
            raise UtilityError(msg)
    wn.options.time.pattern_timestep = 3600


def _water_day(twin: Twin, wnet: WaterNet, water_lps: pd.DataFrame, events: list[dict[str, Any]],
               params: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    import wntr

    wn, cfg = wnet.wn, load_profiles()["water"]
    b = twin.layer("buildings")
    juncs = wnet.junction_ids
    at = juncs.get_indexer(pd.Index(b["water_node"].astype(str).where(
        b["water_node"].notna(), "") if "water_node" in b else [""] * len(b)))
    dem = water_lps.reindex(b["id"].astype(str)).fillna(0.0).clip(lower=0).to_numpy(float)
    jd = np.zeros((len(juncs), 24))
    np.add.at(jd, at[at >= 0], dem[at >= 0])
    off = np.zeros((len(juncs), 24), dtype=bool)
    for ev in events:
        if ev.get("type") == "water_outage":
            idx = juncs.get_indexer(pd.Index([str(i) for i in ev.get("water_node_ids", [])]))
            off[np.ix_(idx[idx >= 0], np.flatnonzero(_hours(ev)))] = True
    _hourly_patterns(wn)
    opt = wn.options
    opt.time.duration, opt.time.hydraulic_timestep = 23 * 3600, 3600
    opt.time.report_timestep, opt.time.report_start, opt.time.pattern_start = 3600, 0, 0
    opt.time.start_clocktime, opt.time.rule_timestep = 0, 360
    opt.quality.parameter = "NONE"
    opt.hydraulic.demand_model = "PDD"
    opt.hydraulic.required_pressure = float(cfg["required_pressure_m"])
    opt.hydraulic.minimum_pressure = float(cfg["minimum_pressure_m"])
    opt.hydraulic.pressure_exponent = float(cfg["pressure_exponent"])
    fixed = wntr.metrics.expected_demand(wn, start_time=0, end_time=23 * 3600, timestep=3600)
    expected = fixed.reindex(columns=juncs).fillna(0.0).to_numpy(float).T * 1000.0 + jd
    for k in np.flatnonzero(jd.max(axis=1) > 0):  # an outage cuts the buildings' demand
        peak, name = float(jd[k].max()), str(juncs[int(k)])
        wn.add_pattern(f"twin-b-{name}", np.where(off[k], 0.0, jd[k] / peak).tolist())
        wn.get_node(name).add_demand(peak / 1000.0, f"twin-b-{name}", "buildings")
    # leaks: emitters spread by length of main, sized on the day's mean demand
    share = float(cfg["leakage_share"]) * (1 - float(params.get("leak_reduction_pct", 0.0) or 0)
                                          / 100.0)
    length = pd.Series(0.0, index=juncs)
    for _, p in wn.pipes():
        for n in (p.start_node_name, p.end_node_name):
            if n in length.index:
                length[n] += p.length / 2.0
    coef = np.zeros(len(juncs))
    if share > 0 and length.sum() > 0:
        q = share * float(np.nanmean(expected.sum(axis=0))) / 1000.0
        coef = np.asarray(q * length / length.sum() / math.sqrt(
            float(cfg["leakage_reference_pressure_m"])), dtype=float)
        for i, c in enumerate(coef):
            j = wn.get_node(str(juncs[i]))
            if c > 0 and not j.emitter_coefficient:
                j.emitter_coefficient = float(c)
            else:
                coef[i] = float(j.emitter_coefficient or 0.0)
    res = run_epanet(wn)
    t = res.node["pressure"].index.to_numpy(float)
    rows = np.clip(np.round(t / 3600.0).astype(int), 0, 23)
    pressure = np.full((len(wnet.node_ids), 24), np.nan)
    pr = res.node["pressure"].reindex(columns=wnet.node_ids).to_numpy(float)
    pressure[:, rows] = pr.T
    demand = np.full((len(juncs), 24), np.nan)
    demand[:, rows] = res.node["demand"].reindex(columns=juncs).to_numpy(float).T * 1000.0
    pj = pressure[wnet.node_ids.get_indexer(juncs)]
    beta = float(wn.options.hydraulic.emitter_exponent or 0.5)
    leak = coef[:, None] * np.clip(np.nan_to_num(pj), 0, None) ** beta * 1000.0
    delivered = np.clip(demand - leak, 0.0, None)
    flow = np.full((len(wnet.link_ids), 24), np.nan)
    flow[:, rows] = res.link["flowrate"].reindex(columns=wnet.link_ids).to_numpy(float).T * 1000
    vel = np.full((len(wnet.link_ids), 24), np.nan)
    vel[:, rows] = res.link["velocity"].reindex(columns=wnet.link_ids).to_numpy(float).T
    ok = np.zeros(24, dtype=bool)
    ok[rows] = np.isfinite(pr).all(axis=1)
    for h in np.flatnonzero(~ok):
        notes.append(f"water hour {h:02d}:00 has no valid hydraulic solution")
    loose = dem[at < 0].sum(axis=0)
    return {"pressure": pressure, "expected": expected, "delivered": delivered, "leak": leak,
            "flow": flow, "velocity": vel, "ok": ok, "loose": loose,
            "unsupplied": b["id"].astype(str).to_numpy()[(at < 0) & (dem.max(axis=1) > 0)]}


def solve_day(twin: Twin, power_mw: pd.DataFrame, water_lps: pd.DataFrame, *,
              events: list[dict[str, Any]] | None = None,
              params: dict[str, Any] | None = None) -> UtilityResult:
    """Solve the power and water networks for one day of hourly building demand.

    Parameters
    ----------
    twin : Twin
        With power and water layers and buildings' ``power_node`` / ``water_node``.
    power_mw, water_lps : DataFrame
        From :func:`hourly_demand` (building id x 24 hours).
    events, params : optional
        Default ``twin.extras["events"]`` and ``twin.extras["params"]``: ``power_outage``
        (buses out of service in their hours), ``water_outage`` (demand unmet), and
        ``leak_reduction_pct``.

    Returns
    -------
    UtilityResult

    Raises
    ------
    UtilityError
        A network cannot be built (see :func:`build_power_net`, :func:`build_water_network`)
        or EPANET stops. Non-convergence in an hour is recorded, not raised.
    """
    events = list(twin.extras.get("events") or []) if events is None else events
    params = dict(twin.extras.get("params") or {}) if params is None else params
    cfg = load_profiles()
    notes: list[str] = []
    pnet = build_power_net(twin)
    pw = _power_day(twin, pnet, power_mw, events, notes)
    wnet = build_water_network(twin)
    wt = _water_day(twin, wnet, water_lps, events, params, notes)
    lines = twin.layer("power_lines")
    kinds = lines.set_index(lines["id"].astype(str))["kind"]
    branch = pd.DataFrame(np.vstack([pw["line"], pw["trafo"]]) if pw["line"].size or
                          pw["trafo"].size else np.zeros((0, 24)),
                          index=pnet.line_ids.append(pnet.trafo_ids), columns=HOURS)
    unserved = pd.DataFrame(pw["unserved"], index=pnet.bus_ids, columns=HOURS)
    if pw["loose"].any():
        unserved.loc["(no power node)"] = pw["loose"]
    juncs = wnet.junction_ids
    expected = pd.DataFrame(wt["expected"], index=juncs, columns=HOURS)
    delivered = pd.DataFrame(wt["delivered"], index=juncs, columns=HOURS)
    if wt["loose"].any():
        expected.loc["(no water node)"] = wt["loose"]
        delivered.loc["(no water node)"] = 0.0
    for name, ids in (("power", pw["unsupplied"]), ("water", wt["unsupplied"])):
        if len(ids):
            notes.append(f"{len(ids)} building(s) have demand but no {name} connection "
                         f"(e.g. {', '.join(ids[:3])}): counted as not supplied")
    return UtilityResult(
        branch_loading=branch, branch_kind=kinds.reindex(branch.index),
        bus_vm=pd.DataFrame(pw["vm"], index=pnet.bus_ids, columns=HOURS),
        bus_unserved_mw=unserved, grid_mw=pd.Series(pw["grid"], index=HOURS),
        power_ok=pw["ok"],
        node_pressure=pd.DataFrame(wt["pressure"], index=wnet.node_ids, columns=HOURS),
        node_expected_lps=expected, node_delivered_lps=delivered,
        node_leak_lps=pd.DataFrame(wt["leak"], index=juncs, columns=HOURS),
        pipe_flow_lps=pd.DataFrame(wt["flow"], index=wnet.link_ids, columns=HOURS),
        pipe_velocity_mps=pd.DataFrame(wt["velocity"], index=wnet.link_ids, columns=HOURS),
        water_ok=wt["ok"], notes=notes,
        unsupplied_buildings={"power": list(pw["unsupplied"]), "water": list(wt["unsupplied"])},
        settings={"max_loading_pct": float(cfg["limits"]["max_loading_pct"]),
                  "min_voltage_pu": float(cfg["limits"]["min_voltage_pu"]),
                  "min_service_pressure_m": float(cfg["water"]["min_service_pressure_m"])},
        layers={k: twin.layer(k) for k in ("power_nodes", "power_lines", "water_nodes",
                                           "water_pipes")})


# --- KPIs, files --------------------------------------------------------------------------------

def utility_kpis(result: UtilityResult) -> dict[str, float]:
    """The utility KPIs of DESIGN.md (units in :data:`KPI_UNITS`).

    Lines, cables and transformers count for overloaded line-hours; pressure and deficits are
    over junction-hours with demand; unmet water and unserved energy include buildings
    without a connection.

    Examples
    --------
    >>> # utility_kpis(solve_day(twin, p, w))["power_unserved_mwh"] -> 0.0
    """
    s = result.settings
    bl = result.branch_loading
    kind = result.branch_kind.reindex(bl.index).astype(str).to_numpy()
    lines = bl.to_numpy(float)[np.isin(kind, ["line", "cable"])]
    trafos = bl.to_numpy(float)[kind == "transformer"]

    def nanmax(a: np.ndarray) -> float:
        return float(np.nanmax(a)) if a.size and np.isfinite(a).any() else float("nan")

    expected = result.node_expected_lps.to_numpy(float)
    delivered = result.node_delivered_lps.to_numpy(float)
    juncs = result.node_expected_lps.index
    press = result.node_pressure.reindex(juncs).to_numpy(float)
    served = (expected > 1e-9) & np.isfinite(press)
    unmet = np.clip(np.nan_to_num(expected - delivered), 0.0, None)
    vm = result.bus_vm.to_numpy(float)
    return {
        "peak_line_loading_pct": round(nanmax(lines), 3),
        "peak_transformer_loading_pct": round(nanmax(trafos), 3),
        "overloaded_line_hours": int((np.nan_to_num(bl.to_numpy(float))
                                      > s["max_loading_pct"]).sum()),
        "min_voltage_pu": round(float(np.nanmin(vm)) if np.isfinite(vm).any() else float("nan"),
                                5),
        "power_unserved_mwh": round(float(result.bus_unserved_mw.to_numpy(float).sum()), 6),
        "grid_energy_mwh": round(float(np.nansum(result.grid_mw.to_numpy(float))), 4),
        "power_unsolved_hours": int((~result.power_ok).sum()),
        "min_pressure_m": round(float(press[served].min()) if served.any() else float("nan"), 3),
        "water_pressure_deficit_node_h": int((served & (press < s["min_service_pressure_m"])
                                              ).sum()),
        "unmet_water_m3": round(float(unmet.sum()) * 3.6, 3),
        "water_leakage_m3": round(float(np.nansum(result.node_leak_lps.to_numpy(float))) * 3.6,
                                  3),
        "water_supplied_m3": round(float(np.nansum(delivered)) * 3.6, 3),
        "water_unsolved_hours": int((~result.water_ok).sum()),
    }


def _long(frame: pd.DataFrame, kind: str, value: str) -> pd.DataFrame:
    out = frame.rename_axis("id").reset_index().melt(id_vars="id", var_name="hour",
                                                      value_name=value)
    out.insert(0, "kind", kind)
    out["hour"] = out["hour"].astype(int)
    return out


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    Path(tmp).unlink()
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_utility_results(result: UtilityResult, out_dir: str | os.PathLike[str]
                          ) -> dict[str, Path]:
    """Write ``power.parquet``, ``water.parquet`` and ``utilities.gpkg`` into ``out_dir``.

    The tables are long (``kind, id, hour, ...``); the GeoPackage has the four utility layers
    with each feature's peak figures and hourly columns (``h00`` ... ``h23``) for the maps.

    Examples
    --------
    >>> # write_utility_results(result, "runs/baseline")["map"].name -> 'utilities.gpkg'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = result
    kinds = r.branch_kind.reindex(r.branch_loading.index).fillna("line")
    bl = _long(r.branch_loading, "branch", "loading_pct")
    bl["kind"] = bl["id"].map(kinds).astype(str)
    vm = _long(r.bus_vm, "bus", "vm_pu").merge(
        _long(r.bus_unserved_mw, "bus", "unserved_mw"), on=["kind", "id", "hour"], how="outer")
    power = pd.concat([bl, vm], ignore_index=True)
    power["converged"] = r.power_ok[power["hour"].to_numpy()]
    nodes = _long(r.node_pressure, "node", "pressure_m")
    for frame, col in ((r.node_expected_lps, "demand_lps"), (r.node_delivered_lps,
                                                             "delivered_lps"),
                       (r.node_leak_lps, "leak_lps")):
        nodes = nodes.merge(_long(frame, "node", col), on=["kind", "id", "hour"], how="outer")
    nodes["unmet_lps"] = (nodes["demand_lps"] - nodes["delivered_lps"]).clip(lower=0)
    pipes = _long(r.pipe_flow_lps, "pipe", "flow_lps").merge(
        _long(r.pipe_velocity_mps, "pipe", "velocity_mps"), on=["kind", "id", "hour"])
    water = pd.concat([nodes, pipes], ignore_index=True)
    paths = {"power": out / "power.parquet", "water": out / "water.parquet",
             "map": out / "utilities.gpkg"}
    _atomic(paths["power"], lambda p: power.to_parquet(p, index=False))
    _atomic(paths["water"], lambda p: water.to_parquet(p, index=False))

    def hourly(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
        return frame.set_axis([f"{prefix}{h:02d}" for h in frame.columns], axis=1)

    s = r.settings
    lay = r.layers
    maps: dict[str, gpd.GeoDataFrame] = {}
    if "power_lines" in lay and len(lay["power_lines"]):
        g = lay["power_lines"][["id", "kind", "geometry"]].set_index("id")
        load = r.branch_loading
        stats = pd.DataFrame({"peak_loading_pct": load.max(axis=1),
                              "overloaded_hours": (load > s["max_loading_pct"]).sum(axis=1)})
        maps["power_lines"] = g.join(stats).join(hourly(load, "h"))
    if "power_nodes" in lay and len(lay["power_nodes"]):
        g = lay["power_nodes"][["id", "kind", "geometry"]].set_index("id")
        stats = pd.DataFrame({"min_vm_pu": r.bus_vm.min(axis=1),
                              "unserved_mwh": r.bus_unserved_mw.sum(axis=1)})
        maps["power_nodes"] = g.join(stats).join(hourly(r.bus_vm, "h"))
    if "water_nodes" in lay and len(lay["water_nodes"]):
        g = lay["water_nodes"][["id", "kind", "geometry"]].set_index("id")
        p = r.node_pressure
        unmet = (r.node_expected_lps - r.node_delivered_lps).clip(lower=0)
        stats = pd.DataFrame({"min_pressure_m": p.min(axis=1),
                              "deficit_hours": ((p < s["min_service_pressure_m"])
                                                & (r.node_expected_lps.reindex(p.index) > 0)
                                                ).sum(axis=1),
                              "unmet_m3": unmet.sum(axis=1) * 3.6})
        maps["water_nodes"] = g.join(stats).join(hourly(p, "h"))
    if "water_pipes" in lay and len(lay["water_pipes"]):
        g = lay["water_pipes"][["id", "kind", "geometry"]].set_index("id")
        v = r.pipe_velocity_mps
        stats = pd.DataFrame({"max_velocity_mps": v.abs().max(axis=1),
                              "max_flow_lps": r.pipe_flow_lps.abs().max(axis=1)})
        maps["water_pipes"] = g.join(stats).join(hourly(r.pipe_flow_lps, "h"))

    def write_map(path: Path) -> None:
        for name, frame in maps.items():
            gdf = gpd.GeoDataFrame(frame.reset_index(), geometry="geometry", crs=frame.crs)
            gdf.to_file(path, layer=name, driver="GPKG")

    if maps:
        _atomic(paths["map"], write_map)
    return paths


def run_utilities(twin: Twin, activities: pd.DataFrame, out_dir: str | os.PathLike[str] |
                  None = None, *, sample: float = 1.0) -> tuple[UtilityResult, dict[str, float]]:
    """Demand, solve and KPIs in one call (what ``twin simulate`` and scenario runs use).

    Examples
    --------
    >>> # result, kpis = run_utilities(twin, day.activities, "runs/baseline")
    """
    power_mw, water_lps = hourly_demand(twin, activities, sample=sample)
    result = solve_day(twin, power_mw, water_lps)
    if out_dir is not None:
        write_utility_results(result, out_dir)
    return result, utility_kpis(result)


# --- check --------------------------------------------------------------------------------------

@dataclass
class UtilityReport:
    """What ``twin utilities check`` found: findings (errors and warnings) and peak figures."""

    findings: list[Finding]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        """No error findings."""
        return not any(f.severity == "error" for f in self.findings)

    def format(self) -> str:
        """The report as text."""
        lines = [f"{k:28s} {v}" for k, v in self.summary.items()]
        lines += [f.format() for f in self.findings]
        n = sum(f.severity == "error" for f in self.findings)
        lines.append("utilities ok" if self.ok else f"utilities check failed: {n} error(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ok": self.ok, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings]}


_DIAGNOSIS = {
    "disconnected_elements": "parts of the network are not connected to any external grid",
    "different_voltage_levels_connected": "lines or switches join buses of different voltages",
    "implausible_impedance_values": "lines or transformers have implausible impedances",
    "nominal_voltages_dont_match": "transformer voltages do not match the buses they join",
    "invalid_values": "some parameters are missing, zero or negative where they must not be",
    "overload": "the network cannot carry its load or generation: the power flow converges "
                "when they are scaled down",
    "wrong_switch_configuration": "the switch states are inconsistent (it converges with all "
                                  "switches closed)",
    "multiple_voltage_controlling_elements_per_bus": "several generators or grids set the "
                                                     "voltage of one bus",
    "no_ext_grid": "there is no external grid (no substation with ext_grid: true)",
    "wrong_reference_system": "loads or generators use the wrong sign convention",
    "wrong_line_capacitance": "line capacitances look wrong (check the units: nF per km)",
    "wrong_line_resistance": "line resistances look wrong (check the units: ohm per km)",
    "wrong_line_reactance": "line reactances look wrong (check the units: ohm per km)",
    "parallel_switches": "switches are in parallel",
}


def diagnose(pnet: PowerNet) -> list[str]:
    """pandapower's diagnostic of a net that does not converge, in plain words with twin ids."""
    import pandapower as pp

    quiet = logging.getLogger("pandapower")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            found = pp.diagnostic(copy.deepcopy(pnet.net), report_style=None) or {}
    except Exception as err:
        return [f"pandapower's diagnostic itself failed ({err})"]
    finally:
        quiet.setLevel(level)
    names = {"line": pnet.line_ids, "trafo": pnet.trafo_ids, "bus": pnet.bus_ids}
    out = []
    for key, detail in found.items():
        if not detail or key not in _DIAGNOSIS:
            continue
        ids: list[str] = []
        for item in detail if isinstance(detail, list) else [detail]:
            if isinstance(item, dict):
                for table, idx in item.items():
                    if table in names and isinstance(idx, list | tuple):
                        ids += [str(names[table][i]) for i in idx if 0 <= int(i) < len(
                            names[table])]
        out.append(_DIAGNOSIS[key] + (f" ({', '.join(ids[:5])})" if ids else ""))
    return out


def _peak_power(twin: Twin, pnet: PowerNet, findings: list[Finding], summary: dict[str, Any]
                ) -> None:
    import pandapower as pp

    from twin.layers.utility_layout import POWER_FACTOR, building_peak_demand

    b = twin.layer("buildings")
    net = pnet.net
    if len(b) and "power_node" in b:
        peak, _ = building_peak_demand(b)
        at = pnet.bus_index(b["power_node"].astype(str).where(b["power_node"].notna(), ""))
        load = np.zeros(len(net.bus))
        np.add.at(load, at[at >= 0], peak[at >= 0])
        buses = np.flatnonzero(load > 0)
        pp.create_loads(net, buses, load[buses], load[buses] * math.tan(math.acos(POWER_FACTOR)),
                        name="buildings")
    live = net.load.in_service.to_numpy(bool)
    summary["power peak demand MW"] = round(float((net.load.p_mw * net.load.scaling)[live].sum()),
                                            2)
    lim = load_profiles()["limits"]
    try:
        pp.runpp(net, numba=False)
    except Exception as err:
        base = net.load.p_mw.to_numpy(float, copy=True)
        base_q = net.load.q_mvar.to_numpy(float, copy=True)
        hint = ""
        for scale in (0.75, 0.5, 0.25, 0.1, 0.03, 0.01):
            net.load["p_mw"], net.load["q_mvar"] = base * scale, base_q * scale
            try:
                pp.runpp(net, numba=False)
            except Exception:  # try the next, smaller load
                continue
            weak = pnet.bus_ids[int(np.nanargmin(net.res_bus.vm_pu.to_numpy(float)))]
            hint = (f"; at {scale:.0%} of the peak it converges, with the lowest voltage "
                    f"{float(net.res_bus.vm_pu.min()):.3f} p.u. at power node {weak}: check the "
                    f"lines and transformer on the way to {weak}, or the load there")
            break
        net.load["p_mw"], net.load["q_mvar"] = base, base_q
        words = diagnose(pnet)
        findings.append(Finding("error", "power_flow", f"the peak-hour power flow does not "
                                f"converge ({err}); {'; '.join(words) or 'no diagnosis'}{hint}",
                                layer="power_lines"))
        return
    loading = pd.Series(net.res_line.loading_percent.to_numpy(float), index=pnet.line_ids)
    trafo = pd.Series(net.res_trafo.loading_percent.to_numpy(float), index=pnet.trafo_ids)
    both = pd.concat([loading, trafo])
    summary["power peak line loading %"] = round(float(loading.max()), 1) if len(loading) else 0
    summary["power peak transformer %"] = round(float(trafo.max()), 1) if len(trafo) else 0
    summary["power min voltage p.u."] = round(float(net.res_bus.vm_pu.min()), 4)
    for fid, val in both[both > lim["max_loading_pct"]].sort_values().tail(10).items():
        findings.append(Finding("warning", "overload", f"loaded {val:.0f}% at the design peak; "
                                "upgrade it (feeder_upgrade) or add a substation", "power_lines",
                                str(fid), "max_i_ka"))
    low = net.res_bus.vm_pu < lim["min_voltage_pu"]
    if low.any():
        ids = pnet.bus_ids[np.flatnonzero(low.to_numpy())]
        findings.append(Finding("warning", "voltage", f"{len(ids)} node(s) below "
                                f"{lim['min_voltage_pu']} p.u. at the design peak "
                                f"(e.g. {', '.join(ids[:5])})", "power_nodes"))


def _peak_water(twin: Twin, wnet: WaterNet, findings: list[Finding], summary: dict[str, Any]
                ) -> None:
    from twin.layers.utility_layout import building_peak_demand

    wn, cfg = wnet.wn, load_profiles()["water"]
    b = twin.layer("buildings")
    if len(b) and "water_node" in b:
        _, peak = building_peak_demand(b)
        at = wnet.junction_ids.get_indexer(b["water_node"].astype(str).where(
            b["water_node"].notna(), ""))
        dem = np.zeros(len(wnet.junction_ids))
        np.add.at(dem, at[at >= 0], peak[at >= 0])
        for k in np.flatnonzero(dem > 0):
            wn.get_node(str(wnet.junction_ids[int(k)])).add_demand(dem[k] / 1000.0, None,
                                                                   "buildings")
        summary["water peak demand L/s"] = round(float(dem.sum()), 1)
    wn.options.time.duration = 0
    wn.options.hydraulic.demand_model = "PDD"
    wn.options.hydraulic.required_pressure = float(cfg["required_pressure_m"])
    wn.options.hydraulic.minimum_pressure = float(cfg["minimum_pressure_m"])
    wn.options.quality.parameter = "NONE"
    try:
        res = run_epanet(wn)
    except UtilityError as err:
        findings.append(Finding("error", "hydraulics", str(err), layer="water_pipes"))
        return
    p = res.node["pressure"].iloc[0].reindex(wnet.junction_ids)
    summary["water min pressure m"] = round(float(p.min()), 2) if len(p) else None
    low = p[p < float(cfg["min_service_pressure_m"])]
    if len(low):
        findings.append(Finding("warning", "pressure", f"{len(low)} junction(s) below "
                                f"{cfg['min_service_pressure_m']} m at the design peak "
                                f"(lowest {low.min():.1f} m at {low.idxmin()}); widen the pipes "
                                "feeding them (pipe_upgrade)", "water_nodes"))


def check_utilities(twin: Twin) -> UtilityReport:
    """Build both networks, solve one design-peak hour, and report what is wrong.

    Reports (errors): networks that cannot be built, no source, islands with load, buildings
    without a working connection, a peak-hour power flow that does not converge (with
    pandapower's diagnostic in plain words), EPANET failures; (warnings) islands without load,
    overloads, low voltages and pressures at the design peak (``agents/density.yaml``).

    Examples
    --------
    >>> # print(check_utilities(read_twin("demo.twin.gpkg")).format())
    """
    findings: list[Finding] = []
    summary: dict[str, Any] = {}
    b = twin.layer("buildings")
    for sector, builder, col, layer in (("power", build_power_net, "power_node", "power_nodes"),
                                        ("water", build_water_network, "water_node",
                                         "water_nodes")):
        if not len(twin.layer(layer)):
            findings.append(Finding("warning", "missing", f"the twin has no {sector} network",
                                    layer))
            continue
        try:
            net: Any = builder(twin, check=False)
        except UtilityError as err:
            findings.append(Finding("error", "build", str(err), layer))
            continue
        if sector == "power":
            dead = [str(net.bus_ids[i]) for i in unsupplied(net)]
            ids = net.bus_ids
        else:
            dead = water_islands(net)
            ids = net.junction_ids
        if not (twin.layer(layer)["ext_grid"].fillna(False).any() if sector == "power" else
                twin.layer(layer)["kind"].isin(["reservoir", "tank"]).any()):
            findings.append(Finding("error", "no_source", f"the {sector} network has no source",
                                    layer))
        refs = b[col].astype(str).where(b[col].notna(), "") if col in b else pd.Series(
            [""] * len(b), index=b.index)
        loaded = set(refs[refs != ""])
        if dead:
            sev = "error" if loaded & set(dead) else "warning"
            more = " ..." if len(dead) > 8 else ""
            findings.append(Finding(sev, "island", f"{len(dead)} node(s) not connected to any "
                                    f"source: {', '.join(dead[:8])}{more}; connect them or "
                                    "delete them", layer))
        bad = b["id"].astype(str)[(refs == "") | ~refs.isin(ids) | refs.isin(dead)].tolist()
        summary[f"{sector} buildings supplied"] = f"{len(b) - len(bad)} of {len(b)}"
        if bad:
            findings.append(Finding("error", "unsupplied", f"{len(bad)} building(s) without a "
                                    f"working {sector} connection (e.g. {', '.join(bad[:5])}); "
                                    f"set their {col} to a connected node", "buildings",
                                    field=col))
        if sector == "power":
            _peak_power(twin, net, findings, summary)
        else:
            _peak_water(twin, net, findings, summary)
    return UtilityReport(findings, summary)
