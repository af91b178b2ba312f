"""Writing to a twin file: a plan of row changes, and a whole twin written back in place.

:func:`write` applies a plan (rows to delete, update, insert) to a layer table inside an open
version; edits, reverts and rewrites all write through it, so their history rows come from the
same triggers.

A whole twin written back over the file it was read from is one serialised, versioned commit.

``twin layers import``, ``twin layers validate --fix``, the utility-model and counts imports
read a twin, change it in memory and write it back with :func:`twin.layers.store.write_twin`.
The file is not replaced: write_twin stages the new content in a temporary GeoPackage, and
:func:`commit_rewrite` brings it into the twin file in place, as an edit does:

- under the same lock as edits (``BEGIN IMMEDIATE``; a second writer waits up to 60 s), in one
  SQLite transaction (all of it or nothing, also if the process dies);
- as a three-way merge against the version the twin was read at (``extras["read_version"]``,
  set by :func:`twin.layers.store.read_twin`): a feature the rewrite did not change keeps what
  other writers did to it since; a feature both changed differently is a conflict
  (:class:`EditConflict`, exit code 3, nothing written); everything else lands as one version
  of kind ``rewrite`` whose history rows list exactly the features added, changed or deleted;
- unchanged features are not written: a value equal within
  :data:`twin.layers.edit.FLOAT_REL_TOLERANCE`, a geometry of the same shape (a Polygon equals
  the single-part MultiPolygon of it, so a layer GDAL promoted to Multi is not "changed"), and
  a text a program wrote into a numeric field (which GDAL reads as 0) are kept as they are;
- new layers are created, layers the twin no longer has are removed, and ``twin_meta`` and
  the sensor observations are replaced (they are not versioned).

Examples
--------
>>> import os, tempfile
>>> from twin.layers.schemas import empty_layer
>>> from twin.layers.store import Twin, new_meta, read_twin, write_twin
>>> from twin.layers.history import log
>>> path = os.path.join(tempfile.mkdtemp(), "r.twin.gpkg")
>>> _ = write_twin(Twin({"zones": empty_layer("zones", "EPSG:3067")},
...                     new_meta("r", "EPSG:3067")), path)
>>> t = read_twin(path)
>>> t.layers["sensors"] = empty_layer("sensors", "EPSG:3067")
>>> _ = write_twin(t, path, overwrite=True)
>>> [(v["version"], v["kind"]) for v in log(path)], t.extras["commit"]["base"]
([(1, 'created'), (2, 'rewrite')], 1)
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin._errors import EditConflict, LayerError
from twin.layers import history as h
from twin.layers._features import MAX_LISTED, _promote
from twin.layers._gpkg import _NOW_SQL, _bounds, _q
from twin.layers.changes import GEOMETRY_TOLERANCE_M, same_geometry, same_value
from twin.layers.store import META_TABLE, OBSERVATIONS_TABLE, Twin

__all__ = ["commit_rewrite", "write"]

# GeoPackage tables that describe other tables, by table_name
_GPKG_META = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents",
              "gpkg_data_columns", "gpkg_metadata_reference")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def commit_rewrite(stage: Path, target: Path, twin: Twin) -> bool:
    """Bring a staged twin file into ``target`` in place, if ``target`` is the same twin.

    Registered (by :mod:`twin.layers.history`) with
    :func:`twin.layers.store.register_committer`. Returns False (so the file
    is replaced and starts a new history) when ``target`` is not a twin file or another twin
    (the twin was not read from it and was created at another time). Records what happened
    in ``twin.extras["commit"]``: ``version``, ``base``, ``stats`` and ``written``.

    Raises
    ------
    EditConflict
        A feature the rewrite changes was changed differently since the version the twin was
        read at; nothing is written.
    LayerError
        The file stays locked by another writer for longer than 60 s, or cannot be written.
    """
    if (twin.extras.get("history") or {}).get("from"):
        return False        # a checkout: a new file with the history up to its version
    try:
        con = h.connect(target)
    except LayerError:
        return False
    try:
        if not _same_lineage(con, twin, target):
            return False
        con.execute("ATTACH DATABASE ? AS stage", (stage.resolve().as_uri() + "?mode=ro",))
        try:
            with h.no_gc(), h.transaction(con):
                result = _commit(con, twin)
        finally:
            con.execute("DETACH DATABASE stage")
    finally:
        con.close()
    twin.extras["commit"] = result
    return True


def _same_lineage(con: sqlite3.Connection, twin: Twin, target: Path) -> bool:
    """Is ``target`` this twin (read from it, or, for a twin made in memory, created then)?"""
    if twin.path is not None:
        with contextlib.suppress(OSError):
            return Path(twin.path).resolve() == target.resolve()
        return False
    row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'created'").fetchone()
    return row is not None and json.loads(row[0]) == twin.meta.get("created")


def _commit(con: sqlite3.Connection, twin: Twin) -> dict[str, Any]:
    h.prepare(con)
    current = h.current_version(con)
    last = int(con.execute("SELECT coalesce(MAX(seq), 0) FROM twin_history").fetchone()[0])
    base, seq = twin.extras.get("read_version"), twin.extras.get("read_seq")
    if (not isinstance(base, int) or not isinstance(seq, int) or seq > last
            or not h.rows_from(con) <= base <= current):
        base, seq = current, last    # not read from this file by read_twin: nothing to merge
    else:   # outside edits read before they were sealed into a version count as read
        later = con.execute("SELECT MIN(version) FROM twin_history WHERE seq > ?",
                            (seq,)).fetchone()[0]
        base = max(base, current if later is None else int(later) - 1)
    new = h.layer_tables(con, "stage")
    _add_columns(con, new)
    main = h.layer_tables(con)
    plans: dict[str, tuple[_Plan, bool]] = {}
    conflicts: list[tuple[str, str, str, str]] = []
    for name in new:
        if name in main:
            plan, multi, clash = _plan_layer(con, main[name], new[name], seq)
            plans[name] = (plan, multi)
            conflicts += clash
    if conflicts:
        raise EditConflict(_conflict_message(con, twin, base, seq, current, sorted(conflicts)))
    version = h.open_version(con)
    for name, (plan, multi) in plans.items():
        if multi:
            _make_multi(con, main[name])
        if len(plan):
            write(con, main[name], plan)
    removed = [n for n in main if n not in new]
    for name in removed:
        con.execute(f"DELETE FROM main.{_q(name)}")     # the history lists every feature
        _drop_table(con, name)
    added = [n for n in new if n not in main]
    for name in added:
        _copy_table(con, name, new[name])
    _sync_meta(con)
    _sync_observations(con)
    opts = twin.extras.get("history") or {}
    stats = h.close_version(
        con, version, author=str(opts.get("author") or h.default_author()),
        message=str(opts.get("message") or "whole twin rewritten (e.g. twin layers import)"),
        kind="rewrite", base=base, keep_empty=bool(added or removed))
    # the twin in memory is now what the file holds: a later write merges from here
    twin.extras["read_version"] = version if stats is not None else current
    twin.extras["read_seq"] = int(con.execute("SELECT coalesce(MAX(seq), 0) FROM twin_history"
                                              ).fetchone()[0])
    return {"version": version if stats is not None else current, "base": base,
            "stats": stats or {}, "written": stats is not None}


_KEEP = object()     # an update that keeps the stored geometry


@dataclass
class _Plan:
    """Row changes to one layer: row keys to delete; (row key, attributes, geometry blob or
    ``_KEEP``) to update; (row key or None, attributes, blob) to insert."""

    deletes: list[int] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any], Any]] = field(default_factory=list)
    inserts: list[tuple[int | None, dict[str, Any], Any]] = field(default_factory=list)
    touched: dict[str, set[str]] = field(default_factory=dict)   # updated id -> fields set

    def __len__(self) -> int:
        return len(self.deletes) + len(self.updates) + len(self.inserts)


# --- writing a plan (edits, reverts, rewrites) -----------------------------------------------

def write(con: sqlite3.Connection, t: h.LayerTable, plan: _Plan) -> None:
    """Inside a write transaction with an open version: apply a plan to a layer table."""
    try:
        _write(con, t, plan)
    except sqlite3.DatabaseError as err:
        msg = f"layer {t.name}: the change cannot be stored ({err}); nothing was written"
        raise LayerError(msg) from err


def _write(con: sqlite3.Connection, t: h.LayerTable, plan: _Plan) -> None:
    tn, pk, g = _q(t.name), _q(t.pk), _q(t.geom)
    cols = list(t.columns)
    if plan.deletes:
        con.executemany(f"DELETE FROM {tn} WHERE {pk} = ?", [(f,) for f in plan.deletes])
    sets = ", ".join(f"{_q(c)} = ?" for c in cols)
    moved = [(*[r.get(c) for c in cols], b, f) for f, r, b in plan.updates if b is not _KEEP]
    kept = [(*[r.get(c) for c in cols], f) for f, r, b in plan.updates if b is _KEEP]
    if moved:
        _update_geometries(con, t, moved, f"UPDATE {tn} SET {sets}, {g} = ? WHERE {pk} = ?")
    if kept:
        con.executemany(f"UPDATE {tn} SET {sets} WHERE {pk} = ?", kept)
    if plan.inserts:
        names = ", ".join([pk, *[_q(c) for c in cols], g])
        marks = ", ".join(["?"] * (len(cols) + 2))
        con.executemany(f"INSERT INTO {tn} ({names}) VALUES ({marks})",
                        [(f, *[r.get(c) for c in cols], b) for f, r, b in plan.inserts])
    blobs = [b for _, _, b in plan.updates if b is not _KEEP] + [b for _, _, b in plan.inserts]
    env = [_bounds(bytes(b)) for b in blobs if b is not None]
    env = [e for e in env if e is not None]
    con.execute(f"UPDATE gpkg_contents SET last_change = {_NOW_SQL} WHERE table_name = ?",
                (t.name,))
    if env:
        arr = np.array(env)
        con.execute("UPDATE gpkg_contents SET min_x = min(coalesce(min_x, :a), :a), "
                    "max_x = max(coalesce(max_x, :b), :b), min_y = min(coalesce(min_y, :c), :c), "
                    "max_y = max(coalesce(max_y, :d), :d) WHERE table_name = :t",
                    {"a": arr[:, 0].min(), "b": arr[:, 1].max(), "c": arr[:, 2].min(),
                     "d": arr[:, 3].max(), "t": t.name})


def _update_geometries(con: sqlite3.Connection, t: h.LayerTable, rows: list[tuple[Any, ...]],
                       sql: str) -> None:
    """Update rows whose geometry changes, keeping the GeoPackage R-tree in step in bulk.

    GDAL's R-tree update triggers call ``ST_*`` functions (here in Python) about nine times a
    row; for large edits they are set aside inside the transaction, the R-tree is updated with
    the new boxes directly, and the triggers are put back before the transaction ends (all of it
    rolls back together if anything fails)."""
    rtree = f"rtree_{t.name}_{t.geom}"
    triggers = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND "
        "name LIKE ? ESCAPE '!'", (t.name, rtree.replace("_", "!_") + "!_update%")).fetchall()
    if len(rows) < 100 or not triggers:
        con.executemany(sql, rows)
        return
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {_q(name)}")
    con.executemany(sql, rows)
    boxes = [(f, *b) if (b := _bounds(blob)) is not None else (f, None, None, None, None)
             for *_, blob, f in rows]
    con.executemany(f"INSERT OR REPLACE INTO {_q(rtree)} VALUES (?, ?, ?, ?, ?)",
                    [b for b in boxes if b[1] is not None])
    con.executemany(f"DELETE FROM {_q(rtree)} WHERE id = ?",
                    [(b[0],) for b in boxes if b[1] is None])
    for _, trigger_sql in triggers:
        con.execute(trigger_sql)


# --- the three-way plan of one layer -----------------------------------------------------------

def _add_columns(con: sqlite3.Connection, new: dict[str, h.LayerTable]) -> None:
    """Columns the staged layers have and the file's lack (a newer dictionary) are added."""
    main = h.layer_tables(con)
    grown = False
    for name, n in new.items():
        if name not in main:
            continue
        for c, decl in zip(n.columns, n.types, strict=True):
            if c not in main[name].columns:
                con.execute(f"ALTER TABLE main.{_q(name)} ADD COLUMN {_q(c)} {decl}")
                grown = True
    if grown:
        h._install_triggers(con, h.layer_tables(con))


