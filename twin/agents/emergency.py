"""Emergency response in the day: incidents where people are, the nearest free unit drives out.

- Incidents (``agents/services.yaml``, ``emergency.incidents``: medical, fire, ...) arrive as a
  Poisson process, hour by hour, at ``per_1000_people_h`` per 1,000 people present; the place is
  drawn in proportion to the people there in that hour (the day's activities: homes, work
  places, schools, facilities), the time uniformly within the hour.
- Units: ``facilities.units`` at hospitals are ambulances, at fire stations engines (the
  dictionary's ``units_by_kind`` where a facility has none, flagged ``default``), plus
  ``ambulances_per_fire_station`` ambulances at every fire station (flagged ``derived``: the
  Helsinki model, where the rescue department runs the ambulances; the demo twin has no
  hospital). :func:`emergency_units` lists them.
- Each incident gets the nearest *free* unit of its kind by driving time; with none free it
  waits for the first to come free. The unit drives over the link times of the hour of the
  call: exactly the mobility engine's mean experienced time per link and hour (the day's
  ``link_hours``, :func:`hourly_link_times`), with the roads closed in that hour (``close_roads``
  events, e.g. a flood or a road blockage) impassable. Response time = waiting for a unit +
  ``dispatch_min`` + driving + walking from the road node to the door. The unit is busy until
  ``service_min`` after it arrives, then is back at its base.
- Coverage (deterministic, for comparisons): the share of people-hours within ``target_min`` of
  the nearest ambulance base in that hour's traffic.

:func:`emergency_day` is registered as a day analysis (``twin.agents.simulate``) when the hook
exists; it returns the KPIs and the tables ``emergency_incidents``, ``emergency_zones`` and
``emergency_units``.

Examples
--------
>>> # kpis, tables = emergency_day(twin, simulate(twin, seed=1), np.random.default_rng(1))
>>> # kpis["emergency_response_p90_min"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from twin.agents.services import ServicesConfig, load_services_config
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.network.roads import RoadGraph, road_graph
from twin.network.routing import largest_component, nearest_nodes

if TYPE_CHECKING:
    from twin.agents.simulate import DayResult

__all__ = [
    "PlaceSet",
    "closed_links",
    "coverage_day",
    "emergency_day",
    "emergency_kpi_info",
    "emergency_units",
    "hourly_link_times",
    "people_present",
    "response_matrix",
]

#: Facility kinds units are based at, and the unit kind of their ``units``.
BASE_UNIT = {"hospital": "ambulance", "fire_station": "engine"}
#: In the mean of the nearest base's response time, a place no ambulance can reach counts this
#: many minutes (so that cutting a place off makes the mean worse, never undefined).
UNREACHED_MIN = 60.0


def emergency_kpi_info(kinds: tuple[str, ...] = ("medical", "fire")
                       ) -> dict[str, tuple[str, str, str | None, str]]:
    """Name -> (unit, report group, better, description) of the emergency KPIs.

    Examples
    --------
    >>> emergency_kpi_info()["emergency_response_p90_min"][:3]
    ('min', 'government_safety', 'lower')
    """
    out: dict[str, tuple[str, str, str | None, str]] = {
        "emergency_incidents": ("incidents/day", "government_safety", None,
                                "Emergency incidents in the day"),
        "emergency_response_mean_min": ("min", "government_safety", "lower",
                                        "Mean emergency response time"),
        "emergency_within_target_share": ("share", "government_safety", "higher",
                                          "Incidents reached within the target time"),
        "emergency_unreached": ("incidents/day", "government_safety", "lower",
                                "Incidents no unit could reach (roads closed, no unit)"),
        "emergency_coverage_share": ("share", "government_safety", "higher",
                                     "People-hours within the target time of the nearest "
                                     "ambulance base, in that hour's traffic"),
        "emergency_nearest_base_mean_min": ("min", "government_safety", "lower",
                                            "Response time from the nearest ambulance base, "
                                            "mean over people-hours (units assumed free)"),
    }
    out["emergency_response_p90_min"] = ("min", "government_safety", "lower",
                                         "90th percentile of emergency response times")
    out["camera_coverage_share"] = ("share", "government_safety", "higher",
                                    "Share of road length within range of a camera")
    out["camera_gap_km"] = ("km", "government_safety", "lower", "Road length no camera sees")
    for k in kinds:
        out[f"emergency_{k}_response_mean_min"] = ("min", "government_safety", "lower",
                                                   f"Mean response time to {k} incidents")
        out[f"emergency_{k}_response_p90_min"] = ("min", "government_safety", "lower",
                                                  f"90th percentile response, {k} incidents")
    return out


# --- places, people, units -------------------------------------------------------------------

@dataclass(frozen=True)
class PlaceSet:
    """Buildings and facilities as points attached to the road graph.

    Attributes
    ----------
    kind, ids, zone : ndarray of str
        ``building`` or ``facility``; id; zone id ("" when outside every zone).
    xy : ndarray (n, 2)
    node : ndarray of int
        Road node the place is reached from; ``snap_m`` the distance to it.
    """

    kind: np.ndarray
    ids: np.ndarray
    zone: np.ndarray
    xy: np.ndarray
    node: np.ndarray
    snap_m: np.ndarray

    def index(self, kinds: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Row of each (kind, id) pair (-1 when unknown)."""
        keys = pd.Index(self.kind.astype(str) + "\x00" + self.ids.astype(str))
        return keys.get_indexer(pd.Index(np.asarray(kinds, str).astype(object) + "\x00"
                                         + np.asarray(ids, str).astype(object)))


