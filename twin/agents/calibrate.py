"""Calibration against traffic counts: import hourly counts, the GEH statistic, adjust demand.

- :func:`read_counts` reads a counts CSV (``sensor_id, hour, count`` and optional ``date``) and
  checks it against the twin's ``sensors`` layer: every problem (unknown sensor, a sensor that
  does not count traffic, a negative or non-numeric count, a malformed hour or date, a duplicate)
  is listed at once. :func:`import_counts` stores the counts in the twin file's
  ``sensor_observations`` table (:attr:`twin.layers.store.Twin.observations`).
- :func:`geh`: ``sqrt(2 (M - C)^2 / (M + C))`` of hourly flows M (simulated) and C (counted);
  the standard asks for GEH < 5 on at least 85 % of the counts.
- :func:`calibrate`: simulate the day, compare, adjust, repeat. The adjustable demand is the
  through traffic of ``agents/external.yaml`` (most cars a district's counters see): its level
  (``peak_share_of_capacity``, all classes), its split over the entry gateways (per-gateway
  ``through_scale``: the trip rates) and its departure-time profile (``hourly_profile``). Each
  round splits every simulated count into the through traffic of each entry gateway and
  departure hour (from the routes of the day's trips) plus the rest, fits the three sets of
  multipliers to the counts (multiplicative updates of a Poisson fit), applies them damped,
  and simulates again. :func:`write_calibrated` writes the adjusted profile as a new YAML file.

Examples
--------
>>> round(float(geh(np.array([100.0]), np.array([150.0]))[0]), 2)
4.47
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from twin._errors import Finding, LayerError, SimulationError, ValidationError
from twin.agents.external import ExternalConfig, load_external_config
from twin.agents.services import ServicesConfig, load_services_config
from twin.layers.store import Twin

__all__ = [
    "COUNT_KINDS",
    "CalibrationResult",
    "FitStats",
    "calibrate",
    "counter_roads",
    "fit_stats",
    "geh",
    "import_counts",
    "read_counts",
    "simulated_counts",
    "write_calibrated",
]

#: Sensor kinds whose observations are vehicle counts.
COUNT_KINDS = ("traffic_counter", "camera")
_HHMM = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*$")
Progress = Callable[[int, "FitStats"], None]


def geh(simulated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """GEH statistic of hourly flows (0 where both are 0).

    Examples
    --------
    >>> geh(np.array([0.0, 400.0]), np.array([0.0, 400.0])).tolist()
    [0.0, 0.0]
    """
    m = np.asarray(simulated, dtype=float)
    c = np.asarray(observed, dtype=float)
    s = m + c
    return np.sqrt(np.divide(2.0 * (m - c) ** 2, s, out=np.zeros_like(s), where=s > 0))


# --- reading counts --------------------------------------------------------------------------

def _hour(value: Any) -> tuple[int | None, str | None]:
    """Hour of day (0-23) and the date, if the value holds one; (None, None) if malformed."""
    if isinstance(value, int | np.integer) or (isinstance(value, float | np.floating)
                                                and float(value).is_integer()):
        h = int(value)
        return (h, None) if 0 <= h <= 23 else (None, None)
    text = str(value).strip()
    m = _HHMM.match(text)
    if m:
        h = int(m.group(1))
        mins = int(m.group(2) or 0)
        return (h, None) if 0 <= h <= 23 and 0 <= mins <= 59 else (None, None)
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None, None
    if pd.isna(ts) or not re.search(r"\d{1,2}:\d{2}", text):
        return None, None
    return int(ts.hour), ts.date().isoformat()


def read_counts(path: str | Path, twin: Twin) -> pd.DataFrame:
    """Read and check a counts CSV against the twin's sensors.

    Columns: ``sensor_id``, ``hour`` (0-23, ``HH:MM`` or a date-time such as
    ``2026-05-04T08:00``), ``count`` (vehicles in that hour, >= 0) and optionally ``date``
    (``YYYY-MM-DD``).

    Returns
    -------
    DataFrame
        sensor_id (str), hour (int), count (float), date (str or None).

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, unknown sensor ids, sensors that do not count
        traffic, malformed hours or dates, negative or non-numeric counts, duplicate rows.

    Examples
    --------
    >>> # read_counts("counts.csv", read_twin("demo.twin.gpkg")).head()
    """
    p = Path(path)
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        msg = f"{p}: cannot read the counts ({err}); give a CSV with sensor_id, hour, count"
        raise LayerError(msg) from err
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in ("sensor_id", "hour", "count") if c not in raw.columns]
    if missing:
        msg = (f"{p}: missing column(s) {', '.join(missing)}; a counts CSV has sensor_id, hour, "
               f"count and optionally date (it has: {', '.join(raw.columns)})")
        raise LayerError(msg)
    sensors = twin.layer("sensors")
    kinds = dict(zip(sensors["id"].astype(str), sensors["kind"].astype(str), strict=True)) \
        if len(sensors) else {}
    findings: list[Finding] = []

    def bad(row: int, fld: str, rule: str, message: str) -> None:
        findings.append(Finding("error", rule, message, layer="sensor_observations",
                                feature=f"row {row + 2}", field=fld, source=src))

    ids = raw["sensor_id"].astype(str).str.strip()
    hours: list[int | None] = []
    dates: list[str | None] = []
    counts = pd.to_numeric(raw["count"].str.strip(), errors="coerce")
    for i in range(len(raw)):
        sid = ids.iloc[i]
        if sid not in kinds:
            near = sorted(kinds)[:8]
            bad(i, "sensor_id", "unknown_sensor",
                f"sensor {sid!r} is not in the twin's sensors layer (sensors: "
                f"{', '.join(near)}{', ...' if len(kinds) > 8 else ''}); add it with `twin "
                "layers edit` or fix the id")
        elif kinds[sid] not in COUNT_KINDS:
            bad(i, "sensor_id", "not_a_counter",
                f"sensor {sid!r} is a {kinds[sid]} sensor; counts need a "
                f"{' or '.join(COUNT_KINDS)}")
        h, d = _hour(raw["hour"].iloc[i])
        if h is None:
            bad(i, "hour", "time", f"malformed hour {raw['hour'].iloc[i]!r}: give 0-23, HH:MM "
                "or a date-time such as 2026-05-04T08:00")
        hours.append(h)
        if "date" in raw.columns and str(raw["date"].iloc[i]).strip():
            text = str(raw["date"].iloc[i]).strip()
            try:
                d = pd.Timestamp(text).date().isoformat()
            except (ValueError, TypeError):
                bad(i, "date", "time", f"malformed date {text!r}: give YYYY-MM-DD")
        dates.append(d)
        c = counts.iloc[i]
        if pd.isna(c) or not np.isfinite(c):
            bad(i, "count", "type", f"count {raw['count'].iloc[i]!r} is not a number")
        elif c < 0:
            bad(i, "count", "range", f"count {c:g} is negative; counts are vehicles per hour "
                ">= 0")
    out = pd.DataFrame({"sensor_id": ids.to_numpy(), "hour": hours,
                        "count": counts.to_numpy(float), "date": dates})
    if not findings:
        dup = out.duplicated(["sensor_id", "hour", "date"], keep="first")
        for k in np.flatnonzero(dup.to_numpy()).tolist():
            bad(k, "hour", "duplicate", f"sensor {out['sensor_id'].iloc[k]} hour "
                f"{out['hour'].iloc[k]} (date {out['date'].iloc[k]}) is given twice")
    if findings:
        raise ValidationError(findings, header=f"{p}: the counts do not fit the twin")
    if len(out) == 0:
        msg = f"{p}: no counts in the file"
        raise LayerError(msg)
    out["hour"] = out["hour"].astype(int)
    return out


def import_counts(twin_path: str | Path, csv: str | Path, *, replace: bool = False,
                  author: str | None = None) -> tuple[Twin, pd.DataFrame]:
    """Add the counts of a CSV to the twin file's ``sensor_observations`` table.

    Rows for the same sensor, hour and date replace earlier ones (``replace``: the whole table).
    The twin is written back atomically, its edit history kept.

    Returns
    -------
    (twin, counts)

    Examples
    --------
    >>> # import_counts("demo.twin.gpkg", "counts.csv")[1].shape
    """
    from twin.layers.store import read_twin, write_twin

    twin = read_twin(twin_path)
    counts = read_counts(csv, twin)
    old = twin.observations
    if old is not None and len(old) and not replace:
        keep = old[["sensor_id", "hour", "count", "date"]].copy() if "date" in old else \
            old.assign(date=None)[["sensor_id", "hour", "count", "date"]]
        keep["sensor_id"] = keep["sensor_id"].astype(str)
        keep["hour"] = pd.to_numeric(keep["hour"], errors="coerce").astype(int)
        merged = pd.concat([keep, counts], ignore_index=True)
        counts_all = merged.drop_duplicates(["sensor_id", "hour", "date"], keep="last")
    else:
        counts_all = counts
    twin.observations = counts_all.reset_index(drop=True)
    twin.extras["history"] = {"author": author, "message": f"imported counts from "
                              f"{Path(csv).name} ({len(counts)} rows)"}
    write_twin(twin, twin_path, overwrite=True)
    return twin, counts


# --- simulated counts ------------------------------------------------------------------------

def counter_roads(twin: Twin, sensor_ids: list[str]) -> dict[str, str]:
    """The road each counting sensor counts: its ``road_id``, else the nearest road in range.

    Raises
    ------
    LayerError
        A sensor has no road_id and no road within its range.

    Examples
    --------
    >>> # counter_roads(twin, ["s15"]) -> {"s15": "r4"}
    """
    import shapely

    s = twin.layer("sensors")
    s = s[s["id"].astype(str).isin(sensor_ids)]
    roads = twin.layer("roads")
    out: dict[str, str] = {}
    lost = []
    tree = shapely.STRtree(roads.geometry.to_numpy()) if len(roads) else None
    rid = roads["id"].astype(str).to_numpy()
    given_roads = s["road_id"].tolist() if "road_id" in s else [None] * len(s)
    known = set(rid)
    for sid, given, rng, geom in zip(s["id"].astype(str).tolist(), given_roads,
                                     pd.to_numeric(s["range_m"], errors="coerce").tolist(),
                                     s.geometry.to_numpy(), strict=True):
        if given is not None and not pd.isna(given) and str(given) in known:
            out[sid] = str(given)
            continue
        reach = float(rng) if rng == rng else 15.0
        near = tree.query_nearest(geom, max_distance=max(reach, 1.0)) if tree else []
        if len(near):
            out[sid] = str(rid[int(near[0])])
        else:
            lost.append(sid)
    if lost:
        msg = (f"sensors {', '.join(lost[:5])} have no road_id and no road within their range; "
               "set road_id (the road they count) in the sensors layer")
        raise LayerError(msg)
    return out


def simulated_counts(link_hours: pd.DataFrame, roads: dict[str, str]) -> pd.DataFrame:
    """Simulated vehicles per hour at each sensor: both directions of its road.

    Examples
    --------
    >>> lh = pd.DataFrame({"road_id": ["r1", "r1"], "hour": [8, 8], "volume": [3.0, 4.0]})
    >>> simulated_counts(lh, {"s1": "r1"}).to_dict("records")
    [{'sensor_id': 's1', 'hour': 8, 'simulated': 7.0}]
    """
    vol = link_hours.groupby(["road_id", "hour"], sort=True)["volume"].sum()
    rows = []
    for sid, road in roads.items():
        if road in vol.index.get_level_values(0):
            part = vol.loc[road]
            rows += [{"sensor_id": sid, "hour": int(h), "simulated": float(v)}
                     for h, v in part.items()]
    return pd.DataFrame(rows, columns=["sensor_id", "hour", "simulated"])


@dataclass
class FitStats:
    """How simulated counts fit observed ones.

    Attributes
    ----------
    counts : int
        Sensor-hours compared.
    geh_below_share : float
        Share with GEH below the threshold (the standard: >= 0.85 below 5).
    geh_mean, geh_max : float
    observed_total, simulated_total : float
        Vehicles over all compared sensor-hours.
    """

    counts: int
    geh_below_share: float
    geh_mean: float
    geh_max: float
    observed_total: float
    simulated_total: float

    def to_dict(self) -> dict[str, float]:
        """As a plain dict."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def fit_stats(table: pd.DataFrame, threshold: float = 5.0) -> FitStats:
    """Fit of a table with ``observed`` and ``simulated`` columns.

    Examples
    --------
    >>> fit_stats(pd.DataFrame({"observed": [100.0, 100.0], "simulated": [100.0, 200.0]})
    ...           ).geh_below_share
    0.5
    """
    g = geh(table["simulated"].to_numpy(float), table["observed"].to_numpy(float))
    return FitStats(counts=len(table), geh_below_share=float((g < threshold).mean())
                    if len(g) else 0.0, geh_mean=float(g.mean()) if len(g) else 0.0,
                    geh_max=float(g.max()) if len(g) else 0.0,
                    observed_total=float(table["observed"].sum()),
                    simulated_total=float(table["simulated"].sum()))


