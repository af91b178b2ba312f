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

This module keeps the tables, the versions, the finalizer that installs the history, ``state_at``
and ``checkout``; :mod:`twin.layers.diff` reads the history (``log``, ``diff``) and
:mod:`twin.layers._gpkg` holds the GeoPackage blob codec and the trigger SQL. Their public names
are importable from here too.

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
import getpass
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from twin._errors import LayerError
from twin.layers._gpkg import (
    LayerTable,
    _q,
    _trigger_sql,
    decode_geometries,
    encode_geometries,
    gpkg_functions,
)
from twin.layers._gpkg import image_sql as image_sql  # re-exported: twin.layers.edit uses it
from twin.layers.changes import Diff, FeatureChange, diff, log
from twin.layers.changes import no_gc as no_gc  # re-exported: twin.commands.edit imports it
from twin.layers.schemas import coerce_fields, conform, empty_layer, layer_spec, load_dictionary
from twin.layers.store import (
    INTERNAL_TABLES,
    META_TABLE,
    Twin,
    register_committer,
    register_finalizer,
    write_twin,
)

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


# --- connections and layer tables -------------------------------------------------------------

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


def rows_from(con: sqlite3.Connection, schema: str = "main") -> int:
    """The first version from which the history's row keys (``fid``) name the rows of the
    layers as they are now: rebuilding a version from then on follows rows (exact also when
    ids repeat); an older version is rebuilt by feature id. Row keys change when a layer is
    replaced outside twin, and did with whole-file rewrites by older versions of twin."""
    row = con.execute(f"SELECT value FROM {schema}.twin_state WHERE key = 'rows_from'"
                      ).fetchone()
    if row is not None:
        return int(row[0])
    legacy = con.execute(
        f"SELECT MAX(version) FROM {schema}.twin_versions WHERE kind = 'rewrite' OR "
        "(kind = 'external' AND message LIKE 'history tracking installed%')").fetchone()[0]
    return int(legacy or 1)


def _set_rows_from(con: sqlite3.Connection, version: int) -> None:
    con.execute("INSERT OR REPLACE INTO twin_state (key, value) VALUES ('rows_from', ?)",
                (int(version),))


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


def _duplicates(con: sqlite3.Connection, version: int) -> list[str]:
    """Ids that more than one feature of a layer has, among the features a version touched."""
    tables = layer_tables(con)
    out = []
    for (name,) in con.execute("SELECT DISTINCT layer FROM twin_history WHERE version = ?",
                               (version,)).fetchall():
        if name not in tables:
            continue
        for fid, n in con.execute(
                f'SELECT "id", COUNT(*) FROM {_q(name)} WHERE "id" IN (SELECT feature_id FROM '
                'twin_history WHERE version = ? AND layer = ?) GROUP BY "id" HAVING COUNT(*) > 1',
                (version, name)).fetchall():
            out.append(f"{name} {fid!r} ({n} features)")
    return out


def _seal_external(con: sqlite3.Connection) -> int | None:
    if con.execute("SELECT 1 FROM twin_history WHERE version IS NULL LIMIT 1").fetchone() is None:
        return None
    v = current_version(con) + 1
    last = con.execute("SELECT MAX(time) FROM twin_history WHERE version IS NULL").fetchone()[0]
    con.execute("UPDATE twin_history SET version = ? WHERE version IS NULL", (v,))
    message = ("edited outside twin (QGIS, GDAL, sqlite3, …); recorded by the history "
               "triggers")
    dup = _duplicates(con, v)
    if dup:
        message += (f"; WARNING: id used by more than one feature: {', '.join(dup[:10])}"
                    f"{' …' if len(dup) > 10 else ''} (give each feature its own id; "
                    "`twin layers validate` lists them)")
    close_version(con, v, author=OUTSIDE_AUTHOR, kind="external", keep_empty=True,
                  message=message, time=str(last)[:19] + "+00:00" if last else None)
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
        _set_rows_from(con, 1)
        return
    _set_rows_from(con, rows_from(con))       # an older file: from its last whole rewrite
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
        if missing:
            _set_rows_from(con, v)


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

def _copy_history(con: sqlite3.Connection, upto: int) -> None:
    cond = f" WHERE version <= {int(upto)}"
    con.execute(f"INSERT INTO twin_versions SELECT version, time, author, message, kind, base, "
                f"stats, layers FROM src.twin_versions{cond}")
    con.execute(f"INSERT INTO twin_history ({_HISTORY_COLS}) SELECT {_HISTORY_COLS} "
                f"FROM src.twin_history{cond}")