def attach(graph: RoadGraph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest node of the main (largest strongly connected) road network, and the distance.

    Emergency crews always come from the main network: a place whose nearest node lies on a
    piece the twin's edge cut off is reached from the main network on foot.

    Examples
    --------
    >>> # node, dist = attach(road_graph(roads, nodes), np.array([[x, y]]))
    """
    if len(xy) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    return nearest_nodes(graph.xy, xy, candidates=largest_component(graph))


def place_set(twin: Twin, graph: RoadGraph) -> PlaceSet:
    """The twin's buildings and facilities (bus stops excluded) as a :class:`PlaceSet`."""
    b, f = twin.layer("buildings"), twin.layer("facilities")
    f = f[f["kind"].astype(str) != "bus_stop"] if len(f) else f
    bxy = shapely.get_coordinates(shapely.point_on_surface(b.geometry.to_numpy())) if len(b) \
        else np.zeros((0, 2))
    fxy = shapely.get_coordinates(f.geometry.to_numpy()) if len(f) else np.zeros((0, 2))
    xy = np.vstack([bxy, fxy])
    zone = _zones_of(twin, xy)
    if len(b) and "zone_id" in b:
        given = b["zone_id"].astype(object).where(b["zone_id"].notna(), "").astype(str)
        zone[: len(b)] = np.where(given.to_numpy() != "", given.to_numpy(), zone[: len(b)])
    node, snap = attach(graph, xy)
    return PlaceSet(
        kind=np.array(["building"] * len(b) + ["facility"] * len(f), dtype=object),
        ids=np.concatenate([b["id"].astype(str).to_numpy() if len(b) else np.zeros(0, object),
                            f["id"].astype(str).to_numpy() if len(f) else np.zeros(0, object)]
                           ).astype(object),
        zone=zone, xy=xy, node=node, snap_m=snap)


def _zones_of(twin: Twin, xy: np.ndarray) -> np.ndarray:
    out = np.full(len(xy), "", dtype=object)
    z = twin.layer("zones")
    if len(z) == 0 or len(xy) == 0:
        return out
    pts = shapely.points(xy)
    tree = shapely.STRtree(z.geometry.to_numpy())
    pi, zi = tree.query(pts, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = z["id"].astype(str).to_numpy()[zi[first]]
    return out


def people_present(places: PlaceSet, activities: pd.DataFrame, *, sample: float = 1.0
                   ) -> np.ndarray:
    """People at each place in each hour of the day (person-hours, ``(n_places, 24)``).

    Activities at gateways (outside the twin), at unknown places and not reached by the end
    of the simulated day are left out; each simulated agent stands for ``1 / sample`` people.

    Examples
    --------
    >>> p = PlaceSet(np.array(["building"], object), np.array(["b1"], object),
    ...              np.array([""], object), np.zeros((1, 2)), np.zeros(1, int), np.zeros(1))
    >>> acts = pd.DataFrame({"place_kind": ["building"], "place_id": ["b1"],
    ...                      "start_s": [3600.0 * 8.5], "end_s": [3600.0 * 10]})
    >>> people_present(p, acts)[0, 7:11].tolist()
    [0.0, 0.5, 1.0, 0.0]
    """
    out = np.zeros((len(places.ids), 24))
    if len(activities) == 0 or len(places.ids) == 0:
        return out
    row = places.index(activities["place_kind"].astype(str).to_numpy(),
                       activities["place_id"].astype(str).to_numpy())
    start = pd.to_numeric(activities["start_s"], errors="coerce").to_numpy(float)
    keep = (row >= 0) & np.isfinite(start)     # not reached by the end of the simulated day
    start = np.nan_to_num(start)
    end = pd.to_numeric(activities["end_s"], errors="coerce").fillna(86400.0).to_numpy(float)
    lo = np.arange(24) * 3600.0
    for h in range(24):   # one pass per hour, vectorised over activities
        ov = np.clip(np.minimum(end, lo[h] + 3600.0) - np.maximum(start, lo[h]), 0.0, 3600.0)
        out[:, h] = np.bincount(row[keep], weights=ov[keep] / 3600.0, minlength=len(places.ids))
    return out / sample


def emergency_units(twin: Twin, config: ServicesConfig | None = None) -> pd.DataFrame:
    """The emergency units of a twin and where they are based.

    Returns
    -------
    DataFrame
        unit_id, unit (ambulance | engine), base_id, base_kind, x, y, source (``layer``: the
        facility's ``units``; ``default``: the dictionary's ``units_by_kind``; ``derived``:
        ``ambulances_per_fire_station``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from twin.layers.store import new_meta
    >>> f = gpd.GeoDataFrame({"id": ["fs"], "kind": ["fire_station"], "units": [1]},
    ...                      geometry=[shapely.Point(0, 0)], crs=3067)
    >>> emergency_units(Twin({"facilities": f}, new_meta("t", 3067)))[["unit", "source"]
    ...                 ].values.tolist()
    [['engine', 'layer'], ['ambulance', 'derived'], ['ambulance', 'derived']]
    """
    cfg = config or load_services_config()
    fac = twin.layer("facilities")
    cols = ["unit_id", "unit", "base_id", "base_kind", "x", "y", "source"]
    if len(fac) == 0:
        return pd.DataFrame(columns=cols)
    defaults = layer_spec("facilities").derive.get("units_by_kind", {})
    extra = int(cfg.emergency["ambulances_per_fire_station"])
    rows = []
    units = fac["units"] if "units" in fac else pd.Series([None] * len(fac), index=fac.index)
    for fid, kind, given, (x, y) in zip(fac["id"].astype(str).tolist(),
                                        fac["kind"].astype(str).tolist(), units.tolist(),
                                        shapely.get_coordinates(fac.geometry.to_numpy()),
                                        strict=True):
        if kind not in BASE_UNIT:
            continue
        n, src = ((int(given), "layer") if given is not None and not pd.isna(given)
                  else (int(defaults.get(kind, 0)), "default"))
        fleet = [(BASE_UNIT[kind], src)] * n
        if kind == "fire_station":
            fleet += [("ambulance", "derived")] * extra
        count: dict[str, int] = {}
        for unit, source in fleet:
            count[unit] = count.get(unit, 0) + 1
            rows.append({"unit_id": f"{fid}-{unit}-{count[unit]}", "unit": unit,
                         "base_id": fid, "base_kind": kind, "x": float(x),
                         "y": float(y), "source": source})
    return pd.DataFrame(rows, columns=cols)


# --- link times ------------------------------------------------------------------------------

def closed_links(twin: Twin, graph: RoadGraph) -> np.ndarray:
    """Links closed in each hour by ``close_roads`` events (``(n_links, 24)`` bool).

    Examples
    --------
    >>> # closed_links(twin, road_graph(roads, nodes))[:, 8].sum() -> links closed at 08:00
    """
    out = np.zeros((graph.n_links, 24), bool)
    road_ids = twin.layer("roads")["id"].astype(str).to_numpy()[graph.road_index]
    for ev in twin.extras.get("events", []) or []:
        if ev.get("type") != "close_roads":
            continue
        h0, h1 = [*list(ev.get("hours") or [0, 24]), 24][:2]
        hours = (np.arange(24) >= np.floor(float(h0))) & (np.arange(24) < np.ceil(float(h1)))
        hit = np.isin(road_ids, [str(i) for i in ev.get("road_ids", [])])
        out[np.ix_(hit, hours)] = True
    return out


def hourly_link_times(graph: RoadGraph, link_hours: pd.DataFrame) -> np.ndarray:
    """Mean experienced time (s) per link and hour, ``(n_links, 24)``, from a day's link_hours.

    ``link_hours`` is :attr:`DayResult.link_hours`: time = ``length_m / speed_kph`` (the
    engine's experienced time where vehicles entered, its free-flow time elsewhere). Hours
    outside the simulated day get the free-flow time at the free speed.

    Examples
    --------
    >>> # hourly_link_times(graph, result.link_hours)[:, 8] -> link times at 08:00
    """
    out = np.repeat(graph.fft_s[:, None], 24, axis=1).astype(float)
    if len(link_hours) == 0:
        return out
    idx = pd.Index(graph.link_ids.astype(str)).get_indexer(link_hours["link_id"].astype(str))
    h = link_hours["hour"].to_numpy(np.int64)
    ok = (idx >= 0) & (h >= 0) & (h < 24)
    speed = link_hours["speed_kph"].to_numpy(float) / 3.6
    length = link_hours["length_m"].to_numpy(float)
    t = np.where(speed > 0, length / np.maximum(speed, 1e-9), np.inf)
    free = link_hours["free_speed_kph"].to_numpy(float) / 3.6
    out[idx[ok], :] = (length / np.maximum(free, 1e-9))[ok, None]   # outside the day
    out[idx[ok], h[ok]] = t[ok]
    return out


def response_matrix(graph: RoadGraph, link_time: np.ndarray, closed: np.ndarray,
                    sources: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Driving time (s) from each source node to every node in each hour.

    Returns
    -------
    ndarray (len(hours), len(sources), n_nodes)
        ``inf`` where closed roads (or the network) leave a node out of reach.

    Examples
    --------
    >>> # response_matrix(g, hourly_link_times(g, lh), closed_links(t, g), bases, hours)
    """
    out = np.full((len(hours), len(sources), graph.n_nodes), np.inf)
    if len(sources) == 0:
        return out
    for i, h in enumerate(hours):   # one Dijkstra call per hour, all sources at once
        cost = np.where(closed[:, h], np.inf, link_time[:, h])
        ok = np.isfinite(cost)
        from twin.network.roads import min_csr

        mat = min_csr(graph.n_nodes, graph.from_node[ok], graph.to_node[ok], cost[ok])[0]
        out[i] = dijkstra(mat, directed=True, indices=sources)
    return out


# --- the day's analysis ----------------------------------------------------------------------

def _incidents(present: np.ndarray, hours: np.ndarray, cfg: dict[str, Any],
               rng: np.random.Generator) -> pd.DataFrame:
    rows: list[pd.DataFrame] = []
    for name, inc in cfg["incidents"].items():
        for h in hours:
            people = present[:, h]
            total = people.sum()
            n = int(rng.poisson(float(inc["per_1000_people_h"]) * total / 1000.0)) \
                if total > 0 else 0
            if n == 0:
                continue
            place = rng.choice(len(people), size=n, p=people / total)
            t = h * 3600.0 + rng.random(n) * 3600.0
            rows.append(pd.DataFrame({"type": name, "unit": inc["unit"], "t_s": t,
                                      "hour": int(h), "place": place}))
    if not rows:
        return pd.DataFrame(columns=["type", "unit", "t_s", "hour", "place"])
    out = pd.concat(rows, ignore_index=True).sort_values(["t_s", "type"], kind="stable")
    return out.reset_index(drop=True)


def _dispatch(inc: pd.DataFrame, units: pd.DataFrame, unit_node_col: np.ndarray,
              drive: np.ndarray, hour_row: dict[int, int], places: PlaceSet,
              cfg: dict[str, Any]) -> pd.DataFrame:
    """Serve incidents in time order by the nearest free unit (waiting for one if none)."""
    free_at = np.zeros(len(units))
    kind = units["unit"].to_numpy(str) if len(units) else np.zeros(0, str)
    access_s = places.snap_m / (float(cfg["access_speed_kph"]) / 3.6)
    dispatch_s = float(cfg["dispatch_min"]) * 60.0
    out = []
    for t_s, hour, place, itype, unit in zip(inc["t_s"].astype(float).tolist(),
                                             inc["hour"].astype(int).tolist(),
                                             inc["place"].astype(int).tolist(),
                                             inc["type"].astype(str).tolist(),
                                             inc["unit"].astype(str).tolist(), strict=True):
        cand = np.flatnonzero(kind == unit)
        row: dict[str, Any] = {"unit_id": None, "base_id": None, "wait_s": np.nan,
                               "drive_s": np.nan, "response_min": np.nan, "reached": False}
        node = places.node[place]
        if cand.size:
            t_drive = drive[hour_row[hour], unit_node_col[cand], node]
            reach = np.isfinite(t_drive)
            if reach.any():
                cand, t_drive = cand[reach], t_drive[reach]
                start = max(t_s, float(free_at[cand].min()))
                free = free_at[cand] <= start
                k = int(np.argmin(np.where(free, t_drive, np.inf)))
                u = cand[k]
                arrive = start + dispatch_s + t_drive[k] + access_s[place]
                free_at[u] = arrive + float(cfg["incidents"][itype]["service_min"]) * 60.0
                row = {"unit_id": units["unit_id"].iloc[u], "base_id": units["base_id"].iloc[u],
                       "wait_s": start - t_s, "drive_s": float(t_drive[k]),
                       "response_min": (arrive - t_s) / 60.0, "reached": True}
        out.append(row)
    return pd.DataFrame(out, index=inc.index, columns=["unit_id", "base_id", "wait_s", "drive_s",
                                                       "response_min", "reached"])


def _coverage(present: np.ndarray, hours: np.ndarray, drive: np.ndarray, amb_cols: np.ndarray,
              places: PlaceSet, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per place: people-hours within the target of the nearest ambulance base, and the
    people-hour-weighted sum of that base's response time (min; a place no ambulance can
    reach counts ``UNREACHED_MIN``)."""
    within = np.zeros(len(places.ids))
    minutes = np.zeros(len(places.ids))
    if amb_cols.size == 0:
        return within, np.full(len(places.ids), np.nan)
    target = float(cfg["target_min"]) * 60.0
    access = places.snap_m / (float(cfg["access_speed_kph"]) / 3.6)
    for i, h in enumerate(hours):
        best = drive[i][amb_cols][:, places.node].min(axis=0)
        resp = best + access + float(cfg["dispatch_min"]) * 60.0
        within += np.where(resp <= target, present[:, h], 0.0)
        minutes += present[:, h] * np.minimum(resp, UNREACHED_MIN * 60.0) / 60.0
    return within, minutes


def emergency_day(twin: Twin, result: DayResult, rng: np.random.Generator, *,
                  config: ServicesConfig | None = None
                  ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Incidents, dispatch and response times of a simulated day.

    Returns
    -------
    (kpis, tables)
        KPIs of :func:`emergency_kpi_info` and ``emergency_response_p90_min``; tables
        ``emergency_incidents`` (one row per incident: type, time, place, zone, unit, base,
        wait, drive and response times), ``emergency_zones`` (per zone: incidents, response
        mean / p90, share within target, coverage) and ``emergency_units``.

    Examples
    --------
    >>> # emergency_day(twin, simulate(twin, seed=1), np.random.default_rng(2))[0]
    """
    cfg = (config or load_services_config()).emergency
    sample = float(result.run.get("sample", 1.0) or 1.0)
    graph = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    places = place_set(twin, graph)
    present = people_present(places, result.activities, sample=sample)
    lh = result.link_hours
    hours = (np.unique(lh["hour"].to_numpy(np.int64)) if len(lh)
             else np.arange(int(result.run.get("start_h", 5)), 24))
    hours = hours[(hours >= 0) & (hours < 24)]
    units = emergency_units(twin, config)
    base_xy = units[["x", "y"]].to_numpy(float) if len(units) else np.zeros((0, 2))
    base_node = attach(graph, base_xy)[0]
    sources, unit_col = np.unique(base_node, return_inverse=True)
    drive = response_matrix(graph, hourly_link_times(graph, lh), closed_links(twin, graph),
                            sources, hours)
    hour_row = {int(h): i for i, h in enumerate(hours)}
    inc = _incidents(present, hours, cfg, rng)
    served = _dispatch(inc, units, unit_col, drive, hour_row, places, cfg)
    inc = pd.concat([inc, served], axis=1)
    inc["within_target"] = inc["reached"].astype(bool) & (
        inc["response_min"].astype(float) <= float(cfg["target_min"]))
    inc.insert(0, "incident_id", [f"i{k + 1}" for k in range(len(inc))])
    pl = inc["place"].to_numpy(np.int64) if len(inc) else np.zeros(0, np.int64)
    inc["place_kind"] = places.kind[pl]
    inc["place_id"] = places.ids[pl]
    inc["zone_id"] = places.zone[pl]
    inc["x"], inc["y"] = places.xy[pl, 0], places.xy[pl, 1]
    inc = inc.drop(columns="place")
    amb = np.flatnonzero(units["unit"].to_numpy(str) == "ambulance") if len(units) else \
        np.zeros(0, np.int64)
    covered, minutes = _coverage(present, hours, drive, np.unique(unit_col[amb]), places, cfg)
    people = present[:, hours].sum(axis=1)
    kpis = _kpis(inc, people, covered, cfg, sample)
    if amb.size and people.sum() > 0:
        kpis["emergency_nearest_base_mean_min"] = round(float(minutes.sum() / people.sum()), 4)
    zones = _zone_table(inc, places, people, covered, cfg)
    return kpis, {"emergency_incidents": inc.reset_index(drop=True),
                  "emergency_zones": zones, "emergency_units": _unit_table(units, inc)}


def _stats(resp: np.ndarray) -> tuple[float, float]:
    if len(resp) == 0:
        return 0.0, 0.0
    return float(resp.mean()), float(np.quantile(resp, 0.9))


def _kpis(inc: pd.DataFrame, people: np.ndarray, covered: np.ndarray, cfg: dict[str, Any],
          sample: float) -> dict[str, float]:
    out: dict[str, float] = {
        "emergency_incidents": float(len(inc)),
        "emergency_coverage_share": round(float(covered.sum() / people.sum())
                                          if people.sum() > 0 else 0.0, 6)}
    if len(inc) == 0:
        return out
    reached = inc["reached"].to_numpy(bool)
    resp = inc.loc[reached, "response_min"].to_numpy(float)
    mean, p90 = _stats(resp)
    out["emergency_response_mean_min"] = round(mean, 4)
    out["emergency_response_p90_min"] = round(p90, 4)
    out["emergency_within_target_share"] = round(
        float((resp <= float(cfg["target_min"])).sum() / len(inc)), 6)
    out["emergency_unreached"] = float((~reached).sum())
    for name, part in inc[reached].groupby("type", sort=True):
        m, p = _stats(part["response_min"].to_numpy(float))
        out[f"emergency_{name}_response_mean_min"] = round(m, 4)
        out[f"emergency_{name}_response_p90_min"] = round(p, 4)
    del sample  # incidents are drawn at full scale (rates x people represented)
    return out


def _zone_table(inc: pd.DataFrame, places: PlaceSet, people: np.ndarray, covered: np.ndarray,
                cfg: dict[str, Any]) -> pd.DataFrame:
    zones = sorted(set(places.zone.astype(str)) - {""})
    target = float(cfg["target_min"])
    rows = []
    for z in zones:
        m = places.zone == z
        part = inc[inc["zone_id"] == z] if len(inc) else inc
        resp = part.loc[part["reached"].astype(bool), "response_min"].to_numpy(float) \
            if len(part) else np.zeros(0)
        mean, p90 = _stats(resp)
        rows.append({"zone_id": z, "people_hours": float(people[m].sum()),
                     "coverage_share": float(covered[m].sum() / people[m].sum())
                     if people[m].sum() > 0 else np.nan,
                     "incidents": len(part), "response_mean_min": mean if len(resp) else np.nan,
                     "response_p90_min": p90 if len(resp) else np.nan,
                     "within_target_share": float((resp <= target).sum() / len(part))
                     if len(part) else np.nan})
    return pd.DataFrame(rows, columns=["zone_id", "people_hours", "coverage_share", "incidents",
                                       "response_mean_min", "response_p90_min",
                                       "within_target_share"])


def _unit_table(units: pd.DataFrame, inc: pd.DataFrame) -> pd.DataFrame:
    out = units.copy()
    missions = inc["unit_id"].value_counts() if len(inc) else pd.Series(dtype=int)
    out["missions"] = out["unit_id"].map(missions).fillna(0).astype(int)
    return out


def _register() -> None:
    """Register :func:`emergency_day` and :func:`coverage_day` as day analyses."""
    try:
        from twin.agents.analysis import register_day_analysis
    except ImportError:   # pragma: no cover - a twin without day analyses: call them directly
        return
    units = {k: v[0] for k, v in emergency_kpi_info().items()}
    register_day_analysis("emergency", emergency_day,
                          units={k: u for k, u in units.items() if not k.startswith("camera")})
    register_day_analysis("coverage", coverage_day,
                          units={k: u for k, u in units.items() if k.startswith("camera")})


# --- camera coverage of the day's twin --------------------------------------------------------

def coverage_day(twin: Twin, result: DayResult, rng: np.random.Generator
                 ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Camera coverage of the (scenario's) road network, and its gaps as a table.

    Returns
    -------
    (kpis, tables)
        ``camera_coverage_share``, ``camera_gap_km``; ``coverage_gaps``: road_id, length_m,
        geometry (WKB, the twin's CRS).

    Examples
    --------
    >>> # coverage_day(twin, day, np.random.default_rng(0))[0]["camera_coverage_share"]
    """
    from twin.network.coverage import camera_coverage

    del result, rng   # coverage depends on the layers only
    cov = camera_coverage(twin, per_sensor=False)
    gaps = pd.DataFrame({"road_id": cov.gaps["road_id"].to_numpy(),
                         "length_m": cov.gaps["length_m"].to_numpy(float),
                         "geometry": shapely.to_wkb(cov.gaps.geometry.to_numpy())})
    return ({"camera_coverage_share": round(cov.share, 6),
             "camera_gap_km": round((cov.road_m - cov.covered_m) / 1000.0, 4)},
            {"coverage_gaps": gaps})


_register()
