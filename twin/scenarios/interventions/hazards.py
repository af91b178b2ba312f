"""Hazards: a flood and a road blockage (the substation outage is in ``utilities``).

- ``flood``: a polygon and hours. Roads that touch it close for those hours (a ``close_roads``
  event), power and water nodes inside it fail for those hours (``power_outage``,
  ``water_outage``); a ``flood`` event records the polygon and what it holds (facilities and
  buildings inside) for ``twin warn``. A polygon that misses the twin is an error.
- ``road_blockage``: the selected roads, or those within ``radius_m`` of a point, close for some
  hours (a fallen tree, a crash, a burst main): a ``close_roads`` event.

The engines read the events: routing for emergency response treats closed roads as impassable
in their hours (:mod:`twin.agents.emergency`); the power and water solves take the outages in
their hours (:mod:`twin.network.utilities`); the mobility engine closes the roads in their
hours (:mod:`twin.agents.day_inputs`).

Importing this module also registers the service, emergency and camera-coverage KPIs with
:mod:`twin.scenarios.kpis` (units, report groups, which direction is better).

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> x, y = 385000.0, 6672000.0
>>> r = gpd.GeoDataFrame({"id": ["r1", "r2"]}, geometry=[
...     shapely.LineString([(x, y), (x + 100, y)]),
...     shapely.LineString([(x, y + 500), (x + 100, y + 500)])], crs=3067)
>>> t = Twin(layers={"roads": r}, meta=new_meta("t", 3067))
>>> out = flood(t, {"polygon": [[x - 10, y - 10], [x + 50, y - 10], [x + 50, y + 10],
...                             [x - 10, y + 10]], "hours": [6, 12]}, np.random.default_rng(0))
>>> [(e["type"], e.get("road_ids"), e["hours"]) for e in out.extras["events"]][:1]
[('close_roads', ['r1'], [6, 12])]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from twin._errors import ScenarioError
from twin.layers.store import Twin
from twin.scenarios.registry import Param, add_event, highlight, intervention
from twin.scenarios.selectors import select, selector_geometry

__all__ = ["HAZARD_TYPES", "flood", "register_kpis", "road_blockage", "twin_extent"]

#: Intervention types ``twin warn`` treats as hazards.
HAZARD_TYPES = ("flood", "road_blockage", "substation_outage")


def register_kpis() -> None:
    """Register the service, emergency and coverage KPIs (unit, group, better) for reports."""
    from twin.agents.emergency import emergency_kpi_info
    from twin.agents.services import service_kpi_info
    from twin.scenarios.kpis import KPIS, register_kpi

    info = {**service_kpi_info(), **emergency_kpi_info()}
    for name, (unit, group, better, desc) in info.items():
        if name not in KPIS or KPIS[name].group == "other":
            register_kpi(name, unit, group, better, desc, "services")


register_kpis()


def twin_extent(twin: Twin) -> shapely.Geometry:
    """The box around the twin's roads, buildings and zones (its other layers if none).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from twin.layers.store import new_meta
    >>> z = gpd.GeoDataFrame({"id": ["z"]}, geometry=[shapely.box(0, 0, 5, 5)], crs=3067)
    >>> twin_extent(Twin({"zones": z}, new_meta("t", 3067))).bounds
    (0.0, 0.0, 5.0, 5.0)
    """
    boxes = [twin.layers[n].total_bounds for n in ("roads", "buildings", "zones")
             if n in twin.layers and len(twin.layers[n])]
    if not boxes:
        boxes = [f.total_bounds for f in twin.layers.values() if len(f)]
    if not boxes:
        return shapely.Polygon()
    b = np.vstack(boxes)
    return shapely.box(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def _inside(twin: Twin, layer: str, area: shapely.Geometry) -> list[str]:
    frame = twin.layer(layer)
    if len(frame) == 0:
        return []
    hit = shapely.intersects(frame.geometry.to_numpy(), area)
    return sorted(frame["id"].astype(str).to_numpy()[hit].tolist())


@intervention("flood", family="hazards", params={
    "polygon": Param("polygon", required=True,
                     description="flooded area: [[x, y], ...] in the twin's CRS or lon/lat, "
                                 "or WKT"),
    "hours": Param("hours", description="[start, end) hours of the flood; all day if absent"),
})
def flood(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """A flood: roads in it close, power and water nodes in it fail, for its hours.

    Raises
    ------
    ScenarioError
        The polygon is invalid or lies outside the twin.
    """
    area = selector_geometry(params["polygon"], twin, "polygon")
    extent = twin_extent(twin)
    if extent.is_empty or not area.intersects(extent):
        b = ", ".join(f"{v:.0f}" for v in extent.bounds) if not extent.is_empty else "empty"
        a = ", ".join(f"{v:.0f}" for v in area.bounds)
        msg = (f"flood: the polygon (bounds {a}) lies outside the twin (bounds {b}, "
               f"{twin.crs.to_string()}); give coordinates in the twin's CRS or lon/lat "
               "inside it")
        raise ScenarioError(msg)
    hours = list(params.get("hours") or [0, 24])
    roads = _inside(twin, "roads", area)
    power = _inside(twin, "power_nodes", area)
    water = _inside(twin, "water_nodes", area)
    if roads:
        add_event(twin, {"type": "close_roads", "road_ids": roads, "hours": hours,
                         "cause": "flood"})
    if power:
        add_event(twin, {"type": "power_outage", "power_node_ids": power, "hours": hours,
                         "cause": "flood"})
    if water:
        add_event(twin, {"type": "water_outage", "water_node_ids": water, "hours": hours,
                         "cause": "flood"})
    add_event(twin, {"type": "flood", "polygon": area.wkt, "hours": hours, "road_ids": roads,
                     "power_node_ids": power, "water_node_ids": water,
                     "facility_ids": _inside(twin, "facilities", area),
                     "building_ids": _inside(twin, "buildings", area)})
    highlight(twin, "roads", roads)
    return twin


@intervention("road_blockage", family="hazards", params={
    "where": Param("where", layer="roads",
                   description="selector of the blocked roads (ids, polygon, bbox, ...)"),
    "at": Param("point", description="or: where the blockage is ([x, y] or [lon, lat])"),
    "radius_m": Param("float", min=1, max=5000, default=30.0,
                      description="with `at`: roads within this distance close"),
    "hours": Param("hours", description="[start, end) hours; all day if absent"),
})
def road_blockage(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Roads blocked for some hours (a crash, a fallen tree, a burst main).

    Examples
    --------
    >>> # {type: road_blockage, at: [24.9425, 60.1685], radius_m: 25, hours: [7, 10]}

    Raises
    ------
    ScenarioError
        Neither or both of ``where`` and ``at``, or no road there.
    """
    if (params.get("where") is None) == (params.get("at") is None):
        msg = "road_blockage needs exactly one of `where` and `at`"
        raise ScenarioError(msg)
    if params.get("where") is not None:
        ids = select(twin, "roads", params["where"]).tolist()
    else:
        from twin.scenarios.interventions.roads import as_points

        point = shapely.Point(as_points(params["at"], twin, "at")[0])
        radius = float(params.get("radius_m") or 30.0)
        ids = _inside(twin, "roads", point.buffer(radius))
        if not ids:
            msg = (f"road_blockage: no road within {radius:g} m of {params['at']}; move the "
                   "point onto a road or raise radius_m")
            raise ScenarioError(msg)
    if not ids:
        msg = "road_blockage: the selection holds no road"
        raise ScenarioError(msg)
    hours = list(params.get("hours") or [0, 24])
    add_event(twin, {"type": "close_roads", "road_ids": sorted(ids), "hours": hours,
                     "cause": "road_blockage"})
    highlight(twin, "roads", ids)
    return twin