# --- calibration -----------------------------------------------------------------------------

@dataclass
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes
    ----------
    before, after : FitStats
        Fit with the starting and with the adjusted demand (the best round's).
    rounds : list of FitStats
        Fit of every simulation (the first is ``before``).
    external : ExternalConfig
        The adjusted external demand.
    level : float
        Multiplier on ``peak_share_of_capacity`` (through traffic level).
    gateway_scale : dict
        Gateway road-node id -> multiplier on its ``through_scale``.
    hourly_factor : dict
        Hour -> multiplier on ``hourly_profile``.
    table : DataFrame
        sensor_id, hour, observed, simulated_before, simulated_after, geh_before, geh_after.
    settings : dict
    """

    before: FitStats
    after: FitStats
    rounds: list[FitStats]
    external: ExternalConfig
    level: float
    gateway_scale: dict[str, float]
    hourly_factor: dict[int, float]
    table: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def _observed(twin: Twin, counts: pd.DataFrame | None) -> pd.DataFrame:
    obs = counts if counts is not None else twin.observations
    if obs is None or len(obs) == 0:
        msg = ("the twin has no counts to calibrate against: import them with `twin calibrate "
               "FILE --counts counts.csv` or `twin sensors import-counts`")
        raise SimulationError(msg)
    obs = obs.copy()
    obs["sensor_id"] = obs["sensor_id"].astype(str)
    obs["hour"] = pd.to_numeric(obs["hour"], errors="coerce").astype(int)
    obs["count"] = pd.to_numeric(obs["count"], errors="coerce").astype(float)
    out = obs.groupby(["sensor_id", "hour"], as_index=False)[["count"]].mean()
    return out.rename(columns={"count": "observed"})


def _through_parts(trips: pd.DataFrame, roads: dict[str, str], sample: float
                   ) -> pd.DataFrame:
    """Through vehicles per (road, departure hour, entry gateway) on the counted roads."""
    thr = trips[trips["kind"].astype(str) == "through"]
    cols = ["road_id", "hour", "gateway", "vehicles"]
    if len(thr) == 0:
        return pd.DataFrame(columns=cols)
    routes = pa.array(thr["route"].array)
    if isinstance(routes, pa.ChunkedArray):
        routes = routes.combine_chunks()
    lens = pc.list_value_length(routes).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(routes)
    if isinstance(flat.type, pa.DictionaryType):
        flat = flat.cast(pa.string())
    link = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object).astype(str)
    road = np.char.partition(link, ":")[:, 0]
    owner = np.repeat(np.arange(len(thr)), lens)
    wanted = np.isin(road, list(set(roads.values())))
    hour = (thr["depart"].to_numpy(float) // 3600).astype(np.int64)
    frame = pd.DataFrame({"road_id": road[wanted], "trip": owner[wanted]}).drop_duplicates()
    frame["hour"] = hour[frame["trip"].to_numpy()]
    frame["gateway"] = thr["origin"].astype(str).to_numpy()[frame["trip"].to_numpy()]
    out = frame.groupby(["road_id", "hour", "gateway"], as_index=False).size()
    out["vehicles"] = out.pop("size") / sample
    return out[cols]


def _fit(obs: np.ndarray, rest: np.ndarray, parts: np.ndarray, iters: int = 300
         ) -> tuple[float, np.ndarray, np.ndarray]:
    """Multipliers (level, per gateway, per hour) fitting ``obs ~ rest + sum(level g m parts)``.

    ``parts`` is (n_gateways, n_counts, n_hours) through vehicles; obs and rest are
    (n_counts, n_hours) with NaN where nothing was counted. Multiplicative updates of the
    Poisson likelihood (each keeps the multipliers positive and never worsens the fit);
    gateway and hour multipliers are normalised to a demand-weighted mean of 1, the level
    takes the rest.
    """
    seen = np.isfinite(obs)
    o = np.where(seen, obs, 0.0)
    r = np.where(seen, rest, 0.0)
    t = np.where(seen[None], parts, 0.0)
    ng, _, nh = t.shape
    g, m, level = np.ones(ng), np.ones(nh), 1.0
    for _ in range(iters):
        model = r + level * np.einsum("g,gch,h->ch", g, t, m)
        ratio = np.divide(o, model, out=np.ones_like(o), where=model > 0)
        ratio = np.where(seen, ratio, 0.0)
        num_g = np.einsum("gch,ch,h->g", t, ratio, m)
        den_g = np.einsum("gch,h->g", t, m)
        g = np.where(den_g > 0, g * num_g / np.maximum(den_g, 1e-12), g)
        model = r + level * np.einsum("g,gch,h->ch", g, t, m)
        ratio = np.where(seen, np.divide(o, model, out=np.ones_like(o), where=model > 0), 0.0)
        num_m = np.einsum("gch,ch,g->h", t, ratio, g)
        den_m = np.einsum("gch,g->h", t, g)
        m = np.where(den_m > 0, m * num_m / np.maximum(den_m, 1e-12), m)
        wg = t.sum(axis=(1, 2))
        mg = float((g * wg).sum() / wg.sum()) if wg.sum() > 0 else 1.0
        wh = t.sum(axis=(0, 1))
        mh = float((m * wh).sum() / wh.sum()) if wh.sum() > 0 else 1.0
        g, m, level = g / mg, m / mh, level * mg * mh
    return level, g, m


def _adjusted(base: ExternalConfig, level: float, gscale: dict[str, float],
              hfactor: dict[int, float]) -> ExternalConfig:
    tt = copy.deepcopy(base.through_traffic)
    tt["peak_share_of_capacity"] = {k: float(v) * level
                                    for k, v in tt["peak_share_of_capacity"].items()}
    tt["hourly_profile"] = {int(h): float(v) * hfactor.get(int(h), 1.0)
                            for h, v in tt["hourly_profile"].items()}
    gw = copy.deepcopy(base.gateways)
    for gid, s in gscale.items():
        over = dict(gw.get(gid, {}))
        over["through_scale"] = float(over.get("through_scale", 1.0)) * s
        gw[gid] = over
    return ExternalConfig(in_commuters=dict(base.in_commuters),
                          out_commuters=dict(base.out_commuters), through_traffic=tt,
                          gateways=gw, path=base.path)


def calibrate(twin: Twin, counts: pd.DataFrame | None = None, *, seed: int = 0,
              sample: float = 1.0, external: ExternalConfig | None = None,
              services: ServicesConfig | None = None, rounds: int | None = None,
              iterations: int | None = None, progress: Progress | None = None,
              **model_options: Any) -> CalibrationResult:
    """Adjust the through traffic (level, per entry gateway, per hour) to fit hourly counts.

    Parameters
    ----------
    twin : Twin
        With a ``sensors`` layer holding the counting sensors.
    counts : DataFrame, optional
        sensor_id, hour, count (date) as :func:`read_counts` returns; default the twin's
        observations. Several dates are averaged.
    seed, sample : int, float
        Of every simulation (the same seed each round: common random numbers).
    external : ExternalConfig, optional
        The starting external demand (default ``agents/external.yaml``).
    rounds, iterations : int, optional
        Simulate-adjust rounds and route-learning iterations per simulation (default
        ``calibration`` in ``agents/services.yaml``).
    progress : callable, optional
        ``progress(round, fit)`` after every simulation.
    **model_options
        Passed to :func:`twin.agents.simulate.simulate` (e.g. ``population_config``).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    SimulationError
        No counts, or the counted roads carry no simulated traffic at all.

    Examples
    --------
    >>> # res = calibrate(read_twin("city.twin.gpkg")); res.before.geh_below_share, res.after
    """
    import inspect

    from twin.agents.simulate import simulate

    if "analyses" in inspect.signature(simulate).parameters:   # only the mobility day
        model_options = {"analyses": (), **model_options}
    cfg = (services or load_services_config()).calibration
    n_rounds = int(rounds if rounds is not None else cfg["rounds"])
    n_iter = int(iterations if iterations is not None else cfg["iterations"])
    thr, damp = float(cfg["geh_threshold"]), float(cfg["damping"])
    lo, hi = (float(x) for x in cfg["factor_range"])
    obs = _observed(twin, counts)
    roads = counter_roads(twin, sorted(obs["sensor_id"].unique()))
    start = external or load_external_config()
    level = 1.0
    gscale: dict[str, float] = {}
    hfactor: dict[int, float] = {}
    current = start
    fits: list[FitStats] = []
    tables: list[pd.DataFrame] = []
    states: list[tuple[ExternalConfig, float, dict[str, float], dict[int, float]]] = []
    for k in range(n_rounds + 1):
        states.append((current, level, dict(gscale), dict(hfactor)))
        day = simulate(twin, seed=seed, iterations=n_iter, sample=sample,
                       external_config=current, **model_options)
        sim = simulated_counts(day.link_hours, roads)
        table = obs.merge(sim, on=["sensor_id", "hour"], how="left").fillna({"simulated": 0.0})
        fit = fit_stats(table, thr)
        fits.append(fit)
        tables.append(table)
        if progress is not None:
            progress(k, fit)
        settled = k > 0 and fit.geh_below_share - fits[-2].geh_below_share < 0.02
        if k == n_rounds or (fit.geh_below_share >= float(cfg["target_share"]) and settled):
            break
        if table["simulated"].sum() <= 0:
            msg = ("the counted roads carry no simulated traffic; check the sensors' road_id "
                   "and that through traffic reaches them")
            raise SimulationError(msg)
        lv, gs, hf = _round(table, day, roads, sample)
        level = float(np.clip(level * lv ** damp, lo, hi))
        for gid, v in gs.items():
            gscale[gid] = float(np.clip(gscale.get(gid, 1.0) * v ** damp, lo, hi))
        for h, v in hf.items():
            hfactor[h] = float(np.clip(hfactor.get(h, 1.0) * v ** damp, lo, hi))
        current = _adjusted(start, level, gscale, hfactor)
    best = int(np.argmax([f.geh_below_share - 1e-6 * f.geh_mean for f in fits]))
    chosen, level, gscale, hfactor = states[best]   # the best round's demand, not a worse one
    first, last = tables[0], tables[best]
    out = first[["sensor_id", "hour", "observed"]].copy()
    out["simulated_before"] = first["simulated"].to_numpy()
    out["simulated_after"] = last["simulated"].to_numpy()
    out["geh_before"] = geh(out["simulated_before"].to_numpy(), out["observed"].to_numpy())
    out["geh_after"] = geh(out["simulated_after"].to_numpy(), out["observed"].to_numpy())
    return CalibrationResult(
        before=fits[0], after=fits[best], rounds=fits, external=chosen, level=level,
        gateway_scale=gscale, hourly_factor=hfactor, table=out,
        settings={"seed": seed, "sample": sample, "rounds": n_rounds, "iterations": n_iter,
                  "geh_threshold": thr, "damping": damp, "factor_range": [lo, hi],
                  "best_round": best})


def _round(table: pd.DataFrame, day: Any, roads: dict[str, str], sample: float
           ) -> tuple[float, dict[str, float], dict[int, float]]:
    """One adjustment: fit multipliers to the counts on this simulation's decomposition."""
    parts = _through_parts(day.trips, roads, sample)
    sensors = sorted(table["sensor_id"].unique())
    hours = np.arange(24)
    si = {s: i for i, s in enumerate(sensors)}
    obs = np.full((len(sensors), 24), np.nan)
    sim = np.zeros((len(sensors), 24))
    for sid, hour, o, v in zip(table["sensor_id"].astype(str).tolist(),
                               table["hour"].astype(int).tolist(),
                               table["observed"].astype(float).tolist(),
                               table["simulated"].astype(float).tolist(), strict=True):
        obs[si[sid], hour] = o
        sim[si[sid], hour] = v
    gws = sorted(parts["gateway"].unique()) if len(parts) else []
    gi = {g: i for i, g in enumerate(gws)}
    t = np.zeros((len(gws), len(sensors), 24))
    by_road: dict[str, list[int]] = {}
    for s, r in roads.items():
        if s in si:
            by_road.setdefault(r, []).append(si[s])
    for road, hr, gw, veh in zip(parts["road_id"].astype(str).tolist(),
                                 parts["hour"].astype(int).tolist(),
                                 parts["gateway"].astype(str).tolist(),
                                 parts["vehicles"].astype(float).tolist(), strict=True):
        if 0 <= hr < 24:
            for c in by_road.get(road, []):
                t[gi[gw], c, hr] += veh
    rest = np.clip(sim - t.sum(axis=0), 0.0, None)
    level, g, m = _fit(obs, rest, t)
    seen_h = t.sum(axis=(0, 1)) > 0
    return (level, {gw: float(g[i]) for i, gw in enumerate(gws)},
            {int(h): float(m[h]) for h in hours if seen_h[h]})


def write_calibrated(result: CalibrationResult, out: str | Path) -> Path:
    """Write the adjusted external demand as a YAML file ``twin`` reads like external.yaml.

    Examples
    --------
    >>> # write_calibrated(res, "agents/external-calibrated-2026-05-04.yaml")
    """
    path = Path(out)
    ext = result.external
    doc = {"in_commuters": ext.in_commuters, "out_commuters": ext.out_commuters,
           "through_traffic": ext.through_traffic, "gateways": ext.gateways}
    head = (f"# Calibrated by `twin calibrate` from {Path(ext.path).name or 'external.yaml'}: "
            f"GEH < {result.settings['geh_threshold']:g} on "
            f"{100 * result.before.geh_below_share:.1f}% -> "
            f"{100 * result.after.geh_below_share:.1f}% of {result.after.counts} counts.\n"
            f"# Through traffic level x{result.level:.3f}; per-gateway through_scale and the "
            "hourly profile adjusted. To use it, copy it over agents/external.yaml,\n"
            "# or pass external_config=load_external_config(THIS_FILE) to simulate().\n")
    text = head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
