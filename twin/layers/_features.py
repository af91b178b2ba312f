"""The features of an edit: read from GeoJSON or a GeoDataFrame, then checked and typed.

:func:`read_features` reads a GeoJSON file, a GeoJSON dict or a GeoDataFrame into the twin's CRS,
every feature with an ``id`` (and remembers which properties each feature gave, since an update
sets only those). The checks refuse fields and geometry types the layer does not have and values
of the wrong type, before :mod:`twin.layers.edit` plans anything.

Examples
--------
>>> fc = {"type": "Feature", "properties": {"id": "s1", "range_m": 60},
...       "geometry": {"type": "Point", "coordinates": [24.94, 60.17]}}
>>> read_features(fc, "sensors", "EPSG:3067")["range_m"].tolist()
[60]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin._errors import LayerError, ValidationError
from twin.layers._gpkg import LayerTable
from twin.layers.schemas import LayerSpec, coerce_fields, suggest

__all__ = ["MAX_LISTED", "read_features"]

#: Features listed one by one in a conflict or unknown-id message.
MAX_LISTED = 20
_GEOM_NAMES = {0: "POINT", 1: "LINESTRING", 2: "LINEARRING", 3: "POLYGON", 4: "MULTIPOINT",
               5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"}


# --- reading the features of an edit ----------------------------------------------------------

@dataclass
class _Features:
    frame: gpd.GeoDataFrame          # id, properties, geometry (twin CRS)
    given: dict[str, np.ndarray]     # column -> which features set it
    where: str                       # for messages


def _fail(where: str, what: str) -> LayerError:
    return LayerError(f"{where}: {what}")


def _geojson_features(obj: Any, where: str) -> tuple[list[dict[str, Any]], Any]:
    if not isinstance(obj, Mapping) or "type" not in obj:
        raise _fail(where, "not GeoJSON: expected an object with a \"type\" "
                    "(FeatureCollection or Feature)")
    kind = obj["type"]
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise _fail(where, "the FeatureCollection has no \"features\" list")
    elif kind == "Feature":
        feats = [obj]
    else:
        raise _fail(where, f"a GeoJSON {kind} is not a feature; give a FeatureCollection "
                    "or a Feature whose properties carry the feature's \"id\"")
    crs = None
    member = obj.get("crs")
    if isinstance(member, Mapping):
        crs = (member.get("properties") or {}).get("name")
    return feats, crs


def read_features(src: Any, layer: str, twin_crs: Any, *, crs: Any = None,
                  what: str = "features") -> gpd.GeoDataFrame:
    """Read the features of an edit (GeoJSON file, GeoJSON dict or GeoDataFrame) into the
    twin's CRS, every feature with an ``id``.

    GeoJSON without a ``crs`` member is WGS84 lon/lat (RFC 7946); ``crs`` overrides what the
    source declares (``EPSG:n``, ``gcj02``, ``bd09``).

    Raises
    ------
    LayerError
        The file is missing or malformed, a feature has no id, ids repeat.

    Examples
    --------
    >>> fc = {"type": "FeatureCollection", "features": [{"type": "Feature",
    ...       "properties": {"id": "s1", "kind": "camera"},
    ...       "geometry": {"type": "Point", "coordinates": [24.94, 60.17]}}]}
    >>> g = read_features(fc, "sensors", "EPSG:3067")
    >>> g["id"].tolist(), g.crs.to_epsg()
    (['s1'], 3067)
    """
    return _read(src, layer, twin_crs, crs, what).frame


def _read(src: Any, layer: str, twin_crs: Any, crs: Any, what: str) -> _Features:
    from twin.layers.crs import to_twin_crs

    if isinstance(src, gpd.GeoDataFrame):
        where = f"{what} (GeoDataFrame)"
        frame = src.copy()
        if "id" not in frame.columns:
            raise _fail(where, "no \"id\" column; features are addressed by their id")
        given = {c: np.ones(len(frame), dtype=bool) for c in frame.columns}
        given[frame.geometry.name] = ~shapely.is_missing(np.asarray(frame.geometry.array))
    else:
        if isinstance(src, str | Path):
            where = str(src)
            p = Path(src)
            if not p.is_file():
                raise _fail(where, "no such file")
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except UnicodeDecodeError as err:
                raise _fail(where, "not a text file; give a GeoJSON file") from err
            except json.JSONDecodeError as err:
                raise _fail(where, f"malformed GeoJSON: {err.msg} at line {err.lineno}, "
                            f"column {err.colno}") from err
        else:
            where, obj = f"{what} (GeoJSON)", src
        frame, given = _from_geojson(obj, where, crs)
    if frame.crs is None and crs is None:
        raise _fail(where, "the features have no CRS; give one (--crs EPSG:n)")
    ids = frame["id"]
    missing = ids.isna().to_numpy()
    if missing.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(missing)[:MAX_LISTED])
        raise _fail(where, f"feature(s) {rows} have no \"id\"; every feature needs the id of "
                    "the layer feature it adds or changes (in properties or as the Feature id)")
    frame["id"] = ids.astype(str)
    dup = frame["id"][frame["id"].duplicated()].unique()
    if len(dup):
        raise _fail(where, f"id(s) given more than once: {', '.join(dup[:MAX_LISTED])}")
    geom = frame.geometry.name
    if frame.geometry.notna().any():
        frame = to_twin_crs(frame, twin_crs, crs, layer=layer, source=where)
    else:
        frame = frame.set_crs(twin_crs, allow_override=True)
    if geom != "geometry":
        given["geometry"] = given.pop(geom)
        frame = frame.rename_geometry("geometry")
    return _Features(frame.reset_index(drop=True), given, where)


def _from_geojson(obj: Any, where: str, crs: Any
                  ) -> tuple[gpd.GeoDataFrame, dict[str, np.ndarray]]:
    feats, declared = _geojson_features(obj, where)
    records: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for i, feat in enumerate(feats):
        label = f"feature {i + 1}"
        if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
            raise _fail(where, f"{label} is not a GeoJSON Feature")
        props = feat.get("properties") or {}
        if not isinstance(props, Mapping):
            raise _fail(where, f"{label}: \"properties\" must be an object")
        rec = dict(props)
        if rec.get("id") is None and feat.get("id") is not None:
            rec["id"] = feat["id"]     # the Feature id only when the properties have none
        geo = feat.get("geometry")
        geoms.append(None if geo is None else json.dumps(geo))
        records.append(rec)
    try:
        parsed = shapely.from_geojson(np.array(geoms, dtype=object))
    except Exception:
        parsed = None
    if parsed is None or (shapely.is_missing(parsed) & np.array([g is not None for g in geoms])
                          ).any():
        for rec, geo in zip(records, geoms, strict=True):
            try:
                shapely.from_geojson(geo) if geo is not None else None
            except Exception as err:
                label = f"the geometry of feature {rec.get('id')!r}"
                raise _fail(where, f"{label} is not valid GeoJSON ({err})") from err
        raise _fail(where, "a geometry is not valid GeoJSON")
    cols = list(dict.fromkeys(k for r in records for k in r))
    if "id" not in cols:
        cols.insert(0, "id")
    given = {c: np.array([c in r for r in records], dtype=bool) for c in cols}
    given["geometry"] = np.array([g is not None for g in geoms], dtype=bool)
    df = pd.DataFrame({c: pd.Series([r.get(c) for r in records], dtype=object) for c in cols})
    source_crs = crs or declared or "EPSG:4326"
    return gpd.GeoDataFrame(df, geometry=parsed, crs=source_crs), given


def _parse_ids(delete: str | Iterable[str] | None) -> list[str]:
    if delete is None:
        return []
    items = delete.split(",") if isinstance(delete, str) else [str(d) for d in delete]
    ids = [i.strip() for i in items if i.strip()]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        msg = f"--delete: id(s) given more than once: {', '.join(dup)}"
        raise LayerError(msg)
    return ids


# --- checks against the layer ------------------------------------------------------------------

def _check_columns(feats: _Features, table: LayerTable, what: str) -> None:
    cols = set(table.columns)
    unknown = [c for c in feats.frame.columns if c != "geometry" and c not in cols]
    if unknown:
        hints = "; ".join(f"{c!r}{suggest(c, sorted(cols))}" for c in unknown[:MAX_LISTED])
        msg = (f"{feats.where}: field(s) not in layer {table.name}: {hints}. The layer's "
               f"fields are: {', '.join(table.columns)}")
        raise LayerError(msg)
    geoms = np.asarray(feats.frame.geometry.array)
    present = ~shapely.is_missing(geoms)
    if what == "add" and not present.all():
        ids = feats.frame["id"][~present].tolist()[:MAX_LISTED]
        msg = f"{feats.where}: added feature(s) without geometry: {', '.join(ids)}; draw them"
        raise LayerError(msg)
    if table.geometry_type == "GEOMETRY":
        return
    base = table.geometry_type.removeprefix("MULTI")
    allowed = {base, "MULTI" + base} if table.geometry_type.startswith("MULTI") else {base}
    kinds = np.array([_GEOM_NAMES.get(int(k), "?")
                      for k in shapely.get_type_id(geoms[present])], dtype=object)
    wrong = ~np.isin(kinds, list(allowed))
    if wrong.any():
        ids = feats.frame["id"][present][wrong].tolist()[:MAX_LISTED]
        got = sorted(set(kinds[wrong].tolist()))
        hint = ("; split multi-part geometries into separate features"
                if any(g.startswith("MULTI") for g in got) else "")
        msg = (f"{feats.where}: layer {table.name} holds {table.geometry_type.title()} "
               f"geometries; feature(s) {', '.join(ids)} have "
               f"{', '.join(g.title() for g in got)}{hint}")
        raise LayerError(msg)


def _promote(geoms: np.ndarray, table: LayerTable) -> np.ndarray:
    if not table.geometry_type.startswith("MULTI"):
        return geoms
    out = geoms.copy()
    single = ~shapely.is_missing(out)
    single[single] = shapely.get_type_id(out[single]) < 4
    make = {"MULTIPOINT": shapely.multipoints, "MULTILINESTRING": shapely.multilinestrings,
            "MULTIPOLYGON": shapely.multipolygons}[table.geometry_type]
    for i in np.flatnonzero(single):
        out[i] = make([out[i]])
    return out


def _isna(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and math.isnan(v)


def _py(v: Any) -> Any:
    """A typed value as a plain Python scalar for SQLite (None for missing)."""
    if _isna(v) or (isinstance(v, np.floating) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return int(v)
    return v


def _typed(feats: _Features, spec: LayerSpec) -> pd.DataFrame:
    out, findings = coerce_fields(pd.DataFrame(feats.frame.drop(columns="geometry")), spec,
                                  source=feats.where)
    errors = [f for f in findings if f.severity == "error" and f.rule == "type"]
    if errors:
        raise ValidationError(errors, header=f"edit refused: {feats.where} has values of the "
                              f"wrong type; nothing was written")
    return out
