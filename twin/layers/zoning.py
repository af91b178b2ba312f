"""Zones for twins whose source has none: the extract tiled into cells, plus a new zone.

The built centre (cells with a high built-up share) becomes ``old_district``; the largest
brownfield-like land-use polygon (rail yard, construction site, large parking) becomes the
``new_zone``; every zone gets a land use from what covers it.

Examples
--------
>>> import geopandas as gpd, shapely
>>> area = shapely.box(0, 0, 900, 600)
>>> b = gpd.GeoDataFrame(geometry=[shapely.box(10, 10, 200, 200)], crs=3067)
>>> lu = gpd.GeoDataFrame({"landuse": ["railway"]}, geometry=[shapely.box(600, 0, 900, 300)],
...                       crs=3067)
>>> z = make_zones(area, b, lu, cell_size=300)
>>> sorted(z["kind"].unique().tolist())
['new_zone', 'old_district', 'other']
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.layers.schemas import layer_spec

__all__ = ["make_zones"]


def _landuse_class(landuse: gpd.GeoDataFrame) -> pd.Series:
    table = layer_spec("zones").derive["osm_landuse"]
    return landuse["landuse"].map(table).fillna("other")


def _new_zone_polygon(landuse: gpd.GeoDataFrame, area: shapely.Geometry
                      ) -> tuple[shapely.Geometry | None, str | None]:
    rules = layer_spec("zones").derive
    if len(landuse) == 0:
        return None, None
    cand = landuse[landuse["landuse"].isin(rules["new_zone_landuse"])]
    if len(cand) == 0:
        return None, None
    merged = cand.dissolve(by="landuse").explode(index_parts=False).reset_index()
    merged["geometry"] = merged.geometry.intersection(area)
    merged["a"] = merged.geometry.area
    merged = merged[merged["a"] >= float(rules["new_zone_min_area_m2"])]
    if len(merged) == 0:
        return None, None
    best = merged.sort_values("a", ascending=False).iloc[0]
    return shapely.make_valid(best.geometry), str(best["landuse"])


def make_zones(area: shapely.Geometry, buildings: gpd.GeoDataFrame,
               landuse: gpd.GeoDataFrame, *, cell_size: float | None = None,
               source: str = "derived") -> gpd.GeoDataFrame:
    """Tile ``area`` into square cells and classify each as old district, new zone or other.

    Parameters
    ----------
    area : shapely geometry
        The twin's extent (projected metres).
    buildings : GeoDataFrame
        Footprints, for the built-up share.
    landuse : GeoDataFrame
        Land-use polygons with a ``landuse`` column (OSM values).
    cell_size : float, optional
        Cell edge in metres (default from layers/zones.yaml).
    source : str
        Provenance of the zones' classification.

    Returns
    -------
    GeoDataFrame with id, name, kind, land_use and their ``*_source`` columns.
    """
    rules = layer_spec("zones").derive
    size = float(cell_size or rules["cell_size_m"])
    crs = buildings.crs
    new_geom, new_lu = _new_zone_polygon(landuse, area)
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx, maxx, size)
    ys = np.arange(miny, maxy, size)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size, gy.ravel() + size)
    cells = shapely.intersection(cells, area)
    if new_geom is not None:
        cells = shapely.difference(cells, new_geom)
    cells = np.array([shapely.make_valid(c) for c in cells])
    keep = ~shapely.is_empty(cells) & (shapely.area(cells) > 0.05 * size * size)
    cells = cells[keep]
    rows = [f"{chr(65 + int(r) % 26)}{int(c) + 1}" for r, c in zip(
        ((shapely.get_y(shapely.centroid(cells)) - miny) // size),
        ((shapely.get_x(shapely.centroid(cells)) - minx) // size), strict=True)]
    zones = gpd.GeoDataFrame({"name": [f"Cell {r}" for r in rows]}, geometry=list(cells),
                             crs=crs)
    # built-up share per cell
    if len(buildings):
        fp = gpd.GeoDataFrame(geometry=buildings.geometry, crs=crs)
        inter = gpd.overlay(fp, zones.reset_index()[["index", "geometry"]],
                            how="intersection", keep_geom_type=True)
        built = inter.assign(a=inter.area).groupby("index")["a"].sum()
        coverage = (built.reindex(zones.index).fillna(0.0) / zones.area).to_numpy()
    else:
        coverage = np.zeros(len(zones))
    threshold = float(rules["old_district_min_coverage"])
    kind = np.where(coverage >= threshold, "old_district", "other").astype(object)
    # land use: the class covering most of the cell, else from coverage
    land_use = np.where(coverage >= 0.1, "mixed", "other").astype(object)
    if len(landuse):
        lu = landuse.assign(cls=_landuse_class(landuse))[["cls", "geometry"]]
        lu = lu[lu.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        inter = gpd.overlay(lu, zones.reset_index()[["index", "geometry"]], how="intersection",
                            keep_geom_type=True)
        if len(inter):
            share = inter.assign(a=inter.area).groupby(["index", "cls"])["a"].sum()
            top = share.reset_index().sort_values("a", ascending=False).drop_duplicates("index")
            top = top.set_index("index")
            frac = top["a"] / zones.area.reindex(top.index)
            dominant = top["cls"].where(frac >= 0.2)
            for idx, cls in dominant.dropna().items():
                land_use[zones.index.get_loc(idx)] = cls
    ids = [f"z{i + 1}" for i in range(len(zones))]
    out = gpd.GeoDataFrame({
        "id": ids, "name": zones["name"].to_numpy(), "kind": kind, "kind_source": source,
        "land_use": land_use, "land_use_source": source, "source": source,
    }, geometry=zones.geometry.to_numpy(), crs=crs)
    if new_geom is not None:
        label = {"railway": "Rail yard", "construction": "Construction site",
                 "brownfield": "Brownfield", "parking": "Parking area",
                 "industrial": "Industrial area", "greenfield": "Greenfield"}.get(
                     str(new_lu), "Redevelopment area")
        row = gpd.GeoDataFrame({
            "id": [f"z{len(out) + 1}"], "name": [f"{label} (new zone)"], "kind": ["new_zone"],
            "kind_source": [source], "land_use": ["brownfield"], "land_use_source": [source],
            "source": [source]}, geometry=[new_geom], crs=crs)
        out = pd.concat([out, row], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
