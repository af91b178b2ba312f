"""Import layers from GIS files into a twin, and export them back out.

Read: GeoPackage, GeoJSON, Shapefile (``.shp`` or a ``.zip`` holding one) and GeoParquet. The
format is checked by content as well as extension, so a misnamed, empty, truncated or corrupt
file is refused with a message saying what to do.

Import maps source columns to the data dictionary, converts the CRS to the twin's (GCJ-02,
BD-09 and CGCS2000 included), coerces types, derives what the dictionary can derive, sets
provenance and validates, raising once with every problem.

Examples
--------
>>> import geopandas as gpd, shapely, tempfile, os
>>> from twin.layers.store import Twin, new_meta
>>> d = tempfile.mkdtemp()
>>> src = gpd.GeoDataFrame({"kind": ["camera"], "range": [30.0]},
...                        geometry=[shapely.Point(24.94, 60.17)], crs="EPSG:4326")
>>> src.to_file(os.path.join(d, "cams.geojson"))
>>> t = Twin({}, new_meta("demo", "EPSG:32635"))
>>> t2 = import_layer(t, "sensors", os.path.join(d, "cams.geojson"), mapping={"range": "range_m"})
>>> t2.layers["sensors"][["id", "kind", "range_m", "range_m_source", "source"]].values.tolist()
[['s1', 'camera', 30.0, 'import', 'import']]
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from twin._errors import Finding, LayerError, ValidationError
from twin.layers.crs import to_twin_crs, to_wgs84
from twin.layers.derive import assign_zones, derive_buildings, derive_roads
from twin.layers.schemas import PROVENANCE, LayerSpec, coerce_fields, conform, layer_spec, suggest
from twin.layers.store import INTERNAL_TABLES, Twin, read_layer
from twin.layers.validate import validate_layer

__all__ = ["EXPORT_FORMATS", "READ_FORMATS", "export_layer", "import_layer", "read_source",
           "sniff_format"]

#: Extension -> format name, for reading.
READ_FORMATS = {".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".json": "GeoJSON",
                ".shp": "Shapefile", ".zip": "zipped Shapefile", ".parquet": "GeoParquet",
                ".geoparquet": "GeoParquet"}
#: Extension -> format name, for writing.
EXPORT_FORMATS = {".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".parquet": "GeoParquet"}
#: Prefix of ids generated for features that have none.
ID_PREFIX = {"zones": "z", "roads": "r", "road_nodes": "n", "paths": "p", "buildings": "b",
             "facilities": "f", "sensors": "s", "transit_routes": "t", "power_nodes": "pn",
             "power_lines": "pl", "water_nodes": "wn", "water_pipes": "wp"}
# fields import can fill when the file lacks them (besides `source` and every `*_source`)
_DERIVABLE = {
    "buildings": {"use", "height_m", "floors", "footprint_m2", "floor_area_m2", "residents",
                  "jobs"},
    "roads": {"lanes", "speed_kph", "capacity_vph", "length_m"},
    "zones": {"kind", "area_m2", "population", "jobs"},
    "road_nodes": {"control"},
    "facilities": {"capacity", "units"},
    "sensors": {"range_m"},
}
_FORMAT_OF_EXT = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".shp": "shp",
                  ".zip": "zip", ".parquet": "parquet", ".geoparquet": "parquet"}
_FORMAT_NAMES = {"gpkg": "a GeoPackage (SQLite)", "geojson": "GeoJSON (JSON text)",
                 "shp": "a Shapefile", "zip": "a zip archive", "parquet": "Parquet"}
_EXT_OF_FORMAT = {"gpkg": ".gpkg", "geojson": ".geojson", "shp": ".shp", "zip": ".zip",
                  "parquet": ".parquet"}


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """The format of a file by its first bytes: gpkg, geojson, shp, zip, parquet or None.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.gpkg")
    >>> _ = open(p, "w").write('{"type": "FeatureCollection", "features": []}')
    >>> sniff_format(p)
    'geojson'
    """
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x00\x00\x27\x0a"):
        return "shp"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "geojson"
    return None


def _fail(path: Path, what: str) -> LayerError:
    return LayerError(f"{path}: {what}")


def _check_sqlite_length(path: Path) -> None:
    """Refuse a GeoPackage shorter than its header says (a truncated copy)."""
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise _fail(path, "the GeoPackage is truncated (shorter than its header); copy it again "
                    "from the source")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]
    if valid and pages and path.stat().st_size < page * pages:
        raise _fail(path, f"the GeoPackage is truncated ({path.stat().st_size} of "
                    f"{page * pages} bytes); copy it again from the source")


def _gpkg_layer(path: Path, layer: str | None) -> str:
    try:
        found = pyogrio.list_layers(path)
    except Exception as err:
        raise _fail(path, f"the GeoPackage is corrupt or unreadable ({err}); restore it or "
                    "export it again") from err
    spatial = [str(n) for n, g in found if g is not None and str(n) not in INTERNAL_TABLES]
    everything = [str(n) for n, _ in found]
    if layer is not None:
        if layer not in everything:
            raise _fail(path, f"no layer {layer!r}{suggest(layer, everything)}; it has: "
                        f"{', '.join(spatial) or 'no layers with geometry'}")
        return layer
    if not spatial:
        raise _fail(path, "the GeoPackage has no layer with geometry; export the layer again "
                    "with its geometry")
    if len(spatial) > 1:
        raise _fail(path, f"the GeoPackage has {len(spatial)} layers ({', '.join(spatial)}); "
                    "choose one with --layer NAME")
    return spatial[0]


def _zip_member(path: Path, layer: str | None) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.startswith("__MACOSX")]
    except zipfile.BadZipFile as err:
        raise _fail(path, f"the zip archive is corrupt ({err}); zip the shapefile again") from err
    shps = [n for n in names if n.lower().endswith(".shp")]
    if not shps:
        raise _fail(path, "the zip holds no .shp; zip a shapefile (.shp, .shx, .dbf, .prj) or "
                    "import the file directly")
    if layer is not None:
        chosen = [n for n in shps if Path(n).stem == layer or n == layer]
        if not chosen:
            stems = [Path(n).stem for n in shps]
            raise _fail(path, f"no shapefile {layer!r}{suggest(layer, stems)} in the zip; it "
                        f"has: {', '.join(stems)}")
        shps = chosen[:1]
    if len(shps) > 1:
        raise _fail(path, f"the zip holds {len(shps)} shapefiles "
                    f"({', '.join(Path(n).stem for n in shps)}); choose one with --layer NAME")
    member = shps[0]
    stem = member[:-4]
    lower = {n.lower() for n in names}
    for ext in (".shx", ".dbf"):
        if (stem + ext).lower() not in lower:
            raise _fail(path, f"the zip lacks {Path(stem).name}{ext}; a shapefile needs .shp, "
                        ".shx and .dbf together")
    return member


def _read_ogr(path: Path | str, shown: Path, layer: str | None, what: str) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, use_arrow=True)
    except Exception as err:
        raise _fail(shown, f"cannot be read as {what} ({err}); check the file or export it "
                    "again") from err


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        tail = fh.read(4)
    if tail != b"PAR1":
        raise _fail(path, "the Parquet file is truncated (no footer); copy or export it again")
    try:
        return gpd.read_parquet(path)
    except ValueError as err:
        if "geo" in str(err).lower():
            raise _fail(path, "is Parquet but not GeoParquet (no 'geo' metadata); write it "
                        "with GeoPandas to_parquet or GDAL's Parquet driver") from err
        raise _fail(path, f"cannot be read as GeoParquet ({err})") from err
    except Exception as err:
        raise _fail(path, f"the Parquet file is corrupt ({err}); export it again") from err


def read_source(path: str | os.PathLike[str], *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a GIS file: GeoPackage, GeoJSON, Shapefile (``.shp`` or ``.zip``) or GeoParquet.

    Parameters
    ----------
    path : path-like
    layer : str, optional
        The layer of a multi-layer GeoPackage, or the shapefile inside a zip holding several.

    Returns
    -------
    GeoDataFrame
        With its geometry column named ``geometry`` and the file's CRS (None if it has none).

    Raises
    ------
    LayerError
        Missing, empty, truncated or corrupt file; content that does not match the extension;
        an unsupported extension; several layers and none chosen; an unknown layer.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "empty.gpkg")
    >>> _ = open(p, "wb").close()
    >>> read_source(p)
    Traceback (most recent call last):
    ...
    twin._errors.LayerError: ...empty.gpkg: the file is empty (0 bytes); export it again ...
    """
    p = Path(path)
    if not p.exists():
        raise _fail(p, "no such file; check the path")
    if p.is_dir():
        raise _fail(p, "is a folder; give the file itself (for a shapefile, its .shp or a .zip)")
    ext = p.suffix.lower()
    if ext not in READ_FORMATS:
        kinds = ", ".join(f"{k} ({v})" for k, v in READ_FORMATS.items())
        raise _fail(p, f"unsupported file type {ext or '(no extension)'!r}; use one of: {kinds}")
    if p.stat().st_size == 0:
        raise _fail(p, "the file is empty (0 bytes); export it again from the source")
    found = sniff_format(p)
    expected = _FORMAT_OF_EXT[ext]
    if found != expected:
        real = _FORMAT_NAMES.get(found or "", "not a format twin reads")
        fix = (f"rename it to {_EXT_OF_FORMAT[found]}" if found else "export it again")
        raise _fail(p, f"the extension {ext} says {READ_FORMATS[ext]} but the content is "
                    f"{real}; {fix}")
    if found == "gpkg":
        _check_sqlite_length(p)
        gdf = _read_ogr(p, p, _gpkg_layer(p, layer), "a GeoPackage")
    elif found == "geojson":
        gdf = _read_ogr(p, p, None, "GeoJSON")
    elif found == "shp":
        for side in (".shx", ".dbf"):
            if not p.with_suffix(side).exists() and not p.with_suffix(side.upper()).exists():
                raise _fail(p, f"{p.stem}{side} is missing beside it; a shapefile needs .shp, "
                            ".shx and .dbf side by side (or zip them together)")
        gdf = _read_ogr(p, p, None, "a Shapefile")
    elif found == "zip":
        gdf = _read_ogr(f"/vsizip/{p}/{_zip_member(p, layer)}", p, None, "a zipped Shapefile")
    else:
        gdf = _read_parquet(p)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise _fail(p, "has no geometry column; a layer needs geometries")
    if gdf.geometry.name != "geometry" and "geometry" not in gdf.columns:
        gdf = gdf.rename_geometry("geometry")
    return gdf


