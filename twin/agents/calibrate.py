"""Calibration against traffic counts: import hourly counts, the GEH statistic, adjust demand.

- :func:`read_counts` reads a counts CSV (``sensor_id, hour, count`` and optional ``date``) and
  checks it against the twin's ``sensors`` layer: every problem (unknown sensor, a sensor that
  does not count traffic, a negative or non-numeric count, a malformed hour or date, a duplicate)
  is listed at once. :func:`import_counts` stores the counts in the twin file's
  ``sensor_observations`` table (:attr:`twin.layers.store.Twin.observations`).
- :func:`geh`: ``sqrt(2 (M - C)^2 / (M + C))`` of hourly flows M (simulated) and C (counted);
  the standard asks for GEH < 5 on at least 85 % of the counts.
- :func:`calibrate`: simulate the day, compare, adjust, repeat. The demand it adjusts
  (:mod:`twin.agents.calibrate_profile`): the residents' trip rates per type (the chains that
  leave home, ``agents/population.yaml``), the departure-time profile (per-hour multipliers of
  the departure densities, ``departure_hour_factor``), the in-commuters' car share and the
  through traffic (level, per entry gateway, per hour; ``agents/external.yaml``). Each round
  splits every simulated count by lever from the routes of the day's trips, fits the
  multipliers to the counts (:mod:`twin.agents.calibrate_fit`), applies them damped and
  simulates again. :func:`write_calibrated` and :func:`write_calibrated_population` write the
  adjusted profiles as new YAML files.

Examples
--------
>>> round(float(geh(np.array([100.0]), np.array([150.0]))[0]), 2)
4.47
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin._errors import LayerError, SimulationError
from twin.agents.calibrate_counts import COUNT_KINDS, import_counts, read_counts
from twin.agents.calibrate_fit import (
    LEVERS,
    Decomposition,
    Multipliers,
    decompose,
    fit_multipliers,
)
from twin.agents.calibrate_profile import (
    IN_COMMUTER,
    adjusted_external,
    adjusted_population,
    external_yaml,
    population_yaml,
    rate_caps,
    write_text_atomic,
)
from twin.agents.external import ExternalConfig, load_external_config
from twin.agents.population import PopulationConfig, load_population_config
from twin.agents.services import ServicesConfig, load_services_config
from twin.layers.store import Twin

__all__ = [
    "COUNT_KINDS",
    "LEVERS",
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
    "write_calibrated_population",
]

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
        The adjusted external demand (through traffic, in-commuters' car share).
    population : PopulationConfig
        The adjusted residents' profile (chain shares, ``departure_hour_factor``).
    level : float
        Multiplier on ``peak_share_of_capacity`` (through traffic level).
    gateway_scale : dict
        Gateway road-node id -> multiplier on its ``through_scale``.
    hourly_factor : dict
        Hour -> multiplier on the through traffic's ``hourly_profile``.
    rates : dict
        Resident type -> multiplier on its trip rate (the chains that leave home), and
        ``in_commuter`` -> multiplier on the in-commuters' car share.
    departure_factor : dict
        Hour -> multiplier on the departure densities (``departure_hour_factor``).
    table : DataFrame
        sensor_id, hour, observed, simulated_before, simulated_after, geh_before, geh_after.
    settings : dict
        Seed, sample, rounds, iterations, threshold, damping, limits, levers, the best round,
        the rate caps, and ``seconds`` (wall time).
    """

    before: FitStats
    after: FitStats
    rounds: list[FitStats]
    external: ExternalConfig
    population: PopulationConfig
    level: float
    gateway_scale: dict[str, float]
    hourly_factor: dict[int, float]
    rates: dict[str, float]
    departure_factor: dict[int, float]
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


