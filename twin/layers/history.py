"""The edit history of a twin file: versions, per-feature changes, log, diff and checkout.

Every twin file keeps three tables beside its layers (none registered as a layer, so GIS tools
and :func:`twin.layers.store.read_twin` see only the layers):

``twin_versions``
    One row per version: ``version`` (1, 2, …), ``time``, ``author``, ``message``, ``kind``
    (``created``, ``edit``, ``revert``, ``external``, ``rewrite``), ``base`` (the version an
    edit was based on, or the version a revert went back to), ``stats`` (JSON: per layer, the
    features added, changed and deleted) and ``layers`` (JSON: the layers present after it).
``twin_history``
    One row per feature change: ``version``, ``layer``, ``feature_id`` (the stable ``id``),
    ``fid`` (the GeoPackage row key), ``op`` (insert, update, delete), ``time``, ``before``
    (all attributes before an update or delete, as JSON; floats written with 21 significant
    digits so they read back exactly), ``after`` (all attributes of an inserted feature),
    ``changes`` (of an update: ``{field: [before, after]}`` for the fields that changed) and
    ``geom_before`` / ``geom_after`` (the GeoPackage geometry blobs).
``twin_state``
    Key/value bookkeeping (``format``; ``open`` only inside a twin transaction).

SQLite triggers on every layer table write ``twin_history`` rows, so a change made by any
program — twin, QGIS, GDAL/pyogrio, plain sqlite3 — is recorded. Rows written outside twin
have no version yet; the next twin command that opens the file seals them into one version of
kind ``external`` (author ``outside twin``).

History is kept backwards: the layers hold the current state, and the state at version ``V`` of
a feature touched after ``V`` is the ``before`` image of its first change after ``V``. So any
version can be rebuilt exactly without storing full copies.

Examples
--------
>>> import os, tempfile
>>> from twin.layers.schemas import empty_layer
>>> from twin.layers.store import Twin, new_meta, write_twin
>>> path = os.path.join(tempfile.mkdtemp(), "h.twin.gpkg")
>>> _ = write_twin(Twin({"zones": empty_layer("zones", "EPSG:3067")},
...                     new_meta("h", "EPSG:3067")), path)
>>> [(v["version"], v["kind"]) for v in log(path)]
[(1, 'created')]
"""

from __future__ import annotations

import contextlib
import gc
import getpass
import json
import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from twin._errors import LayerError
from twin.layers.schemas import coerce_fields, conform, empty_layer, layer_spec, load_dictionary
from twin.layers.store import INTERNAL_TABLES, META_TABLE, Twin, register_finalizer, write_twin

__all__ = [
    "LOCK_TIMEOUT_S",
    "OUTSIDE_AUTHOR",
    "Diff",
    "FeatureChange",
    "checkout",
    "connect",
    "current_version",
    "decode_geometries",
    "diff",
    "encode_geometries",
    "gpkg_functions",
    "log",
    "state_at",
]

HISTORY_FORMAT = 1
#: Seconds a twin command waits for another writer to finish before giving up.
LOCK_TIMEOUT_S = 60.0
#: Author of the versions that seal changes made by other programs.
OUTSIDE_AUTHOR = "outside twin"
_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
_OPEN_SQL = "(SELECT value FROM twin_state WHERE key = 'open')"
_DDL = (
    "CREATE TABLE IF NOT EXISTS twin_versions (version INTEGER PRIMARY KEY, time TEXT NOT NULL, "
    "author TEXT NOT NULL, message TEXT NOT NULL, kind TEXT NOT NULL, base INTEGER, "
    "stats TEXT NOT NULL, layers TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS twin_history (seq INTEGER PRIMARY KEY, version INTEGER, "
    "layer TEXT NOT NULL, feature_id TEXT, fid INTEGER, op TEXT NOT NULL, time TEXT NOT NULL, "
    "before TEXT, after TEXT, changes TEXT, geom_before BLOB, geom_after BLOB)",
    "CREATE INDEX IF NOT EXISTS twin_history_version ON twin_history (version, layer)",
    "CREATE INDEX IF NOT EXISTS twin_history_feature ON twin_history (feature_id, layer, version)",
    "CREATE INDEX IF NOT EXISTS twin_history_pending ON twin_history (seq) WHERE version IS NULL",
    "CREATE TABLE IF NOT EXISTS twin_state (key TEXT PRIMARY KEY, value)",
)
_HISTORY_COLS = ("seq, version, layer, feature_id, fid, op, time, before, after, changes, "
                 "geom_before, geom_after")
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


