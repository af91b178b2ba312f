"""GeoPackage plumbing of the edit history: geometry blobs, ``ST_*`` SQL functions, trigger SQL.

The history (:mod:`twin.layers.history`) keeps attribute images as JSON and geometries as the
GeoPackage blobs GDAL writes. This module encodes and decodes those blobs, registers the SQL
functions GDAL's R-tree triggers call (so plain ``sqlite3`` can write a layer), and writes the SQL
of the triggers that record every change to a layer table in ``twin_history``.

Examples
--------
>>> import shapely
>>> decode_geometries(encode_geometries([shapely.Point(1, 2), None], 3067))[0].wkt
'POINT (1 2)'
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

__all__ = [
    "LayerTable",
    "changes_sql",
    "decode_geometries",
    "encode_geometries",
    "gpkg_functions",
    "image_sql",
]

_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
_OPEN_SQL = "(SELECT value FROM twin_state WHERE key = 'open')"
_INSERT = ("INSERT INTO twin_history (version, layer, feature_id, fid, op, time, before, after, "
           "changes, geom_before, geom_after) ")
_ENVELOPE_BYTES = (0, 32, 48, 48, 64, 0, 0, 0)


# --- GeoPackage geometry blobs ----------------------------------------------------------------

def _header_len(blob: bytes) -> int:
    return 8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 7]


def encode_geometries(geoms: Sequence[Any] | np.ndarray, srs_id: int) -> list[bytes | None]:
    """Shapely geometries to GeoPackage geometry blobs (the header GDAL writes, then ISO WKB).

    Examples
    --------
    >>> import shapely
    >>> blob = encode_geometries([shapely.Point(1, 2)], 3067)[0]
    >>> blob[:2], decode_geometries([blob])[0].wkt
    (b'GP', 'POINT (1 2)')
    """
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    out: list[bytes | None] = [None] * len(arr)
    present = ~shapely.is_missing(arr)
    if not present.any():
        return out
    geo = arr[present]
    wkb = shapely.to_wkb(geo, byte_order=1, output_dimension=2, flavor="iso")
    bounds = shapely.bounds(geo)
    kind = shapely.get_type_id(geo)
    empty = shapely.is_empty(geo)
    srs = struct.pack("<i", int(srs_id))
    for k, i in enumerate(np.flatnonzero(present)):
        if empty[k]:
            head = b"GP\x00\x11" + srs
        elif kind[k] == 0:
            head = b"GP\x00\x01" + srs
        else:
            b = bounds[k]
            head = b"GP\x00\x03" + srs + struct.pack("<4d", b[0], b[2], b[1], b[3])
        out[i] = head + wkb[k]
    return out


def decode_geometries(blobs: Iterable[bytes | None]) -> np.ndarray:
    """GeoPackage geometry blobs to an array of shapely geometries (None stays None).

    Examples
    --------
    >>> import shapely
    >>> decode_geometries(encode_geometries([shapely.box(0, 0, 2, 1), None], 3067))[0].area
    2.0
    """
    wkbs = [None if b is None else bytes(b)[_header_len(b):] for b in blobs]
    return shapely.from_wkb(np.array(wkbs, dtype=object))


def _bounds(blob: bytes) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage blob, None if empty; from the envelope, or
    from a 2D point's coordinates, else by decoding the WKB."""
    flags = blob[3]
    if flags & 0x10:
        return None
    order = "<" if flags & 1 else ">"
    if (flags >> 1) & 7:
        minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
        return minx, maxx, miny, maxy
    if len(blob) == 29:     # header (8) + 2D point WKB (21)
        x, y = struct.unpack_from(("<" if blob[8] else ">") + "2d", blob, 13)
        return x, x, y, y
    b = shapely.bounds(shapely.from_wkb(blob[_header_len(blob):]))
    return float(b[0]), float(b[2]), float(b[1]), float(b[3])


