"""Road interventions: add a road, close roads, change lanes, change speeds.

The functions change the layers the simulation reads (``roads``, ``road_nodes``, ``paths``);
a closure limited to some hours is an event in ``twin.extras["events"]`` (see the registry).
New features get ids that do not exist yet (``rs1``, ``rs2`` ... for roads) and the source
``user``, so maps and reports can tell them apart.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> r = gpd.GeoDataFrame({"id": ["r1"], "lanes": [1], "capacity_vph": [600.0],
...     "speed_kph": [30.0]}, geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=3067)
>>> t = Twin(layers={"roads": r}, meta=new_meta("t", 3067))
>>> out = road_lanes(t.copy(), {"where": {"ids": ["r1"]}, "lanes": 2, "lanes_delta": None},
...                  np.random.default_rng(0))
>>> out.layers["roads"][["lanes", "capacity_vph"]].values.tolist()
[[2.0, 1200.0]]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from twin._errors import ScenarioError
from twin.layers.derive import derive_roads
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.scenarios.registry import Param, add_event, highlight, intervention
from twin.scenarios.selectors import select

__all__ = ["as_points", "new_ids", "road_add", "road_close", "road_lanes", "road_speed"]

ROAD_CLASSES = tuple(layer_spec("roads").fields["highway"].allowed or ())
#: Capacity and speed of a road closed all day: it stays in the graph (nobody is cut off),
#: but no route takes it and almost nothing passes.
CLOSED_CAPACITY_VPH = 1.0
CLOSED_SPEED_KPH = 1.0


def new_ids(existing: Iterable[Any], prefix: str, n: int) -> list[str]:
    """``n`` ids ``prefix1, prefix2, ...`` that are not in ``existing``.

    Examples
    --------
    >>> new_ids(["rs1", "r2"], "rs", 2)
    ['rs2', 'rs3']
    """
    taken = {str(e) for e in existing}
    out: list[str] = []
    k = 1
    while len(out) < n:
        cand = f"{prefix}{k}"
        if cand not in taken:
            out.append(cand)
        k += 1
    return out


def as_points(value: Any, twin: Twin, what: str = "point") -> np.ndarray:
    """Coordinates ``[[x, y], ...]`` (or one ``[x, y]``) in the twin's CRS.

    Values that all lie within ±180 / ±90 are taken as lon/lat (WGS84) and projected.

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> as_points([[385000, 6672000]], Twin(layers={}, meta=new_meta("t", 3067))).tolist()
    [[385000.0, 6672000.0]]
    """
    try:
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
            raise ValueError
    except (TypeError, ValueError) as err:
        msg = f"{what}: expected [x, y] or [[x, y], ...], got {value!r}"
        raise ScenarioError(msg) from err
    if (np.abs(arr[:, 0]) <= 180).all() and (np.abs(arr[:, 1]) <= 90).all():
        tr = Transformer.from_crs("EPSG:4326", twin.crs, always_xy=True)
        x, y = tr.transform(arr[:, 0], arr[:, 1])
        arr = np.column_stack([x, y])
    return arr


def _frame_like(template: gpd.GeoDataFrame, rows: pd.DataFrame, geoms: list[Any]
                ) -> gpd.GeoDataFrame:
    """New rows with the template's columns (missing ones empty), in its CRS."""
    new = gpd.GeoDataFrame(rows.reset_index(drop=True), geometry=geoms, crs=template.crs)
    if len(template) == 0:
        return new
    geom = template.geometry.name
    if geom != "geometry":
        new = new.rename_geometry(geom)
    out = pd.concat([template, new], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=geom, crs=template.crs)


def add_roads(twin: Twin, lines: list[shapely.LineString], u: list[str], v: list[str], *,
              highway: str, lanes: int | None = None, speed_kph: float | None = None,
              oneway: bool = False, name: str | None = None, walkable: bool = True,
              prefix: str = "rs") -> list[str]:
    """Append roads (and, if walkable, paths on the same nodes); return the new road ids.

    Lanes, speed and capacity come from the class (``layers/roads.yaml``) unless given.
    """
    roads = twin.layer("roads")
    ids = new_ids(roads["id"], prefix, len(lines))
    frame = gpd.GeoDataFrame({
        "id": ids, "u": u, "v": v, "highway": highway, "name": name,
        "lanes": float(lanes) if lanes else np.nan,
        "speed_kph": float(speed_kph) if speed_kph else np.nan,
        "oneway": oneway, "length_m": np.nan, "source": "user",
    }, geometry=lines, crs=roads.crs if len(roads) else twin.crs)
    frame = derive_roads(frame, source="user")
    for col in ("lanes", "speed_kph", "capacity_vph", "length_m"):
        frame[f"{col}_source"] = "user"
    cols = [c for c in frame.columns if c != frame.geometry.name]
    twin.layers["roads"] = _frame_like(roads, frame[cols], list(frame.geometry))
    paths = twin.layers.get("paths")
    if walkable and paths is not None and len(paths):
        pids = new_ids(paths["id"], "ps", len(lines))
        rows = pd.DataFrame({"id": pids, "u": u, "v": v, "highway": "footway",
                             "length_m": [max(g.length, 0.1) for g in lines],
                             "length_m_source": "user", "source": "user"})
        twin.layers["paths"] = _frame_like(paths, rows, lines)
    highlight(twin, "roads", ids)
    return ids


