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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twin._errors import Finding
from twin.layers.schemas import PROVENANCE, FieldSpec, LayerSpec, layer_spec, load_dictionary
from twin.layers.store import Twin

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
    "check_transit_stops",
    "check_water_supply",
    "check_zone_overlaps",
    "fix_twin",
    "validate_layer",
    "validate_twin",
]

#: Features listed one by one per rule, layer and field; the rest are summed up in one finding.
MAX_LISTED = 20
#: Share of road nodes in the largest strongly connected part below which the graph is an error.
MIN_STRONG_SHARE = 0.5
#: Dead ends this close to the hull of the road network are at the edge of the extract (m).
EDGE_TOLERANCE_M = 30.0
#: Road length_m and geometry length may differ by this share (and 5 m) before a warning.
LENGTH_TOLERANCE = 0.2
#: Zones overlapping by more than this share of the smaller zone are reported.
ZONE_OVERLAP_SHARE = 0.01

_GEOM_TYPES = {"Point": (0, 4), "LineString": (1, 5), "Polygon": (3, 6)}
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
_FIX_HINT = ("repair it with `twin layers validate --fix` (make_valid) or QGIS "
             "Vector > Geometry Tools > Fix Geometries")


@dataclass
class Report:
    """The result of :func:`validate_twin`: every finding, with counts and a verdict.

    Examples
    --------
    >>> r = Report([Finding("warning", "dead_end", "3 dead ends", layer="roads")])
    >>> r.ok, Report(r.findings, strict=True).ok
    (True, False)
    >>> r.to_dict()["warnings"]
    1
    """

    findings: list[Finding] = field(default_factory=list)
    strict: bool = False
    path: str | None = None

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (and, with ``strict``, no warnings)."""
        return not self.errors and not (self.strict and self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: verdict, counts and every finding."""
        return {
            "path": self.path,
            "ok": self.ok,
            "strict": self.strict,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def format(self) -> str:
        """Text: findings grouped by layer, one line each, then a summary line.

        Examples
        --------
        >>> print(Report([Finding("error", "crs", "no CRS", layer="roads")]).format())
        roads: 1 error(s), 0 warning(s)
          error [crs] roads: no CRS
        FAILED: 1 error(s), 0 warning(s)
        """
        lines: list[str] = []
        if self.path:
            lines.append(f"twin {self.path}")
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.layer or "twin", []).append(f)
        for layer, items in groups.items():
            n_err = sum(f.severity == "error" for f in items)
            lines.append(f"{layer}: {n_err} error(s), {len(items) - n_err} warning(s)")
            lines += ["  " + f.format() for f in items]
        verdict = "OK" if self.ok else "FAILED"
        if self.strict and self.warnings and not self.errors:
            verdict += " (strict: warnings count as errors)"
        lines.append(f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


# --- helpers ----------------------------------------------------------------------------------

def _ids(gdf: pd.DataFrame) -> pd.Series:
    """Feature ids as text; a missing id is shown as ``row N``."""
    if "id" in gdf.columns:
        ids = gdf["id"]
        present = pd.Series(_present(ids), index=ids.index)
        if bool(present.all()):
            text = ids.dtype == object and pd.api.types.infer_dtype(ids) == "string"
            return ids if text else ids.astype(str)
        rows = pd.Series(np.arange(len(gdf)), index=gdf.index)[~present]
        return ids.astype(str).where(present, "row " + rows.astype(str))
    return pd.Series("row " + pd.Series(np.arange(len(gdf))).astype(str).to_numpy(),
                     index=gdf.index, dtype=object)


def _listed(severity: str, rule: str, layer: str, field_name: str | None, ids: pd.Series,
            messages: pd.Series | str, source: str | None, *, summary: str) -> list[Finding]:
    """One finding per feature (the first MAX_LISTED), then one finding for the rest."""
    n = len(ids)
    if n == 0:
        return []
    head_ids = ids.iloc[:MAX_LISTED].tolist()
    msgs = ([messages] * len(head_ids) if isinstance(messages, str)
            else messages.iloc[:MAX_LISTED].tolist())
    out = [Finding(severity, rule, m, layer, fid, field_name, source)
           for fid, m in zip(head_ids, msgs, strict=True)]
    if n > MAX_LISTED:
        more = ids.iloc[MAX_LISTED:MAX_LISTED + 10].tolist()
        out.append(Finding(severity, rule, f"... and {n - MAX_LISTED} more features {summary} "
                           f"(next ids: {', '.join(map(str, more))})", layer, None, field_name,
                           source))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


_NULLS = [None, np.nan, pd.NA, pd.NaT]


def _present(col: pd.Series) -> np.ndarray:
    """``col.notna()`` as an array."""
    return col.notna().to_numpy()


def _as_numeric(col: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("float64")
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.astype("float64")
    return pd.to_numeric(col, errors="coerce").astype("float64")


_BOOL_TEXT = {"true", "false", "yes", "no", "1", "0", "t", "f", "y", "n", "1.0", "0.0"}


def _geoms(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(gdf.geometry.array, dtype=object)


def _usable(geoms: np.ndarray) -> np.ndarray:
    """Mask of geometries that are present, not empty and valid."""
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    ok[ok] = shapely.is_valid(geoms[ok])
    return ok


# --- layer rules ------------------------------------------------------------------------------

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
LAYER_RULES: tuple[LayerRule, ...] = (check_fields, check_geometry, check_road_lengths)


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


# --- twin rules -------------------------------------------------------------------------------

def check_refs(twin: Twin) -> list[Finding]:
    """Fields with ``ref: layer.field`` point to existing features (e.g. roads.u -> road_nodes).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> s = gpd.GeoDataFrame({"id": ["s1"], "road_id": ["r9"]},
    ...                      geometry=[shapely.Point(0, 0)], crs=3067)
    >>> print(check_refs(Twin({"sensors": s}, new_meta("t", 3067)))[0].message[:60])
    road_id 'r9' is not the id of a feature in roads (the twin h
    """
    out: list[Finding] = []
    for name, gdf in twin.layers.items():
        specs = load_dictionary()
        if name not in specs:
            continue
        for f in specs[name].fields.values():
            if not f.ref or f.name not in gdf.columns:
                continue
            target, _, tfield = f.ref.partition(".")
            tgt = twin.layers.get(target)
            has = tgt is not None and tfield in tgt.columns
            known = (tgt[tfield].dropna().astype(str).unique() if has and tgt is not None
                     else np.array([], dtype=object))
            col = gdf[f.name]
            bad = (col.notna() & ~col.astype(str).isin(known)).to_numpy()
            if not bad.any():
                continue
            note = "" if has else f" (the twin has no {target} layer)"
            msgs = col[bad].map(lambda v, t=target, tf=tfield, fn=f.name, nt=note:
                                f"{fn} {v!r} is not the {tf} of a feature in {t}{nt}; "
                                "correct it or clear it" if tf != "id" else
                                f"{fn} {v!r} is not the id of a feature in {t}{nt}; "
                                "correct it or clear it")
            out += _listed("error", "ref", name, f.name, _ids(gdf)[bad], msgs, None,
                           summary=f"pointing to missing {target}")
    return out


def check_transit_stops(twin: Twin) -> list[Finding]:
    """``transit_routes.stop_ids`` name existing facilities.

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> t = gpd.GeoDataFrame({"id": ["t1"], "stop_ids": ["f1, f2"]},
    ...                      geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=3067)
    >>> check_transit_stops(Twin({"transit_routes": t}, new_meta("t", 3067)))[0].message[:35]
    'stop ids f1, f2 are not facilities;'
    """
    routes = twin.layers.get("transit_routes")
    if routes is None or "stop_ids" not in routes.columns or len(routes) == 0:
        return []
    fac = twin.layers.get("facilities")
    known = set() if fac is None or "id" not in fac else set(fac["id"].dropna().astype(str))
    out: list[Finding] = []
    for fid, stops in zip(_ids(routes), routes["stop_ids"], strict=True):
        if not isinstance(stops, str) or not stops.strip():
            continue
        missing = [s.strip() for s in stops.split(",") if s.strip() and s.strip() not in known]
        if missing:
            out.append(Finding("error", "ref", f"stop ids {', '.join(missing)} are not "
                               "facilities; add bus_stop facilities with these ids or correct "
                               "stop_ids", "transit_routes", fid, "stop_ids"))
    return out


def _road_graph(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 pd.Index]:
    """(u codes, v codes, two-way mask, node ids) of the roads with both ends given."""
    ok = (roads["u"].notna() & roads["v"].notna()).to_numpy()
    u = roads["u"].astype(str).to_numpy()[ok]
    v = roads["v"].astype(str).to_numpy()[ok]
    codes, nodes = pd.factorize(np.concatenate([u, v]))
    one = roads["oneway"].to_numpy()[ok] if "oneway" in roads else np.zeros(len(u), bool)
    two_way = ~pd.Series(one).fillna(False).astype(bool).to_numpy()
    return codes[:len(u)], codes[len(u):], two_way, pd.Index(nodes)


def _components(n: int, src: np.ndarray, dst: np.ndarray, connection: str
                ) -> tuple[int, np.ndarray]:
    mat = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
    k, labels = connected_components(mat, directed=True, connection=connection)
    return int(k), labels


def check_road_graph(twin: Twin) -> list[Finding]:
    """Road connectivity (weak and strong) and dead ends.

    The largest strongly connected part holding under 100% of the nodes is a warning, under
    50% an error (most trips could not be routed). Dead ends are a warning; those at the edge
    of the extract are expected (roads are clipped there).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> r = gpd.GeoDataFrame({"id": ["a", "b"], "u": ["1", "2"], "v": ["2", "3"],
    ...                       "oneway": [False, True]},
    ...                      geometry=[shapely.LineString([(0, 0), (100, 0)]),
    ...                                shapely.LineString([(100, 0), (200, 0)])], crs=3067)
    >>> [f.rule for f in check_road_graph(Twin({"roads": r}, new_meta("t", 3067)))]
    ['strong_connectivity', 'dead_end']
    """
    roads = twin.layers.get("roads")
    if roads is None or len(roads) == 0 or not {"u", "v"} <= set(roads.columns):
        return []
    u, v, two, nodes = _road_graph(roads)
    n = len(nodes)
    if n == 0:
        return []
    out: list[Finding] = []
    src = np.concatenate([u, v[two]])
    dst = np.concatenate([v, u[two]])
    kw, weak = _components(n, src, dst, "weak")
    if kw > 1:
        sizes = np.bincount(weak)
        share = sizes.max() / n
        rest = nodes[weak != sizes.argmax()]
        sev = "error" if share < MIN_STRONG_SHARE else "warning"
        out.append(Finding(sev, "connectivity", f"the road network falls into {kw} separate "
                           f"parts; the largest holds {share:.1%} of {n} nodes. Nodes outside "
                           f"it (e.g. {', '.join(rest[:10])}) cannot be reached by car: connect "
                           "them with a road or delete them", "roads"))
    ks, strong = _components(n, src, dst, "strong")
    if ks > 1:
        sizes = np.bincount(strong)
        share = sizes.max() / n
        rest = nodes[strong != sizes.argmax()]
        sev = "error" if share < MIN_STRONG_SHARE else "warning"
        out.append(Finding(sev, "strong_connectivity", f"{share:.1%} of {n} road nodes are "
                           f"mutually reachable; {len(rest)} nodes (e.g. "
                           f"{', '.join(rest[:10])}) can be entered but not left, or left but "
                           "not entered (one-way roads, roads clipped at the edge): check "
                           "oneway and connect them", "roads"))
    out += _dead_ends(roads, u, v, nodes)
    return out


def _endpoints(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geoms = _geoms(roads)
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    first = np.full(len(geoms), None, dtype=object)
    last = np.full(len(geoms), None, dtype=object)
    first[ok] = shapely.get_point(shapely.get_geometry(geoms[ok], 0), 0)
    last[ok] = shapely.get_point(shapely.get_geometry(geoms[ok], -1), -1)
    return first, last


def _dead_ends(roads: gpd.GeoDataFrame, u: np.ndarray, v: np.ndarray, nodes: pd.Index
               ) -> list[Finding]:
    loops = u == v
    a = np.minimum(u[~loops], v[~loops])
    b = np.maximum(u[~loops], v[~loops])
    pairs = np.unique(np.column_stack([a, b]), axis=0) if len(a) else np.empty((0, 2), int)
    degree = np.bincount(pairs.ravel(), minlength=len(nodes))
    dead = np.flatnonzero(degree == 1)
    if len(dead) == 0:
        return []
    ok = (roads["u"].notna() & roads["v"].notna()).to_numpy()
    first, last = _endpoints(roads)
    pos = pd.Series(np.concatenate([first[ok], last[ok]]),
                    index=np.concatenate([u, v]))
    pos = pos[~pos.index.duplicated()]
    pts = pos.reindex(dead).to_numpy()
    known = ~shapely.is_missing(pts)
    all_pts = np.concatenate([first[~shapely.is_missing(first)],
                              last[~shapely.is_missing(last)]])
    at_edge = np.zeros(len(dead), dtype=bool)
    if len(all_pts) and known.any():
        hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(all_pts)))
        at_edge[known] = shapely.distance(pts[known], hull.boundary) <= EDGE_TOLERANCE_M
    inner = nodes[dead[~at_edge]]
    return [Finding("warning", "dead_end", f"{len(dead)} dead-end road nodes: "
                    f"{int(at_edge.sum())} at the edge of the extract (expected: roads are "
                    f"clipped there), {len(inner)} inside (cul-de-sacs or missing links"
                    + (f", e.g. {', '.join(inner[:10])}" if len(inner) else "")
                    + "); connect the ones that should not be dead ends", "roads")]


def _supply(twin: Twin, kind: str) -> list[Finding]:
    nodes_name, links_name = (("power_nodes", "power_lines") if kind == "power"
                              else ("water_nodes", "water_pipes"))
    nodes = twin.layers.get(nodes_name)
    if nodes is None or len(nodes) == 0 or "id" not in nodes.columns:
        return []
    links = twin.layers.get(links_name)
    ids = nodes["id"].astype(str)
    index = pd.Index(ids.unique())
    if kind == "power":
        is_src = nodes["ext_grid"].fillna(False).astype(bool) if "ext_grid" in nodes else (
            pd.Series(False, index=nodes.index))
        what, how = "an external grid (a power node with ext_grid: true)", "power"
    else:
        is_src = nodes["kind"].isin(["reservoir", "tank"]) if "kind" in nodes else (
            pd.Series(False, index=nodes.index))
        what, how = "a reservoir or tank", "water"
    building_node = f"{kind}_node"
    buildings = twin.layers.get("buildings")
    if not is_src.any():
        return [Finding("warning", "supply", f"the {how} network has no source: add {what}",
                        nodes_name)]
    src_codes = index.get_indexer(ids[is_src.to_numpy()])
    a = np.array([], dtype=int)
    b = np.array([], dtype=int)
    if links is not None and len(links) and {"from_node", "to_node"} <= set(links.columns):
        live = links["from_node"].notna() & links["to_node"].notna()
        if "in_service" in links:
            live &= links["in_service"].fillna(True).astype(bool)
        if kind == "power" and "closed" in links:
            live &= links["closed"].fillna(True).astype(bool)
        if kind == "water" and "status" in links:
            live &= links["status"].fillna("open").astype(str) != "closed"
        a = index.get_indexer(links.loc[live, "from_node"].astype(str))
        b = index.get_indexer(links.loc[live, "to_node"].astype(str))
        keep = (a >= 0) & (b >= 0)
        a, b = a[keep], b[keep]
    _, labels = _components(len(index), a, b, "weak")
    supplied = np.isin(labels, labels[src_codes])
    cut = index[~supplied]
    if len(cut) == 0:
        return []
    n_b = 0
    if buildings is not None and building_node in buildings.columns:
        n_b = int(buildings[building_node].astype(str).isin(cut).sum())
    return [Finding("warning", "supply", f"{len(cut)} of {len(index)} {how} nodes are not "
                    f"connected to {what} (e.g. {', '.join(cut[:10])}); {n_b} buildings are "
                    f"supplied from them and would get no {how}: connect them", nodes_name)]


def check_power_supply(twin: Twin) -> list[Finding]:
    """Power nodes not connected to an external grid (warning, with the buildings affected)."""
    return _supply(twin, "power")


def check_water_supply(twin: Twin) -> list[Finding]:
    """Water nodes not connected to a reservoir or tank (warning, with the buildings affected)."""
    return _supply(twin, "water")


def check_buildings_in_zones(twin: Twin) -> list[Finding]:
    """Buildings whose representative point lies in no zone (a warning with count and ids).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> b = gpd.GeoDataFrame({"id": ["in", "out"]}, geometry=[shapely.box(1, 1, 2, 2),
    ...                      shapely.box(50, 50, 60, 60)], crs=3067)
    >>> z = gpd.GeoDataFrame({"id": ["z"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=3067)
    >>> t = Twin({"buildings": b, "zones": z}, new_meta("t", 3067))
    >>> print(check_buildings_in_zones(t)[0].message[:50])
    1 of 2 buildings lie outside every zone (out); the
    """
    b = twin.layers.get("buildings")
    z = twin.layers.get("zones")
    if b is None or z is None or len(b) == 0 or len(z) == 0:
        return []
    bg = _geoms(b)
    zg = _geoms(z)
    ok = _usable(bg)
    zok = _usable(zg)
    if not zok.any():
        return []
    pts = shapely.point_on_surface(bg[ok])
    hit = shapely.STRtree(zg[zok]).query(pts, predicate="within")
    inside = np.zeros(len(pts), dtype=bool)
    inside[hit[0]] = True
    out_ids = _ids(b)[ok][~inside]
    if len(out_ids) == 0:
        return []
    shown = ", ".join(out_ids.iloc[:20])
    more = f" and {len(out_ids) - 20} more" if len(out_ids) > 20 else ""
    return [Finding("warning", "outside_zones", f"{len(out_ids)} of {len(b)} buildings lie "
                    f"outside every zone ({shown}{more}); their people and jobs count in no "
                    "zone: extend a zone or add one", "buildings")]


def check_zone_overlaps(twin: Twin) -> list[Finding]:
    """Zones overlapping by more than 1% of the smaller one (a warning per pair).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> z = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[shapely.box(0, 0, 10, 10),
    ...                      shapely.box(5, 0, 15, 10)], crs=3067)
    >>> check_zone_overlaps(Twin({"zones": z}, new_meta("t", 3067)))[0].message[:40]
    'overlaps zone b by 50 m2 (50.0% of the s'
    """
    z = twin.layers.get("zones")
    if z is None or len(z) < 2:
        return []
    zg = _geoms(z)
    ok = np.flatnonzero(_usable(zg))
    g = zg[ok]
    pairs = shapely.STRtree(g).query(g, predicate="intersects")
    i, j = pairs[0], pairs[1]
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return []
    area = shapely.area(shapely.intersection(g[i], g[j]))
    smaller = np.minimum(shapely.area(g[i]), shapely.area(g[j]))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = area / smaller
    big = share > ZONE_OVERLAP_SHARE
    ids = _ids(z).to_numpy()[ok]
    msgs = pd.Series([f"overlaps zone {ids[b]} by {a:.0f} m2 ({s:.1%} of the smaller zone); "
                      "buildings there count in one of them only: make the zones adjoin"
                      for b, a, s in zip(j[big], area[big], share[big], strict=True)])
    return _listed("warning", "zone_overlap", "zones", None, pd.Series(ids[i[big]]), msgs,
                   None, summary="overlapping another zone")


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

