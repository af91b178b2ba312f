"""Validation of a twin and its layers: every problem is collected, none stops the others.

Rules are small functions. Layer rules (:func:`validate_layer`, also run on import) check the
CRS, the data dictionary (required fields, types, ranges, allowed values, provenance, unique
ids) and geometry (missing, empty, invalid, wrong type). Twin rules (:func:`validate_twin`) add
references between layers, the road graph (connectivity, dead ends), utility supply
(power from an external grid, water from a reservoir or tank) and buildings against zones.

Errors are real problems (the twin cannot be used as it is); warnings are things a planner
should know (dead ends at the edge of an extract, a small disconnected part, buildings outside
every zone). ``strict`` turns warnings into failures.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import Twin, new_meta
>>> zones = gpd.GeoDataFrame(
...     {"id": ["z1", "z1"], "name": ["A", "B"], "kind": ["other", "other"],
...      "land_use": ["mixed", "park"], "area_m2": [1e4, 1e4], "population": [0, 0],
...      "jobs": [0, 0], "source": ["user", "user"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(200, 0, 300, 100)], crs=3067)
>>> report = validate_twin(Twin({"zones": zones}, new_meta("t", "EPSG:3067")))
>>> report.ok, len(report.errors)
(False, 3)
>>> print(report.findings[0].format()[:60])
error [unique] zones / feature z1 / field id: 'z1' is used b
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from twin._errors import Finding
from twin.layers.schemas import PROVENANCE, FieldSpec, LayerSpec, layer_spec, load_dictionary
from twin.layers.store import Twin
from twin.layers.utility_rules import check_utility_values

__all__ = [
    "LAYER_RULES",
    "MAX_LISTED",
    "TWIN_RULES",
    "Report",
    "check_buildings_in_zones",
    "check_crs",
    "check_fields",
    "check_geometry",
    "check_power_supply",
    "check_refs",
    "check_road_graph",
    "check_road_lengths",
    "check_stored_values",
    "check_transit_stops",
    "check_water_supply",
    "check_zone_overlaps",
    "fix_twin",
    "validate_layer",
    "validate_twin",
]

#: Features listed one by one per rule, layer and field; the rest are summed up in one finding.
from twin.layers._rules import (
    check_buildings_in_zones,
    check_power_supply,
    check_refs,
    check_road_graph,
    check_transit_stops,
    check_water_supply,
    check_zone_overlaps,
)
from twin.layers._vbase import (
    _BOOL_TEXT,
    _FIX_HINT,
    _GEOM_TYPES,
    _NULLS,
    _TYPE_NAMES,
    LENGTH_TOLERANCE,
    MAX_LISTED,
    Report,
    _as_numeric,
    _fmt,
    _geoms,
    _ids,
    _listed,
    _present,
)


def check_crs(gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str | None = None,
              twin_crs: CRS | None = None) -> list[Finding]:
    """The layer has a projected metric CRS (the twin's, when given).

    Examples
    --------
    >>> g = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    >>> [f.rule for f in check_crs(g, layer_spec("roads"))]
    ['crs']
    """
    if gdf.crs is None:
        return [Finding("error", "crs", "the layer has no CRS; set it (import with --crs) so "
                        "coordinates can be placed", spec.name, source=source)]
    crs = CRS.from_user_input(gdf.crs)
    if not crs.is_projected:
        return [Finding("error", "crs", f"the layer's CRS {crs.name} is not projected (metric); "
                        "reproject it to the twin's CRS (import converts it for you)",
                        spec.name, source=source)]
    if twin_crs is not None and not crs.equals(twin_crs):
        return [Finding("error", "crs", f"the layer's CRS {crs.name} differs from the twin's "
                        f"{twin_crs.name}; reproject it with to_crs", spec.name, source=source)]
    return []


def _check_field(gdf: pd.DataFrame, spec: LayerSpec, f: FieldSpec, ids: pd.Series,
                 source: str | None) -> list[Finding]:
    name = spec.name
    if f.name not in gdf.columns:
        if not f.required:
            return []
        return [Finding("error", "required", f"required field is missing; add a column "
                        f"{f.name!r} ({f.type}) or map a source column to it with "
                        f"--map SRC={f.name}", name, None, f.name, source)]
    out: list[Finding] = []
    col = gdf[f.name]
    present = _present(col)
    if f.required and not present.all():
        miss = ~present
        out += _listed("error", "required", name, f.name, ids[miss],
                       f"required value is missing; enter a {f.type}", source,
                       summary="miss the value")
    if f.type in ("int", "float"):
        num = _as_numeric(col)
        bad = present & num.isna().to_numpy()
        if bad.any():
            msgs = col[bad].map(lambda v: f"{v!r} is not a number; enter a {f.type}")
            out += _listed("error", "type", name, f.name, ids[bad], msgs, source,
                           summary="are not numbers")
        vals = num.to_numpy()
        unit = f" {f.unit}" if f.unit else ""
        for limit, below in ((f.min, True), (f.max, False)):
            if limit is None:
                continue
            with np.errstate(invalid="ignore"):
                hit = vals < limit if below else vals > limit
            if hit.any():
                word = "below the minimum" if below else "above the maximum"
                msgs = pd.Series(vals[hit], index=ids.index[hit]).map(
                    lambda v, w=word, lim=limit: f"{_fmt(v)}{unit} is {w} {_fmt(lim)}{unit}; "
                    "correct the value")
                out += _listed("error", "range", name, f.name, ids[hit], msgs, source,
                               summary=f"{word} {_fmt(limit)}")
    elif f.type == "bool" and not pd.api.types.is_bool_dtype(col.dtype):
        text = col.astype(str).str.strip().str.lower()
        bad = present & ~text.isin(_BOOL_TEXT).to_numpy()
        if bad.any():
            msgs = col[bad].map(lambda v: f"{v!r} is not true/false")
            out += _listed("error", "type", name, f.name, ids[bad], msgs, source,
                           summary="are not true/false")
    if f.allowed is not None:
        bad = ~col.isin([*f.allowed, *_NULLS]).to_numpy()
        if bad.any():
            choices = ", ".join(f.allowed)
            msgs = col[bad].map(lambda v, c=choices: f"{v!r} is not allowed; use one of: {c}")
            out += _listed("error", "allowed", name, f.name, ids[bad], msgs, source,
                           summary="have values not allowed")
    if f.unique:
        keyed = col if col.dtype == object else col.astype(str).where(col.notna())
        dup = np.zeros(len(col), dtype=bool)
        if not keyed.is_unique:
            dup = keyed.duplicated(keep=False).to_numpy() & present
        if dup.any():
            counts = keyed[dup].map(keyed[dup].value_counts())
            msgs = pd.Series([f"{v!r} is used by {n} features; give each feature its own "
                              f"{f.name}" for v, n in zip(keyed[dup], counts, strict=True)],
                             index=keyed.index[dup])
            out += _listed("error", "unique", name, f.name, ids[dup], msgs, source,
                           summary="share a value")
    if f.provenance:
        out += _check_provenance(gdf, spec, f, ids, source)
    return out


def _check_provenance(gdf: pd.DataFrame, spec: LayerSpec, f: FieldSpec, ids: pd.Series,
                      source: str | None) -> list[Finding]:
    col_name = f"{f.name}_source"
    if col_name not in gdf.columns:
        return [Finding("warning", "provenance", f"the column {col_name!r} is missing, so "
                        f"nobody can tell where {f.name} values come from; add it with one of: "
                        f"{', '.join(PROVENANCE)}", spec.name, None, col_name, source)]
    col = gdf[col_name]
    bad = ~col.isin([*PROVENANCE, *_NULLS]).to_numpy()
    if not bad.any():
        return []
    msgs = col[bad].map(lambda v: f"{v!r} is not a provenance; use one of: "
                        f"{', '.join(PROVENANCE)}")
    return _listed("error", "provenance", spec.name, col_name, ids[bad], msgs, source,
                   summary="have an unknown provenance")


def check_fields(gdf: pd.DataFrame, spec: LayerSpec, source: str | None = None
                 ) -> list[Finding]:
    """Dictionary rules: required, type, range, allowed, unique and provenance.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["s1", "s1"], "kind": ["camera", "drone"],
    ...                    "range_m": [40, "far"], "source": ["osm", "osm"]})
    >>> sorted({f.rule for f in check_fields(df, layer_spec("sensors"))})
    ['allowed', 'provenance', 'type', 'unique']
    """
    ids = _ids(gdf)
    out: list[Finding] = []
    for f in spec.fields.values():
        out += _check_field(gdf, spec, f, ids, source)
    return out


def check_geometry(gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str | None = None
                   ) -> list[Finding]:
    """Geometry rules: missing, empty, wrong type for the layer, invalid (with the reason).

    Examples
    --------
    >>> import shapely
    >>> bow = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    >>> g = gpd.GeoDataFrame({"id": ["b1", "b2"]}, geometry=[bow, shapely.Point(0, 0)],
    ...                      crs=3067)
    >>> [(f.rule, f.feature) for f in check_geometry(g, layer_spec("buildings"))]
    [('geometry_type', 'b2'), ('invalid', 'b1')]
    """
    name = spec.name
    geoms = _geoms(gdf)
    ids = _ids(gdf)
    out: list[Finding] = []
    missing = shapely.is_missing(geoms)
    out += _listed("error", "geometry", name, None, ids[missing], "the feature has no geometry; "
                   "draw it or delete the feature", source, summary="without geometry")
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    out += _listed("error", "empty", name, None, ids[empty], "the geometry is empty; draw it, "
                   "or delete the feature (`--fix` drops empty geometries)", source,
                   summary="with empty geometry")
    present = ~missing & ~empty
    type_id = np.full(len(geoms), -1)
    type_id[present] = shapely.get_type_id(geoms[present])
    wanted = _GEOM_TYPES[spec.geometry]
    wrong = present & ~np.isin(type_id, wanted)
    if wrong.any():
        need = f"{spec.geometry} or Multi{spec.geometry}"
        msgs = pd.Series([f"a {_TYPE_NAMES.get(int(t), '?')} in a {spec.geometry} layer; "
                          f"{name} needs {need} geometries" for t in type_id[wrong]],
                         index=ids.index[wrong])
        out += _listed("error", "geometry_type", name, None, ids[wrong], msgs, source,
                       summary=f"that are not {need}")
    check = present & ~wrong
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[check] = ~shapely.is_valid(geoms[check])
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid])
        msgs = pd.Series([f"invalid geometry: {r}; {_FIX_HINT}" for r in reasons],
                         index=ids.index[invalid])
        out += _listed("error", "invalid", name, None, ids[invalid], msgs, source,
                       summary="with invalid geometry")
    return out


def check_road_lengths(gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str | None = None
                       ) -> list[Finding]:
    """Roads whose ``length_m`` differs a lot from their geometry's length (a warning).

    Examples
    --------
    >>> import shapely
    >>> r = gpd.GeoDataFrame({"id": ["r1"], "length_m": [500.0]},
    ...                      geometry=[shapely.LineString([(0, 0), (100, 0)])], crs=3067)
    >>> check_road_lengths(r, layer_spec("roads"))[0].message[:40]
    'length_m is 500 m but the geometry is 10'
    """
    if spec.name != "roads" or "length_m" not in gdf.columns or len(gdf) == 0:
        return []
    if gdf.crs is None or not CRS.from_user_input(gdf.crs).is_projected:
        return []
    given = _as_numeric(gdf["length_m"]).to_numpy()
    geoms = _geoms(gdf)
    geo = np.full(len(geoms), np.nan)
    ok = ~shapely.is_missing(geoms)
    geo[ok] = shapely.length(geoms[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(given - geo)
        off = (diff > 5.0) & (diff > LENGTH_TOLERANCE * geo)
    if not off.any():
        return []
    ids = _ids(gdf)
    msgs = pd.Series([f"length_m is {g:.0f} m but the geometry is {m:.0f} m long; correct "
                      "length_m or clear it to derive it from the geometry"
                      for g, m in zip(given[off], geo[off], strict=True)], index=ids.index[off])
    return _listed("warning", "length", spec.name, "length_m", ids[off], msgs, source,
                   summary="with length_m far from the geometry length")


LayerRule = Callable[[gpd.GeoDataFrame, LayerSpec, str | None], list[Finding]]
LAYER_RULES: tuple[LayerRule, ...] = (check_fields, check_geometry, check_road_lengths,
                                       check_utility_values)


def validate_layer(gdf: gpd.GeoDataFrame, name: str, *, source: str | None = None,
                   twin_crs: Any = None) -> list[Finding]:
    """Check one layer against the data dictionary: CRS, fields, geometry.

    Parameters
    ----------
    gdf : GeoDataFrame
    name : str
        Layer kind (``roads``, ``buildings``, ...).
    source : str, optional
        The file the layer comes from, named in each finding.
    twin_crs : str or pyproj.CRS, optional
        The twin's CRS; a layer in another CRS is an error.

    Returns
    -------
    list of Finding
        Every problem found, errors and warnings.

    Raises
    ------
    LayerError
        ``name`` is not a layer kind.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"id": ["s1"], "kind": ["camera"], "range_m": [9000.0],
    ...                       "source": ["user"]}, geometry=[shapely.Point(0, 0)], crs=3067)
    >>> found = validate_layer(g, "sensors")
    >>> print(found[0].message)
    9000 m is above the maximum 5000 m; correct the value
    >>> (found[1].severity, found[1].rule, found[1].field)
    ('warning', 'provenance', 'range_m_source')
    """
    spec = layer_spec(name)
    crs = None if twin_crs is None else CRS.from_user_input(twin_crs)
    out = check_crs(gdf, spec, source, crs)
    for rule in LAYER_RULES:
        out += rule(gdf, spec, source)
    return _order(out)


def _order(findings: list[Finding]) -> list[Finding]:
    """Errors before warnings, otherwise as found."""
    return sorted(findings, key=lambda f: f.severity != "error")


def check_stored_values(path: str | Path, layers: list[str] | None = None) -> list[Finding]:
    """Text stored in the numeric fields of a twin file (by another program: ``UPDATE
    buildings SET residents = 'many'`` in sqlite3). GDAL, QGIS and twin read such a value as a
    number (0 for ``'many'``) without a word, so it is only seen in the file itself.

    Parameters
    ----------
    path : path-like
        The twin file.
    layers : list of str, optional
        Only these layers (default: every dictionary layer in the file).

    Examples
    --------
    >>> # [f.format() for f in check_stored_values("city.twin.gpkg")]
    >>> # ["error [type] buildings / feature b2 / field residents: the text 'many' is ..."]
    """
    p = Path(path)
    specs = load_dictionary()
    out: list[Finding] = []
    try:
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return out
    try:
        tables = [n for (n,) in con.execute(
            "SELECT c.table_name FROM gpkg_contents c WHERE c.data_type = 'features'")
            if n in specs and (layers is None or n in layers)]
        for name in tables:
            have = {r[1] for r in con.execute(f"PRAGMA table_info(\"{name}\")")}
            numeric = [f for f in specs[name].fields.values()
                       if f.type in ("int", "float", "bool") and f.name in have]
            if not numeric or "id" not in have:
                continue
            cols = ", ".join(f'"{f.name}"' for f in numeric)
            where = " OR ".join(f"typeof(\"{f.name}\") IN ('text', 'blob')" for f in numeric)
            rows = con.execute(f'SELECT "id", {cols} FROM "{name}" WHERE {where}').fetchall()
            for k, f in enumerate(numeric, start=1):
                bad = [(r[0], r[k]) for r in rows if isinstance(r[k], str | bytes)]
                if not bad:
                    continue
                ids = pd.Series([str(i) for i, _ in bad])
                want = "true or false" if f.type == "bool" else (
                    "a whole number" if f.type == "int" else "a number")
                msgs = pd.Series([f"the text {v!r} is stored in this {f.type} field; GDAL, QGIS "
                                  "and twin read it as a number (0 unless it starts with one); "
                                  f"enter {want} (twin layers edit --update) or clear it"
                                  for _, v in bad])
                out += _listed("error", "type", name, f.name, ids, msgs, str(p),
                               summary="with text stored in a number field")
    except sqlite3.Error:
        return out
    finally:
        con.close()
    return out


# --- twin rules -------------------------------------------------------------------------------

TwinRule = Callable[[Twin], list[Finding]]
TWIN_RULES: tuple[TwinRule, ...] = (
    check_refs, check_transit_stops, check_road_graph, check_power_supply, check_water_supply,
    check_buildings_in_zones, check_zone_overlaps,
)


def validate_twin(twin: Twin, *, strict: bool = False) -> Report:
    """Check every layer of a twin and the links between them; collect every problem.

    Parameters
    ----------
    twin : Twin
    strict : bool
        Warnings count as errors in :attr:`Report.ok`.

    Returns
    -------
    Report

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> validate_twin(Twin({}, new_meta("empty", "EPSG:3067"))).format()
    'OK: 0 error(s), 0 warning(s)'
    """
    out: list[Finding] = []
    try:
        twin_crs: CRS | None = twin.crs
    except Exception:  # any unreadable CRS is reported, not raised
        twin_crs = None
        out.append(Finding("error", "crs", f"the twin's CRS {twin.meta.get('crs')!r} cannot be "
                           "read; set twin_meta crs to an EPSG code such as EPSG:32651"))
    if twin_crs is not None and not twin_crs.is_projected:
        out.append(Finding("error", "crs", f"the twin's CRS {twin_crs.name} is not projected; "
                           "a twin needs one metric CRS (e.g. a UTM zone)"))
        twin_crs = None
    specs = load_dictionary()
    for name, gdf in twin.layers.items():
        if name not in specs:
            out.append(Finding("warning", "unknown_layer", f"{name!r} is not a layer kind of "
                               f"the data dictionary and is ignored; kinds: {', '.join(specs)}",
                               name))
            continue
        out += validate_layer(gdf, name, twin_crs=twin_crs)
    known = Twin({k: v for k, v in twin.layers.items() if k in specs}, twin.meta)
    for rule in TWIN_RULES:
        out += rule(known)
    if twin.path is not None and Path(twin.path).is_file():
        out += check_stored_values(twin.path, [n for n in twin.layers if n in specs])
    return Report(_order(out), strict=strict,
                  path=None if twin.path is None else str(twin.path))


# --- fixes ------------------------------------------------------------------------------------

def _keep_kind(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Keep only the parts of the layer's geometry kind; None where nothing is left."""
    single = _GEOM_TYPES[kind][0]
    out = np.full(len(geoms), None, dtype=object)
    for k, g in enumerate(geoms):
        parts = shapely.get_parts(shapely.get_parts(g))
        parts = parts[shapely.get_type_id(parts) == single]
        parts = parts[~shapely.is_empty(parts)]
        if len(parts) == 1:
            out[k] = parts[0]
        elif len(parts) > 1:
            multi = {"Point": shapely.multipoints, "LineString": shapely.multilinestrings,
                     "Polygon": shapely.multipolygons}[kind]
            out[k] = multi(parts)
    return out