def add_nodes(twin: Twin, xy: np.ndarray, prefix: str = "ns") -> list[str]:
    """Append road nodes (no control, not gateways); return their ids."""
    nodes = twin.layer("road_nodes")
    ids = new_ids(nodes["id"], prefix, len(xy))
    rows = pd.DataFrame({"id": ids, "control": "none", "control_source": "user",
                         "gateway": False, "source": "user"})
    twin.layers["road_nodes"] = _frame_like(nodes, rows, list(shapely.points(xy)))
    return ids


def _snap_or_add(twin: Twin, xy: np.ndarray, snap_m: float) -> list[str]:
    nodes = twin.layer("road_nodes")
    out: list[str] = []
    for p in xy:
        if len(nodes):
            d = shapely.distance(nodes.geometry.to_numpy(), shapely.Point(p))
            k = int(np.argmin(d))
            if d[k] <= snap_m:
                out.append(str(nodes["id"].iloc[k]))
                continue
        out.append(add_nodes(twin, np.asarray([p]))[0])
        nodes = twin.layer("road_nodes")
    return out


@intervention("road_add", family="roads", params={
    "geometry": Param("geometry", description="[[x, y], ...] of the new road (or WKT)"),
    "from_node": Param("str", layer="road_nodes", description="road node id where it starts"),
    "to_node": Param("str", layer="road_nodes", description="road node id where it ends"),
    "highway": Param("str", default="tertiary", allowed=ROAD_CLASSES, description="road class"),
    "lanes": Param("int", min=1, max=6, description="lanes per direction (default by class)"),
    "speed_kph": Param("float", min=5, max=130, description="speed (default by class)"),
    "oneway": Param("bool", default=False, description="one-way from start to end"),
    "name": Param("str", description="street name"),
    "snap_m": Param("float", default=30.0, min=0, max=500,
                    description="geometry ends within this distance join existing nodes"),
})
def road_add(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Add a road between two road nodes, or along a given line (ends snap to nearby nodes).

    Examples
    --------
    >>> # {type: road_add, from_node: "25216594", to_node: "1372425691", highway: secondary}
    """
    geom = params.get("geometry")
    a, b = params.get("from_node"), params.get("to_node")
    nodes = twin.layer("road_nodes")
    if geom is None and (a is None or b is None):
        msg = "road_add needs `geometry` or both `from_node` and `to_node`"
        raise ScenarioError(msg)
    if geom is not None:
        line = (shapely.from_wkt(geom) if isinstance(geom, str)
                else shapely.LineString(as_points(geom, twin, "geometry")))
        if line.geom_type != "LineString" or line.length <= 0:
            msg = f"road_add: geometry must be a line of positive length, got {geom!r}"
            raise ScenarioError(msg)
        coords = shapely.get_coordinates(line)
        ends = _snap_or_add(twin, coords[[0, -1]], float(params.get("snap_m") or 0.0))
        nodes = twin.layer("road_nodes")
        pos = nodes.set_index(nodes["id"].astype(str)).geometry
        coords[0] = shapely.get_coordinates(pos[ends[0]])[0]
        coords[-1] = shapely.get_coordinates(pos[ends[1]])[0]
        line = shapely.LineString(coords)
        u, v = ends
    else:
        pos = nodes.set_index(nodes["id"].astype(str)).geometry
        for n in (a, b):
            if str(n) not in pos.index:
                msg = f"road_add: road node {n!r} does not exist in the twin"
                raise ScenarioError(msg)
        if str(a) == str(b):
            msg = "road_add: from_node and to_node are the same node"
            raise ScenarioError(msg)
        line = shapely.LineString([pos[str(a)], pos[str(b)]])
        u, v = str(a), str(b)
    add_roads(twin, [line], [u], [v], highway=str(params.get("highway") or "tertiary"),
              lanes=params.get("lanes"), speed_kph=params.get("speed_kph"),
              oneway=bool(params.get("oneway")), name=params.get("name"))
    return twin


@intervention("road_close", family="roads", params={
    "where": Param("where", layer="roads", required=True,
                   description="Selector of the roads: ids, zone_ids, zone_kind, polygon, bbox"),
    "hours": Param("hours", description="[start, end) hours of the closure; all day if absent"),
})
def road_close(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Close roads (all day, or for some hours).

    An all-day closure also sets the roads' capacity and speed to almost nothing in the layer,
    so every engine sees it: the roads stay in the graph (nobody is cut off) but no route
    takes them. A closure for some hours is the event ``close_roads`` with its hours.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> r = gpd.GeoDataFrame({"id": ["r1", "r2"], "capacity_vph": [900.0, 900.0],
    ...     "speed_kph": [30.0, 30.0]},
    ...     geometry=[shapely.LineString([(0, 0), (1, 0)])] * 2, crs=3067)
    >>> t = Twin(layers={"roads": r}, meta=new_meta("t", 3067))
    >>> out = road_close(t.copy(), {"where": {"ids": ["r2"]}}, np.random.default_rng(0))
    >>> out.extras["events"][0]["road_ids"], out.extras["events"][0]["hours"]
    (['r2'], [0, 24])
    >>> out.layers["roads"]["capacity_vph"].tolist()
    [900.0, 1.0]
    """
    ids = select(twin, "roads", params.get("where")).tolist()
    hours = list(params.get("hours") or [0, 24])
    add_event(twin, {"type": "close_roads", "road_ids": ids, "hours": hours})
    if hours[0] <= 0 and hours[1] >= 24:
        roads = twin.layer("roads").copy()
        hit = roads["id"].astype(str).isin(ids)
        roads.loc[hit, "capacity_vph"] = CLOSED_CAPACITY_VPH
        roads.loc[hit, "speed_kph"] = CLOSED_SPEED_KPH
        for col in ("capacity_vph", "speed_kph"):
            if f"{col}_source" in roads:
                roads.loc[hit, f"{col}_source"] = "user"
        twin.layers["roads"] = roads
    highlight(twin, "roads", ids)
    return twin


@intervention("road_lanes", family="roads", params={
    "where": Param("where", layer="roads", required=True, description="Selector of the roads"),
    "lanes": Param("int", min=1, max=12, description="new lanes per direction"),
    "lanes_delta": Param("int", min=-6, max=6, description="lanes added (negative: removed)"),
})
def road_lanes(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Set or change the lanes of roads; capacity follows (same capacity per lane).

    Examples
    --------
    >>> # {type: road_lanes, where: {ids: [r12, r13]}, lanes_delta: 1}
    """
    lanes, delta = params.get("lanes"), params.get("lanes_delta")
    if (lanes is None) == (delta is None):
        msg = "road_lanes needs exactly one of `lanes` and `lanes_delta`"
        raise ScenarioError(msg)
    ids = select(twin, "roads", params.get("where")).tolist()
    roads = twin.layer("roads").copy()
    hit = roads["id"].astype(str).isin(ids).to_numpy()
    old = pd.to_numeric(roads["lanes"], errors="coerce").fillna(1).to_numpy(float)
    new = np.full(len(roads), float(lanes)) if lanes is not None else old + float(delta or 0)
    new = np.where(hit, np.clip(new, 1, 12), old)
    cap = pd.to_numeric(roads["capacity_vph"], errors="coerce").to_numpy(float)
    roads["capacity_vph"] = np.where(hit, cap * new / np.maximum(old, 1), cap)
    roads["lanes"] = new.astype(roads["lanes"].dtype) if roads["lanes"].dtype.kind in "iuf" \
        else new
    for col in ("lanes", "capacity_vph"):
        if f"{col}_source" in roads:
            roads.loc[hit, f"{col}_source"] = "user"
    twin.layers["roads"] = roads
    highlight(twin, "roads", ids)
    return twin


@intervention("road_speed", family="roads", params={
    "where": Param("where", layer="roads", required=True, description="Selector of the roads"),
    "speed_kph": Param("float", min=5, max=130, description="new speed limit"),
    "speed_pct": Param("float", min=-90, max=200, description="change of the speed, %"),
})
def road_speed(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Set or change the speed of roads (e.g. a 30 km/h zone).

    Examples
    --------
    >>> # {type: road_speed, where: {zone_kind: old_district}, speed_kph: 30}
    """
    speed, pct = params.get("speed_kph"), params.get("speed_pct")
    if (speed is None) == (pct is None):
        msg = "road_speed needs exactly one of `speed_kph` and `speed_pct`"
        raise ScenarioError(msg)
    ids = select(twin, "roads", params.get("where")).tolist()
    roads = twin.layer("roads").copy()
    hit = roads["id"].astype(str).isin(ids).to_numpy()
    old = pd.to_numeric(roads["speed_kph"], errors="coerce").to_numpy(float)
    new = (np.full(len(roads), float(speed)) if speed is not None
           else old * (1 + float(pct or 0.0) / 100))
    roads["speed_kph"] = np.where(hit, np.clip(new, 1.0, 200.0), old)
    if "speed_kph_source" in roads:
        roads.loc[hit, "speed_kph_source"] = "user"
    twin.layers["roads"] = roads
    highlight(twin, "roads", ids)
    return twin