def _numeric(decl: str) -> bool:
    return any(k in decl for k in ("INT", "REAL", "FLOA", "DOUB", "NUM", "BOOL"))


def _as_read(text: str, decl: str) -> float:
    """What SQLite (so GDAL and QGIS) reads from a text stored in a numeric column."""
    m = _NUMBER.match(text)
    value = float(m.group(0)) if m else 0.0
    return float(int(value)) if "INT" in decl or "BOOL" in decl else value


def _changed_columns(new: dict[str, Any], old: dict[str, Any], columns: tuple[str, ...],
                     types: dict[str, str]) -> list[str]:
    """Columns whose staged value differs from the stored one. A text stored in a numeric
    column and staged as what GDAL reads from it (0 for 'many') is not a change."""
    out = []
    for c in columns:
        a, b = new.get(c), old.get(c)
        if (a == b and type(a) is type(b)) or same_value(a, b):
            continue
        if (isinstance(b, str) and _numeric(types[c]) and isinstance(a, int | float)
                and a == _as_read(b, types[c])):
            continue
        out.append(c)
    return out


def _candidates(con: sqlite3.Connection, t: h.LayerTable, n: h.LayerTable
                ) -> list[tuple[Any, ...]]:
    """Rows of the layer (``o``) and of the staged layer (``n``), paired by id (the k-th row
    with an id with the k-th, in row order), where they differ at all: (row key, id, staged?,
    stored?, staged image, stored image, staged geometry, stored geometry)."""
    common = tuple(c for c in n.columns if c in t.columns)
    types = dict(zip(t.columns, t.types, strict=True))
    view = replace(t, columns=common, types=tuple(types[c] for c in common))
    for name, schema, table in (("twin_rw_o", "main", t), ("twin_rw_n", "stage", n)):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT {_q(table.pk)} AS k, "
                    "coalesce(\"id\", x'00') AS i, ROW_NUMBER() OVER (PARTITION BY \"id\" ORDER "
                    f"BY {_q(table.pk)}) AS r FROM {schema}.{_q(table.name)}")
        con.execute(f"CREATE INDEX temp.{name}_ir ON {name} (i, r)")
    con.execute("DROP TABLE IF EXISTS temp.twin_rw_p")
    con.execute("CREATE TEMP TABLE twin_rw_p AS SELECT n.k AS nk, o.k AS ok FROM twin_rw_n n "
                "LEFT JOIN twin_rw_o o ON o.i = n.i AND o.r = n.r UNION ALL SELECT NULL, o.k "
                "FROM twin_rw_o o WHERE NOT EXISTS (SELECT 1 FROM twin_rw_n n WHERE n.i = o.i "
                "AND n.r = o.r)")
    differs = " OR ".join([f"n.{_q(c)} IS NOT o.{_q(c)}" for c in common]
                          + [f"n.{_q(n.geom)} IS NOT o.{_q(t.geom)}"])
    try:
        return con.execute(
            f"SELECT p.ok, coalesce(n.\"id\", o.\"id\"), p.nk IS NOT NULL, p.ok IS NOT NULL, "
            f"CASE WHEN p.nk IS NOT NULL THEN {h.image_sql(view, 'n')} END, "
            f"CASE WHEN p.ok IS NOT NULL THEN {h.image_sql(t, 'o')} END, "
            f"n.{_q(n.geom)}, o.{_q(t.geom)} FROM twin_rw_p p "
            f"LEFT JOIN stage.{_q(n.name)} n ON n.{_q(n.pk)} = p.nk "
            f"LEFT JOIN main.{_q(t.name)} o ON o.{_q(t.pk)} = p.ok "
            f"WHERE p.nk IS NULL OR p.ok IS NULL OR {differs} ORDER BY p.ok, p.nk").fetchall()
    finally:
        for name in ("twin_rw_o", "twin_rw_n", "twin_rw_p"):
            con.execute(f"DROP TABLE temp.{name}")