@dataclass
class _State:
    """Cumulative multipliers on the starting demand."""

    level: float = 1.0
    gateway: dict[str, float] = field(default_factory=dict)
    through_hour: dict[int, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    departure: dict[int, float] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(self.level, dict(self.gateway), dict(self.through_hour),
                      dict(self.rates), dict(self.departure))

    def configs(self, ext: ExternalConfig, pop: PopulationConfig
                ) -> tuple[ExternalConfig, PopulationConfig]:
        rates = {k: v for k, v in self.rates.items() if k != IN_COMMUTER}
        return (adjusted_external(ext, level=self.level, gateway_scale=self.gateway,
                                  hour_factor=self.through_hour,
                                  in_commuter_rate=self.rates.get(IN_COMMUTER, 1.0)),
                adjusted_population(pop, rates, self.departure))


def _check_levers(levers: Sequence[str]) -> tuple[str, ...]:
    bad = [x for x in levers if x not in LEVERS]
    if bad or not levers:
        msg = (f"unknown demand lever(s) {bad or '(none given)'}; choose among "
               f"{', '.join(LEVERS)}")
        raise SimulationError(msg)
    return tuple(dict.fromkeys(levers))


def calibrate(twin: Twin, counts: pd.DataFrame | None = None, *, seed: int = 0,
              sample: float = 1.0, external: ExternalConfig | None = None,
              population: PopulationConfig | None = None,
              services: ServicesConfig | None = None, rounds: int | None = None,
              iterations: int | None = None, levers: Sequence[str] = LEVERS,
              shrink: float = 1.0, progress: Progress | None = None,
              **model_options: Any) -> CalibrationResult:
    """Adjust the demand (through traffic, residents' trip rates, departure times) to counts.

    Each round simulates the day, compares it with the counts (GEH), splits every simulated
    count by demand lever (:func:`twin.agents.calibrate_fit.decompose`), fits the multipliers
    to the counts (:func:`twin.agents.calibrate_fit.fit_multipliers`), applies them damped
    and within ``factor_range`` (the residents' rates also within
    :func:`twin.agents.calibrate_profile.rate_caps`), and simulates again; the best round's
    demand is kept.

    Parameters
    ----------
    twin : Twin
        With a ``sensors`` layer holding the counting sensors.
    counts : DataFrame, optional
        sensor_id, hour, count (date) as :func:`read_counts` returns; default the twin's
        observations. Several dates are averaged.
    seed, sample : int, float
        Of every simulation (the same seed each round: common random numbers).
    external, population : optional
        The starting profiles (default ``agents/external.yaml``, ``agents/population.yaml``).
    rounds, iterations : int, optional
        Simulate-adjust rounds and route-learning iterations per simulation (default
        ``calibration`` in ``agents/services.yaml``).
    levers : sequence of str
        What to adjust, among {"through", "residents", "in_commuters", "departures"} (default
        all): the through traffic (level, per entry gateway, per hour), the residents' trip
        rates per type, the in-commuters' car share, the departure-time profile.
    shrink : float
        Weight of the prior that draws every multiplier towards the starting profile: a
        lever the counts hardly see stays put
        (:func:`twin.agents.calibrate_fit.fit_multipliers`).
    progress : callable, optional
        ``progress(round, fit)`` after every simulation.
    **model_options
        Passed to :func:`twin.agents.simulate.simulate` (e.g. ``start_h``).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    SimulationError
        No counts, an unknown lever, or the counted roads carry no simulated traffic at all.

    Examples
    --------
    >>> # res = calibrate(read_twin("city.twin.gpkg")); res.before.geh_below_share, res.after
    """
    import inspect

    from twin.agents.simulate import simulate

    t_start = time.perf_counter()
    use = _check_levers(levers)
    params = inspect.signature(simulate).parameters
    if "analyses" in params:   # only the mobility day
        model_options = {"analyses": (), **model_options}
    if "utilities" in params:
        model_options = {"utilities": False, **model_options}
    pop_start = population or model_options.pop("population_config", None) or \
        load_population_config()
    model_options.pop("population_config", None)
    ext_start = external or model_options.pop("external_config", None) or \
        load_external_config()
    model_options.pop("external_config", None)
    cfg = (services or load_services_config()).calibration
    n_rounds = int(rounds if rounds is not None else cfg["rounds"])
    n_iter = int(iterations if iterations is not None else cfg["iterations"])
    thr, damp = float(cfg["geh_threshold"]), float(cfg["damping"])
    lo, hi = (float(x) for x in cfg["factor_range"])
    obs = _observed(twin, counts)
    roads = counter_roads(twin, sorted(obs["sensor_id"].unique()))
    types = list(pop_start.types)
    caps = {**rate_caps(pop_start),
            IN_COMMUTER: 1.0 / max(float(ext_start.in_commuters["car_share"]), 1e-9)}
    state = _State()
    fits: list[FitStats] = []
    tables: list[pd.DataFrame] = []
    states: list[tuple[ExternalConfig, PopulationConfig, _State]] = []
    ext, pop = ext_start, pop_start
    best_step: tuple[float, _State, Decomposition] | None = None
    step_damp = damp
    for k in range(n_rounds + 1):
        states.append((ext, pop, state.copy()))
        day = simulate(twin, seed=seed, iterations=n_iter, sample=sample, external_config=ext,
                       population_config=pop, **model_options)
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
                   "and that traffic reaches them")
            raise SimulationError(msg)
        score = fit.geh_below_share - 1e-6 * fit.geh_mean
        if best_step is None or score >= best_step[0]:
            best_step = (score, state.copy(), decompose(table, day.trips, roads, sample, types))
            step_damp = damp
        else:   # worse than the best round: step again from there, half as far
            state = best_step[1].copy()
            step_damp /= 2
        _step(state, best_step[2], use, caps, step_damp, lo, hi, shrink)
        ext, pop = state.configs(ext_start, pop_start)
    best = int(np.argmax([f.geh_below_share - 1e-6 * f.geh_mean for f in fits]))
    ext, pop, chosen = states[best]   # the best round's demand, not a worse one
    first, last = tables[0], tables[best]
    out = first[["sensor_id", "hour", "observed"]].copy()
    out["simulated_before"] = first["simulated"].to_numpy()
    out["simulated_after"] = last["simulated"].to_numpy()
    out["geh_before"] = geh(out["simulated_before"].to_numpy(), out["observed"].to_numpy())
    out["geh_after"] = geh(out["simulated_after"].to_numpy(), out["observed"].to_numpy())
    return CalibrationResult(
        before=fits[0], after=fits[best], rounds=fits, external=ext, population=pop,
        level=chosen.level, gateway_scale=chosen.gateway, hourly_factor=chosen.through_hour,
        rates=chosen.rates, departure_factor=chosen.departure, table=out,
        settings={"seed": seed, "sample": sample, "rounds": n_rounds, "iterations": n_iter,
                  "geh_threshold": thr, "damping": damp, "factor_range": [lo, hi],
                  "levers": list(use), "shrink": shrink, "best_round": best,
                  "rate_caps": {k: round(v, 4) for k, v in caps.items()},
                  "seconds": round(time.perf_counter() - t_start, 2)})