def install_history(tmp: Path, twin: Twin) -> None:
    """Finalizer of :func:`twin.layers.store.write_twin`: add the history to a new twin file.

    A new twin starts at version 1 (``created``). ``twin.extras["history"]`` may give
    ``author``, ``message`` and ``from`` = ``(path, version)`` (checkout: copy that file's
    history up to that version; the rows keep their row keys, so the copy's history follows
    its rows). A twin written over the file it was read from is not written anew: see
    :func:`twin.layers._rewrite.commit_rewrite`.
    """
    opts = dict(twin.extras.get("history") or {})
    author = str(opts.get("author") or default_author())
    source: Path | None = None
    upto = 0
    if opts.get("from"):
        source, upto = Path(opts["from"][0]), int(opts["from"][1])
    con = sqlite3.connect(tmp.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        gpkg_functions(con)
        if source is not None:
            con.execute("ATTACH DATABASE ? AS src", (source.resolve().as_uri() + "?mode=ro",))
        with transaction(con, "DEFERRED"):
            for ddl in _DDL:
                con.execute(ddl)
            con.execute("INSERT OR REPLACE INTO twin_state (key, value) VALUES ('format', ?)",
                        (HISTORY_FORMAT,))
            tables = layer_tables(con)
            if source is None:
                _record_created(con, tables, author=author,
                                message=str(opts.get("message") or "created"))
                _set_rows_from(con, 1)
            else:
                _copy_history(con, upto)
                _set_rows_from(con, min(rows_from(con, "src"), upto))
            _install_triggers(con, tables)
        if source is not None:
            con.execute("DETACH DATABASE src")
    finally:
        con.close()


register_finalizer(install_history)


def _commit_rewrite(stage: Path, target: Path, twin: Twin) -> bool:
    from twin.layers._rewrite import commit_rewrite

    return commit_rewrite(stage, target, twin)


register_committer(_commit_rewrite)


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


def first_after_rows(con: sqlite3.Connection, layer: str, version: int,
                     rows: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
    """Like :func:`first_after`, per row (``fid``) instead of per feature id: exact also when
    an id is used twice or changed. Valid for versions from :func:`rows_from` on."""
    args: list[Any] = [layer, version]
    only = ""
    if rows is not None:
        only = " AND fid IN (SELECT value FROM json_each(?))"
        args.append(json.dumps([int(r) for r in rows]))
    return con.execute(
        "SELECT h.feature_id, h.fid, h.op, h.before, h.geom_before, h.seq FROM twin_history h "
        "JOIN (SELECT MIN(seq) AS s FROM twin_history WHERE layer = ? AND version > ?"
        f"{only} GROUP BY fid) f ON h.seq = f.s", args).fetchall()


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
    return _state_at(Path(path), version, keep_rows=False)


def _state_at(p: Path, version: int, *, keep_rows: bool) -> Twin:
    """:func:`state_at`; with ``keep_rows`` each layer has a ``fid`` column (the row keys of
    that version, which GDAL writes as the new file's row keys)."""
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
            by_row = v >= rows_from(con)
            layers = {name: _layer_at(con, p, name, v, crs, name in tables, by_row=by_row,
                                      keep_rows=keep_rows) for name in then}
            obs = None
            with contextlib.suppress(Exception):
                obs = pyogrio.read_dataframe(p, layer="sensor_observations")
    finally:
        con.close()
    return Twin(layers=layers, meta=meta, observations=obs, path=None)


def _layer_at(con: sqlite3.Connection, p: Path, name: str, v: int, crs: Any, present: bool,
              *, by_row: bool, keep_rows: bool) -> gpd.GeoDataFrame:
    """One layer at version ``v``: the rows untouched since, and the ``before`` image of the
    first later change of every other row (per row key, or per feature id for a version
    older than :func:`rows_from`)."""
    cur = _read_current(p, name, crs) if present else empty_layer(name, crs)
    if by_row:
        rows = first_after_rows(con, name, v)
        keep = cur[~cur.index.isin([r[1] for r in rows])]
    else:
        rows = first_after(con, name, v)
        keep = cur[~cur["id"].astype(str).isin({r[0] for r in rows})]
    was = [r for r in rows if r[2] != "insert"]
    old = frame_from_images([r[3] for r in was], [r[4] for r in was], [r[1] for r in was],
                            name, crs)
    parts = [f for f in (keep, old) if len(f)]
    frame = (pd.concat(parts) if parts else keep).sort_index(kind="stable")
    frame = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=crs)
    rowkeys = frame.index.to_numpy()
    out = _normalise(frame.reset_index(drop=True), name, crs)
    if keep_rows and by_row and pd.Index(rowkeys).is_unique:
        out["fid"] = rowkeys.astype("int64")
    return out


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
    twin = _state_at(p, version, keep_rows=True)
    twin.extras["history"] = {"from": (str(p), int(version))}
    return write_twin(twin, o, overwrite=overwrite)
