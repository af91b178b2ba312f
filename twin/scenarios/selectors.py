"""Selectors: which features an intervention acts on (``where:`` in a scenario file).

A selector is a mapping with one or more of ``zone_ids``, ``zone_kind``, ``ids``, ``polygon``
(coordinates ``[[x, y], ...]`` in the twin's CRS, or lon/lat when every value is within
±180/±90, or WKT) and ``bbox`` (``[minx, miny, maxx, maxy]``, same rule). Several keys combine
with AND.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import Twin, new_meta
>>> z = gpd.GeoDataFrame({"id": ["z1"], "kind": ["old_district"]},
...                      geometry=[shapely.box(0, 0, 10, 10)], crs=3067)
>>> b = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=shapely.points([(1, 1), (20, 20)]),
...                      crs=3067)
>>> t = Twin(layers={"zones": z, "buildings": b}, meta=new_meta("t", 3067))
>>> select(t, "buildings", {"zone_kind": "old_district"}).tolist()
['a']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from twin._errors import ScenarioError
from twin.layers.schemas import suggest
from twin.layers.store import Twin

__all__ = ["SELECTOR_KEYS", "select", "selector_geometry"]

SELECTOR_KEYS = ("zone_ids", "zone_kind", "ids", "polygon", "bbox")


def _to_twin_crs(geom: shapely.Geometry, twin: Twin) -> shapely.Geometry:
    minx, miny, maxx, maxy = geom.bounds
    if -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90:
        tr = Transformer.from_crs("EPSG:4326", twin.crs, always_xy=True)
        return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0],
                                                                               xy[:, 1])))
    return geom


def selector_geometry(value: Any, twin: Twin, key: str = "polygon") -> shapely.Geometry:
    """Turn a ``polygon`` or ``bbox`` value into a geometry in the twin's CRS.

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> t = Twin(layers={}, meta=new_meta("t", 3067))
    >>> selector_geometry([385000, 6671000, 385010, 6671010], t, "bbox").area
    100.0
    """
    try:
        if key == "bbox":
            minx, miny, maxx, maxy = (float(v) for v in value)
            geom = shapely.box(minx, miny, maxx, maxy)
        elif isinstance(value, str):
            geom = shapely.from_wkt(value)
        else:
            geom = shapely.Polygon([(float(x), float(y)) for x, y in value])
    except Exception as err:
        shape = "[minx, miny, maxx, maxy]" if key == "bbox" else "a list of [x, y] pairs or WKT"
        msg = f"{key}: expected {shape}, got {value!r}"
        raise ScenarioError(msg) from err
    if geom.is_empty or not geom.is_valid or geom.area <= 0:
        msg = f"{key}: the shape is empty or invalid ({value!r})"
        raise ScenarioError(msg)
    return _to_twin_crs(geom, twin)


def select(twin: Twin, layer: str, where: Mapping[str, Any] | None) -> np.ndarray:
    """Ids of the features of ``layer`` matching the selector (all features when None).

    Raises
    ------
    ScenarioError
        Unknown selector keys, unknown zone or feature ids, or nothing selected.
    """
    frame: gpd.GeoDataFrame = twin.layer(layer)
    if not where:
        return frame["id"].astype(str).to_numpy()
    unknown = [k for k in where if k not in SELECTOR_KEYS]
    if unknown:
        msg = (f"where: unknown key {unknown[0]!r}{suggest(unknown[0], SELECTOR_KEYS)}; "
               f"valid keys: {', '.join(SELECTOR_KEYS)}")
        raise ScenarioError(msg)
    mask = np.ones(len(frame), dtype=bool)
    geoms = frame.geometry.representative_point() if len(frame) else frame.geometry
    zones = twin.layer("zones")
    if "zone_ids" in where or "zone_kind" in where:
        chosen = zones
        if "zone_ids" in where:
            ids = [str(i) for i in _as_list(where["zone_ids"])]
            missing = sorted(set(ids) - set(zones["id"].astype(str)))
            if missing:
                msg = (f"where.zone_ids: zone {missing[0]!r} does not exist in the twin"
                       f"{suggest(missing[0], zones['id'].astype(str).tolist())}")
                raise ScenarioError(msg)
            chosen = chosen[chosen["id"].astype(str).isin(ids)]
        if "zone_kind" in where:
            kinds = [str(k) for k in _as_list(where["zone_kind"])]
            allowed = ("old_district", "new_zone", "other")
            bad = [k for k in kinds if k not in allowed]
            if bad:
                msg = (f"where.zone_kind: {bad[0]!r} is not a zone kind"
                       f"{suggest(bad[0], allowed)}; valid: {', '.join(allowed)}")
                raise ScenarioError(msg)
            chosen = chosen[chosen["kind"].isin(kinds)]
        area = shapely.union_all(chosen.geometry.to_numpy()) if len(chosen) else None
        mask &= (np.zeros(len(frame), bool) if area is None
                 else shapely.intersects(geoms.to_numpy(), area))
    if "ids" in where:
        ids = [str(i) for i in _as_list(where["ids"])]
        existing = set(frame["id"].astype(str))
        missing = [i for i in ids if i not in existing]
        if missing:
            msg = (f"where.ids: {layer} feature {missing[0]!r} does not exist in the twin"
                   f"{suggest(missing[0], sorted(existing))}")
            raise ScenarioError(msg)
        mask &= frame["id"].astype(str).isin(ids).to_numpy()
    for key in ("polygon", "bbox"):
        if key in where:
            geom = selector_geometry(where[key], twin, key)
            mask &= shapely.intersects(frame.geometry.to_numpy(), geom)
    return frame["id"].astype(str).to_numpy()[mask]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