def _plan_layer(con: sqlite3.Connection, t: h.LayerTable, n: h.LayerTable, seq: int
                ) -> tuple[_Plan, bool, list[tuple[str, str, str, str]]]:
    """What the rewrite changes in one layer, merged with what others changed after ``seq``:
    the plan, whether the layer must become Multi, and the conflicts (layer, id, what others
    did, what the rewrite would do)."""
    rows = _candidates(con, t, n)
    plan = _Plan()
    if not rows:
        return plan, False, []
    common = tuple(c for c in n.columns if c in t.columns)
    types = dict(zip(t.columns, t.types, strict=True))
    new_img: list[dict[str, Any]] = [json.loads(r[4]) if r[4] else {} for r in rows]
    old_img: list[dict[str, Any]] = [json.loads(r[5]) if r[5] else {} for r in rows]
    new_geom = h.decode_geometries([r[6] for r in rows])
    old_geom = h.decode_geometries([r[7] for r in rows])
    moved = ~same_geometry(new_geom, old_geom, tolerance=GEOMETRY_TOLERANCE_M)
    cols = [_changed_columns(a, b, common, types) if r[2] and r[3] else []
            for a, b, r in zip(new_img, old_img, rows, strict=True)]
    todo = [i for i, r in enumerate(rows) if not (r[2] and r[3]) or cols[i] or moved[i]]
    base_of = _base_states(con, t, seq, [rows[i] for i in todo],
                           [old_img[i] for i in todo], [rows[i][7] for i in todo])
    conflicts: list[tuple[str, str, str, str]] = []
    fit, multi = _fit_geometries(new_geom, t)
    blobs = h.encode_geometries(fit, t.srs_id)
    grow = False
    for i, state in zip(todo, base_of, strict=True):
        okey, fid, has_new, has_old = rows[i][:4]
        if state is not _NOW:      # others changed the row since base: theirs unless ours too
            if _same_state(new_img[i] if has_new else None, new_geom[i], state, common, types):
                continue
            mine, shape = cols[i], bool(moved[i])
            if has_new and state is not None:      # what the rewrite changes, from base
                mine = _changed_columns(new_img[i], state[0], common, types)
                shape = not same_geometry([new_geom[i]], h.decode_geometries([state[1]]),
                                          tolerance=GEOMETRY_TOLERANCE_M)[0]
            theirs = "added" if state is None else "changed" if has_old else "deleted"
            conflicts.append((t.name, str(fid), theirs,
                              _what(has_new, state is not None, mine, shape)))
            continue
        if has_new and (moved[i] or not has_old):
            grow = grow or (multi and shapely.get_type_id(fit[i]) >= 4)
        if has_new and has_old:
            row = dict(old_img[i])
            row.update({c: new_img[i][c] for c in cols[i]})
            plan.updates.append((int(okey), row, blobs[i] if moved[i] else _KEEP))
        elif has_new:
            plan.inserts.append((None, {c: new_img[i].get(c) for c in t.columns}, blobs[i]))
        else:
            plan.deletes.append(int(okey))
    return plan, grow, conflicts