# --- connections and layer tables -------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(path: str | Path, *, timeout: float = LOCK_TIMEOUT_S) -> sqlite3.Connection:
    """Open a twin file for history work (autocommit; the GeoPackage functions registered).

    Raises
    ------
    LayerError
        The file is missing, not a GeoPackage, or not a twin file.

    Examples
    --------
    >>> # con = connect("demo.twin.gpkg"); current_version(con)
    """
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: no such twin file; build one with `twin init`"
        raise LayerError(msg)
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        msg = f"{p}: not a GeoPackage (no SQLite header); a twin file is made by `twin init`"
        raise LayerError(msg)
    con = sqlite3.connect(p, timeout=timeout, isolation_level=None)
    try:
        found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (META_TABLE,)).fetchone()
    except sqlite3.DatabaseError as err:
        con.close()
        msg = f"{p}: the GeoPackage is corrupt or truncated ({err}); restore it from a copy"
        raise LayerError(msg) from err
    if not found:
        con.close()
        msg = f"{p}: no {META_TABLE} table; this GeoPackage was not made by twin (`twin init`)"
        raise LayerError(msg)
    con.execute("PRAGMA cache_size = -131072")  # up to 128 MB of pages: large layers
    return gpkg_functions(con)


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


@contextlib.contextmanager
def transaction(con: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
    """``BEGIN <mode>`` … ``COMMIT``, rolled back on any error (the file is left untouched)."""
    try:
        con.execute(f"BEGIN {mode}")
    except sqlite3.OperationalError as err:
        msg = (f"the twin file is locked by another program ({err}); try again when it has "
               "finished")
        raise LayerError(msg) from err
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    try:
        con.execute("COMMIT")
    except sqlite3.OperationalError as err:
        con.execute("ROLLBACK")
        msg = f"could not commit to the twin file ({err}); nothing was written"
        raise LayerError(msg) from err


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


def layer_tables(con: sqlite3.Connection, schema: str = "main") -> dict[str, LayerTable]:
    """The dictionary layers of a twin file (feature tables with an ``id`` column)."""
    known = load_dictionary()
    rows = con.execute(
        f"SELECT c.table_name, g.column_name, g.srs_id, g.geometry_type_name "
        f"FROM {schema}.gpkg_contents c JOIN {schema}.gpkg_geometry_columns g "
        "ON g.table_name = c.table_name WHERE c.data_type = 'features'").fetchall()
    out: dict[str, LayerTable] = {}
    for name, geom, srs_id, gtype in rows:
        if name in INTERNAL_TABLES or name not in known:
            continue
        info = con.execute(f"PRAGMA {schema}.table_info({_q(name)})").fetchall()
        pk = next((r[1] for r in info if r[5]), "fid")
        attrs = [(r[1], str(r[2] or "").upper()) for r in info if r[1] not in (pk, geom)]
        if "id" not in [a for a, _ in attrs]:
            continue
        out[name] = LayerTable(name, pk, geom, tuple(a for a, _ in attrs),
                               tuple(t for _, t in attrs), int(srs_id), str(gtype).upper())
    return dict(sorted(out.items(), key=lambda kv: list(known).index(kv[0])))


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


# --- versions ---------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_author() -> str:
    """The login name, or ``"unknown"``."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _has_tables(con: sqlite3.Connection, schema: str = "main") -> bool:
    return con.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND "
                       "name = 'twin_versions'").fetchone() is not None


def current_version(con: sqlite3.Connection) -> int:
    """The newest version of the twin (1 for a twin whose history has not started yet)."""
    if not _has_tables(con):
        return 1
    v = con.execute("SELECT MAX(version) FROM twin_versions").fetchone()[0]
    return int(v or 1)


def check_version(con: sqlite3.Connection, version: Any, what: str = "version") -> int:
    """Return ``version`` as an int if the twin has it, else raise a LayerError."""
    current = current_version(con)
    try:
        v = int(version)
    except (TypeError, ValueError):
        v = None
    if v is None or isinstance(version, float | bool) or not 1 <= v <= current:
        msg = (f"{what} {version!r} does not exist; the twin has versions 1 to {current} "
               "(see `twin layers log`)")
        raise LayerError(msg)
    return v


def open_version(con: sqlite3.Connection) -> int:
    """Inside a write transaction: the next version; triggers file changes under it."""
    v = current_version(con) + 1
    con.execute("INSERT OR REPLACE INTO twin_state (key, value) VALUES ('open', ?)", (v,))
    return v


def _stats(con: sqlite3.Connection, version: int) -> dict[str, dict[str, int]]:
    rows = con.execute(
        "WITH r AS (SELECT layer, MIN(seq) AS s0, MAX(seq) AS s1 FROM twin_history "
        "WHERE version = ? GROUP BY layer, feature_id) "
        "SELECT r.layer, SUM(a.op = 'insert' AND b.op != 'delete'), "
        "SUM(a.op != 'insert' AND b.op != 'delete'), SUM(a.op != 'insert' AND b.op = 'delete') "
        "FROM r JOIN twin_history a ON a.seq = r.s0 JOIN twin_history b ON b.seq = r.s1 "
        "GROUP BY r.layer ORDER BY r.layer", (version,)).fetchall()
    return {layer: {"added": int(a), "changed": int(c), "deleted": int(d)}
            for layer, a, c, d in rows}


def close_version(con: sqlite3.Connection, version: int, *, author: str, message: str,
                  kind: str, base: int | None = None, time: str | None = None,
                  keep_empty: bool = False) -> dict[str, dict[str, int]] | None:
    """Inside a write transaction: record ``version`` with its counts; None if it is empty."""
    con.execute("DELETE FROM twin_state WHERE key = 'open'")
    stats = _stats(con, version)
    if not stats and not keep_empty:
        return None
    layers = json.dumps(list(layer_tables(con)))
    con.execute("INSERT INTO twin_versions (version, time, author, message, kind, base, stats, "
                "layers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (version, time or _now(), author, message, kind, base, json.dumps(stats), layers))
    return stats


def _record_created(con: sqlite3.Connection, tables: dict[str, LayerTable], *, author: str,
                    message: str) -> None:
    stats = {}
    for name in tables:
        n = con.execute(f"SELECT COUNT(*) FROM {_q(name)}").fetchone()[0]
        stats[name] = {"added": int(n), "changed": 0, "deleted": 0}
    con.execute("INSERT INTO twin_versions (version, time, author, message, kind, base, stats, "
                "layers) VALUES (1, ?, ?, ?, 'created', NULL, ?, ?)",
                (_now(), author, message, json.dumps(stats), json.dumps(list(tables))))


def _seal_external(con: sqlite3.Connection) -> int | None:
    if con.execute("SELECT 1 FROM twin_history WHERE version IS NULL LIMIT 1").fetchone() is None:
        return None
    v = current_version(con) + 1
    last = con.execute("SELECT MAX(time) FROM twin_history WHERE version IS NULL").fetchone()[0]
    con.execute("UPDATE twin_history SET version = ? WHERE version IS NULL", (v,))
    close_version(con, v, author=OUTSIDE_AUTHOR, kind="external", keep_empty=True,
                  message="edited outside twin (QGIS, GDAL, sqlite3, …); recorded by the "
                          "history triggers",
                  time=str(last)[:19] + "+00:00" if last else None)
    return v


def _install_triggers(con: sqlite3.Connection, tables: dict[str, LayerTable]) -> list[str]:
    """(Re)create stale or missing triggers and id indexes; return layers that had none."""
    have = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                            "name LIKE 'twin_history_%'").fetchall())
    missing = []
    for t in tables.values():
        wanted = _trigger_sql(t)
        if not any(name in have for name in wanted):
            missing.append(t.name)
        for name, sql in wanted.items():
            if have.get(name) != sql:
                con.execute(f"DROP TRIGGER IF EXISTS main.{_q(name)}")
                con.execute(sql)
        con.execute(f"CREATE INDEX IF NOT EXISTS main.{_q('twin_id_' + t.name)} ON "
                    f'{_q(t.name)} ("id")')
    return missing


def _up_to_date(con: sqlite3.Connection) -> bool:
    if not _has_tables(con):
        return False
    if con.execute("SELECT 1 FROM twin_history WHERE version IS NULL LIMIT 1").fetchone():
        return False
    tables = layer_tables(con)
    last = con.execute("SELECT layers FROM twin_versions ORDER BY version DESC LIMIT 1"
                       ).fetchone()
    if last is None or json.loads(last[0]) != list(tables):
        return False
    have = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                            "name LIKE 'twin_history_%'").fetchall())
    return all(have.get(n) == s for t in tables.values() for n, s in _trigger_sql(t).items())


def prepare(con: sqlite3.Connection) -> None:
    """Inside a write transaction: create the history if missing, refresh the triggers, and
    seal changes made outside twin into a version."""
    fresh = not _has_tables(con)
    for ddl in _DDL:
        con.execute(ddl)
    con.execute("INSERT OR IGNORE INTO twin_state (key, value) VALUES ('format', ?)",
                (HISTORY_FORMAT,))
    tables = layer_tables(con)
    if fresh or con.execute("SELECT 1 FROM twin_versions LIMIT 1").fetchone() is None:
        _record_created(con, tables, author=default_author(),
                        message="history started (the twin was made without one)")
        _install_triggers(con, tables)
        return
    _seal_external(con)
    missing = _install_triggers(con, tables)
    last = con.execute("SELECT layers FROM twin_versions ORDER BY version DESC LIMIT 1"
                       ).fetchone()[0]
    if missing or json.loads(last) != list(tables):
        note = "layers now: " + ", ".join(tables)
        if missing:
            note = (f"history tracking installed on {', '.join(missing)}; changes other "
                    "programs made to them before this version are not in the history")
        v = current_version(con) + 1
        close_version(con, v, author=OUTSIDE_AUTHOR, message=note, kind="external",
                      keep_empty=True)


def ensure_history(con: sqlite3.Connection) -> None:
    """Bring the history up to date (a short write transaction, only when needed).

    Raises
    ------
    LayerError
        The file is read-only and needs an update first.
    """
    if _up_to_date(con):
        return
    try:
        with transaction(con):
            prepare(con)
    except sqlite3.OperationalError as err:
        msg = (f"the twin's history needs an update (changes made outside twin are not yet "
               f"recorded) but the file cannot be written ({err}); make it writable")
        raise LayerError(msg) from err


def twin_crs(con: sqlite3.Connection) -> str:
    """The twin's CRS from ``twin_meta``."""
    row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'crs'").fetchone()
    return str(json.loads(row[0]))


# --- the finalizer: history in every twin file write_twin makes ------------------------------

def _target_of(tmp: Path, twin: Twin) -> Path | None:
    given = twin.extras.get("write_target")
    if given:
        return Path(given)
    name = tmp.name
    if not (name.startswith(".") and name.endswith(".tmp.gpkg")):
        return None
    return tmp.with_name(name[1:-len(".tmp.gpkg")].rsplit(".", 1)[0])


def _same_lineage(con: sqlite3.Connection, twin: Twin, target: Path) -> bool:
    """Is the file being replaced this twin (read from it, or with the same creation time)?"""
    if twin.path is not None:
        with contextlib.suppress(OSError):
            return Path(twin.path).resolve() == target.resolve()
        return False
    row = con.execute(f"SELECT value FROM src.{META_TABLE} WHERE key = 'created'").fetchone()
    return row is not None and json.loads(row[0]) == twin.meta.get("created")


def _copy_history(con: sqlite3.Connection, upto: int | None) -> None:
    cond = "" if upto is None else f" WHERE version <= {int(upto)}"
    con.execute(f"INSERT INTO twin_versions SELECT version, time, author, message, kind, base, "
                f"stats, layers FROM src.twin_versions{cond}")
    con.execute(f"INSERT INTO twin_history ({_HISTORY_COLS}) SELECT {_HISTORY_COLS} "
                f"FROM src.twin_history{cond}")


def _record_rewrite(con: sqlite3.Connection, tables: dict[str, LayerTable], *, author: str,
                    message: str) -> None:
    v = current_version(con) + 1
    old = layer_tables(con, "src")
    now = _now()
    for name in [*tables, *[n for n in old if n not in tables]]:
        lit, tab = _lit(name), _q(name)
        if name in tables:
            t = tables[name]
            only = (f' WHERE NOT EXISTS (SELECT 1 FROM src.{tab} o WHERE o."id" = n."id")'
                    if name in old else "")
            con.execute(f"{_INSERT}SELECT {v}, {lit}, n.\"id\", n.{_q(t.pk)}, 'insert', "
                        f"'{now}', NULL, {image_sql(t, 'n')}, NULL, NULL, n.{_q(t.geom)} "
                        f"FROM main.{tab} n{only}")
        if name in old:
            o = old[name]
            only = (f' WHERE NOT EXISTS (SELECT 1 FROM main.{tab} n WHERE n."id" = o."id")'
                    if name in tables else "")
            con.execute(f"{_INSERT}SELECT {v}, {lit}, o.\"id\", o.{_q(o.pk)}, 'delete', "
                        f"'{now}', {image_sql(o, 'o')}, NULL, NULL, o.{_q(o.geom)}, NULL "
                        f"FROM src.{tab} o{only}")
        if name in tables and name in old:
            t, o = tables[name], old[name]
            con.execute(
                f"{_INSERT}SELECT {v}, {lit}, feat, fid, 'update', '{now}', b, NULL, c, gb, ga "
                f"FROM (SELECT n.\"id\" AS feat, n.{_q(t.pk)} AS fid, {image_sql(o, 'o')} AS b, "
                f"{changes_sql(o, 'o', t, 'n')} AS c, o.{_q(o.geom)} AS gb, "
                f"n.{_q(t.geom)} AS ga FROM main.{tab} n JOIN src.{tab} o "
                "ON o.\"id\" = n.\"id\") WHERE c != '{}' OR gb IS NOT ga")
    stats = close_version(con, v, author=author, message=message, kind="rewrite")
    if stats is None and sorted(old) != sorted(tables):
        close_version(con, v, author=author, message=message, kind="rewrite", keep_empty=True)


def install_history(tmp: Path, twin: Twin) -> None:
    """Finalizer of :func:`twin.layers.store.write_twin`: add the history to a new twin file.

    A new twin starts at version 1 (``created``). When the file being replaced is the same twin
    (the twin was read from it, e.g. ``twin layers import`` rewriting it; or, for a twin made in
    memory, its ``created`` time matches), its history is carried over and the rewrite becomes
    a new version (kind ``rewrite``) listing every feature added, changed or deleted.
    ``twin.extras["history"]`` may give ``author``, ``message`` and ``from`` =
    ``(path, version)`` (checkout: copy that file's history up to that version).
    """
    opts = dict(twin.extras.get("history") or {})
    author = str(opts.get("author") or default_author())
    source: Path | None = None
    upto: int | None = None
    if opts.get("from"):
        source, upto = Path(opts["from"][0]), int(opts["from"][1])
    else:
        target = _target_of(tmp, twin)
        if target is not None and target.is_file():
            source = target
    con = sqlite3.connect(tmp.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        gpkg_functions(con)
        if source is not None:
            attached = False
            try:
                con.execute("ATTACH DATABASE ? AS src",
                            (source.resolve().as_uri() + "?mode=ro",))
                attached = True
                keep = _has_tables(con, "src") and (upto is not None
                                                    or _same_lineage(con, twin, source))
            except sqlite3.DatabaseError:
                if upto is not None:
                    raise
                keep = False        # the file being replaced is no twin (or is damaged)
            if not keep:
                if attached:
                    con.execute("DETACH DATABASE src")
                source = None
        with transaction(con, "DEFERRED"):
            for ddl in _DDL:
                con.execute(ddl)
            con.execute("INSERT OR REPLACE INTO twin_state (key, value) VALUES ('format', ?)",
                        (HISTORY_FORMAT,))
            tables = layer_tables(con)
            if source is None:
                _record_created(con, tables, author=author,
                                message=str(opts.get("message") or "created"))
            else:
                _copy_history(con, upto)
                if upto is None:
                    _seal_external(con)
                    _record_rewrite(con, tables, author=author, message=str(
                        opts.get("message") or "whole twin rewritten (e.g. twin layers import)"))
            _install_triggers(con, tables)
        if source is not None:
            con.execute("DETACH DATABASE src")
    finally:
        con.close()


register_finalizer(install_history)


# --- reading images ---------------------------------------------------------------------------

def first_after(con: sqlite3.Connection, layer: str, version: int,
                ids: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """Per feature changed after ``version``: its first change (feature_id, fid, op, before,
    geom_before, seq) — the state at ``version`` is that change's ``before``."""
    args: list[Any] = [layer, version]
    only = ""
    if ids is not None:
        only = " AND feature_id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(list(ids)))
    return con.execute(
        "SELECT h.feature_id, h.fid, h.op, h.before, h.geom_before, h.seq FROM twin_history h "
        "JOIN (SELECT MIN(seq) AS s FROM twin_history WHERE layer = ? AND version > ?"
        f"{only} GROUP BY feature_id) f ON h.seq = f.s", args).fetchall()


def frame_from_images(images: Sequence[str | dict[str, Any] | None], blobs: Sequence[Any],
                      index: Sequence[Any], layer: str, crs: Any) -> gpd.GeoDataFrame:
    """Attribute images (JSON or dicts) and geometry blobs to a typed layer frame."""
    records = [json.loads(i) if isinstance(i, str) else (i or {}) for i in images]
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    df.index = pd.Index(list(index))
    out, _ = coerce_fields(df, layer_spec(layer))
    return gpd.GeoDataFrame(out, geometry=decode_geometries(blobs), crs=crs)


def _read_current(path: Path, name: str, crs: Any) -> gpd.GeoDataFrame:
    gdf = pyogrio.read_dataframe(path, layer=name, fid_as_index=True, use_arrow=True)
    out, _ = coerce_fields(gdf, layer_spec(name))
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=crs)


def _normalise(frame: gpd.GeoDataFrame, name: str, crs: Any) -> gpd.GeoDataFrame:
    geom = frame.geometry.name
    out, _ = coerce_fields(pd.DataFrame(frame.drop(columns=geom)), layer_spec(name))
    out = gpd.GeoDataFrame(out, geometry=frame.geometry.to_numpy(), crs=crs)
    return conform(out, name)


def state_at(path: str | Path, version: int) -> Twin:
    """The twin as it was at ``version``: every layer rebuilt exactly from the history.

    Raises
    ------
    LayerError
        The version does not exist, or the file is not a twin.

    Examples
    --------
    >>> # t = state_at("demo.twin.gpkg", 3); t.layers["buildings"]
    """
    p = Path(path)
    con = connect(p)
    try:
        ensure_history(con)
        with transaction(con, "DEFERRED"):
            v = check_version(con, version)
            crs = twin_crs(con)
            meta = {str(k): json.loads(val) for k, val in
                    con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()}
            then = json.loads(con.execute("SELECT layers FROM twin_versions WHERE version = ?",
                                          (v,)).fetchone()[0])
            tables = layer_tables(con)
            layers: dict[str, gpd.GeoDataFrame] = {}
            for name in then:
                cur = _read_current(p, name, crs) if name in tables else (
                    empty_layer(name, crs))
                rows = first_after(con, name, v)
                touched = {r[0] for r in rows}
                keep = cur[~cur["id"].astype(str).isin(touched)]
                was = [r for r in rows if r[2] != "insert"]
                old = frame_from_images([r[3] for r in was], [r[4] for r in was],
                                        [r[1] for r in was], name, crs)
                parts = [f for f in (keep, old) if len(f)]
                frame = (pd.concat(parts) if parts else keep).sort_index(kind="stable")
                frame = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=crs)
                layers[name] = _normalise(frame.reset_index(drop=True), name, crs)
            obs = None
            with contextlib.suppress(Exception):
                obs = pyogrio.read_dataframe(p, layer="sensor_observations")
    finally:
        con.close()
    return Twin(layers=layers, meta=meta, observations=obs, path=None)


def checkout(path: str | Path, version: int, out: str | Path, *,
             overwrite: bool = False) -> Path:
    """Write a copy of the twin as it was at ``version`` (its history up to then included).

    Parameters
    ----------
    path : path-like
        The twin file.
    version : int
        A version from :func:`log`.
    out : path-like
        The new twin file (``.twin.gpkg``).
    overwrite : bool
        Replace ``out`` if it exists.

    Raises
    ------
    LayerError
        Unknown version, ``out`` is the twin itself or exists (without ``overwrite``).

    Examples
    --------
    >>> # checkout("city.twin.gpkg", 3, "city-v3.twin.gpkg")
    """
    p, o = Path(path), Path(out)
    if o.exists() and p.exists() and o.resolve() == p.resolve():
        msg = (f"{o}: checkout writes a new file, not the twin itself; to bring {p.name} back "
               "to a version use `twin layers revert`")
        raise LayerError(msg)
    if o.exists() and not overwrite:
        msg = f"{o}: the file exists; choose another path or pass --overwrite"
        raise LayerError(msg)
    twin = state_at(p, version)
    twin.extras["history"] = {"from": (str(p), int(version))}
    return write_twin(twin, o, overwrite=overwrite)


# --- log --------------------------------------------------------------------------------------

def _changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None
                    ) -> dict[str, list[Any]]:
    b, a = before or {}, after or {}
    return {k: [b.get(k), a.get(k)] for k in dict.fromkeys([*b, *a]) if b.get(k) != a.get(k)}