# --- import -----------------------------------------------------------------------------------

def _apply_mapping(gdf: gpd.GeoDataFrame, mapping: dict[str, str] | None, spec: LayerSpec,
                   path: Path) -> gpd.GeoDataFrame:
    if not mapping:
        return gdf
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    fields = list(spec.columns())
    problems = []
    for src, dst in mapping.items():
        if src not in gdf.columns:
            problems.append(f"--map {src}={dst}: the file has no column {src!r}"
                            f"{suggest(src, cols)}; its columns: {', '.join(cols)}")
        if dst not in fields:
            problems.append(f"--map {src}={dst}: {dst!r} is not a field of {spec.name}"
                            f"{suggest(dst, fields)}; fields: {', '.join(spec.fields)}")
        elif dst in gdf.columns and dst not in mapping:
            problems.append(f"--map {src}={dst}: the file already has a column {dst!r}; map "
                            f"that one away too (--map {dst}=...) or drop --map {src}={dst}")
    targets = list(mapping.values())
    dups = sorted({t for t in targets if targets.count(t) > 1})
    if dups:
        problems.append(f"several columns are mapped to {', '.join(dups)}; map one each")
    if problems:
        raise _fail(path, "; ".join(problems))
    return gdf.rename(columns=mapping, copy=False)


