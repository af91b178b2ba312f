"""Utilities in the loop: hourly building demand from the agents, one day of power and water.

- :func:`hourly_demand`: each building's power (MW) and water (L/s) per hour follow who is inside
  (the day simulation's activities), plus a base load per floor area by use; profiles in
  ``agents/utility.yaml``. Smart meters (peak shaving / shifting) and rooftop solar from
  ``twin.extras["params"]`` apply here.
- :func:`solve_day`: 24 hourly pandapower power flows (:mod:`twin.network.utility_power`) and
  one extended-period EPANET run with pressure-dependent demand and leaks; power outages and
  water outages of ``twin.extras["events"]`` apply in their hours. An hour that does not
  converge is recorded (NaN, a flag, its demand counted apart and a note saying why), never
  raised, and never read as "all served".
- :func:`utility_kpis`, :func:`write_utility_results` (in
  :mod:`twin.network.utility_results`) and :func:`check_utilities` (in
  :mod:`twin.network.utility_check`), importable from here too.

Examples
--------
>>> # twin = read_twin("demo.twin.gpkg")
>>> # power_mw, water_lps = hourly_demand(twin, day.activities)
>>> # result = solve_day(twin, power_mw, water_lps); utility_kpis(result)["peak_line_loading_pct"]
"""

from __future__ import annotations

import logging
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

from twin._errors import UtilityError
from twin._resources import data_dir
from twin.layers.store import Twin
from twin.network.power import build_power_net
from twin.network.utility_check import UtilityReport, check_utilities
from twin.network.utility_check import diagnose as diagnose  # re-exported
from twin.network.utility_power import HOURS, event_hours, power_day
from twin.network.utility_results import (
    KPI_UNITS,
    UtilityResult,
    utility_kpis,
    write_utility_results,
)
from twin.network.water import WaterNet, build_water_network, run_epanet

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
            off[np.ix_(idx[idx >= 0], np.flatnonzero(event_hours(ev)))] = True
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
        node = wn.get_node(name)
        if all(d.base_value == 0 for d in node.demand_timeseries_list):
            # one demand per junction: WNTR writes several through a search per junction
            # that is quadratic in the number of patterns (minutes on a 10,000-node net)
            node.demand_timeseries_list.clear()
        node.add_demand(peak / 1000.0, f"twin-b-{name}", "buildings")
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
    pw = power_day(twin, pnet, power_mw, events, notes, cfg["power"])
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
        power_ok=pw["ok"], power_demand_mw=pd.Series(pw["demand"], index=HOURS),
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
