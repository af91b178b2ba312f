"""Reading the edit history of a twin file: the log of versions and the diff between two.

:func:`log` lists the versions (or every change of one feature, field by field); :func:`diff`
gives the features added, deleted and changed between two versions, with each changed field's
before and after and how far the geometry moved. Both read the tables that
:mod:`twin.layers.history` keeps (and re-exports these names from).

Import names from this module (``from twin.layers.changes import Diff``): the attribute
``twin.layers.diff`` of the package is the function :func:`diff`, which ``twin.layers`` exports.

Examples
--------
>>> d = Diff(1, 2, "EPSG:3067", [FeatureChange("roads", "r1", "changed", {"lanes": [1, 2]}, 0.0)])
>>> d.counts()["roads"], d.to_dicts()[0]["fields"]
({'added': 0, 'changed': 1, 'deleted': 0}, {'lanes': [1, 2]})
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from twin._errors import LayerError
from twin.layers._gpkg import _q, decode_geometries
from twin.layers.schemas import layer_spec

# twin.layers.history re-exports log, diff, Diff and FeatureChange, so it imports this module
# first; the history functions used here (connect, transaction, ...) are imported inside the
# functions that call them, when both modules are loaded.

__all__ = ["FLOAT_REL_TOLERANCE", "GEOMETRY_TOLERANCE_M", "Diff", "FeatureChange", "diff", "log",
           "same_geometry", "same_value"]

#: A geometry within this distance (m, Hausdorff) of the stored one, with the same type, parts
#: and vertex count, is unchanged: it covers the rounding of a GeoJSON export (7 decimals of a
#: degree, at most 8 mm) with room for other tools.
GEOMETRY_TOLERANCE_M = 0.05
#: Numbers within this relative difference are equal (a text round trip keeps 15 digits).
FLOAT_REL_TOLERANCE = 1e-9


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects (JSON images of
    100,000 features parse 4x faster), restoring it after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# --- log --------------------------------------------------------------------------------------

def _changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None
                    ) -> dict[str, list[Any]]:
    b, a = before or {}, after or {}
    return {k: [b.get(k), a.get(k)] for k in dict.fromkeys([*b, *a]) if b.get(k) != a.get(k)}


def _unwrap(geoms: np.ndarray) -> np.ndarray:
    """Single-part multi-geometries as their one part (a copy): a Polygon and the MultiPolygon
    holding only it are the same shape."""
    out = np.array(geoms, dtype=object)
    present = ~shapely.is_missing(out)
    kind = np.full(len(out), -1)
    kind[present] = shapely.get_type_id(out[present])
    one = np.isin(kind, (4, 5, 6))
    one[one] = shapely.get_num_geometries(out[one]) == 1
    if one.any():
        out[one] = shapely.get_geometry(out[one], 0)
    return out


def same_geometry(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, *,
                  tolerance: float = 0.0) -> np.ndarray:
    """Element-wise: is ``a[i]`` the same geometry as ``b[i]``?

    A single-part multi-geometry equals its part (GeoPackage layers promoted to Multi change
    the type, not the shape). With ``tolerance == 0`` the vertices must be identical and in
    the same order. With a tolerance (m) the two must have the same type and the same number
    of parts and vertices, lie within ``tolerance`` of each other (Hausdorff distance; ring
    start and orientation do not matter) and, for lines, start and end within ``tolerance`` of
    the same points (a reversed road is a change). Two missing or two empty geometries are the
    same.

    Examples
    --------
    >>> p = shapely.box(0, 0, 10, 10)
    >>> same_geometry([p, p, p], [shapely.MultiPolygon([p]), shapely.box(0, 0, 10, 10.004),
    ...                           shapely.box(0, 0, 10, 11)], tolerance=0.05).tolist()
    [True, True, False]
    """
    x = _unwrap(np.asarray(a, dtype=object))
    y = _unwrap(np.asarray(b, dtype=object))
    mx, my = shapely.is_missing(x), shapely.is_missing(y)
    out = mx & my
    both = ~mx & ~my
    if not both.any():
        return out
    x, y = x[both], y[both]
    ex, ey = shapely.is_empty(x), shapely.is_empty(y)
    same = ex & ey
    check = ~ex & ~ey
    if tolerance <= 0:
        same[check] = shapely.equals_exact(x[check], y[check], tolerance=0.0)
    else:
        xs, ys = x[check], y[check]
        kind = shapely.get_type_id(xs)
        ok = ((kind == shapely.get_type_id(ys))
              & (shapely.get_num_geometries(xs) == shapely.get_num_geometries(ys))
              & (shapely.get_num_coordinates(xs) == shapely.get_num_coordinates(ys)))
        ok[ok] = shapely.hausdorff_distance(xs[ok], ys[ok]) <= tolerance
        line = ok & (kind == 1)
        for end in (0, -1):
            if line.any():
                d = shapely.distance(shapely.get_point(xs[line], end),
                                     shapely.get_point(ys[line], end))
                ok[np.flatnonzero(line)[d > tolerance]] = False
        same[check] = ok
    out[both] = same
    return out


def same_value(a: Any, b: Any) -> bool:
    """Are two field values equal: numbers within :data:`FLOAT_REL_TOLERANCE`, JSON text by
    content, missing values (None, NaN, NA) equal to each other only.

    Examples
    --------
    >>> same_value(0.1 + 0.2, 0.3), same_value(12.8, 12.81), same_value(None, float("nan"))
    (True, False, True)
    >>> same_value({"units": 2}, '{"units":2}'), same_value(4, 4.0), same_value("4", 4)
    (True, True, False)
    """
    a, b = _scalar(_json_text(a)), _scalar(_json_text(b))
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str) and a != b and a[:1] in "[{" and b[:1] in "[{":
        try:
            return bool(json.loads(a) == json.loads(b))
        except ValueError:
            return False
    return bool(type(a) is type(b) and a == b)


def _json_text(v: Any) -> Any:
    """A JSON object or list (GeoJSON writes JSON fields so) as the JSON text twin stores."""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return v


def _scalar(v: Any) -> Any:
    """A value as a plain Python scalar (None for missing: None, NaN, NA; bool as int)."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    return int(v) if isinstance(v, bool) else v