def _text_ids(ids: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(ids.dtype):
        whole = ids.dropna() % 1 == 0
        if bool(whole.all()):
            ids = ids.astype("Int64")
    return ids.astype(str).where(ids.notna(), None)


def _new_ids(prefix: str, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    k = 1
    while len(out) < n:
        batch = [f"{prefix}{i}" for i in range(k, k + (n - len(out)) + len(taken) + 1)]
        out += [b for b in batch if b not in taken][: n - len(out)]
        k += len(batch)
    return out


def _set_ids(gdf: gpd.GeoDataFrame, name: str, existing: pd.Series | None, src: str
             ) -> list[Finding]:
    """Give every feature a text id (generated where missing); report ids already taken."""
    found: list[Finding] = []
    taken = set() if existing is None else set(existing.dropna().astype(str))
    ids = (_text_ids(gdf["id"]) if "id" in gdf.columns
           else pd.Series(None, index=gdf.index, dtype=object))
    missing = ids.isna().to_numpy()
    if missing.any():
        taken_all = taken | set(ids.dropna())
        ids[missing] = _new_ids(ID_PREFIX.get(name, name[:1]), int(missing.sum()), taken_all)
        if "id" in gdf.columns:
            found.append(Finding("warning", "id", f"{int(missing.sum())} features had no id; "
                                 "ids were generated for them", name, None, "id", src))
    if taken:
        clash = ids.isin(taken).to_numpy()
        for fid in ids[clash].head(20):
            found.append(Finding("error", "unique", f"id {fid!r} is already in the twin's "
                                 f"{name}; pass --replace to replace the layer, or give the "
                                 "feature a new id", name, fid, "id", src))
        if clash.sum() > 20:
            found.append(Finding("error", "unique", f"... and {int(clash.sum()) - 20} more ids "
                                 f"already in the twin's {name}", name, None, "id", src))
    gdf["id"] = ids.astype(object)
    return found


def _cast(frame: pd.DataFrame, spec: LayerSpec, names: set[str]) -> None:
    """Give derived columns their dictionary dtype (in place)."""
    for n in names:
        f = spec.fields[n]
        col = frame[n]
        if f.type == "float":
            frame[n] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif f.type == "int":
            num = pd.to_numeric(col, errors="coerce").round()
            frame[n] = (num.astype("int64") if f.required and bool(num.notna().all())
                        else num.astype("Int64"))
        elif f.type == "str":
            frame[n] = col.astype(object).where(col.notna(), None)


def _fill_column(frame: pd.DataFrame, col: str, values: pd.Series | Any) -> None:
    """Fill the missing values of ``col`` with ``values`` and mark them derived."""
    missing = frame[col].isna()
    if not missing.any():
        return
    fill = values if isinstance(values, pd.Series) else pd.Series(values, index=frame.index)
    frame[col] = frame[col].where(~missing, fill)
    src = f"{col}_source"
    if src in frame.columns:
        frame[src] = frame[src].where(~(missing & frame[col].notna()), "derived")


def _derive(frame: gpd.GeoDataFrame, name: str, spec: LayerSpec, twin: Twin, label: str
            ) -> gpd.GeoDataFrame:
    """Fill what the dictionary can derive; given values and their provenance are kept."""
    given = {f: frame[f].copy() for f in spec.provenance_fields() if frame[f].notna().any()}
    if name == "buildings":
        frame = derive_buildings(frame, source=label)
    elif name == "roads":
        highway = frame["highway"].copy()
        frame = derive_roads(frame, source=label)
        frame["highway"] = highway  # invalid classes are reported, not replaced
    rules = spec.derive
    if name == "zones":
        _fill_column(frame, "kind", "other")
        _fill_column(frame, "area_m2", frame.geometry.area.round(1))
        people = twin.layers.get("buildings")
        if people is not None and len(people) and {"residents", "jobs"} <= set(people.columns):
            zid = assign_zones(people, frame)
            sums = people.groupby(zid)[["residents", "jobs"]].sum()
            _fill_column(frame, "population", frame["id"].map(sums["residents"]).fillna(0))
            _fill_column(frame, "jobs", frame["id"].map(sums["jobs"]).fillna(0))
        else:
            _fill_column(frame, "population", 0)
            _fill_column(frame, "jobs", 0)
    elif name == "road_nodes":
        _fill_column(frame, "control", "none")
    elif name == "facilities":
        _fill_column(frame, "capacity", frame["kind"].map(rules.get("capacity_by_kind", {})))
        _fill_column(frame, "units", frame["kind"].map(rules.get("units_by_kind", {})))
    elif name == "sensors":
        _fill_column(frame, "range_m", frame["kind"].map(rules.get("range_by_kind", {})))
    elif name in ("power_lines",):
        _fill_column(frame, "length_km", (frame.geometry.length / 1000).round(4))
    elif name == "water_pipes":
        _fill_column(frame, "length_m", frame.geometry.length.round(2))
    for f, values in given.items():   # a derivation may recompute given values: keep them
        has = values.notna()
        frame[f] = frame[f].where(~has, values)
        frame[f"{f}_source"] = frame[f"{f}_source"].where(~has, label)
    return frame


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop repeats, and missing values already explained by a type error or a missing column."""
    typed = {(f.feature, f.field) for f in findings if f.rule == "type"}
    absent = {f.field for f in findings if f.rule == "required" and f.feature is None
              and f.message.startswith("required field is missing")}
    seen: set[tuple[Any, ...]] = set()
    out = []
    for f in findings:
        key = (f.severity, f.rule, f.feature, f.field, f.message)
        explained = f.rule == "required" and ((f.feature, f.field) in typed or (
            f.field in absent and not f.message.startswith("required field is missing")))
        if key in seen or explained:
            continue
        seen.add(key)
        out.append(f)
    return out


def _wrong_kind(gdf: gpd.GeoDataFrame, spec: LayerSpec, src: str) -> Finding | None:
    """One finding when no feature has the layer's geometry kind (the wrong file or layer)."""
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    ids = shapely.get_type_id(geoms)
    ids = ids[ids >= 0]
    single = {"Point": 0, "LineString": 1, "Polygon": 3}[spec.geometry]
    if len(ids) == 0 or np.isin(ids, [single, single + 3]).any():
        return None
    names = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
             "MultiPolygon", "GeometryCollection")
    kinds = ", ".join(sorted(names[int(i)] for i in np.unique(ids)))
    return Finding("error", "geometry_type", f"the file holds {kinds} features but {spec.name} "
                   f"needs {spec.geometry} geometries; import it as another layer or choose the "
                   "right file/--layer", spec.name, source=src)


def import_layer(twin: Twin, name: str, source_path: str | os.PathLike[str], *,
                 mapping: dict[str, str] | None = None, crs: str | None = None,
                 replace: bool = False, source_label: str = "import",
                 layer: str | None = None) -> Twin:
    """Import features from a GIS file into a layer of the twin (in memory; nothing is written).

    Parameters
    ----------
    twin : Twin
    name : str
        Layer kind to import into (``roads``, ``buildings``, ...).
    source_path : path-like
        GeoPackage, GeoJSON, Shapefile (.shp/.zip) or GeoParquet.
    mapping : dict of str to str, optional
        Source column -> dictionary field (``--map SRC=DST``).
    crs : str, optional
        CRS of the file's coordinates when it declares none or a wrong one: ``EPSG:n``,
        ``gcj02``, ``bd09``, ``cgcs2000``, a Gauss-Krüger zone (EPSG:4491-4554), WKT.
    replace : bool
        Replace the layer; without it features are appended (an id already there is an error).
    source_label : {"import", "user", "osm", "synthetic", "derived"}
        Provenance written to ``source`` and to the ``*_source`` of given values.
    layer : str, optional
        Layer of a multi-layer GeoPackage (or shapefile inside a zip).

    Returns
    -------
    Twin
        A new twin; warnings found on the way are in ``extras["import_findings"]``.

    Raises
    ------
    LayerError
        The file cannot be read, the layer kind is unknown, the mapping is wrong, or the file
        has no features.
    ValidationError
        Every problem in the features (wrong geometry, missing CRS, missing fields, text in
        numeric fields, duplicate ids, values out of range or not allowed), all at once.

    Examples
    --------
    >>> # twin = import_layer(twin, "buildings", "footprints.shp", mapping={"H": "height_m"},
    >>> #                     crs="EPSG:4549")
    """
    path = Path(source_path)
    src = str(path)
    try:
        spec = layer_spec(name)
    except LayerError as err:
        raise _fail(path, f"cannot import: {err}") from err
    if source_label not in PROVENANCE:
        msg = f"source_label {source_label!r} is not one of {', '.join(PROVENANCE)}"
        raise LayerError(msg)
    gdf = read_source(path, layer=layer)
    if len(gdf) == 0:
        raise _fail(path, f"the file has no features to import into {name}")
    gdf = _apply_mapping(gdf, mapping, spec, path)
    findings: list[Finding] = []
    wrong = _wrong_kind(gdf, spec, src)
    placed = True
    try:
        gdf = to_twin_crs(gdf, twin.crs, crs)
    except LayerError as err:
        placed = False
        findings.append(Finding("error", "crs", str(err), name, source=src))
    if wrong is not None:
        raise ValidationError([wrong, *findings], header=f"{src}: cannot import layer {name}")
    current = None if replace else twin.layers.get(name)
    findings += _set_ids(gdf, name, None if current is None else current["id"], src)
    typed, coerced = coerce_fields(gdf, spec, source=src)
    derivable = _DERIVABLE.get(name, set()) | {"source"}
    findings += [f for f in coerced if f.rule != "required" or f.field not in derivable]
    for f in spec.provenance_fields():
        prov = pd.Series(None, index=typed.index, dtype=object)
        prov[typed[f].notna().to_numpy()] = source_label
        typed[f"{f}_source"] = prov
    typed["source"] = source_label
    if placed:
        typed = _derive(gpd.GeoDataFrame(typed, geometry="geometry", crs=gdf.crs), name, spec,
                        twin, source_label)
        _cast(typed, spec, _DERIVABLE.get(name, set()))
        final = conform(gpd.GeoDataFrame(typed, geometry="geometry", crs=gdf.crs), name)
        findings += validate_layer(final, name, source=src, twin_crs=twin.crs)
    findings = _dedupe(findings)
    if not placed or any(f.severity == "error" for f in findings):
        raise ValidationError(findings, header=f"{src}: cannot import layer {name}")
    if current is not None and len(current):
        final = conform(gpd.GeoDataFrame(pd.concat([current, final], ignore_index=True),
                                         geometry=current.geometry.name, crs=current.crs),
                        name)
    elif not isinstance(final.index, pd.RangeIndex) or final.index.start != 0:
        final = final.reset_index(drop=True)
    meta = json.loads(json.dumps(twin.meta))
    meta.setdefault("sources", []).append({
        "name": path.name, "kind": "import", "layer": name, "features": len(gdf),
        "crs": crs or (None if gdf.crs is None else str(gdf.crs)),
    })
    layers = dict(twin.layers)
    layers[name] = final
    extras = dict(twin.extras)
    extras["import_findings"] = [f for f in findings if f.severity != "error"]
    return Twin(layers=layers, meta=meta, observations=twin.observations, path=twin.path,
                extras=extras)


# --- export -----------------------------------------------------------------------------------

def export_layer(twin_path: str | os.PathLike[str], name: str, out_path: str | os.PathLike[str],
                 *, overwrite: bool = False) -> Path:
    """Write one layer of a twin file to a GeoPackage, GeoJSON or GeoParquet file.

    GeoJSON is written in WGS84 lon/lat (EPSG:4326, RFC 7946); the other formats keep the
    twin's CRS. The file is written to a temporary path and renamed, so it is never half
    written.

    Raises
    ------
    LayerError
        Unknown extension, the output exists (without ``overwrite``), its folder is missing,
        or the twin or layer cannot be read.

    Examples
    --------
    >>> # export_layer("demo.twin.gpkg", "roads", "roads.geojson")
    """
    out = Path(out_path)
    ext = out.suffix.lower()
    if ext not in EXPORT_FORMATS:
        kinds = ", ".join(f"{k} ({v})" for k, v in EXPORT_FORMATS.items())
        raise _fail(out, f"cannot export to {ext or '(no extension)'!r}; use one of: {kinds}")
    if out.exists() and not overwrite:
        raise _fail(out, "the file exists; choose another path or pass --overwrite")
    if not out.parent.is_dir():
        raise _fail(out, f"the folder {out.parent} does not exist; create it first")
    gdf = read_layer(twin_path, name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=ext, dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        if ext == ".geojson":
            pyogrio.write_dataframe(to_wgs84(gdf), tmp, layer=name, driver="GeoJSON",
                                    RFC7946="YES")     # the "name" member: the layer
        elif ext == ".gpkg":
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG",
                                    promote_to_multi=bool(gdf.geom_type.str.startswith("Multi")
                                                          .any()))
        else:
            gdf.to_parquet(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out