_NOW = object()     # the row is as it was at the base version


def _base_states(con: sqlite3.Connection, t: h.LayerTable, seq: int,
                 rows: list[tuple[Any, ...]], old_img: list[dict[str, Any]],
                 old_blob: list[bytes | None]) -> list[Any]:
    """Per candidate row: ``_NOW`` if the layer has it as it was when the twin was read (the
    history's last change then was ``seq``), else its state then (None if it did not exist;
    else ``(attributes, geometry)``)."""
    def first(key: str, values: list[Any]) -> dict[Any, tuple[Any, ...]]:
        found = con.execute(
            f"SELECT h.{key}, h.fid, h.op, h.before, h.geom_before FROM twin_history h JOIN "
            f"(SELECT MIN(seq) AS s FROM twin_history WHERE layer = ? AND seq > ? AND {key} IN "
            f"(SELECT value FROM json_each(?)) GROUP BY {key}) f ON h.seq = f.s",
            (t.name, seq, json.dumps(values))).fetchall()
        return {r[0]: r for r in found}

    by_row = first("fid", [int(r[0]) for r in rows if r[3]])
    by_id = first("feature_id", [str(r[1]) for r in rows if not r[3]])
    out: list[Any] = []
    for r, img, blob in zip(rows, old_img, old_blob, strict=True):
        change = by_row.get(int(r[0])) if r[3] else by_id.get(str(r[1]))
        if change is None:
            out.append(_NOW)
        elif change[2] == "insert":
            out.append(None if r[3] else _NOW)     # added since (or added and deleted again)
        elif r[3] and json.loads(change[3]) == img and change[4] == blob:
            out.append(_NOW)                         # changed and changed back
        else:
            out.append((json.loads(change[3]), change[4]))
    return out


