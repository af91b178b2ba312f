"""Demand for public services against capacity, year by year (``twin services forecast``).

Demand per building and day: its residents x the visit rates of ``agents/services.yaml`` by
resident type (type shares from ``agents/population.yaml``); for schools the pupils: residents
x the student share x (1 - the students' outside share) x ``pupil_share_of_students``. Daily
capacity is ``capacity`` x the opening hours (``services.yaml``; pupils for schools). Residents
grow by ``growth_pct`` a year (compound), or by a zone's own rate.

A facility *runs out of capacity* in the first year its demand passes ``max_utilisation`` x its
capacity; a kind in the first year the twin's total demand does; a zone in the first year the
demand-weighted utilisation of the facilities serving it does. A kind the twin has no facility
of is served outside the twin (no year).

Each building's demand is shared among the facilities of a kind by the gravity model of the
day simulation (capacity x ``exp(-visit_beta_per_min x walking minutes)``; schools use
``school_beta_per_min`` of ``population.yaml``), so a facility's catchment overlaps its
neighbours' as visitors' choices do.

Examples
--------
>>> # f = forecast_services(read_twin("demo.twin.gpkg"), to_year=2035, from_year=2026)
>>> # f.by_kind[["kind", "runs_out_year"]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from twin._errors import SimulationError
from twin.agents.population import PopulationConfig, load_population_config
from twin.agents.services import ServicesConfig, facility_kinds, load_services_config
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.network.access import access_graph

__all__ = ["Forecast", "forecast_services", "visit_rates"]


@dataclass
class Forecast:
    """The result of :func:`forecast_services`.

    Attributes
    ----------
    years : list of int
    by_kind : DataFrame
        One row per kind: facilities, capacity_per_day, demand_<first year>,
        demand_<last year>, utilisation at both ends, runs_out_year (None: not within the
        horizon; also where the twin has none of the kind, see ``note``), note.
    by_facility : DataFrame
        One row per facility: facility_id, kind, name, zone_id, capacity_per_day, demand and
        utilisation in the first and last year, runs_out_year.
    by_zone : DataFrame
        One row per zone and kind: zone_id, kind, residents, demand in the first and last year,
        utilisation of the serving facilities, runs_out_year.
    yearly : DataFrame
        Year-by-year: year, kind, zone_id ("" for the whole twin), demand_per_day,
        capacity_per_day, utilisation.
    settings : dict
    """

    years: list[int]
    by_kind: pd.DataFrame
    by_facility: pd.DataFrame
    by_zone: pd.DataFrame
    yearly: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)


def visit_rates(kinds: Sequence[str], services: ServicesConfig,
                population: PopulationConfig) -> dict[str, float]:
    """Demand per resident and day of each kind (visits; pupils for schools).

    Examples
    --------
    >>> r = visit_rates(["clinic"], load_services_config(), load_population_config())
    >>> 0.01 < r["clinic"] < 0.03
    True
    """
    out = {}
    for kind in kinds:
        if kind in ("school", "kindergarten"):
            t = population.types.get("student", {})
            out[kind] = float(t.get("share", 0.0)) * (1 - float(t.get("outside_share", 0.0))) \
                * float(services.forecast["pupil_share_of_students"]) if kind == "school" else 0.0
            continue
        out[kind] = sum(float(t["share"]) * float(
            services.visits_per_person_day.get(name, {}).get(kind, 0.0))
            for name, t in population.types.items())
    return out


def _check_kinds(kinds: Sequence[str], services: ServicesConfig) -> None:
    known = facility_kinds()
    bad = [k for k in kinds if k not in known]
    if bad:
        msg = (f"facility kind {bad[0]!r} is not in the data dictionary (layers/facilities.yaml);"
               f" valid kinds: {', '.join(known)}")
        raise SimulationError(msg)
    rated = {k for r in services.visits_per_person_day.values() for k in r} | {"school"}
    norate = [k for k in kinds if k not in rated]
    if norate:
        msg = (f"no demand model for facility kind {norate[0]!r}: give its visit rates in "
               f"agents/services.yaml (visits_per_person_day); kinds with rates: "
               f"{', '.join(sorted(rated))}")
        raise SimulationError(msg)


def _shares(twin: Twin, b_xy: np.ndarray, f_xy: np.ndarray, weight: np.ndarray,
            beta: float) -> np.ndarray:
    """Share of each building's demand going to each facility, ``(n_b, n_f)``.

    A gravity model on walking minutes (the walk network): ``weight x exp(-beta x minutes)``,
    the same shape as the visits of the day simulation. Rows are 0 where no facility can be
    reached.
    """
    out = np.zeros((len(b_xy), len(f_xy)))
    if len(f_xy) == 0 or len(b_xy) == 0:
        return out
    g = access_graph(twin, "walk")
    b_node, b_walk = g.snap(b_xy)
    f_node, f_walk = g.snap(f_xy)
    dist = dijkstra(g.matrix.T.tocsr(), directed=True, indices=f_node)   # facility <- node
    minutes = (dist[:, b_node].T + b_walk[:, None] + f_walk[None, :]) / 60.0
    det = np.where(np.isfinite(minutes), np.exp(-beta * np.minimum(minutes, 1e6)), 0.0) \
        * np.maximum(weight, 0.0)[None, :]
    total = det.sum(axis=1, keepdims=True)
    np.divide(det, total, out=out, where=total > 0)
    return out


def _runs_out(years: np.ndarray, util: np.ndarray, limit: float) -> int | None:
    over = np.flatnonzero(util > limit)
    return int(years[over[0]]) if over.size else None


def forecast_services(twin: Twin, *, to_year: int, from_year: int | None = None,
                      growth_pct: float | None = None,
                      zone_growth: Mapping[str, float] | None = None,
                      kinds: Sequence[str] | None = None,
                      services: ServicesConfig | None = None,
                      population: PopulationConfig | None = None) -> Forecast:
    """Demand against capacity per facility kind, facility and zone, year by year.

    Parameters
    ----------
    twin : Twin
        Buildings with residents, facilities, zones (optional), roads or paths to walk on.
    to_year : int
        Last year of the forecast.
    from_year : int, optional
        First year (default: this year): today's residents.
    growth_pct : float, optional
        Residents' growth per year, % (default ``forecast.growth_pct_per_year``).
    zone_growth : mapping, optional
        Zone id -> growth % per year, overriding ``growth_pct`` there.
    kinds : sequence of str, optional
        Facility kinds (default ``forecast.kinds``).

    Raises
    ------
    SimulationError
        Years out of order, a kind the data dictionary does not know or without a demand
        model, an unknown zone id, growth below -100 %, no residents.

    Examples
    --------
    >>> # forecast_services(twin, to_year=2035, growth_pct=1.5).by_kind
    """
    svc = services or load_services_config()
    pop = population or load_population_config()
    y0 = int(from_year) if from_year is not None else datetime.now(UTC).year
    if int(to_year) < y0 or int(to_year) > y0 + 100:
        msg = f"--to-year must be between {y0} and {y0 + 100}, got {to_year}"
        raise SimulationError(msg)
    kinds = list(kinds or svc.forecast["kinds"])
    _check_kinds(kinds, svc)
    g = float(svc.forecast["growth_pct_per_year"] if growth_pct is None else growth_pct)
    zones = twin.layer("zones")
    zone_ids = set(zones["id"].astype(str)) if len(zones) else set()
    zg = {str(k): float(v) for k, v in (zone_growth or {}).items()}
    unknown = sorted(set(zg) - zone_ids)
    if unknown:
        msg = (f"--growth: zone {unknown[0]!r} does not exist in the twin; zones: "
               f"{', '.join(sorted(zone_ids)) or 'none'}")
        raise SimulationError(msg)
    if min([g, *zg.values()]) <= -100:
        msg = "growth must be above -100 % a year"
        raise SimulationError(msg)
    b = twin.layer("buildings")
    res = pd.to_numeric(b["residents"], errors="coerce").fillna(0).to_numpy(float) if len(b) \
        else np.zeros(0)
    if res.sum() <= 0:
        msg = "the twin has no residents (buildings.residents sums to 0): nothing to forecast"
        raise SimulationError(msg)
    bzone = (b["zone_id"].astype(object).where(b["zone_id"].notna(), "").astype(str)
             .to_numpy() if "zone_id" in b else np.full(len(b), "", object))
    years = np.arange(y0, int(to_year) + 1)
    rate_b = np.array([zg.get(z, g) for z in bzone]) / 100.0
    growth = (1.0 + rate_b[:, None]) ** (years - y0)[None, :]          # (n_b, n_years)
    rates = visit_rates(kinds, svc, pop)
    fac = twin.layer("facilities")
    b_xy = shapely.get_coordinates(shapely.point_on_surface(b.geometry.to_numpy()))
    default_cap = layer_spec("facilities").derive.get("capacity_by_kind", {})
    limit = float(svc.forecast["max_utilisation"])
    kind_rows, fac_rows, zone_rows, yearly = [], [], [], []
    for kind in kinds:
        f = fac[fac["kind"].astype(str) == kind] if len(fac) else fac
        hours = 1.0 if kind == "school" else float(np.subtract(*svc.facilities.get(
            kind, {"open_h": [0, 24]})["open_h"][::-1]))
        cap = pd.to_numeric(f["capacity"], errors="coerce").fillna(
            float(default_cap.get(kind, 0))).to_numpy(float) * hours if len(f) else np.zeros(0)
        demand_b = res[:, None] * growth * rates[kind]                     # (n_b, n_years)
        total = demand_b.sum(axis=0)
        beta = float(pop.destinations["school_beta_per_min"] if kind == "school"
                     else svc.visit_beta_per_min)
        share = _shares(twin, b_xy, shapely.get_coordinates(f.geometry.to_numpy())
                        if len(f) else np.zeros((0, 2)), cap, beta)          # (n_b, n_f)
        per_f = share.T @ demand_b                                           # (n_f, n_years)
        ok = share.sum(axis=1) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            util_f = np.where(cap[:, None] > 0, per_f / cap[:, None], np.inf)
        ctot = float(cap.sum())
        util_k = total / ctot if ctot > 0 else np.full(len(years), np.inf)
        note = "" if len(f) else "no facility of this kind in the twin: served outside it"
        kind_rows.append({
            "kind": kind, "facilities": len(f), "capacity_per_day": ctot,
            "demand_first": float(total[0]), "demand_last": float(total[-1]),
            "utilisation_first": float(util_k[0]) if ctot > 0 else None,
            "utilisation_last": float(util_k[-1]) if ctot > 0 else None,
            "runs_out_year": _runs_out(years, util_k, limit) if ctot > 0 else None,
            "note": note})
        for y, d in zip(years, total, strict=True):
            yearly.append({"year": int(y), "kind": kind, "zone_id": "", "demand_per_day": float(d),
                           "capacity_per_day": ctot,
                           "utilisation": float(d / ctot) if ctot > 0 else None})
        fz = _zones_of_points(twin, f)
        names = f["name"].tolist() if "name" in f else [None] * len(f)
        for i, (fid, name) in enumerate(zip(f["id"].astype(str).tolist(), names, strict=True)):
            fac_rows.append({
                "facility_id": fid, "kind": kind, "name": name,
                "zone_id": fz[i], "capacity_per_day": float(cap[i]),
                "demand_first": float(per_f[i, 0]), "demand_last": float(per_f[i, -1]),
                "utilisation_first": float(util_f[i, 0]),
                "utilisation_last": float(util_f[i, -1]),
                "runs_out_year": _runs_out(years, util_f[i], limit)})
        for z in sorted(set(bzone) - {""}):
            m = (bzone == z) & ok
            dz = demand_b[bzone == z].sum(axis=0)
            if not m.any() or dz[0] <= 0:
                continue
            uz = (share[m] @ np.where(np.isfinite(util_f), util_f, 0.0) * demand_b[m]
                  ).sum(axis=0) / np.maximum(demand_b[m].sum(axis=0), 1e-12)
            zone_rows.append({"zone_id": z, "kind": kind, "residents": float(res[bzone == z]
                                                                             .sum()),
                              "demand_first": float(dz[0]), "demand_last": float(dz[-1]),
                              "utilisation_first": float(uz[0]),
                              "utilisation_last": float(uz[-1]),
                              "runs_out_year": _runs_out(years, uz, limit)})
            for y, d, u in zip(years, dz, uz, strict=True):
                yearly.append({"year": int(y), "kind": kind, "zone_id": z,
                               "demand_per_day": float(d), "capacity_per_day": None,
                               "utilisation": float(u)})
    return Forecast(
        years=[int(y) for y in years], by_kind=pd.DataFrame(kind_rows),
        by_facility=pd.DataFrame(fac_rows, columns=[
            "facility_id", "kind", "name", "zone_id", "capacity_per_day", "demand_first",
            "demand_last", "utilisation_first", "utilisation_last", "runs_out_year"]),
        by_zone=pd.DataFrame(zone_rows, columns=[
            "zone_id", "kind", "residents", "demand_first", "demand_last", "utilisation_first",
            "utilisation_last", "runs_out_year"]),
        yearly=pd.DataFrame(yearly), settings={
            "from_year": y0, "to_year": int(to_year), "growth_pct_per_year": g,
            "zone_growth_pct_per_year": zg, "max_utilisation": limit, "kinds": kinds,
            "rates_per_resident_day": rates})


def _zones_of_points(twin: Twin, frame: pd.DataFrame) -> list[str]:
    zones = twin.layer("zones")
    if len(frame) == 0:
        return []
    if len(zones) == 0:
        return [""] * len(frame)
    tree = shapely.STRtree(zones.geometry.to_numpy())
    pi, zi = tree.query(frame.geometry.to_numpy(), predicate="intersects")
    out = [""] * len(frame)
    ids = zones["id"].astype(str).to_numpy()
    for p, z in zip(pi[::-1], zi[::-1], strict=True):
        out[int(p)] = str(ids[z])
    return out