def _moved(before: Sequence[Any], after: Sequence[Any]) -> np.ndarray:
    """Hausdorff distance between geometry blobs (0 where equal)."""
    out = np.zeros(len(before))
    differ = np.array([x != y for x, y in zip(before, after, strict=True)], dtype=bool)
    if differ.any():
        idx = np.flatnonzero(differ).tolist()
        gb = decode_geometries([before[i] for i in idx])
        ga = decode_geometries([after[i] for i in idx])
        out[idx] = shapely.hausdorff_distance(gb, ga)
    return out


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
                 "deleted": 0, "fields": {}, "moved_m": None} for name in sorted(existed)]
    moved = _moved([r[11] for r in rows], [r[12] for r in rows])
    for r, m in zip(rows, moved, strict=True):
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
                    "moved_m": float(m) if op == "update" else None})
    return out


# --- diff -------------------------------------------------------------------------------------

class FeatureChange:
    """One feature's net change between two versions.

    ``change`` is ``added``, ``deleted`` or ``changed``; ``fields`` maps each field that differs
    to ``[before, after]`` (for added and deleted features: every field that has a value; read
    from the history when first asked for); ``moved_m`` is how far the geometry moved
    (Hausdorff distance, m; 0 if it did not; None if the feature was added or deleted).

    Examples
    --------
    >>> c = FeatureChange("roads", "r1", "changed", None, 0.0, raw='{"lanes": [1, 2]}')
    >>> c.fields, c.moved
    ({'lanes': [1, 2]}, False)
    """

    __slots__ = ("_fields", "_raw", "_reverse", "change", "geom_after", "geom_before", "id",
                 "layer", "moved_m")

    def __init__(self, layer: str, id: str, change: str,
                 fields: dict[str, list[Any]] | None, moved_m: float | None,
                 geom_before: bytes | None = None, geom_after: bytes | None = None, *,
                 raw: str | None = None, reverse: bool = False) -> None:
        self.layer, self.id, self.change, self.moved_m = layer, id, change, moved_m
        self.geom_before, self.geom_after = geom_before, geom_after
        self._fields, self._raw, self._reverse = fields, raw, reverse

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
                parsed = json.loads("[" + ",".join(c._raw or "{}" for c in todo) + "]")
                for c, fields in zip(todo, parsed, strict=True):
                    c._fields = ({k: v[::-1] for k, v in fields.items()} if c._reverse
                                 else fields)
        return self

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every change as a JSON-ready dict."""
        self.load_fields()
        with no_gc():
            return [c.to_dict() for c in self.changes]

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
    state after its last. A single update says everything in its ``changes``; otherwise the
    full images of both ends are fetched."""
    only, args = ("", [lo, hi]) if layer is None else (" AND layer = ?", [lo, hi, layer])
    first: dict[str, tuple[Any, ...]] = {}
    last: dict[str, tuple[Any, ...]] = {}
    for r in con.execute("SELECT layer, feature_id, seq, op, changes, after, geom_before, "
                         "geom_after FROM twin_history WHERE version > ? AND version <= ?"
                         f"{only}", args):
        key = f"{r[0]}\x00{r[1]}"
        if key not in first:
            first[key] = r
        last[key] = r
    out: list[FeatureChange] = []
    multi: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for key, f in first.items():
        x = last[key]
        if f is not x or f[3] != "update":
            multi.append((f, x))
            continue
        lo_geom, hi_geom = (x[7], f[6]) if reverse else (f[6], x[7])
        if f[4] != "{}" or lo_geom != hi_geom:     # fields parsed when asked for
            out.append(FeatureChange(f[0], str(f[1]), "changed", None, 0.0, lo_geom, hi_geom,
                                     raw=f[4], reverse=reverse))
    if multi:
        need = [f[2] for f, x in multi if f[3] != "insert"]
        need += [x[2] for f, x in multi if x[3] == "update" and f is not x]
        before = dict(con.execute("SELECT seq, before FROM twin_history WHERE seq IN "
                                  "(SELECT value FROM json_each(?))", (json.dumps(need),)))
        for f, x in multi:
            change = _net_change(f, x, before, reverse=reverse)
            if change is not None:
                out.append(change)
    out.sort(key=lambda c: c.layer)
    changed = [c for c in out if c.change == "changed"]
    moved = _moved([c.geom_before for c in changed], [c.geom_after for c in changed])
    for c, m in zip(changed, moved.tolist(), strict=True):
        c.moved_m = m
    return out


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
    """The change between the state before row ``f`` and after row ``x`` of one feature."""
    lo = json.loads(before[f[2]]) if f[3] != "insert" else None
    hi = _state(x[3], before.get(x[2]) if x is not f else before.get(f[2]), x[5], x[4])
    lo_geom = f[6] if f[3] != "insert" else None
    hi_geom = x[7] if x[3] != "delete" else None
    if reverse:
        lo, hi, lo_geom, hi_geom = hi, lo, hi_geom, lo_geom
    if lo is None and hi is None:
        return None
    if lo is None:
        return FeatureChange(f[0], str(f[1]), "added", _present(hi, 1), None, None, hi_geom)
    if hi is None:
        return FeatureChange(f[0], str(f[1]), "deleted", _present(lo, 0), None, lo_geom)
    fields = _changed_fields(lo, hi)
    if not fields and lo_geom == hi_geom:
        return None
    return FeatureChange(f[0], str(f[1]), "changed", fields, 0.0, lo_geom, hi_geom)