def _st(i: int) -> Any:
    def func(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        b = _bounds(blob)
        return None if b is None else b[i]
    return func


def _st_isempty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return (blob[3] >> 4) & 1


def gpkg_functions(con: sqlite3.Connection) -> sqlite3.Connection:
    """Register the SQL functions the GeoPackage R-tree triggers call (``ST_IsEmpty``,
    ``ST_MinX``, ``ST_MaxX``, ``ST_MinY``, ``ST_MaxY``) on a plain sqlite3 connection.

    Without them SQLite refuses any INSERT or UPDATE on a layer written by GDAL.

    Examples
    --------
    >>> import sqlite3, shapely
    >>> con = gpkg_functions(sqlite3.connect(":memory:"))
    >>> blob = encode_geometries([shapely.box(1, 2, 3, 4)], 3067)[0]
    >>> con.execute("SELECT ST_MinX(?), ST_MaxY(?), ST_IsEmpty(?)", (blob, blob, blob)).fetchone()
    (1.0, 4.0, 0)
    """
    con.create_function("ST_IsEmpty", 1, _st_isempty, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _st(i), deterministic=True)
    return con


# --- SQL of layer tables --------------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class LayerTable:
    """A layer table of a twin file as SQLite sees it."""

    name: str
    pk: str
    geom: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    srs_id: int
    geometry_type: str


def _value_sql(ref: str, decl: str) -> str:
    """SQL for one attribute in a JSON image: floats exactly (21 digits), blobs as hex."""
    if any(k in decl for k in ("CHAR", "CLOB", "TEXT")):
        return ref
    real = (f"CASE WHEN typeof({ref}) != 'real' THEN {ref} "
            f"WHEN abs({ref}) <= 1.7976931348623157e308 THEN json(printf(CASE WHEN {ref} = "
            f"CAST({ref} AS INTEGER) AND abs({ref}) < 1e15 THEN '%!.1f' ELSE '%!.20e' END, "
            f"{ref})) ELSE CAST({ref} AS TEXT) END")
    if "INT" in decl:
        return real
    return f"CASE WHEN typeof({ref}) = 'blob' THEN hex({ref}) ELSE {real} END"


def image_sql(table: LayerTable, alias: str) -> str:
    """SQL of a row's attributes as a JSON object (the ``before``/``after`` images)."""
    parts = [f"{_lit(c)}, {_value_sql(f'{alias}.{_q(c)}', t)}"
             for c, t in zip(table.columns, table.types, strict=True)]
    return "json_object(" + ", ".join(parts) + ")"


def changes_sql(old: LayerTable, o: str, new: LayerTable, n: str) -> str:
    """SQL of ``{field: [before, after]}`` for the fields that differ between two rows."""
    otypes = dict(zip(old.columns, old.types, strict=True))
    ntypes = dict(zip(new.columns, new.types, strict=True))
    parts = []
    for c in dict.fromkeys([*old.columns, *new.columns]):
        oref = f"{o}.{_q(c)}" if c in otypes else "NULL"
        nref = f"{n}.{_q(c)}" if c in ntypes else "NULL"
        ov = _value_sql(oref, otypes[c]) if c in otypes else "NULL"
        nv = _value_sql(nref, ntypes[c]) if c in ntypes else "NULL"
        parts.append(f"CASE WHEN {oref} IS NOT {nref} THEN {_lit(json.dumps(c) + ':')} || "
                     f"json_array({ov}, {nv}) || ',' ELSE '' END")
    return "'{' || rtrim(" + " || ".join(parts) + ", ',') || '}'"


def _trigger_sql(t: LayerTable) -> dict[str, str]:
    tn, g = _q(t.name), _q(t.geom)

    def row(op: str) -> str:
        ref = "NEW" if op == "insert" else "OLD"
        before = image_sql(t, "OLD") if op != "insert" else "NULL"
        after = image_sql(t, "NEW") if op == "insert" else "NULL"
        changes = changes_sql(t, "OLD", t, "NEW") if op == "update" else "NULL"
        return (f"{_INSERT}VALUES ({_OPEN_SQL}, {_lit(t.name)}, {ref}.\"id\", "
                f"{ref}.{_q(t.pk)}, '{op}', {_NOW_SQL}, {before}, {after}, {changes}, "
                f"{'OLD.' + g if op != 'insert' else 'NULL'}, "
                f"{'NEW.' + g if op != 'delete' else 'NULL'});")

    differs = " OR ".join(f"OLD.{_q(c)} IS NOT NEW.{_q(c)}" for c in (*t.columns, t.geom))
    name = f"twin_history_{t.name}"
    return {
        f"{name}_insert": f'CREATE TRIGGER "{name}_insert" AFTER INSERT ON {tn} BEGIN '
                          f"{row('insert')} END",
        f"{name}_delete": f'CREATE TRIGGER "{name}_delete" AFTER DELETE ON {tn} BEGIN '
                          f"{row('delete')} END",
        f"{name}_update": f'CREATE TRIGGER "{name}_update" AFTER UPDATE ON {tn} WHEN '
                          f'OLD."id" IS NEW."id" AND ({differs}) BEGIN {row("update")} END',
        f"{name}_rekey": f'CREATE TRIGGER "{name}_rekey" AFTER UPDATE ON {tn} WHEN '
                         f'OLD."id" IS NOT NEW."id" BEGIN {row("delete")} {row("insert")} END',
    }
