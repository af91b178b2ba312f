"""Transit interventions: a new bus line, a new headway on existing lines.

A bus line is a ``transit_routes`` feature (mode ``bus``, headway, hours, speed) whose
``stop_ids`` name ``facilities`` of kind ``bus_stop``. Its stops are existing stop ids, new stop
points, or points every ``stop_spacing_m`` along a given ``path``; between stops the line follows
the shortest road path (or a straight line where the roads do not connect them).

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> tr = gpd.GeoDataFrame({"id": ["t1"], "mode": ["bus"], "headway_min": [10.0]},
...     geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=3067)
>>> t = Twin(layers={"transit_routes": tr}, meta=new_meta("t", 3067))
>>> out = bus_headway(t.copy(), {"where": {"ids": ["t1"]}, "headway_min": 5.0,
...                              "headway_pct": None}, np.random.default_rng(0))
>>> out.layers["transit_routes"]["headway_min"].tolist()
[5.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph

from twin._errors import ScenarioError
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.network.roads import road_graph
from twin.scenarios.interventions.roads import _frame_like, as_points, new_ids
from twin.scenarios.registry import Param, highlight, intervention
from twin.scenarios.selectors import select

__all__ = ["bus_headway", "bus_line"]


def _road_path(twin: Twin, xy: np.ndarray) -> shapely.LineString:
    """A line through the points, following the shortest road path between consecutive ones."""
    roads = twin.layer("roads")
    if len(roads) == 0 or len(xy) < 2:
        return shapely.LineString(xy)
    g = road_graph(roads, twin.layer("road_nodes"))
    mat, _ = g.csr(g.length_m)
    d = shapely.distance(shapely.points(g.xy)[:, None], shapely.points(xy)[None, :])
    near = np.argmin(d, axis=0)
    _, pred = csgraph.dijkstra(mat, directed=True, indices=np.unique(near),
                               return_predecessors=True)
    row = {n: i for i, n in enumerate(np.unique(near))}
    coords: list[np.ndarray] = [xy[0]]
    for a, b, pb in zip(near[:-1], near[1:], xy[1:], strict=True):
        seq = [b]
        p = pred[row[a]]
        while seq[-1] != a and p[seq[-1]] >= 0:
            seq.append(p[seq[-1]])
        if seq[-1] != a:           # not connected by road: straight on
            coords.append(pb)
            continue
        coords += [g.xy[n] for n in reversed(seq)]
        coords.append(pb)
    arr = np.asarray(coords, dtype=float)
    keep = np.ones(len(arr), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(arr, axis=0)) > 1e-6, axis=1)
    return shapely.LineString(arr[keep])


def _stop_capacity() -> float:
    return float(layer_spec("facilities").derive["capacity_by_kind"].get("bus_stop", 0))


@intervention("bus_line", family="transit", params={
    "stops": Param("ids", layer="facilities", description="existing bus_stop ids, in order"),
    "stop_points": Param("points", description="[[x, y], ...] of new stops, in order"),
    "path": Param("geometry", description="[[x, y], ...] the line follows; stops every "
                                          "stop_spacing_m"),
    "stop_spacing_m": Param("float", default=400.0, min=100, max=3000,
                            description="stop spacing along `path`"),
    "headway_min": Param("float", default=10.0, min=1, max=120, description="minutes between "
                                                                             "buses"),
    "hours": Param("hours", description="[start, end) hours of service (default [6, 22])"),
    "speed_kph": Param("float", default=18.0, min=5, max=80,
                       description="commercial speed incl. stops"),
    "name": Param("str", description="line name"),
})
def bus_line(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Add a bus line through existing stops, new stop points, or along a path.

    Examples
    --------
    >>> # {type: bus_line, stop_points: [[24.93, 60.16], [24.95, 60.17]], headway_min: 7.5}
    """
    given = [k for k in ("stops", "stop_points", "path") if params.get(k)]
    if len(given) != 1:
        msg = "bus_line needs exactly one of `stops`, `stop_points` and `path`"
        raise ScenarioError(msg)
    fac = twin.layer("facilities")
    new_stop_xy = np.zeros((0, 2))
    if params.get("stops"):
        ids = [str(s) for s in params["stops"]]
        by_id = fac.set_index(fac["id"].astype(str))
        bad = [s for s in ids if s not in by_id.index or by_id.loc[s, "kind"] != "bus_stop"]
        if bad:
            msg = f"bus_line: {bad[0]!r} is not a bus_stop facility of the twin"
            raise ScenarioError(msg)
        stop_xy = shapely.get_coordinates(by_id.loc[ids].geometry.to_numpy())
        stop_ids = ids
    else:
        if params.get("path"):
            path = as_points(params["path"], twin, "path")
            line = shapely.LineString(path)
            spacing = float(params.get("stop_spacing_m") or 400.0)
            pos = np.arange(0.0, line.length + 1e-9, spacing)
            if line.length - pos[-1] > spacing / 3:
                pos = np.append(pos, line.length)
            new_stop_xy = shapely.get_coordinates(shapely.line_interpolate_point(line, pos))
        else:
            new_stop_xy = as_points(params["stop_points"], twin, "stop_points")
        stop_xy = new_stop_xy
        stop_ids = new_ids(fac["id"] if len(fac) else [], "fs", len(new_stop_xy))
    if len(stop_xy) < 2:
        msg = "bus_line: a line needs at least two stops"
        raise ScenarioError(msg)
    if len(new_stop_xy):
        rows = pd.DataFrame({"id": stop_ids, "kind": "bus_stop", "name": params.get("name"),
                             "capacity": _stop_capacity(), "capacity_source": "user",
                             "source": "user"})
        twin.layers["facilities"] = _frame_like(fac, rows, list(shapely.points(new_stop_xy)))
        highlight(twin, "facilities", stop_ids)
    route = params.get("path")
    line = (shapely.LineString(as_points(route, twin, "path")) if route
            else _road_path(twin, stop_xy))
    routes = twin.layer("transit_routes")
    rid = new_ids(routes["id"] if len(routes) else [], "ts", 1)
    hours = params.get("hours") or [6.0, 22.0]
    row = pd.DataFrame({"id": rid, "name": params.get("name") or rid[0], "mode": "bus",
                        "headway_min": float(params.get("headway_min") or 10.0),
                        "speed_kph": float(params.get("speed_kph") or 18.0),
                        "speed_kph_source": "user", "start_hour": float(hours[0]),
                        "end_hour": float(hours[1]), "stop_ids": ",".join(stop_ids),
                        "source": "user"})
    twin.layers["transit_routes"] = _frame_like(routes, row, [line])
    highlight(twin, "transit_routes", rid)
    return twin


@intervention("bus_headway", family="transit", params={
    "where": Param("where", layer="transit_routes", required=True,
                   description="Selector of the lines (ids, zone_ids, polygon, ...)"),
    "headway_min": Param("float", min=1, max=240, description="new minutes between vehicles"),
    "headway_pct": Param("float", min=-90, max=500, description="change of the headway, %"),
})
def bus_headway(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Run existing lines more (or less) often."""
    h, pct = params.get("headway_min"), params.get("headway_pct")
    if (h is None) == (pct is None):
        msg = "bus_headway needs exactly one of `headway_min` and `headway_pct`"
        raise ScenarioError(msg)
    ids = select(twin, "transit_routes", params.get("where")).tolist()
    routes = twin.layer("transit_routes").copy()
    hit = routes["id"].astype(str).isin(ids).to_numpy()
    old = pd.to_numeric(routes["headway_min"], errors="coerce").fillna(10.0).to_numpy(float)
    new = (np.full(len(routes), float(h)) if h is not None
           else old * (1 + float(pct or 0.0) / 100))
    routes["headway_min"] = np.where(hit, np.clip(new, 1.0, 240.0), old)
    twin.layers["transit_routes"] = routes
    highlight(twin, "transit_routes", ids)
    return twin