def _same_state(img: dict[str, Any] | None, geom: Any, state: Any, common: tuple[str, ...],
                types: dict[str, str]) -> bool:
    """Is the staged row (None: absent) the row as it was at the base version?"""
    if img is None or state is None:
        return img is None and state is None
    then, blob = state
    return not _changed_columns(img, then, common, types) and bool(same_geometry(
        [geom], h.decode_geometries([blob]), tolerance=GEOMETRY_TOLERANCE_M)[0])


def _what(has_new: bool, has_old: bool, cols: list[str], moved: bool) -> str:
    if not has_old:
        return "add it again"
    if not has_new:
        return "delete it"
    parts = [", ".join(cols)] if cols else []
    return "change " + " and ".join(parts + (["its geometry"] if moved else []))


def _fit_geometries(geoms: np.ndarray, t: h.LayerTable) -> tuple[np.ndarray, bool]:
    """Staged geometries in the layer's declared type: promoted to Multi in a Multi layer,
    single-part Multi unwrapped in a single layer; True if a multi-part geometry remains
    (the layer must become Multi)."""
    if t.geometry_type.startswith("MULTI"):
        return _promote(geoms, t), False
    out = np.array(geoms, dtype=object)
    present = ~shapely.is_missing(out)
    kind = np.full(len(out), -1)
    kind[present] = shapely.get_type_id(out[present])
    multi = np.isin(kind, (4, 5, 6))
    one = multi.copy()
    one[multi] = shapely.get_num_geometries(out[multi]) == 1
    if one.any():
        out[one] = shapely.get_geometry(out[one], 0)
    return out, bool((multi & ~one).any()) and t.geometry_type != "GEOMETRY"