def _moved(before: Sequence[Any], after: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Between geometry blobs: did the geometry change (not the same shape), and how far
    (Hausdorff distance, m; 0 where it did not change)."""
    dist = np.zeros(len(before))
    changed = np.zeros(len(before), dtype=bool)
    differ = np.fromiter((x != y for x, y in zip(before, after, strict=True)), dtype=bool,
                         count=len(before))
    if differ.any():
        idx = np.flatnonzero(differ)
        gb = decode_geometries([before[i] for i in idx.tolist()])
        ga = decode_geometries([after[i] for i in idx.tolist()])
        real = ~same_geometry(gb, ga)
        changed[idx[real]] = True
        both = real & ~shapely.is_missing(gb) & ~shapely.is_missing(ga)
        both[both] = ~shapely.is_empty(gb[both]) & ~shapely.is_empty(ga[both])
        dist[idx[both]] = shapely.hausdorff_distance(gb[both], ga[both])
    return changed, dist


def _layer_label(names: Iterable[str]) -> str | None:
    names = sorted(names)
    return ",".join(names) if names else None


def log(path: str | Path, *, layer: str | None = None, feature_id: str | None = None
        ) -> list[dict[str, Any]]:
    """The versions of a twin, oldest first; or the whole history of one feature.

    Parameters
    ----------
    path : path-like
        The twin file.
    layer : str, optional
        Only versions that touched this layer (counts are then for it alone).
    feature_id : str, optional
        The history of this feature: one entry per change, with field-level before/after.

    Returns
    -------
    list of dict
        ``version``, ``time``, ``author``, ``message``, ``kind``, ``base``, ``layer`` (the
        layers touched, comma-separated), ``added``, ``changed``, ``deleted`` and ``layers``
        (per-layer counts); for a feature also ``op``, ``fields`` (name: [before, after]) and
        ``moved_m``.

    Raises
    ------
    LayerError
        Unknown layer, or no feature with that id now or in the history.

    Examples
    --------
    >>> # [(v["version"], v["author"], v["changed"]) for v in log("city.twin.gpkg")]
    >>> # [(1, 'gis', 0), (2, 'alice', 3)]
    """
    from twin.layers.history import connect, ensure_history, transaction

    if layer is not None:
        layer_spec(layer)
    con = connect(path)
    try:
        ensure_history(con)
        with transaction(con, "DEFERRED"):
            if feature_id is not None:
                return _feature_log(con, str(feature_id), layer)
            rows = con.execute("SELECT version, time, author, message, kind, base, stats "
                               "FROM twin_versions ORDER BY version").fetchall()
    finally:
        con.close()
    out = []
    for version, time, author, message, kind, base, stats_json in rows:
        stats = json.loads(stats_json)
        if layer is not None:
            if layer not in stats:
                continue
            stats = {layer: stats[layer]}
        out.append({
            "version": int(version), "time": time, "author": author, "message": message,
            "kind": kind, "base": base, "layer": _layer_label(stats),
            "added": sum(s["added"] for s in stats.values()),
            "changed": sum(s["changed"] for s in stats.values()),
            "deleted": sum(s["deleted"] for s in stats.values()),
            "layers": stats,
        })
    return out


def _present(image: dict[str, Any] | None, side: int) -> dict[str, list[Any]]:
    """All non-null fields of an added (side 1) or deleted (side 0) feature."""
    return {k: ([None, v] if side else [v, None]) for k, v in (image or {}).items()
            if v is not None}


def _feature_log(con: sqlite3.Connection, fid: str, layer: str | None) -> list[dict[str, Any]]:
    from twin.layers.history import layer_tables

    args: list[Any] = [fid]
    only = ""
    if layer is not None:
        only, args = " AND h.layer = ?", [fid, layer]
    rows = con.execute(
        "SELECT h.version, v.time, v.author, v.message, v.kind, v.base, h.layer, h.op, h.before, "
        "h.after, h.changes, h.geom_before, h.geom_after FROM twin_history h JOIN twin_versions v "
        f"ON v.version = h.version WHERE h.feature_id = ?{only} ORDER BY h.seq", args).fetchall()
    tables = layer_tables(con)
    names = [layer] if layer is not None else list(tables)
    now = [n for n in names if n in tables and con.execute(
        f'SELECT 1 FROM {_q(n)} WHERE "id" = ? LIMIT 1', (fid,)).fetchone()]
    if not rows and not now:
        where = f"layer {layer}" if layer else "any layer"
        msg = f"no feature with id {fid!r} in {where}, now or in the history"
        raise LayerError(msg)
    first_op: dict[str, str] = {}
    for r in rows:
        first_op.setdefault(r[6], r[7])
    existed = {n for n, op in first_op.items() if op != "insert"} | (set(now) - set(first_op))
    out: list[dict[str, Any]] = []
    if existed:
        v1 = con.execute("SELECT time, author, message, kind FROM twin_versions "
                         "WHERE version = 1").fetchone()
        out += [{"version": 1, "time": v1[0], "author": v1[1], "message": v1[2], "kind": v1[3],
                 "base": None, "layer": name, "op": "created", "added": 1, "changed": 0,
                 "deleted": 0, "fields": {}, "moved": None, "moved_m": None}
                for name in sorted(existed)]
    changed, moved = _moved([r[11] for r in rows], [r[12] for r in rows])
    for r, g, m in zip(rows, changed.tolist(), moved.tolist(), strict=True):
        version, time, author, message, kind, base, lyr, op, before, after, changes = r[:11]
        if op == "update":
            fields = json.loads(changes)
        elif op == "insert":
            fields = _present(json.loads(after), 1)
        else:
            fields = _present(json.loads(before), 0)
        out.append({"version": int(version), "time": time, "author": author, "message": message,
                    "kind": kind, "base": base, "layer": lyr, "op": op,
                    "added": int(op == "insert"), "changed": int(op == "update"),
                    "deleted": int(op == "delete"), "fields": fields,
                    "moved": bool(g) if op == "update" else None,
                    "moved_m": float(m) if op == "update" else None})
    return out


# --- diff -------------------------------------------------------------------------------------

class FeatureChange:
    """One feature's net change between two versions.

    ``change`` is ``added``, ``deleted`` or ``changed``; ``fields`` maps each field that differs
    to ``[before, after]`` (for added and deleted features: every field that has a value; read
    from the history when first asked for); ``moved`` says whether the geometry changed (a
    Polygon and the single-part MultiPolygon of it are the same geometry) and ``moved_m`` how
    far it moved (Hausdorff distance, m: 0 if it did not, and also 0 for a reshaped geometry
    covering the same ground, e.g. a repaired self-intersection; None if the feature was added
    or deleted).

    Examples
    --------
    >>> c = FeatureChange("roads", "r1", "changed", None, 0.0, raw='{"lanes": [1, 2]}')
    >>> c.fields, c.moved
    ({'lanes': [1, 2]}, False)
    """

    __slots__ = ("_fields", "_moved", "_raw", "_reverse", "change", "geom_after", "geom_before",
                 "id", "layer", "moved_m")

    def __init__(self, layer: str, id: str, change: str,
                 fields: dict[str, list[Any]] | None, moved_m: float | None,
                 geom_before: bytes | None = None, geom_after: bytes | None = None, *,
                 raw: str | None = None, reverse: bool = False,
                 moved: bool | None = None) -> None:
        self.layer, self.id, self.change, self.moved_m = layer, id, change, moved_m
        self.geom_before, self.geom_after = geom_before, geom_after
        self._fields, self._raw, self._reverse, self._moved = fields, raw, reverse, moved

    @property
    def fields(self) -> dict[str, list[Any]]:
        """Field name to ``[before, after]``."""
        if self._fields is None:
            parsed = json.loads(self._raw or "{}")
            self._fields = ({k: v[::-1] for k, v in parsed.items()} if self._reverse
                            else parsed)
        return self._fields

    @property
    def moved(self) -> bool:
        """True when the geometry changed."""
        if self._moved is not None:
            return self._moved
        return bool(self.moved_m)

    def __repr__(self) -> str:
        return (f"FeatureChange(layer={self.layer!r}, id={self.id!r}, change={self.change!r}, "
                f"fields={self.fields!r}, moved_m={self.moved_m!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureChange):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"layer": self.layer, "id": self.id, "change": self.change,
                "fields": self.fields,
                "moved": self.moved if self.change == "changed" else None,
                "moved_m": self.moved_m}


@dataclass
class Diff:
    """Features added, deleted and changed between versions ``v1`` and ``v2`` of a twin."""

    v1: int
    v2: int
    crs: str
    changes: list[FeatureChange]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per layer: how many features were added, changed, deleted.

        Examples
        --------
        >>> Diff(1, 2, "EPSG:3067", [FeatureChange("roads", "r1", "changed", {}, 1.5)]).counts()
        {'roads': {'added': 0, 'changed': 1, 'deleted': 0}}
        """
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            out.setdefault(c.layer, {"added": 0, "changed": 0, "deleted": 0})[c.change] += 1
        return out

    def load_fields(self) -> Diff:
        """Decode every change's field-level before/after now, in one pass (faster than one
        change at a time); returns the diff."""
        todo = [c for c in self.changes if c._fields is None]
        if todo:
            with no_gc():
                parsed = json.loads("[" + ",".join([c._raw or "{}" for c in todo]) + "]")
                for c, fields in zip(todo, parsed, strict=True):
                    c._fields = ({k: v[::-1] for k, v in fields.items()} if c._reverse
                                 else fields)
        return self

    def to_json(self, indent: str = "") -> str:
        """Every change as a JSON array, one change per line (each line starting with
        ``indent``): :meth:`to_dicts` encoded change by change with the C encoder (a
        pretty-printed dump of 100,000 changes takes seconds in pure Python).

        Examples
        --------
        >>> c = FeatureChange("roads", "r1", "changed", None, 0.0, raw='{"lanes": [1, 2]}')
        >>> print(Diff(1, 2, "EPSG:3067", [c]).to_json())
        [
        {"layer": "roads", "id": "r1", "change": "changed", "fields": {"lanes": [1, 2]}, \
"moved": false, "moved_m": 0.0}
        ]
        """
        encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
        with no_gc():
            text = f",\n{indent}".join([encode(c) for c in self.to_dicts()])
        return f"[\n{indent}{text}\n]" if text else "[]"

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every change as a JSON-ready dict (the field images decoded in one pass)."""
        self.load_fields()
        with no_gc():
            return [{"layer": c.layer, "id": c.id, "change": c.change, "fields": c._fields,
                     "moved": (c._moved if c._moved is not None else bool(c.moved_m))
                     if c.change == "changed" else None, "moved_m": c.moved_m}
                    for c in self.changes]

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The changed features for a map: the geometry at ``v2`` (at ``v1`` if deleted)."""
        self.load_fields()
        blobs = [c.geom_before if c.change == "deleted" else c.geom_after for c in self.changes]
        return gpd.GeoDataFrame({
            "layer": [c.layer for c in self.changes], "id": [c.id for c in self.changes],
            "change": [c.change for c in self.changes],
            "fields": [json.dumps(c.fields, default=str) for c in self.changes],
            "moved_m": [c.moved_m for c in self.changes],
        }, geometry=decode_geometries(blobs), crs=self.crs)

    def to_geojson(self, out: str | Path) -> Path:
        """Write the changed features as GeoJSON (WGS84, RFC 7946).

        Examples
        --------
        >>> # diff("city.twin.gpkg", 1, 4).to_geojson("changes.geojson")
        """
        o = Path(out)
        if not o.parent.is_dir():
            msg = f"{o}: the folder {o.parent} does not exist; create it first"
            raise LayerError(msg)
        gdf = self.to_geodataframe()
        gdf = gdf[gdf.geometry.notna()].to_crs("EPSG:4326")
        o.unlink(missing_ok=True)
        pyogrio.write_dataframe(gdf, o, driver="GeoJSON", RFC7946="YES")
        return o


def diff(path: str | Path, v1: int, v2: int, *, layer: str | None = None) -> Diff:
    """Features added, deleted and changed between two versions, with field-level before/after.

    Parameters
    ----------
    path : path-like
        The twin file.
    v1, v2 : int
        Versions from :func:`log`; ``v1 > v2`` gives the change going back.
    layer : str, optional
        Only this layer.

    Raises
    ------
    LayerError
        A version does not exist, or the layer is unknown.

    Examples
    --------
    >>> # d = diff("city.twin.gpkg", 1, 3)
    >>> # [(c.id, c.change, c.fields) for c in d.changes]
    >>> # [('b7', 'changed', {'use': ('residential', 'office')})]
    """
    from twin.layers.history import check_version, connect, ensure_history, transaction, twin_crs

    if layer is not None:
        layer_spec(layer)
    con = connect(path)
    try:
        ensure_history(con)
        with transaction(con, "DEFERRED"), no_gc():
            a, b = check_version(con, v1, "V1"), check_version(con, v2, "V2")
            crs = twin_crs(con)
            return Diff(a, b, crs, _diff_rows(con, min(a, b), max(a, b), layer,
                                              reverse=a > b))
    finally:
        con.close()


def _diff_rows(con: sqlite3.Connection, lo: int, hi: int, layer: str | None, *,
               reverse: bool) -> list[FeatureChange]:
    """Per feature changed in (lo, hi]: compare the state before its first change with the
    state after its last. A single update says everything in its ``changes`` (parsed only
    when asked for); otherwise the full images of both ends are fetched. Whether and how far
    each geometry moved is computed for all changed features at once."""
    only, args = ("", [lo, hi]) if layer is None else (" AND layer = ?", [lo, hi, layer])
    rows = con.execute("SELECT layer, feature_id, op, changes, after, geom_before, geom_after, "
                       f"seq FROM twin_history WHERE version > ? AND version <= ?{only}",
                       args).fetchall()
    first: dict[tuple[str, str], tuple[Any, ...]] = {}
    last: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r in rows:
        key = (r[0], r[1])
        if key not in first:
            first[key] = r
        last[key] = r
    out: list[FeatureChange] = []
    multi: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for key, f in first.items():
        x = last[key]
        if f is not x or f[2] != "update":
            multi.append((f, x))
        elif reverse:
            out.append(FeatureChange(f[0], str(f[1]), "changed", None, 0.0, f[6], f[5],
                                     raw=f[3], reverse=True))
        else:
            out.append(FeatureChange(f[0], str(f[1]), "changed", None, 0.0, f[5], f[6],
                                     raw=f[3]))
    if multi:
        need = [f[7] for f, x in multi if f[2] != "insert"]
        need += [x[7] for f, x in multi if x[2] == "update" and f is not x]
        before = dict(con.execute("SELECT seq, before FROM twin_history WHERE seq IN "
                                  "(SELECT value FROM json_each(?))", (json.dumps(need),)))
        for f, x in multi:
            change = _net_change(f, x, before, reverse=reverse)
            if change is not None:
                out.append(change)
    out.sort(key=lambda c: c.layer)
    changed = [c for c in out if c.change == "changed"]
    moved, dist = _moved([c.geom_before for c in changed], [c.geom_after for c in changed])
    for c, m, d in zip(changed, moved.tolist(), dist.tolist(), strict=True):
        c._moved, c.moved_m = m, d
    # a change that left every field and the shape as they were is no change (e.g. a layer
    # promoted to MultiPolygon: the type changed, not the shape)
    return [c for c in out if c.change != "changed" or c.moved or (
        c._fields if c._fields is not None else c._raw not in (None, "{}"))]


def _state(op: str, before: str | None, after: str | None, changes: str | None
           ) -> dict[str, Any] | None:
    """A feature's attributes after one history row (None: it does not exist)."""
    if op == "delete":
        return None
    if op == "insert":
        return json.loads(after or "{}")
    state = json.loads(before or "{}")
    state.update({k: v[1] for k, v in json.loads(changes or "{}").items()})
    return state


def _net_change(f: tuple[Any, ...], x: tuple[Any, ...], before: dict[int, str], *,
                reverse: bool) -> FeatureChange | None:
    """The change between the state before history row ``f`` and after row ``x`` of one
    feature (rows: layer, feature_id, op, changes, after, geom_before, geom_after, seq)."""
    lo = json.loads(before[f[7]]) if f[2] != "insert" else None
    hi = _state(x[2], before.get(x[7]) if x is not f else before.get(f[7]), x[4], x[3])
    lo_geom = f[5] if f[2] != "insert" else None
    hi_geom = x[6] if x[2] != "delete" else None
    if reverse:
        lo, hi, lo_geom, hi_geom = hi, lo, hi_geom, lo_geom
    if lo is None and hi is None:
        return None
    if lo is None:
        return FeatureChange(f[0], str(f[1]), "added", _present(hi, 1), None, None, hi_geom)
    if hi is None:
        return FeatureChange(f[0], str(f[1]), "deleted", _present(lo, 0), None, lo_geom)
    return FeatureChange(f[0], str(f[1]), "changed", _changed_fields(lo, hi), 0.0, lo_geom,
                         hi_geom)
