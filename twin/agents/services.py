"""Public services in the day: who visits which facility, and the queues that form there.

- :func:`load_services_config` reads ``agents/services.yaml`` (visit rates by resident type and
  facility kind, how facilities serve, emergency response, forecast and calibration settings);
- :func:`add_service_visits` gives residents their visits to clinics, hospitals and service
  centres (used by :func:`twin.agents.plans.build_plans`): the first activity after leaving
  home (an errand there becomes the visit; otherwise the visit is added before it);
- :func:`queue_starts` is the queue of one facility: ``servers`` desks, each serving one visitor
  at a time for the same service time, first come first served, between opening and closing;
- :func:`services_day` turns a simulated day's activities into waiting times, the share of
  visits served the same day and the utilisation of every facility. It is registered as a
  day analysis (:func:`twin.agents.simulate.register_day_analysis`) when that hook exists, so
  ``simulate`` adds its KPIs and writes ``facilities.parquet`` and ``facility_hours.parquet``.

With e-services (``twin.extras["params"]["e_services_share"]`` = s, the ``e_services``
intervention) a share s of the service-centre visits is done online (:func:`go_online`, in the
plans): those visitors make no trip and do not queue; they count as visits served the same
day, without a wait (``DayResult.online_visits``).

Examples
--------
>>> import numpy as np
>>> queue_starts(np.array([8.0, 8.0, 8.0]) * 3600, servers=1, service_s=1800.0,
...              open_s=8 * 3600.0, close_s=18 * 3600.0) / 3600
array([8. , 8.5, 9. ])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twin._errors import SimulationError
from twin._resources import data_dir
from twin.agents.population import check_config, read_yaml
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin

if TYPE_CHECKING:
    from twin.agents.model import Places
    from twin.agents.population import Zones
    from twin.agents.simulate import DayResult

__all__ = [
    "QUEUED_KINDS",
    "ServicesConfig",
    "add_service_visits",
    "draw_visit_places",
    "facility_kinds",
    "go_online",
    "load_services_config",
    "queue_starts",
    "service_kpi_info",
    "services_day",
    "visited_kinds",
]

_NUM = (int, float)
_SCHEMA: dict[str, Any] = {
    "visits_per_person_day": {"*": {"*": _NUM}},
    "visit_beta_per_min": _NUM,
    "facilities": {"*": {"open_h": list, "service_min": _NUM}},
    "emergency": {"target_min": _NUM, "dispatch_min": _NUM, "access_speed_kph": _NUM,
                  "ambulances_per_fire_station": _NUM,
                  "incidents": {"*": {"per_1000_people_h": _NUM, "unit": str,
                                      "service_min": _NUM}}},
    "forecast": {"growth_pct_per_year": _NUM, "pupil_share_of_students": _NUM,
                 "max_utilisation": _NUM, "kinds": list},
    "calibration": {"rounds": _NUM, "iterations": _NUM, "geh_threshold": _NUM,
                    "target_share": _NUM, "damping": _NUM, "factor_range": list},
}
#: Unit kinds of emergency incidents.
UNIT_KINDS = ("ambulance", "engine")
#: Facility kinds queued by default (those of ``agents/services.yaml`` ``facilities``).
QUEUED_KINDS = ("clinic", "hospital", "service_centre")


def facility_kinds() -> tuple[str, ...]:
    """Facility kinds the data dictionary knows (``layers/facilities.yaml``).

    Examples
    --------
    >>> "clinic" in facility_kinds()
    True
    """
    return tuple(layer_spec("facilities").fields["kind"].allowed or ())


@dataclass(frozen=True)
class ServicesConfig:
    """The validated contents of ``agents/services.yaml`` (see the comments there)."""

    visits_per_person_day: dict[str, dict[str, float]]
    visit_beta_per_min: float
    facilities: dict[str, dict[str, Any]]
    emergency: dict[str, Any]
    forecast: dict[str, Any]
    calibration: dict[str, Any]
    path: str = ""


def _unknown_kinds(kinds: Any, where: str) -> list[str]:
    known = facility_kinds()
    return [f"{where}: facility kind {k!r} is not in the data dictionary (layers/"
            f"facilities.yaml); valid kinds: {', '.join(known)}" for k in kinds if k not in known]


def _semantic(raw: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    for name, rates in raw["visits_per_person_day"].items():
        problems += _unknown_kinds(rates, f"{where}.visits_per_person_day.{name}")
        bad = [k for k, v in rates.items() if not 0 <= v <= 1]
        if bad:
            problems.append(f"{where}.visits_per_person_day.{name}: rates must be in [0, 1] "
                            f"visits per person and day ({', '.join(bad)})")
    problems += _unknown_kinds(raw["facilities"], f"{where}.facilities")
    for kind, spec in raw["facilities"].items():
        h = spec["open_h"]
        if not (len(h) == 2 and all(isinstance(x, _NUM) for x in h) and 0 <= h[0] < h[1] <= 24):
            problems.append(f"{where}.facilities.{kind}.open_h: give [open, close] hours with "
                            f"0 <= open < close <= 24, got {h!r}")
        if not spec["service_min"] > 0:
            problems.append(f"{where}.facilities.{kind}.service_min: must be > 0")
    em = raw["emergency"]
    for key in ("target_min", "access_speed_kph"):
        if not em[key] > 0:
            problems.append(f"{where}.emergency.{key}: must be > 0")
    for key in ("dispatch_min", "ambulances_per_fire_station"):
        if em[key] < 0:
            problems.append(f"{where}.emergency.{key}: must be >= 0")
    for name, inc in em["incidents"].items():
        if inc["unit"] not in UNIT_KINDS:
            problems.append(f"{where}.emergency.incidents.{name}.unit: {inc['unit']!r} is not "
                            f"one of {', '.join(UNIT_KINDS)}")
        if inc["per_1000_people_h"] < 0 or not inc["service_min"] > 0:
            problems.append(f"{where}.emergency.incidents.{name}: rate must be >= 0 and "
                            "service_min > 0")
    fc = raw["forecast"]
    problems += _unknown_kinds(fc["kinds"], f"{where}.forecast.kinds")
    if not 0 < fc["max_utilisation"] <= 2:
        problems.append(f"{where}.forecast.max_utilisation: must be in (0, 2]")
    if not 0 <= fc["pupil_share_of_students"] <= 1:
        problems.append(f"{where}.forecast.pupil_share_of_students: must be in [0, 1]")
    cal = raw["calibration"]
    fr = cal["factor_range"]
    if not (len(fr) == 2 and all(isinstance(x, _NUM) for x in fr) and 0 < fr[0] < 1 < fr[1]):
        problems.append(f"{where}.calibration.factor_range: give [low, high] with "
                        f"0 < low < 1 < high, got {fr!r}")
    if not (cal["rounds"] >= 1 and cal["iterations"] >= 1 and 0 < cal["damping"] <= 1
            and 0 < cal["target_share"] <= 1 and cal["geh_threshold"] > 0):
        problems.append(f"{where}.calibration: rounds and iterations >= 1, damping in (0, 1], "
                        "target_share in (0, 1], geh_threshold > 0")
    return problems


def load_services_config(path: str | Path | None = None) -> ServicesConfig:
    """Read and validate ``agents/services.yaml`` (or ``path``).

    Raises
    ------
    SimulationError
        Listing every unknown or missing key, wrong type, unknown facility kind and value out
        of range.

    Examples
    --------
    >>> load_services_config().facilities["clinic"]["service_min"]
    20
    """
    file = Path(path) if path is not None else data_dir("agents") / "services.yaml"
    raw = read_yaml(file)
    problems = check_config(raw, _SCHEMA, file.name)
    if not problems:
        problems = _semantic(raw, file.name)
    if problems:
        msg = f"{file}: invalid service settings:\n  " + "\n  ".join(problems)
        raise SimulationError(msg)
    return ServicesConfig(**raw, path=str(file))


# --- visits in the plans ---------------------------------------------------------------------

def add_service_visits(agent_type: np.ndarray, act_agent: np.ndarray, act_seq: np.ndarray,
                       act_type: np.ndarray, kinds: list[str], config: ServicesConfig,
                       rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Give residents their service visits of the day.

    Each resident visits each facility kind in ``kinds`` with the probability of its type
    (``visits_per_person_day``). The visit is the first activity after leaving home, so it
    starts at the ``service`` departure time of ``population.yaml`` (in the facilities'
    opening hours): an errand there becomes the visit, otherwise the visit is added before it
    (home-work-home becomes home-service-work-home: a morning off for the doctor; a chain of
    just ``home`` becomes home-service-home).

    Parameters
    ----------
    agent_type : ndarray of str
        Type of every resident (index = agent).
    act_agent, act_seq, act_type : ndarray
        The residents' activities, sorted by agent then sequence.
    kinds : list of str
        Facility kinds the twin has (others are visited outside it).

    Returns
    -------
    (act_agent, act_seq, act_type, visit_kind)
        The activities with the visits, sorted by agent then sequence; ``visit_kind`` is the
        facility kind of each ``service`` activity ("" elsewhere).

    Examples
    --------
    >>> cfg = load_services_config()
    >>> a, s, t, k = add_service_visits(np.array(["retiree"]), np.array([0]), np.array([0]),
    ...                                 np.array(["home"], dtype=object), [],
    ...                                 cfg, np.random.default_rng(0))
    >>> t.tolist()
    ['home']
    """
    a, s, t = act_agent.copy(), act_seq.copy(), act_type.astype(object).copy()
    vk = np.full(len(a), "", dtype=object)
    n = len(agent_type)
    rates = config.visits_per_person_day
    for kind in kinds:
        p = np.array([float(rates.get(str(ty), {}).get(kind, 0.0)) for ty in agent_type])
        who = np.flatnonzero(rng.random(n) < p)
        if who.size == 0:
            continue
        first = np.full(n, -1, np.int64)       # the activity after leaving home
        one = np.flatnonzero(s == 1)
        first[a[one]] = one
        pos = first[who]
        conv = pos[(pos >= 0) & (t[np.maximum(pos, 0)] == "errand")]
        t[conv] = "service"
        vk[conv] = kind
        ins = who[(pos < 0) | (t[np.maximum(pos, 0)] != "service") | (vk[np.maximum(pos, 0)]
                                                                       != kind)]
        if ins.size == 0:
            continue
        lone = ins[first[ins] < 0]                 # a chain of just "home"
        s[np.isin(a, ins) & (s >= 1)] += 1
        a = np.concatenate([a, ins, lone])
        s = np.concatenate([s, np.ones(ins.size, s.dtype), np.full(lone.size, 2, s.dtype)])
        t = np.concatenate([t, np.full(ins.size, "service", dtype=object),
                            np.full(lone.size, "home", dtype=object)])
        vk = np.concatenate([vk, np.full(ins.size, kind, dtype=object),
                             np.full(lone.size, "", dtype=object)])
        o = np.lexsort((s, a))
        a, s, t, vk = a[o], s[o], t[o], vk[o]
    return a, s, t, vk