def _step(state: _State, d: Decomposition, levers: tuple[str, ...], caps: dict[str, float],
          damp: float, lo: float, hi: float, shrink: float) -> None:
    """Fit multipliers on this round's decomposition and fold them, damped, into ``state``."""
    cum = np.array([state.rates.get(q, 1.0) for q in d.groups])
    top = np.array([min(hi, caps.get(q, hi)) for q in d.groups])
    back = Multipliers(   # the multipliers that lead back to the starting profiles
        level=1.0 / state.level,
        gateway=np.array([1.0 / state.gateway.get(g, 1.0) for g in d.gateways]),
        through_hour=np.array([1.0 / state.through_hour.get(h, 1.0) for h in range(24)]),
        rates=1.0 / cum, departure=np.array([1.0 / state.departure.get(h, 1.0)
                                             for h in range(24)]))
    m = fit_multipliers(d.obs, d.rest, d.through, d.resident, dep_weight=d.dep_weight,
                        rate_cap=top / cum, rate_floor=lo / float(cum.min(initial=1.0)),
                        levers=levers, shrink=shrink, anchor=back)
    if "through" in levers and d.through.sum() > 0:
        state.level = float(np.clip(state.level * m.level ** damp, lo, hi))
        for i, gid in enumerate(d.gateways):
            state.gateway[gid] = float(np.clip(state.gateway.get(gid, 1.0)
                                               * m.gateway[i] ** damp, lo, hi))
        seen = d.through.sum(axis=(0, 1)) > 0
        for h in np.flatnonzero(seen).tolist():
            state.through_hour[h] = float(np.clip(state.through_hour.get(h, 1.0)
                                                  * m.through_hour[h] ** damp, lo, hi))
    for i, q in enumerate(d.groups):
        if m.rates[i] != 1.0:
            state.rates[q] = float(np.clip(cum[i] * m.rates[i] ** damp, lo, top[i]))
    for h in np.flatnonzero(m.departure != 1.0).tolist():
        state.departure[h] = float(np.clip(state.departure.get(h, 1.0)
                                           * m.departure[h] ** damp, lo, hi))


