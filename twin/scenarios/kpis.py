"""The KPIs a run reports: canonical names, units, report groups, and the ones from the layers.

Every run writes ``kpis.json``: the KPIs of the day simulation plus those computed here from the
(scenario's) layers — accessibility and sensor coverage. :func:`twin.scenarios.compare.compare`
compares every numeric KPI it finds, whatever module produced it; units and groups come from
:data:`KPIS`, which other modules extend with :func:`register_kpi` when imported (the utility,
service, emergency and coverage KPIs). :func:`known_kpis` imports every such module first, so a
lookup gives the same answer in a fresh process as after a run; :func:`kpi_info` is the one
lookup every report uses (``KPI_UNITS`` mirrors the units; a name known to neither gets the unit
the day simulation registered for it, else an empty one, and the group ``other``).

Groups follow DESIGN.md: ``livelihood``, ``economy``, ``government_safety``.

Examples
--------
>>> kpi_info("access_clinic_15min_share").unit
'share'
>>> kpi_info("vehicle_km").group
'economy'
>>> kpi_info("something_new").group
'other'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from twin.layers.store import Twin
from twin.network.access import jobs_reachable, nearest_facility_times

__all__ = [
    "ACCESS_KINDS",
    "GROUPS",
    "KPI",
    "KPIS",
    "KPI_MODULES",
    "KPI_UNITS",
    "access_kpis",
    "known_kpis",
    "kpi_info",
    "layer_kpis",
    "register_kpi",
    "sensor_coverage",
    "trip_kpis",
]

GROUPS = ("livelihood", "economy", "government_safety")
#: Facility kinds of the 15-minute access KPIs.
ACCESS_KINDS = ("clinic", "school", "service_centre")
ACCESS_MINUTES = 15.0
JOBS_MINUTES = 30.0


@dataclass(frozen=True)
class KPI:
    """One KPI: its unit, report group, which direction is better, and what it measures."""

    name: str
    unit: str
    group: str
    better: str | None = None   # "lower", "higher" or None
    description: str = ""
    source: str = ""


_CANONICAL = [
    # livelihood
    KPI("commute_time_mean_min", "min", "livelihood", "lower",
        "Mean door-to-door time of trips to work and school", "mobility"),
    KPI("commute_time_p90_min", "min", "livelihood", "lower",
        "90th percentile of trips to work and school", "mobility"),
    KPI("trip_time_mean_min", "min", "livelihood", "lower", "Mean time of all trips",
        "mobility"),
    KPI("person_hours", "h", "livelihood", "lower", "Hours people spend travelling", "mobility"),
    KPI("delay_hours", "veh-h", "livelihood", "lower",
        "Vehicle hours above free-flow travel time", "mobility"),
    KPI("access_clinic_15min_share", "share", "livelihood", "higher",
        "Residents within 15 minutes of a clinic (walk, or transit where faster)", "access"),
    KPI("access_school_15min_share", "share", "livelihood", "higher",
        "Residents within 15 minutes of a school (walk, or transit where faster)", "access"),
    KPI("access_service_centre_15min_share", "share", "livelihood", "higher",
        "Residents within 15 minutes of a service centre (walk, or transit where faster)",
        "access"),
    KPI("service_wait_mean_min", "min", "livelihood", "lower",
        "Mean waiting time at facilities", "services"),
    KPI("power_unserved_mwh", "MWh", "livelihood", "lower", "Energy demand not served",
        "power"),
    KPI("power_unsolved_demand_mwh", "MWh", "government_safety", "lower",
        "Demand in the hours the power flow did not converge (served or not: unknown)",
        "power"),
    KPI("water_pressure_deficit_node_h", "node-h", "livelihood", "lower",
        "Junction-hours under the minimum service pressure", "water"),
    KPI("mode_share_car", "share", "livelihood", None, "Share of trips by car", "mobility"),
    KPI("mode_share_transit", "share", "livelihood", None, "Share of trips by transit",
        "mobility"),
    KPI("mode_share_walk", "share", "livelihood", None, "Share of trips on foot", "mobility"),
    KPI("mode_share_bike", "share", "livelihood", None, "Share of trips by bike", "mobility"),
    # economy
    KPI("vehicle_km", "veh-km", "economy", "lower", "Vehicle kilometres on the twin's roads",
        "mobility"),
    KPI("vehicle_hours", "veh-h", "economy", "lower", "Vehicle hours on the twin's roads",
        "mobility"),
    KPI("jobs_reachable_30min", "jobs", "economy", "higher",
        "Jobs reachable within 30 minutes by walk or transit, mean over residents", "access"),
    KPI("jobs_reachable_30min_car", "jobs", "economy", "higher",
        "Jobs reachable within 30 minutes by car at free flow, mean over residents", "access"),
    KPI("co2_t", "t", "economy", "lower", "CO2 from road traffic on the twin's roads",
        "mobility"),
    KPI("residents", "persons", "economy", None, "Residents of the twin", "layers"),
    KPI("jobs", "jobs", "economy", None, "Jobs in the twin", "layers"),
    KPI("capex", "money", "economy", "lower", "Capital cost of the interventions", "finance"),
    KPI("opex_per_year", "money/yr", "economy", "lower", "Operating cost per year", "finance"),
    KPI("npv", "money", "economy", "higher", "Net present value", "finance"),
    KPI("bcr", "ratio", "economy", "higher", "Benefit-cost ratio", "finance"),
    KPI("payback_year", "year", "economy", "lower", "First year discounted net benefit >= 0",
        "finance"),
    # government and safety
    KPI("emergency_response_p90_min", "min", "government_safety", "lower",
        "90th percentile of emergency response times", "safety"),
    KPI("sensor_coverage_share", "share", "government_safety", "higher",
        "Share of road length within range of a camera or traffic counter", "layers"),
    KPI("congested_link_hours", "link-h", "government_safety", "lower",
        "Link-hours over the congestion threshold", "mobility"),
    KPI("peak_line_loading_pct", "%", "government_safety", "lower",
        "Highest power line loading at peak", "power"),
    KPI("min_pressure_m", "m", "government_safety", "higher",
        "Lowest junction pressure of the day", "water"),
    KPI("spillback_hours", "link-h", "government_safety", "lower",
        "Time links spent full (queues spilling back)", "mobility"),
    KPI("max_vc", "ratio", "government_safety", "lower", "Highest volume / capacity of a link-hour",
        "mobility"),
    KPI("trips", "trips", "economy", None, "Trips per day", "mobility"),
    KPI("car_trips", "trips", "economy", None, "Car trips per day", "mobility"),
    KPI("commute_trips", "trips", "economy", None, "Trips to and from work or school per day",
        "mobility"),
    KPI("unfinished_trips", "trips", "government_safety", "lower",
        "Car trips still on the road at the end of the day", "mobility"),
    KPI("unrouted_agents", "agents", "government_safety", "lower",
        "Agents that could not be routed", "mobility"),
]


def _engine_units() -> dict[str, str]:
    try:
        from twin.agents import kpis as engine
    except ImportError:  # pragma: no cover - the agents package is part of twin
        return {}
    return dict(engine.KPI_UNITS)


# the day simulation's own units win for the KPIs it produces
_CANONICAL = [KPI(k.name, _engine_units().get(k.name, k.unit), k.group, k.better, k.description,
                  k.source) for k in _CANONICAL]

#: Every known KPI by name (extend with :func:`register_kpi`).
KPIS: dict[str, KPI] = {k.name: k for k in _CANONICAL}
#: Units by KPI name; mirrors :data:`KPIS` (others may add units here directly).
KPI_UNITS: dict[str, str] = {k.name: k.unit for k in _CANONICAL}


def register_kpi(name: str, unit: str, group: str, better: str | None = None,
                 description: str = "", source: str = "") -> KPI:
    """Add (or replace) a KPI so reports show its unit and group.

    Examples
    --------
    >>> register_kpi("example_kpi", "m", "economy").unit
    'm'
    >>> _ = KPIS.pop("example_kpi"), KPI_UNITS.pop("example_kpi")
    """
    if group not in (*GROUPS, "other"):
        msg = f"KPI {name}: group {group!r} is not one of {', '.join(GROUPS)}, other"
        raise ValueError(msg)
    if better not in (None, "lower", "higher"):
        msg = f"KPI {name}: better must be 'lower', 'higher' or None, got {better!r}"
        raise ValueError(msg)
    kpi = KPI(name, unit, group, better, description, source)
    KPIS[name] = kpi
    KPI_UNITS[name] = unit
    return kpi


#: Modules that register KPIs (units, groups) or day-analysis units when imported; with every
#: intervention module (:func:`twin.scenarios.registry.registry` imports them all) and the day
#: analyses the simulation loads (:data:`twin.agents.simulate.BUILTIN_ANALYSES`).
KPI_MODULES = ("twin.scenarios.interventions.hazards", "twin.scenarios.interventions.utilities")


@lru_cache(maxsize=1)
def _load_registering_modules() -> None:
    from twin.agents.simulate import BUILTIN_ANALYSES
    from twin.scenarios.registry import registry

    registry()
    for name in (*KPI_MODULES, *BUILTIN_ANALYSES):
        importlib.import_module(name)


def known_kpis() -> dict[str, KPI]:
    """Every registered KPI by name, after importing every module that registers some.

    Examples
    --------
    >>> known_kpis()["min_voltage_pu"].unit, known_kpis()["clinic_wait_mean_min"].group
    ('p.u.', 'livelihood')
    """
    _load_registering_modules()
    return dict(KPIS)


def kpi_info(name: str) -> KPI:
    """The KPI ``name`` (registering modules loaded first, see :func:`known_kpis`).

    A name no module registered gets the unit the day simulation knows for it
    (:data:`twin.agents.kpis.KPI_UNITS`), else ``""``, and the group ``other``.

    Examples
    --------
    >>> kpi_info("co2_t").better
    'lower'
    >>> kpi_info("emergency_response_mean_min").unit
    'min'
    """
    _load_registering_modules()
    if name in KPIS:
        kpi = KPIS[name]
        unit = KPI_UNITS.get(name, kpi.unit)
        return kpi if unit == kpi.unit else KPI(name, unit, kpi.group, kpi.better,
                                                kpi.description, kpi.source)
    return KPI(name, KPI_UNITS.get(name) or _engine_units().get(name, ""), "other")


def access_kpis(twin: Twin, *, kinds: tuple[str, ...] = ACCESS_KINDS,
                minutes: float = ACCESS_MINUTES, jobs_minutes: float = JOBS_MINUTES,
                hour: float = 8.0) -> dict[str, float]:
    """Accessibility KPIs of a twin (vectorised multi-source Dijkstra, see twin.network.access).

    ``access_<kind>_15min_share``: residents whose walk (or walk + transit, where faster) to
    the nearest facility of that kind takes at most ``minutes``; with e-services
    (``twin.extras["params"]["e_services_share"]`` = s) the service-centre share counts the
    visits done online as served: ``s + (1 - s) x share``; ``jobs_reachable_30min``
    (walk or transit) and ``jobs_reachable_30min_car``: jobs within ``jobs_minutes``,
    resident-weighted mean. A twin without residents gets no access KPIs.

    Examples
    --------
    >>> # access_kpis(twin)["access_clinic_15min_share"] -> 0.91
    """
    b = twin.layer("buildings")
    if len(b) == 0 or len(twin.layer("roads")) == 0:
        return {}
    res = pd.to_numeric(b["residents"], errors="coerce").fillna(0).to_numpy(float)
    total = res.sum()
    if total <= 0:
        return {}
    out: dict[str, float] = {}
    times = nearest_facility_times(twin, kinds, ("walk", "transit"), hour=hour)
    for kind in kinds:
        within = times[kind].to_numpy() <= minutes * 60.0
        share = float(res[within].sum() / total)
        online = float(twin.extras.get("params", {}).get("e_services_share", 0.0) or 0.0)
        if kind == "service_centre" and online > 0:
            share = online + (1.0 - online) * share
        out[f"access_{kind}_{minutes:g}min_share"] = share
    suffix = f"{jobs_minutes:g}min"
    for mode, name in (("transit", f"jobs_reachable_{suffix}"),
                       ("car", f"jobs_reachable_{suffix}_car")):
        reach = jobs_reachable(twin, mode, budget_s=jobs_minutes * 60.0, hour=hour)
        weights = pd.Series(res, index=b["id"].astype(str).to_numpy()).loc[reach.index]
        out[name] = float((reach * weights).sum() / total)
    return out


def sensor_coverage(twin: Twin, kinds: tuple[str, ...] = ("camera", "traffic_counter")
                    ) -> float:
    """Share of the road length within ``range_m`` of a sensor of the given kinds.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from twin.layers.store import new_meta
    >>> r = gpd.GeoDataFrame({"id": ["r1"]}, geometry=[shapely.LineString([(0, 0), (100, 0)])],
    ...                      crs=3067)
    >>> s = gpd.GeoDataFrame({"id": ["s1"], "kind": ["camera"], "range_m": [25.0]},
    ...                      geometry=[shapely.Point(0, 0)], crs=3067)
    >>> t = Twin(layers={"roads": r, "sensors": s}, meta=new_meta("t", 3067))
    >>> round(sensor_coverage(t), 3)
    0.25
    """
    roads = twin.layer("roads")
    if len(roads) == 0:
        return 0.0
    total = float(roads.geometry.length.sum())
    s = twin.layer("sensors")
    s = s[s["kind"].astype(str).isin(kinds)] if len(s) else s
    if len(s) == 0 or total <= 0:
        return 0.0
    rng = pd.to_numeric(s["range_m"], errors="coerce").fillna(0).to_numpy(float)
    area = shapely.union_all(shapely.buffer(s.geometry.to_numpy(), np.maximum(rng, 0.01)))
    covered = shapely.intersection(roads.geometry.to_numpy(), area)
    return float(shapely.length(covered).sum() / total)


def trip_kpis(trips: pd.DataFrame, sample: float = 1.0) -> dict[str, float]:
    """Person-hours, mean trip time and commute trips of a day's trips (full scale).

    ``trips`` has ``duration`` (s), ``arrive`` (NaN if unfinished) and ``commute`` (bool), as
    :func:`twin.agents.simulate.simulate` returns them.

    Examples
    --------
    >>> t = pd.DataFrame({"duration": [600.0, 1200.0], "arrive": [1.0, 2.0],
    ...                   "commute": [True, False]})
    >>> trip_kpis(t, sample=0.5)
    {'person_hours': 1.0, 'trip_time_mean_min': 15.0, 'commute_trips': 2.0}
    """
    if len(trips) == 0 or "duration" not in trips:
        return {}
    done = trips["arrive"].notna() if "arrive" in trips else pd.Series(True, trips.index)
    dur = pd.to_numeric(trips.loc[done, "duration"], errors="coerce").dropna()
    out = {"person_hours": round(float(dur.sum()) / 3600.0 / sample, 4),
           "trip_time_mean_min": round(float(dur.mean()) / 60.0, 4) if len(dur) else 0.0}
    if "commute" in trips:
        out["commute_trips"] = round(float(trips["commute"].astype(bool).sum()) / sample, 4)
    return out


def layer_kpis(twin: Twin) -> dict[str, float]:
    """KPIs computed from the layers alone: residents, jobs, access, sensor coverage.

    Examples
    --------
    >>> # layer_kpis(twin) -> {"residents": 22756.0, "access_clinic_15min_share": 0.91, ...}
    """
    b = twin.layer("buildings")
    out: dict[str, float] = {
        "residents": float(pd.to_numeric(b["residents"], errors="coerce").fillna(0).sum())
        if len(b) else 0.0,
        "jobs": float(pd.to_numeric(b["jobs"], errors="coerce").fillna(0).sum())
        if len(b) else 0.0,
    }
    out.update(access_kpis(twin))
    out["sensor_coverage_share"] = sensor_coverage(twin)
    return out