def _make_multi(con: sqlite3.Connection, t: h.LayerTable) -> None:
    """Declare a layer's geometry Multi (its column type too: GDAL compares them) by the
    rebuild SQLite documents for changing a column: a new table with the new declaration, the
    rows copied with their keys, the old one dropped, the new one renamed, and the triggers,
    indexes and the row-key counter put back. The R-tree (keyed by row) stays as it is."""
    multi = "MULTI" + t.geometry_type
    sql = con.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?",
                      (t.name,)).fetchone()[0]
    head = f"CREATE TABLE {_q(t.name)}"
    new_sql, found = re.subn(rf"({re.escape(_q(t.geom))}\s+){t.geometry_type}\b",
                             rf"\g<1>{multi}", sql, count=1, flags=re.IGNORECASE)
    if found == 1 and sql.startswith(head):
        tmp = f"{t.name}__twin_multi"
        objects = con.execute("SELECT sql FROM main.sqlite_master WHERE tbl_name = ? AND type "
                              "IN ('trigger', 'index') AND sql IS NOT NULL", (t.name,)).fetchall()
        counter = con.execute("SELECT seq FROM main.sqlite_sequence WHERE name = ?",
                              (t.name,)).fetchone()
        con.execute(f"CREATE TABLE {_q(tmp)}" + new_sql[len(head):])
        con.execute(f"INSERT INTO main.{_q(tmp)} SELECT * FROM main.{_q(t.name)}")
        con.execute(f"DROP TABLE main.{_q(t.name)}")
        con.execute(f"ALTER TABLE main.{_q(tmp)} RENAME TO {_q(t.name)}")
        for (obj,) in objects:
            con.execute(obj)
        if counter is not None:
            con.execute("UPDATE main.sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
                        (counter[0], t.name))
    con.execute("UPDATE main.gpkg_geometry_columns SET geometry_type_name = ? WHERE "
                "table_name = ?", (multi, t.name))


def _conflict_message(con: sqlite3.Connection, twin: Twin, base: int, seq: int,
                      current: int,
                      conflicts: list[tuple[str, str, str, str]]) -> str:
    what = str((twin.extras.get("history") or {}).get("message") or "the rewrite")
    lines = [f"{what} refused: {len(conflicts)} feature(s) it changes were changed "
             f"differently after version {base}, which it was read at (the twin is at "
             f"version {current}); nothing was written"]
    for layer, fid, theirs, mine in conflicts[:MAX_LISTED]:
        who = [f"version {v} by {a} ({m!r})" for v, a, m in con.execute(
            "SELECT DISTINCT h.version, v.author, v.message FROM twin_history h JOIN "
            "twin_versions v ON v.version = h.version WHERE h.layer = ? AND h.feature_id = ? "
            "AND h.seq > ? ORDER BY h.version", (layer, fid, seq))]
        lines.append(f"  {layer} {fid}: {theirs} in {', '.join(who) or 'a later version'}; "
                     f"{what} would {mine}")
    if len(conflicts) > MAX_LISTED:
        lines.append(f"  ... and {len(conflicts) - MAX_LISTED} more")
    lines.append("Run the command again: it reads the twin as it is now, so it works on "
                 "their changes (check that it should still make its own).")
    return "\n".join(lines)