def _fit_line(result: CalibrationResult) -> str:
    return (f"GEH < {result.settings['geh_threshold']:g} on "
            f"{100 * result.before.geh_below_share:.1f}% -> "
            f"{100 * result.after.geh_below_share:.1f}% of {result.after.counts} counts")


def write_calibrated(result: CalibrationResult, out: str | Path) -> Path:
    """Write the adjusted external demand as a YAML file ``twin`` reads like external.yaml.

    Examples
    --------
    >>> # write_calibrated(res, "agents/external-calibrated-2026-05-04.yaml")
    """
    ext = result.external
    rate = result.rates.get(IN_COMMUTER, 1.0)
    head = (f"Calibrated by `twin calibrate` from {Path(ext.path).name or 'external.yaml'}: "
            f"{_fit_line(result)}.\n"
            f"Through traffic level x{result.level:.3f}; per-gateway through_scale and the "
            f"hourly profile adjusted; in-commuters' car share x{rate:.3f}.\n"
            "Every key means what it means in agents/external.yaml. To use it, copy it over "
            "agents/external.yaml\n(keep the original), or pass "
            "external_config=load_external_config(THIS_FILE) to simulate().")
    return write_text_atomic(out, external_yaml(ext, head))


def write_calibrated_population(result: CalibrationResult, out: str | Path) -> Path:
    """Write the adjusted residents' profile as a YAML file ``twin`` reads like population.yaml.

    The residents' chain shares carry the trip rates, ``departure_hour_factor`` the
    departure-time profile; everything else is the starting profile's.

    Examples
    --------
    >>> # write_calibrated_population(res, "agents/population-calibrated-2026-05-04.yaml")
    """
    pop = result.population
    rates = ", ".join(f"{k} x{v:.3f}" for k, v in sorted(result.rates.items())
                      if k != IN_COMMUTER) or "unchanged"
    head = (f"Calibrated by `twin calibrate` from {Path(pop.path).name or 'population.yaml'}: "
            f"{_fit_line(result)}.\n"
            f"Trip rates (the chains that leave home; `home` takes the rest): {rates}.\n"
            "departure_hour_factor: hour -> multiplier of every departure density in that hour "
            "(the departure-time profile).\n"
            "Every other key means what it means in agents/population.yaml. To use it, copy it "
            "over agents/population.yaml\n(keep the original), or pass "
            "population_config=load_population_config(THIS_FILE) to simulate().")
    return write_text_atomic(out, population_yaml(pop, head))