def _fix_layer(gdf: gpd.GeoDataFrame, spec: LayerSpec) -> tuple[gpd.GeoDataFrame,
                                                               list[Finding]]:
    name = spec.name
    geoms = _geoms(gdf).copy()
    ids = _ids(gdf)
    found: list[Finding] = []
    present = ~shapely.is_missing(geoms)
    present[present] = ~shapely.is_empty(geoms[present])
    type_id = np.full(len(geoms), -1)
    type_id[present] = shapely.get_type_id(geoms[present])
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    collection = present & (type_id == 7)
    todo = invalid | collection
    if todo.any():
        reasons = np.where(invalid[todo], shapely.is_valid_reason(geoms[todo]),
                           "a GeometryCollection")
        repaired = shapely.make_valid(geoms[todo])
        kept = _keep_kind(repaired, spec.geometry)
        geoms[todo] = kept
        lost = np.array([k is None for k in kept])
        msgs = pd.Series([f"geometry repaired ({r}): kept its {spec.geometry} parts"
                          for r in reasons[~lost]])
        found += _listed("warning", "fixed", name, None, ids[todo][~lost].reset_index(drop=True),
                         msgs, None, summary="repaired")
        if lost.any():
            found += _listed("warning", "fixed", name, None, ids[todo][lost],
                             f"deleted: the repaired geometry has no {spec.geometry} part",
                             None, summary="deleted")
    drop = ~present | shapely.is_missing(geoms)
    drop_first = ~present
    found += _listed("warning", "fixed", name, None, ids[drop_first], "deleted: the feature "
                     "had no geometry (or an empty one)", None, summary="deleted")
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return out.loc[~drop], found


def fix_twin(twin: Twin) -> tuple[Twin, list[Finding]]:
    """Repair what can be repaired safely: invalid geometries and empty ones.

    Invalid geometries are made valid (``make_valid``), keeping the layer's geometry kind
    (polygons are extracted from a GeometryCollection); features left with no geometry are
    deleted. Every change is reported as a warning with rule ``fixed``.

    Returns
    -------
    (Twin, list of Finding)
        A repaired copy (the input is not changed) and what was changed.

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> bow = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    >>> b = gpd.GeoDataFrame({"id": ["b1", "b2"]}, geometry=[bow, shapely.Polygon()], crs=3067)
    >>> fixed, changes = fix_twin(Twin({"buildings": b}, new_meta("t", 3067)))
    >>> fixed.layers["buildings"].geom_type.tolist(), [c.feature for c in changes]
    (['MultiPolygon'], ['b1', 'b2'])
    """
    out = twin.copy()
    found: list[Finding] = []
    specs = load_dictionary()
    for name in list(out.layers):
        if name not in specs:
            continue
        fixed, changes = _fix_layer(out.layers[name], specs[name])
        out.layers[name] = fixed
        found += changes
    return out, found