# --- tables that are not merged: new and removed layers, metadata, observations ----------------

def _exists(con: sqlite3.Connection, schema: str, name: str) -> bool:
    return con.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND "
                       "name = ?", (name,)).fetchone() is not None


def _columns(con: sqlite3.Connection, schema: str, name: str) -> list[tuple[str, str]]:
    return [(r[1], str(r[2])) for r in con.execute(f"PRAGMA {schema}.table_info({_q(name)})")]


def _copy_table(con: sqlite3.Connection, name: str, layer: h.LayerTable | None = None) -> None:
    """Create a staged table in the twin file as GDAL made it (GeoPackage metadata, R-tree,
    triggers) and copy its rows; the rows of a layer are recorded in the history."""
    objects = con.execute("SELECT type, name, sql FROM stage.sqlite_master WHERE tbl_name = ? "
                          "AND sql IS NOT NULL", (name,)).fetchall()
    con.execute(next(sql for kind, n, sql in objects if kind == "table" and n == name))
    rtree = f"rtree_{name}_{layer.geom}" if layer is not None else None
    if rtree is not None and _exists(con, "stage", rtree):
        con.execute(con.execute("SELECT sql FROM stage.sqlite_master WHERE name = ?",
                                (rtree,)).fetchone()[0])
    con.execute("INSERT OR IGNORE INTO main.gpkg_spatial_ref_sys SELECT * FROM "
                "stage.gpkg_spatial_ref_sys WHERE srs_id IN (SELECT srs_id FROM "
                "stage.gpkg_contents WHERE table_name = ?)", (name,))
    for meta in _GPKG_META:
        if not _exists(con, "stage", meta):
            continue
        if not _exists(con, "main", meta):
            con.execute(con.execute("SELECT sql FROM stage.sqlite_master WHERE name = ?",
                                    (meta,)).fetchone()[0])
        cols = ", ".join(_q(c) for c, _ in _columns(con, "stage", meta)
                         if c in dict(_columns(con, "main", meta)))
        con.execute(f"INSERT OR REPLACE INTO main.{meta} ({cols}) SELECT {cols} FROM "
                    f"stage.{meta} WHERE table_name = ?", (name,))
    if layer is not None:
        h._install_triggers(con, {k: v for k, v in h.layer_tables(con).items() if k == name})
    con.execute(f"INSERT INTO main.{_q(name)} SELECT * FROM stage.{_q(name)}")
    if rtree is not None and _exists(con, "stage", rtree):
        con.execute(f"INSERT INTO main.{_q(rtree)} SELECT * FROM stage.{_q(rtree)}")
    for kind, _, sql in objects:
        if kind in ("trigger", "index"):
            con.execute(sql)


def _drop_table(con: sqlite3.Connection, name: str) -> None:
    """Remove a table, its R-tree and its GeoPackage metadata from the twin file."""
    for (rtree,) in con.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' AND "
                                "name LIKE ? ESCAPE '!' AND sql LIKE 'CREATE VIRTUAL TABLE%'",
                                ("rtree!_" + name.replace("_", "!_") + "!_%",)).fetchall():
        con.execute(f"DROP TABLE main.{_q(rtree)}")
    con.execute(f"DROP TABLE main.{_q(name)}")
    for meta in _GPKG_META:
        if _exists(con, "main", meta):
            con.execute(f"DELETE FROM main.{meta} WHERE table_name = ?", (name,))


def _sync_meta(con: sqlite3.Connection) -> None:
    con.execute(f"DELETE FROM main.{META_TABLE}")
    con.execute(f"INSERT INTO main.{META_TABLE} (key, value) SELECT key, value "
                f"FROM stage.{META_TABLE}")


def _sync_observations(con: sqlite3.Connection) -> None:
    name = OBSERVATIONS_TABLE
    have, staged = _exists(con, "main", name), _exists(con, "stage", name)
    if have and staged and _columns(con, "main", name) == _columns(con, "stage", name):
        con.execute(f"DELETE FROM main.{name}")
        con.execute(f"INSERT INTO main.{name} SELECT * FROM stage.{name}")
        return
    if have:
        _drop_table(con, name)
    if staged:
        _copy_table(con, name)