def go_online(act_agent: np.ndarray, act_type: np.ndarray, act_place: np.ndarray,
              visit_kind: np.ndarray, share: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """(activities kept, visits done online): a ``share`` of the service-centre visits.

    E-services: the visits done online leave the chains (they make no trip); a chain left
    with the same home twice in a row (home-service-home) keeps one.

    Examples
    --------
    >>> keep, online = go_online(np.array([0, 0, 0]), np.array(["home", "service", "home"]),
    ...                          np.array([5, 9, 5]), np.array(["", "service_centre", ""]),
    ...                          1.0, np.random.default_rng(0))
    >>> keep.tolist(), online.tolist()
    ([True, False, False], [False, True, False])
    """
    visit = np.flatnonzero((act_type == "service") & (visit_kind == "service_centre"))
    online = np.zeros(len(act_type), bool)
    online[visit[rng.random(visit.size) < share]] = True
    keep = ~online
    rows = np.flatnonzero(keep)
    a, t, p = act_agent[rows], act_type[rows], act_place[rows]
    twice = np.zeros(len(rows), bool)
    twice[1:] = (a[1:] == a[:-1]) & (t[1:] == "home") & (t[:-1] == "home") & (p[1:] == p[:-1])
    keep[rows[twice]] = False
    return keep, online


def _visit_weight(places: Places, kind: str) -> np.ndarray:
    cap = np.where((places.kind == "facility") & (places.use == kind), places.capacity, 0.0)
    return np.nan_to_num(np.maximum(cap, 0.0))


def visited_kinds(places: Places, config: ServicesConfig) -> list[str]:
    """Facility kinds with visit rates that the twin has (with some capacity).

    Examples
    --------
    >>> # visited_kinds(model.places, load_services_config()) -> ['clinic', 'service_centre']
    """
    rated = {k for rates in config.visits_per_person_day.values() for k in rates}
    return sorted(k for k in rated if _visit_weight(places, k).sum() > 0)


def draw_visit_places(origin: np.ndarray, kind: str, places: Places, zones: Zones, beta: float,
                      rng: np.random.Generator) -> np.ndarray:
    """A facility of ``kind`` (place index) per visit from ``origin`` places.

    The gravity model of errands (:mod:`twin.agents.plans`) on free-flow minutes x capacity;
    by capacity alone where no facility of the kind can be reached.

    Examples
    --------
    >>> # draw_visit_places(origins, "clinic", places, zones, 0.15, rng)
    """
    from twin.agents.plans import _draw_errands

    weight = _visit_weight(places, kind)
    out = _draw_errands(origin, zones, weight, beta, rng)
    lost = out < 0
    if lost.any():
        out[lost] = rng.choice(places.n, size=int(lost.sum()), p=weight / weight.sum())
    return out


# --- the queue of one facility ---------------------------------------------------------------

def queue_starts(arrive_s: np.ndarray, *, servers: int, service_s: float, open_s: float,
                 close_s: float) -> np.ndarray:
    """When each visitor's service starts (NaN: still waiting at closing, not served).

    ``servers`` desks serve one visitor at a time for ``service_s`` each, first come first
    served, from ``open_s``. With equal service times the earliest free desk is the one that
    started ``servers`` visitors earlier, so start ``i = max(arrival_i, open, start_{i-m} +
    service)``: per desk chain, a running maximum (no Python loop over visitors).

    Parameters
    ----------
    arrive_s : ndarray
        Arrival times (s since midnight), any order; the result is in the same order.

    Examples
    --------
    >>> queue_starts(np.array([0.0, 10.0, 20.0]), servers=2, service_s=100.0, open_s=0.0,
    ...              close_s=1000.0).tolist()
    [0.0, 10.0, 100.0]
    """
    arrive = np.asarray(arrive_s, dtype=float)
    out = np.full(len(arrive), np.nan)
    if len(arrive) == 0:
        return out
    order = np.argsort(arrive, kind="stable")
    x = np.maximum(arrive[order], open_s)
    start = np.empty(len(x))
    m = max(1, int(servers))
    for j in range(min(m, len(x))):   # one pass per desk
        idx = np.arange(j, len(x), m)
        k = np.arange(len(idx)) * float(service_s)
        start[idx] = k + np.maximum.accumulate(x[idx] - k)
    start[start >= close_s] = np.nan
    out[order] = start
    return out


# --- the day's analysis ----------------------------------------------------------------------

def _facility_frame(twin: Twin, config: ServicesConfig) -> pd.DataFrame:
    fac = twin.layer("facilities")
    if len(fac) == 0:
        return pd.DataFrame(columns=["facility_id", "kind", "name", "capacity"])
    kinds = fac["kind"].astype(str)
    keep = kinds.isin(list(config.facilities)).to_numpy()
    defaults = layer_spec("facilities").derive.get("capacity_by_kind", {})
    cap = pd.to_numeric(fac["capacity"], errors="coerce")
    cap = cap.fillna(kinds.map(lambda k: float(defaults.get(k, 0.0))))
    names = fac["name"] if "name" in fac else pd.Series([None] * len(fac), index=fac.index)
    return pd.DataFrame({"facility_id": fac["id"].astype(str).to_numpy()[keep],
                         "kind": kinds.to_numpy()[keep],
                         "name": names.to_numpy(dtype=object)[keep],
                         "capacity": cap.to_numpy(float)[keep]})


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else 0.0


def service_kpi_info(kinds: tuple[str, ...] = QUEUED_KINDS
                     ) -> dict[str, tuple[str, str, str | None, str]]:
    """Name -> (unit, report group, better, description) of the service KPIs.

    Examples
    --------
    >>> service_kpi_info()["clinic_wait_p90_min"][:3]
    ('min', 'livelihood', 'lower')
    """
    out: dict[str, tuple[str, str, str | None, str]] = {
        "service_visits": ("visits/day", "livelihood", None,
                           "In-person and online visits to public facilities"),
        "service_wait_mean_min": ("min", "livelihood", "lower",
                                  "Mean waiting time at public facilities"),
        "service_wait_p90_min": ("min", "livelihood", "lower",
                                 "90th percentile of waiting times at public facilities"),
        "service_served_same_day_share": ("share", "livelihood", "higher",
                                          "Visits served the same day (online included)"),
        "service_utilisation_mean": ("share", "government_safety", None,
                                     "Mean utilisation of the facilities' opening hours"),
        "service_online_visits": ("visits/day", "government_safety", None,
                                  "Service-centre visits done online (e-services)"),
    }
    for k in kinds:
        label = k.replace("_", " ")
        out[f"{k}_visits"] = ("visits/day", "livelihood", None, f"Visits to {label}s")
        out[f"{k}_wait_mean_min"] = ("min", "livelihood", "lower",
                                     f"Mean waiting time at {label}s")
        out[f"{k}_wait_p90_min"] = ("min", "livelihood", "lower",
                                    f"90th percentile of waiting times at {label}s")
        out[f"{k}_served_same_day_share"] = ("share", "livelihood", "higher",
                                             f"Visits to {label}s served the same day")
        out[f"{k}_utilisation_mean"] = ("share", "government_safety", None,
                                        f"Mean utilisation of {label}s while open")
    return out


def _hourly(fid: str, arrive: np.ndarray, start: np.ndarray, open_s: float, close_s: float,
            w: float) -> pd.DataFrame:
    hours = np.arange(int(open_s // 3600), int(np.ceil(close_s / 3600)))
    ah = np.floor(arrive / 3600).astype(np.int64)
    served = np.isfinite(start)
    sh = np.where(served, np.floor(np.nan_to_num(start) / 3600), -1).astype(np.int64)
    ends = (hours + 1) * 3600.0
    queue = ((arrive[None, :] < ends[:, None])
             & ~(served[None, :] & (np.nan_to_num(start)[None, :] < ends[:, None]))).sum(axis=1)
    wait = np.where(served, (np.nan_to_num(start) - np.maximum(arrive, open_s)) / 60.0, np.nan)
    mean_wait = [float(np.nanmean(wait[(sh == h)])) if np.any(sh == h) else 0.0 for h in hours]
    return pd.DataFrame({"facility_id": fid, "hour": hours,
                         "arrivals": np.array([np.sum(ah == h) for h in hours]) * w,
                         "served": np.array([np.sum(sh == h) for h in hours]) * w,
                         "queue_end": queue * w, "wait_mean_min": mean_wait})


def services_day(twin: Twin, result: DayResult, rng: np.random.Generator, *,  # noqa: ARG001
                 config: ServicesConfig | None = None
                 ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Queues at the twin's facilities from a simulated day: KPIs and result tables.

    Every ``service`` activity at a facility of a queued kind is a visit arriving at its
    start. Each facility serves ``capacity`` visitors per hour while open (scaled by the
    simulated sample), with ``capacity x service_min / 60`` desks (:func:`queue_starts`).
    A visitor's wait runs from the arrival, or from opening for one who came early (the time
    before opening is spent waiting for the doors, not for the service). Visits done online
    (``result.online_visits``) are served without a wait. No draw is made: ``rng`` is the
    day-analysis signature.

    Returns
    -------
    (kpis, tables)
        KPIs (:func:`service_kpi_info`) for the kinds the twin has, and the tables
        ``facilities`` (one row per facility: visits, served, online, waits, utilisation,
        peak queue) and ``facility_hours`` (arrivals, served, queue at the end of each hour).

    Examples
    --------
    >>> # kpis, tables = services_day(twin, simulate(twin, seed=1), np.random.default_rng(1))
    """
    cfg = config or load_services_config()
    sample = float(result.run.get("sample", 1.0) or 1.0)
    w = 1.0 / sample
    fac = _facility_frame(twin, cfg)
    acts = result.activities
    visits = acts[(acts["activity"].astype(str) == "service")
                  & (acts["place_kind"].astype(str) == "facility")]
    done_online = result.online_visits["place_id"].astype(str).value_counts()
    rows, hourly = [], []
    waits: dict[str, list[np.ndarray]] = {}
    for rec in fac.to_dict("records"):
        fid, kind, capacity = str(rec["facility_id"]), str(rec["kind"]), float(rec["capacity"])
        spec = cfg.facilities[kind]
        open_s, close_s = spec["open_h"][0] * 3600.0, spec["open_h"][1] * 3600.0
        arrive = visits.loc[visits["place_id"].astype(str) == fid,
                            "start_s"].to_numpy(float)
        arrive = np.sort(arrive[np.isfinite(arrive)])   # not there by the end of the day: out
        n_online = int(done_online.get(fid, 0))
        inperson = arrive
        cap = max(float(capacity), 0.0) * sample     # visitors per hour, as simulated
        if cap > 0:
            servers = max(1, round(cap * spec["service_min"] / 60.0))
            start = queue_starts(inperson, servers=servers, service_s=3600.0 * servers / cap,
                                 open_s=open_s, close_s=close_s)
        else:
            servers, start = 0, np.full(len(inperson), np.nan)
        served = np.isfinite(start)
        # time before opening is not waiting for the service, only for the doors
        wait = (start[served] - np.maximum(inperson[served], open_s)) / 60.0
        waits.setdefault(kind, []).append(wait)
        hours_open = (close_s - open_s) / 3600.0
        h = _hourly(fid, inperson, start, open_s, close_s, w)
        hourly.append(h)
        util = (served.sum() * w / (float(capacity) * hours_open)
                if capacity > 0 else 0.0)
        rows.append({
            "facility_id": fid, "kind": kind, "name": rec["name"],
            "capacity_vph": float(capacity), "open_h": f"{spec['open_h'][0]:g}-"
            f"{spec['open_h'][1]:g}", "servers": round(servers / sample) if servers else 0,
            "visits": (len(arrive) + n_online) * w, "online": float(n_online) * w,
            "served": float(served.sum()) * w, "unserved": float((~served).sum()) * w,
            "wait_mean_min": float(wait.mean()) if len(wait) else 0.0,
            "wait_p90_min": _quantile(wait, 0.9),
            "wait_max_min": float(wait.max()) if len(wait) else 0.0,
            "utilisation": float(util),
            "peak_queue": float(h["queue_end"].max()) if len(h) else 0.0,
            "busiest_hour": int(h["hour"].to_numpy()[int(np.argmax(h["arrivals"].to_numpy()))])
            if len(h) and h["arrivals"].sum() > 0 else -1})
    table = pd.DataFrame(rows, columns=[
        "facility_id", "kind", "name", "capacity_vph", "open_h", "servers", "visits", "online",
        "served", "unserved", "wait_mean_min", "wait_p90_min", "wait_max_min", "utilisation",
        "peak_queue", "busiest_hour"])
    hours = (pd.concat(hourly, ignore_index=True) if hourly else
             pd.DataFrame(columns=["facility_id", "hour", "arrivals", "served", "queue_end",
                                   "wait_mean_min"]))
    return _kpis(table, waits), {"facilities": table, "facility_hours": hours}


def _kpis(table: pd.DataFrame, waits: Mapping[str, list[np.ndarray]]) -> dict[str, float]:
    if len(table) == 0:
        return {}
    out: dict[str, float] = {}
    every = np.concatenate([np.concatenate(v) for v in waits.values()]) if waits else \
        np.zeros(0)
    visits = float(table["visits"].sum())
    done = float(table["served"].sum() + table["online"].sum())
    out["service_visits"] = round(visits, 4)
    out["service_wait_mean_min"] = round(float(every.mean()) if len(every) else 0.0, 4)
    out["service_wait_p90_min"] = round(_quantile(every, 0.9), 4)
    out["service_served_same_day_share"] = round(done / visits if visits else 1.0, 6)
    out["service_utilisation_mean"] = round(float(table["utilisation"].mean()), 6)
    out["service_online_visits"] = round(float(table["online"].sum()), 4)
    for kind, part in table.groupby("kind", sort=True):
        w = np.concatenate(waits.get(str(kind), [np.zeros(0)]))
        v = float(part["visits"].sum())
        d = float(part["served"].sum() + part["online"].sum())
        out[f"{kind}_visits"] = round(v, 4)
        out[f"{kind}_wait_mean_min"] = round(float(w.mean()) if len(w) else 0.0, 4)
        out[f"{kind}_wait_p90_min"] = round(_quantile(w, 0.9), 4)
        out[f"{kind}_served_same_day_share"] = round(d / v if v else 1.0, 6)
        out[f"{kind}_utilisation_mean"] = round(float(part["utilisation"].mean()), 6)
    return out


def _register() -> None:
    """Register :func:`services_day` as the day analysis ``services``."""
    try:
        from twin.agents.analysis import register_day_analysis
    except ImportError:   # pragma: no cover - a twin without day analyses: call it directly
        return
    register_day_analysis("services", services_day,
                          units={k: v[0] for k, v in service_kpi_info().items()})


_register()
