"""One calibration step: split the simulated counts by demand lever, fit multipliers to counts.

:func:`decompose` splits every simulated count (sensor, hour) into the car trips each lever
moves, from the routes of the day's trips:

- through traffic by entry gateway (counted in its departure hour; the through traffic's own
  hourly profile is indexed by that hour);
- residents by type, and in-commuters, by the hour their day's first trip leaves (the hour
  whose departure density the departure-time profile multiplies); residents whose day has no
  work, school or errand (only public-service visits) are not moved by the trip rates and stay
  in the rest;
- the rest.

:func:`fit_multipliers` then fits, to the observed counts, the multipliers of

``sim[c, h] = rest + level sum_g gw[g] X[g, c, h] th[h] + sum_q rate[q] sum_k Y[q, c, h, k] dep[k]``

by multiplicative updates of the Poisson likelihood (each block update keeps the multipliers
positive and does not worsen the fit), with the trip rates held within their caps. The hour
multipliers are normalised (through: to a demand-weighted mean of 1, the level takes the rest;
departures: to a mean of 1 over every first departure of the day, because the reweighted
departure densities still hold everybody; the rates take the rest).

Examples
--------
>>> obs = np.array([[20.0]]); rest = np.array([[10.0]])
>>> fit = fit_multipliers(obs, rest, np.zeros((0, 1, 1)), np.ones((1, 1, 1, 1)) * 5.0,
...                       dep_weight=np.ones(1), rate_cap=np.array([10.0]), shrink=0.0)
>>> round(float(fit.rates[0]), 3)
2.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from twin.agents.calibrate_profile import IN_COMMUTER

__all__ = ["LEVERS", "Decomposition", "Multipliers", "decompose", "fit_multipliers"]

#: What calibration can adjust: the through traffic (level, per gateway, per hour), the
#: residents' trip rates (per type), the in-commuters' car share, the departure-time profile.
LEVERS = ("through", "residents", "in_commuters", "departures")
_SCALED_PURPOSES = ("work", "school", "errand")
_H = 24


@dataclass
class Decomposition:
    """The simulated counts of one day split by lever (see the module docstring).

    Attributes
    ----------
    sensors : list of str
    obs, sim, rest : ndarray (n_sensors, 24)
        Observed (NaN where not counted), simulated, and the part no lever moves.
    through : ndarray (n_gateways, n_sensors, 24)
    gateways : list of str
    groups : list of str
        Resident types, then ``in_commuter``.
    resident : ndarray (n_groups, n_sensors, 24, 24)
        Vehicles by group, sensor, counted hour and hour of the day's first departure.
    dep_weight : ndarray (24,)
        Every first departure of the day (residents moved by the rates, and in-commuters, by
        any mode) per hour: the weights of the departure normalisation.
    """

    sensors: list[str]
    obs: np.ndarray
    sim: np.ndarray
    rest: np.ndarray
    through: np.ndarray
    gateways: list[str]
    groups: list[str]
    resident: np.ndarray
    dep_weight: np.ndarray


def _route_roads(car: pd.DataFrame, wanted: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """(trip row, road id) of every counted road a car trip uses (once per trip and road)."""
    if len(car) == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    routes = pa.array(car["route"].array)
    if isinstance(routes, pa.ChunkedArray):
        routes = routes.combine_chunks()
    lens = pc.list_value_length(routes).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(routes)
    if isinstance(flat.type, pa.DictionaryType):
        flat = flat.cast(pa.string())
    link = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object).astype(str)
    road = np.char.partition(link, ":")[:, 0] if link.size else link
    owner = np.repeat(np.arange(len(car)), lens)
    keep = np.isin(road, list(wanted))
    pairs = pd.DataFrame({"trip": owner[keep], "road": road[keep]}).drop_duplicates()
    return pairs["trip"].to_numpy(np.int64), pairs["road"].to_numpy(object)


def decompose(table: pd.DataFrame, trips: pd.DataFrame, roads: Mapping[str, str],
              sample: float, types: Sequence[str]) -> Decomposition:
    """Split the simulated counts of ``table`` by lever, from the routes in ``trips``.

    Parameters
    ----------
    table : DataFrame
        sensor_id, hour, observed, simulated.
    trips : DataFrame
        The day's trips (:attr:`twin.agents.simulate.DayResult.trips`).
    roads : mapping
        Sensor id -> the road it counts.
    sample : float
        Share of the population simulated (vehicles count 1 / sample).
    types : sequence of str
        The resident types.

    Examples
    --------
    >>> # d = decompose(table, day.trips, roads, 1.0, ["worker", "student"])
    """
    sensors = sorted(table["sensor_id"].astype(str).unique())
    si = {s: i for i, s in enumerate(sensors)}
    nc = len(sensors)
    obs = np.full((nc, _H), np.nan)
    sim = np.zeros((nc, _H))
    rows = [si[s] for s in table["sensor_id"].astype(str)]
    hrs = table["hour"].astype(int).to_numpy()
    ok = (hrs >= 0) & (hrs < _H)
    obs[np.asarray(rows)[ok], hrs[ok]] = table["observed"].astype(float).to_numpy()[ok]
    sim[np.asarray(rows)[ok], hrs[ok]] = table["simulated"].astype(float).to_numpy()[ok]
    groups = [*types, IN_COMMUTER]
    gi = {g: i for i, g in enumerate(groups)}
    agent = trips["agent"].astype(str).to_numpy()
    kind = trips["kind"].astype(str).to_numpy()
    depart = trips["depart"].to_numpy(float)
    codes, uniq = pd.factorize(agent)
    first = np.full(len(uniq), np.inf)
    np.minimum.at(first, codes, depart)
    scaled = np.zeros(len(uniq), bool)
    scaled[codes[np.isin(trips["purpose"].astype(str).to_numpy(), _SCALED_PURPOSES)]] = True
    is_res = np.isin(kind, list(types))
    moved = (is_res & scaled[codes]) | (kind == IN_COMMUTER)
    heads = np.zeros(len(uniq), bool)
    heads[codes[moved]] = True
    fh_agent = np.clip((first // 3600).astype(np.int64, copy=False) if len(first) else
                       np.zeros(0, np.int64), 0, _H - 1)
    dep_weight = np.bincount(fh_agent[heads], minlength=_H)[:_H].astype(float) / sample
    car = np.flatnonzero(trips["mode"].astype(str).to_numpy() == "car")
    trip_i, road = _route_roads(trips.iloc[car], set(roads.values()))
    by_road = pd.DataFrame({"road": list(roads.values()), "c": [si.get(s, -1) for s in roads]})
    by_road = by_road[by_road["c"] >= 0]
    pairs = pd.DataFrame({"t": trip_i, "road": road}).merge(by_road, on="road")
    t = car[pairs["t"].to_numpy(np.int64)]
    c = pairs["c"].to_numpy(np.int64)
    hour = np.clip((depart[t] // 3600).astype(np.int64), 0, _H - 1)
    veh = 1.0 / sample
    gateways = sorted(set(trips["origin"].astype(str).to_numpy()[t][kind[t] == "through"]))
    gw_i = {g: i for i, g in enumerate(gateways)}
    through = np.zeros((len(gateways), nc, _H))
    thr = kind[t] == "through"
    if thr.any():
        g_of = np.array([gw_i[o] for o in trips["origin"].astype(str).to_numpy()[t[thr]]])
        np.add.at(through, (g_of, c[thr], hour[thr]), veh)
    resident = np.zeros((len(groups), nc, _H, _H))
    mv = moved[t]
    if mv.any():
        q = np.array([gi[k] for k in kind[t[mv]]], dtype=np.int64)
        np.add.at(resident, (q, c[mv], hour[mv], fh_agent[codes[t[mv]]]), veh)
    parts = through.sum(axis=0) + resident.sum(axis=(0, 3))
    scale = np.divide(sim, parts, out=np.ones_like(sim), where=parts > sim)
    through *= scale[None]
    resident *= scale[None, :, :, None]
    rest = np.clip(sim - through.sum(axis=0) - resident.sum(axis=(0, 3)), 0.0, None)
    return Decomposition(sensors=sensors, obs=obs, sim=sim, rest=rest, through=through,
                         gateways=gateways, groups=groups, resident=resident,
                         dep_weight=dep_weight)


@dataclass
class Multipliers:
    """Fitted multipliers on the current demand (1 = unchanged).

    Attributes
    ----------
    level : float
        Through traffic, all gateways.
    gateway : ndarray (n_gateways,)
    through_hour : ndarray (24,)
    rates : ndarray (n_groups,)
        Trip rates of each resident type and the in-commuters' car share.
    departure : ndarray (24,)
        Departure densities per hour.
    """

    level: float
    gateway: np.ndarray
    through_hour: np.ndarray
    rates: np.ndarray
    departure: np.ndarray


def fit_multipliers(obs: np.ndarray, rest: np.ndarray, through: np.ndarray,
                    resident: np.ndarray, *, dep_weight: np.ndarray, rate_cap: np.ndarray,
                    rate_floor: float = 0.0, levers: Sequence[str] = LEVERS,
                    shrink: float = 1.0, anchor: Multipliers | None = None,
                    iters: int = 300, min_hour_share: float = 0.005) -> Multipliers:
    """Fit the multipliers of the module docstring's model to ``obs`` (Poisson, multiplicative).

    Every multiplier is drawn towards its ``anchor`` (default 1; calibration passes the values
    that lead back to the starting profile) by a gamma prior with that mode, worth ``shrink``
    x the counted vehicles / the number of multipliers: the through traffic's level, per gateway and
    per hour; the residents' common trip rate and each type's rate relative to it; the
    in-commuters' rate; the departure multipliers. A multiplier the counts say much about
    moves freely, one they hardly see (residents whose cars the counters rarely meet) stays
    near its anchor, and where the counts cannot tell two levers apart the prior picks the
    fitting solution nearest the start.

    Parameters
    ----------
    obs, rest : ndarray (n_sensors, n_hours)
        NaN in ``obs`` where nothing was counted.
    through : ndarray (n_gateways, n_sensors, n_hours)
    resident : ndarray (n_groups, n_sensors, n_hours, n_hours)
        By group (resident types, then the in-commuters), sensor, counted hour, departure hour.
    dep_weight : ndarray (n_hours,)
        First departures per hour (normalisation of the departure multipliers).
    rate_cap : ndarray (n_groups,)
        Largest rate multiplier of each group.
    rate_floor : float
        Smallest rate multiplier.
    levers : sequence of str
        Which of :data:`LEVERS` to fit; the others stay 1.
    shrink : float
        Weight of the prior (0: none), as a share of the counted vehicles spread over the
        multipliers.
    anchor : Multipliers, optional
        The prior's modes.
    iters : int
    min_hour_share : float
        A departure hour is fitted only when it holds at least this share of the counted
        residents' vehicles (the others stay 1).

    Returns
    -------
    Multipliers

    Examples
    --------
    >>> f = fit_multipliers(np.array([[30.0]]), np.zeros((1, 1)), np.full((1, 1, 1), 10.0),
    ...                     np.zeros((1, 1, 1, 1)), dep_weight=np.ones(1),
    ...                     rate_cap=np.ones(1), shrink=0.0)
    >>> round(f.level, 3)
    3.0
    """
    seen = np.isfinite(obs)
    o = np.where(seen, obs, 0.0)
    r = np.where(seen, rest, 0.0)
    x = np.where(seen[None], through, 0.0)
    y = np.where(seen[None, :, :, None], resident, 0.0)
    ng, nh = x.shape[0], obs.shape[1]
    nq = y.shape[0]
    level, g, th = 1.0, np.ones(ng), np.ones(nh)
    rho, rel, dep = 1.0, np.ones(nq), np.ones(y.shape[3])
    fit_thr = "through" in levers and x.sum() > 0
    free = np.zeros(nq, bool)
    types = np.zeros(nq, bool)
    if nq:
        types[:-1] = True
        free[:-1] = "residents" in levers
        free[-1] = "in_commuters" in levers
    free &= y.sum(axis=(1, 2, 3)) > 0
    fit_rho = bool((free & types).any())
    cap = np.maximum(np.asarray(rate_cap, float), 1e-9)
    counted_k = y.sum(axis=(0, 1, 2))
    dep_free = (("departures" in levers) & (counted_k >= min_hour_share * counted_k.sum())
                & (counted_k > 0) & (np.asarray(dep_weight) > 0))
    wk = np.asarray(dep_weight, float)
    wx_g, wx_h = x.sum(axis=(1, 2)), x.sum(axis=(0, 1))
    n_par = ((1 + ng + int((wx_h > 0).sum())) if fit_thr else 0) + int(fit_rho) \
        + int(free.sum()) + int(dep_free.sum())
    beta = float(shrink) * float(o.sum()) / max(n_par, 1)   # the prior, in vehicles
    a = anchor or Multipliers(1.0, np.ones(ng), np.ones(nh), np.ones(nq), np.ones(len(dep)))
    rho_a = float(np.exp(np.log(a.rates[types]).mean())) if types.any() else 1.0
    rel_a = a.rates / np.where(types, rho_a, 1.0)

    def rates() -> np.ndarray:
        return np.where(types, rho, 1.0) * rel

    def model() -> np.ndarray:
        return (r + level * np.einsum("g,gch,h->ch", g, x, th)
                + np.einsum("q,qchk,k->ch", rates(), y, dep))

    def ratio() -> np.ndarray:
        mu = model()
        return np.where(seen, np.divide(o, mu, out=np.ones_like(o), where=mu > 0), 0.0)

    def capped(rel: np.ndarray, rho: float) -> np.ndarray:
        scale = np.where(types, rho, 1.0)
        return np.where(free, np.clip(rel * scale, rate_floor, cap) / scale, rel)

    def shrunk(val: Any, num: Any, den: Any, mode: Any) -> Any:
        """MAP update under a gamma prior with this mode, worth ``beta`` vehicles."""
        return np.where(den > 0, (val * num + beta * mode) / np.maximum(den + beta, 1e-12),
                        val)

    for _ in range(iters):
        if fit_thr:
            rt = ratio()
            num, den = np.einsum("gch,ch,h->g", x, rt, th), np.einsum("gch,h->g", x, th)
            g = shrunk(g, num, den, a.gateway)
            rt = ratio()
            num, den = np.einsum("gch,ch,g->h", x, rt, g), np.einsum("gch,g->h", x, g)
            th = shrunk(th, num, den, a.through_hour)
            mg = float((g * wx_g).sum() / wx_g.sum())
            mh = float((th * wx_h).sum() / wx_h.sum())
            g, th, level = g / mg, th / mh, level * mg * mh    # the level carries the scale
            rt = ratio()
            num = float(np.einsum("g,gch,ch,h->", g, x, rt, th))
            den = float(np.einsum("g,gch,h->", g, x, th))
            level = float(shrunk(level, num, den, a.level))
        if free.any():
            rt = ratio()
            num = np.einsum("qchk,ch,k->q", y, rt, dep) * np.where(types, rho, 1.0)
            den = np.einsum("qchk,k->q", y, dep) * np.where(types, rho, 1.0)
            rel = np.where(free, shrunk(rel, num, den, rel_a), rel)
            if fit_rho:
                rt = ratio()
                nr = float((np.einsum("qchk,ch,k->q", y, rt, dep) * rel)[types].sum())
                dr = float((np.einsum("qchk,k->q", y, dep) * rel)[types].sum())
                rho = float(shrunk(rho, nr, dr, rho_a))
            rel = capped(rel, rho)
        if dep_free.any():
            rt = ratio()
            num = np.einsum("qchk,ch,q->k", y, rt, rates())
            den = np.einsum("qchk,q->k", y, rates())
            dep = np.where(dep_free, shrunk(dep, num, den, a.departure), dep)
            s = float((dep * wk)[dep_free].sum() / wk[dep_free].sum())
            if s > 0:
                dep = np.where(dep_free, dep / s, dep)
                if fit_rho:
                    rho *= s
                    rel = capped(rel, rho)
    return Multipliers(level=float(level), gateway=g, through_hour=th, rates=rates(),
                       departure=dep)
