"""Editing a layer of a twin file: one edit is one version, in one SQLite transaction.

An edit adds, updates and deletes features of one layer, addressed by their stable ``id``. It is
checked before anything is written: the ids must exist (or, for additions, be new), the fields
must be fields of the layer, the result must pass the data dictionary's rules, and no feature it
touches may have changed after the version the edit was based on (else :class:`EditConflict`,
showing both sides). Then the changes, the history rows (written by the layer's triggers) and
the new version land in one transaction: all of it or none of it, even if the process dies.
Writers are serialised by SQLite's lock (``BEGIN IMMEDIATE``; a second writer waits).

Updates are partial: properties a feature gives are set (``null`` clears a value), the others
keep their values. A feature without geometry keeps its geometry; a geometry of the same type,
parts and vertex count lying within :data:`GEOMETRY_TOLERANCE_M` (5 cm) of the stored one counts
as unchanged (a GeoJSON export rounds coordinates to 7 decimals of a degree, up to 8 mm after
reprojection; ring start and orientation do not matter, a Polygon equals the single-part
MultiPolygon of it). A number within a relative :data:`FLOAT_REL_TOLERANCE` of the stored one
is unchanged (text formats round the last digits), and so is a JSON object or list equal to the
JSON text stored (GeoJSON writes JSON fields as objects). So an exported layer given back
unchanged changes nothing. When a user sets a field that has a ``*_source`` companion and does
not set the companion, it becomes ``user``.

Examples
--------
>>> import os, tempfile, shapely
>>> import geopandas as gpd
>>> from twin.layers.schemas import coerce_fields, layer_spec
>>> from twin.layers.store import Twin, new_meta, write_twin
>>> s = gpd.GeoDataFrame({"id": ["s1"], "kind": ["camera"], "range_m": [40.0],
...                       "range_m_source": ["osm"], "source": ["osm"]},
...                      geometry=[shapely.Point(0, 0)], crs="EPSG:3067")
>>> s = gpd.GeoDataFrame(coerce_fields(s, layer_spec("sensors"))[0], crs="EPSG:3067")
>>> path = os.path.join(tempfile.mkdtemp(), "e.twin.gpkg")
>>> _ = write_twin(Twin({"sensors": s}, new_meta("e", "EPSG:3067")), path)
>>> r = edit_layer(path, "sensors", update={"type": "Feature", "geometry": None,
...                "properties": {"id": "s1", "range_m": 60}}, author="ana", message="longer")
>>> r.version, r.changed
(2, 1)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin._errors import EditConflict, Finding, LayerError, ValidationError
from twin.layers import history as h
from twin.layers._features import (
    MAX_LISTED,
    _check_columns,
    _Features,
    _parse_ids,
    _promote,
    _py,
    _read,
    _typed,
    read_features,
)
from twin.layers._gpkg import _q
from twin.layers._rewrite import _KEEP, _Plan, write
from twin.layers.changes import (
    FLOAT_REL_TOLERANCE,
    GEOMETRY_TOLERANCE_M,
    _changed_fields,
    _json_text,
    same_geometry,
    same_value,
)
from twin.layers.schemas import LayerSpec, layer_spec, load_dictionary

__all__ = ["FLOAT_REL_TOLERANCE", "GEOMETRY_TOLERANCE_M", "EditResult", "edit_layer",
           "read_features", "revert", "same_value"]


@dataclass(frozen=True)
class EditResult:
    """What an edit or revert wrote.

    Attributes
    ----------
    version : int
        The new version (the current one when nothing had to change).
    stats : dict
        Per layer: features ``added``, ``changed``, ``deleted``.
    base_version : int
        The version the edit was based on (for a revert: the version restored).
    written : bool
        False when every feature already had the requested values (no version made).
    """

    version: int
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    base_version: int | None = None
    written: bool = True

    @property
    def added(self) -> int:
        """Features added."""
        return sum(s["added"] for s in self.stats.values())

    @property
    def changed(self) -> int:
        """Features changed."""
        return sum(s["changed"] for s in self.stats.values())

    @property
    def deleted(self) -> int:
        """Features deleted."""
        return sum(s["deleted"] for s in self.stats.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"version": self.version, "base_version": self.base_version,
                "written": self.written, "added": self.added, "changed": self.changed,
                "deleted": self.deleted, "layers": self.stats}


# --- the edit ---------------------------------------------------------------------------------

def _text(value: Any, what: str, hint: str) -> str:
    if value is None or not str(value).strip():
        msg = f"an edit needs {what}: {hint}"
        raise LayerError(msg)
    return str(value).strip()


def _current(con: sqlite3.Connection, t: h.LayerTable, ids: Sequence[str]
             ) -> dict[str, tuple[int, str, bytes | None]]:
    rows = con.execute(
        f"SELECT \"id\", {_q(t.pk)}, {h.image_sql(t, 'x')}, {_q(t.geom)} FROM {_q(t.name)} x"
        " WHERE \"id\" IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),)).fetchall()
    return {str(r[0]): (int(r[1]), r[2], r[3]) for r in rows}


def edit_layer(path: str | Path, layer: str, *, add: Any = None, update: Any = None,
               delete: str | Iterable[str] | None = None, author: str | None,
               message: str | None, base_version: int | None = None, crs: Any = None,
               timeout: float = h.LOCK_TIMEOUT_S) -> EditResult:
    """Add, update and delete features of one layer as one new version of the twin.

    Parameters
    ----------
    path : path-like
        The twin file.
    layer : str
        The layer (``buildings``, ``roads``, …).
    add, update : path, GeoJSON dict or GeoDataFrame, optional
        Features to add (new ids), or to change (existing ids; only the properties given).
    delete : str or iterable of str, optional
        Ids to delete (``"b1,b2"`` or a list).
    author, message : str
        Who made the edit and why (both required; recorded in the history).
    base_version : int, optional
        The version the edit was prepared against (default: the version current when the edit
        starts). Features changed after it make the edit a conflict.
    crs : str, optional
        CRS of the GeoJSON coordinates when not WGS84 (``EPSG:n``, ``gcj02``, ``bd09``).
    timeout : float
        Seconds to wait for another writer.

    Returns
    -------
    EditResult

    Raises
    ------
    LayerError
        Unknown layer or feature id, fields or geometry types the layer does not have,
        malformed GeoJSON, a version that does not exist, no author or message.
    ValidationError
        The layer would break the data dictionary's rules (every problem listed).
    EditConflict
        A feature the edit touches changed after ``base_version`` (both sides shown).

    Examples
    --------
    >>> # edit_layer("city.twin.gpkg", "buildings", update="fix.geojson", author="ana",
    >>> #            message="correct uses", base_version=4)
    >>> # edit_layer("city.twin.gpkg", "roads", delete="r12,r13", author="ana", message="closed")
    """
    author = _text(author, "an author", "give --author NAME (it is recorded in the history)")
    message = _text(message, "a message", "give --message TEXT saying what changed and why")
    spec = layer_spec(layer)
    if add is None and update is None and not delete:
        msg = "nothing to edit: give features to add (--add), update (--update) or --delete ids"
        raise LayerError(msg)
    p = Path(path)
    con = h.connect(p, timeout=timeout)
    try:
        with h.no_gc():
            return _edit(con, p, layer, spec, add, update, delete, author, message,
                         base_version, crs)
    finally:
        con.close()


def _edit(con: sqlite3.Connection, p: Path, layer: str, spec: LayerSpec, add: Any, update: Any,
          delete: str | Iterable[str] | None, author: str, message: str,
          base_version: int | None, crs: Any) -> EditResult:
    h.ensure_history(con)   # seals edits made outside twin: they are part of what was read
    table = h.layer_tables(con).get(layer)
    if table is None:
        present = ", ".join(h.layer_tables(con)) or "none"
        msg = (f"{p}: the twin has no layer {layer!r} (it has: {present}); import it first "
               f"with `twin layers import {p.name} {layer} SOURCE`")
        raise LayerError(msg)
    base = (h.current_version(con) if base_version is None
            else h.check_version(con, base_version, "--base-version"))
    tcrs = h.twin_crs(con)
    adds = _read(add, layer, tcrs, crs, "--add") if add is not None else None
    ups = _read(update, layer, tcrs, crs, "--update") if update is not None else None
    dels = _parse_ids(delete)
    for feats, what in ((adds, "add"), (ups, "update")):
        if feats is not None:
            if table.pk in feats.frame.columns:     # the row key QGIS exports: never written
                feats.frame = feats.frame.drop(columns=table.pk)
            _check_columns(feats, table, what)
            for c in feats.frame.columns:
                if c != "geometry" and feats.frame[c].dtype == object:
                    feats.frame[c] = feats.frame[c].map(_json_text)
    _check_overlap(adds, ups, dels)
    with h.transaction(con):
        h.prepare(con)
        plan = _plan(con, table, spec, adds, ups, dels, base)
        _validate(con, table, spec, plan, dels, adds, ups, tcrs, p)
        if not len(plan):
            return EditResult(h.current_version(con), {}, base, written=False)
        version = h.open_version(con)
        write(con, table, plan)
        stats = h.close_version(con, version, author=author, message=message, kind="edit",
                                base=base, keep_empty=True)
    return EditResult(version, stats or {}, base)


def _check_overlap(adds: _Features | None, ups: _Features | None, dels: list[str]) -> None:
    sets = {"--add": set(adds.frame["id"]) if adds else set(),
            "--update": set(ups.frame["id"]) if ups else set(), "--delete": set(dels)}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(sets[a] & sets[b])
            if both:
                msg = (f"id(s) {', '.join(both[:MAX_LISTED])} are in both {a} and {b}; "
                       "give each feature once per edit")
                raise LayerError(msg)


def _plan(con: sqlite3.Connection, t: h.LayerTable, spec: LayerSpec, adds: _Features | None,
          ups: _Features | None, dels: list[str], base: int) -> _Plan:
    ids = [*(adds.frame["id"] if adds else []), *(ups.frame["id"] if ups else []), *dels]
    _refuse_duplicates(con, t, ids)
    cur = _current(con, t, ids)
    # features whose state differs from the one at the base version (a change undone since
    # is no conflict)
    later = {r[0]: r for r in h.first_after(con, t.name, base, ids)
             if (r[2] == "insert") != (r[0] not in cur) or (
                 r[0] in cur and (r[3], r[4]) != cur[r[0]][1:])}
    plan = _Plan()
    conflicts: list[tuple[str, str]] = []
    unknown: list[str] = []
    proposals: dict[str, dict[str, Any]] = {}
    for fid in dels:
        if fid in later:
            conflicts.append((fid, "delete"))
        elif fid not in cur:
            unknown.append(fid)
        else:
            plan.deletes.append(cur[fid][0])
            proposals[fid] = {}
    if ups is not None:
        _plan_updates(ups, t, spec, cur, later, plan, conflicts, unknown, proposals)
    if adds is not None:
        _plan_adds(adds, t, spec, cur, later, plan, conflicts, proposals)
    if conflicts:
        raise EditConflict(_conflict_message(con, t, base, conflicts, later, cur, proposals))
    if unknown:
        msg = (f"layer {t.name} has no feature(s) with id {', '.join(unknown[:MAX_LISTED])}"
               f"{f' (and {len(unknown) - MAX_LISTED} more)' if len(unknown) > MAX_LISTED else ''}"
               "; check the ids (`twin layers export` lists them); to create features use --add")
        raise LayerError(msg)
    return plan


def _refuse_duplicates(con: sqlite3.Connection, t: h.LayerTable, ids: Sequence[str]) -> None:
    """An id more than one feature has (made outside twin) cannot be edited by id."""
    dup = con.execute(f'SELECT "id", COUNT(*) FROM {_q(t.name)} WHERE "id" IN (SELECT value '
                      'FROM json_each(?)) GROUP BY "id" HAVING COUNT(*) > 1',
                      (json.dumps(list(ids)),)).fetchall()
    if dup:
        which = ", ".join(f"{fid!r} ({n} features)" for fid, n in dup[:MAX_LISTED])
        msg = (f"layer {t.name} has more than one feature with id {which}, so an edit cannot "
               "tell them apart; give each its own id (or delete the extra one) in QGIS or "
               "with sqlite3, then edit again (`twin layers validate` lists every duplicate)")
        raise LayerError(msg)


def _plan_updates(ups: _Features, t: h.LayerTable, spec: LayerSpec,
                  cur: dict[str, tuple[int, str, bytes | None]], later: dict[str, Any],
                  plan: _Plan, conflicts: list[tuple[str, str]], unknown: list[str],
                  proposals: dict[str, dict[str, Any]]) -> None:
    typed = _typed(ups, spec)
    ids = ups.frame["id"].tolist()
    # the state each feature had at the base version: before its first later change, else now
    base_img: list[dict[str, Any]] = []
    base_geom, exists = [], []
    for fid in ids:
        if fid in later:
            r = later[fid]
            exists.append(r[2] != "insert")
            base_img.append(json.loads(r[3]) if r[3] else {})
            base_geom.append(r[4])
        else:
            exists.append(fid in cur)
            base_img.append(json.loads(cur[fid][1]) if fid in cur else {})
            base_geom.append(cur[fid][2] if fid in cur else None)
    new_geoms = _promote(np.asarray(ups.frame.geometry.array), t)
    geom_given = ups.given["geometry"]
    old_geoms = h.decode_geometries([g if geom_given[i] else None
                                     for i, g in enumerate(base_geom)])
    moved = geom_given.copy()
    check = geom_given & ~shapely.is_missing(old_geoms)
    moved[check] = ~same_geometry(new_geoms[check], old_geoms[check],
                                  tolerance=GEOMETRY_TOLERANCE_M)
    cols = [c for c in ups.frame.columns if c not in ("id", "geometry")]
    new_vals = {c: (typed[c] if c in typed.columns else ups.frame[c]).tolist() for c in cols}
    old_vals = {c: [img.get(c) for img in base_img] for c in cols}   # as stored (JSON)
    given = {c: ups.given[c].tolist() for c in cols}
    provenance = [c for c in spec.provenance_fields() if f"{c}_source" in t.columns]
    rows: list[tuple[int, dict[str, Any], int]] = []
    for i, fid in enumerate(ids):
        if not exists[i] and fid not in later:
            unknown.append(fid)
            continue
        changes = {c: _py(new_vals[c][i]) for c in cols if given[c][i]
                   and (not exists[i] or not same_value(new_vals[c][i], old_vals[c][i]))}
        for c in provenance:
            src = f"{c}_source"
            if c in changes and not (src in given and given[src][i]):
                changes[src] = "user"
        if not changes and not moved[i]:
            continue
        proposals[fid] = {**changes, **({"geometry": new_geoms[i]} if moved[i] else {})}
        if fid in later or not exists[i]:
            conflicts.append((fid, "update"))
            continue
        row = base_img[i]
        row.update(changes)
        rows.append((i, row, cur[fid][0]))
        plan.touched[fid] = set(changes) | ({"geometry"} if moved[i] else set())
    blobs = h.encode_geometries(new_geoms[[i for i, _, _ in rows if moved[i]]], t.srs_id)
    it = iter(blobs)
    plan.updates += [(key, row, next(it) if moved[i] else _KEEP) for i, row, key in rows]


def _plan_adds(adds: _Features, t: h.LayerTable, spec: LayerSpec,
               cur: dict[str, tuple[int, str, bytes | None]], later: dict[str, Any],
               plan: _Plan, conflicts: list[tuple[str, str]],
               proposals: dict[str, dict[str, Any]]) -> None:
    typed = _typed(adds, spec)
    geoms = _promote(np.asarray(adds.frame.geometry.array), t)
    blobs = h.encode_geometries(geoms, t.srs_id)
    provenance = set(spec.provenance_fields())
    exists = [fid for fid in adds.frame["id"] if fid in cur and fid not in later]
    if exists:
        msg = (f"{adds.where}: layer {t.name} already has feature(s) {', '.join(exists[:20])}; "
               "use --update to change them, or give new ids")
        raise LayerError(msg)
    for i, fid in enumerate(adds.frame["id"]):
        row: dict[str, Any] = dict.fromkeys(t.columns)
        for c in adds.frame.columns:
            if c != "geometry" and adds.given[c][i]:
                row[c] = _py(typed.at[i, c] if c in typed.columns else adds.frame.at[i, c])
        row["id"] = fid
        if "source" in row and row["source"] is None:
            row["source"] = "user"
        for c in provenance:
            src = f"{c}_source"
            if src in row and row.get(c) is not None and row[src] is None:
                row[src] = "user"
        proposals[fid] = {**row, "geometry": geoms[i]}
        if fid in later:
            conflicts.append((fid, "add"))
            continue
        plan.inserts.append((None, row, blobs[i]))


# --- validation -------------------------------------------------------------------------------

def _validate(con: sqlite3.Connection, t: h.LayerTable, spec: LayerSpec, plan: _Plan,
              dels: list[str], adds: _Features | None, ups: _Features | None, crs: Any,
              path: Path) -> None:
    """Refuse the edit if it would break the dictionary's rules. Updated features are judged
    on what the edit changes (a problem the feature already had does not block it)."""
    from twin.layers.validate import validate_layer

    rows = [r for _, r, _ in plan.updates] + [r for _, r, _ in plan.inserts]
    findings: list[Finding] = []
    if rows:
        keep = [f for f, _, b in plan.updates if b is _KEEP]
        stored = dict(con.execute(
            f"SELECT {_q(t.pk)}, {_q(t.geom)} FROM {_q(t.name)} WHERE {_q(t.pk)} IN "
            "(SELECT value FROM json_each(?))", (json.dumps(keep),)).fetchall())
        blobs = [stored.get(f) if b is _KEEP else b for f, _, b in plan.updates]
        blobs += [b for _, _, b in plan.inserts]
        frame = h.frame_from_images(rows, blobs, range(len(rows)), t.name, crs)
        src = next((x.where for x in (ups, adds) if x is not None), None)
        for f in validate_layer(frame, t.name, source=src, twin_crs=crs):
            if f.severity != "error":
                continue
            touched = plan.touched.get(str(f.feature)) if f.feature is not None else None
            if touched is not None and (f.field or "geometry") not in touched:
                continue
            findings.append(f)
        findings += _check_refs(con, t, spec, rows, plan.touched)
    if dels:
        findings += _check_inbound(con, t, dels)
    if findings:
        raise ValidationError(findings, header=f"edit refused: layer {t.name} of {path.name} "
                              "would not be valid; nothing was written")


def _check_refs(con: sqlite3.Connection, t: h.LayerTable, spec: LayerSpec,
                rows: list[dict[str, Any]], touched: dict[str, set[str]]) -> list[Finding]:
    tables = h.layer_tables(con)
    out = []
    for f in spec.fields.values():
        target, _, tfield = (f.ref or "").partition(".")
        if not f.ref or target not in tables or f.name not in t.columns:
            continue
        check = [r for r in rows if r.get(f.name) is not None
                 and f.name in touched.get(str(r["id"]), {f.name})]
        wanted = sorted({str(r[f.name]) for r in check})
        found = {str(v) for (v,) in con.execute(
            f"SELECT {_q(tfield)} FROM {_q(target)} WHERE {_q(tfield)} IN "
            "(SELECT value FROM json_each(?))", (json.dumps(wanted),))}
        out += [Finding("error", "ref", f"{f.name} {r[f.name]!r} is not the {tfield} of a "
                        f"feature in {target}; correct it or clear it", t.name, str(r["id"]),
                        f.name) for r in check if str(r[f.name]) not in found]
    return out[:50]


def _check_inbound(con: sqlite3.Connection, t: h.LayerTable, dels: list[str]) -> list[Finding]:
    tables = h.layer_tables(con)
    out = []
    for name, other in load_dictionary().items():
        if name not in tables:
            continue
        for f in other.fields.values():
            if f.ref != f"{t.name}.id" or f.name not in tables[name].columns:
                continue
            rows = con.execute(
                f"SELECT \"id\", {_q(f.name)} FROM {_q(name)} WHERE {_q(f.name)} IN "
                "(SELECT value FROM json_each(?)) LIMIT 50", (json.dumps(dels),)).fetchall()
            out += [Finding("error", "ref", f"cannot delete: {name} {rid} refers to it in "
                            f"{f.name}; delete or re-point that feature first", t.name,
                            str(target), None) for rid, target in rows]
    return out


# --- conflicts --------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v)) if abs(v) < 1e15 else repr(v)
    return repr(v)


def _conflict_message(con: sqlite3.Connection, t: h.LayerTable, base: int,
                      conflicts: list[tuple[str, str]], later: dict[str, Any],
                      cur: dict[str, tuple[int, str, bytes | None]],
                      proposals: dict[str, dict[str, Any]]) -> str:
    current = h.current_version(con)
    lines = [f"edit refused: {len(conflicts)} feature(s) of {t.name} changed after your base "
             f"version {base} (the twin is at version {current}); nothing was written"]
    ids = [fid for fid, _ in conflicts]
    who: dict[str, list[str]] = {}
    for fid, version, author, message in con.execute(
            "SELECT h.feature_id, h.version, v.author, v.message FROM twin_history h JOIN "
            "twin_versions v ON v.version = h.version WHERE h.layer = ? AND h.version > ? AND "
            "h.feature_id IN (SELECT value FROM json_each(?)) ORDER BY h.seq",
            (t.name, base, json.dumps(ids))):
        entry = f"version {version} by {author} ({message!r})"
        if entry not in who.setdefault(fid, []):
            who[fid].append(entry)
    for fid, op in conflicts[:MAX_LISTED]:
        r = later[fid]
        then = json.loads(r[3]) if r[3] else None
        now = json.loads(cur[fid][1]) if fid in cur else None
        lines.append(f"  {t.name} {fid}: changed in {', '.join(who.get(fid, ['?']))}")
        if now is None:
            lines.append("    twin now: deleted")
        elif then is None:
            lines.append("    twin now: added after your base version")
        else:
            moved = cur[fid][2] != r[4]
            parts = [f"{k} {_fmt(a)} -> {_fmt(b)}"
                     for k, (a, b) in _changed_fields(then, now).items()]
            parts += ["geometry moved"] if moved else []
            lines.append(f"    twin now: {'; '.join(parts) or 'no net change'}")
        mine = proposals.get(fid, {})
        if op in ("delete", "add"):
            lines.append(f"    yours:    {op}")
        else:
            parts = [f"{k} -> {_fmt(v)}" for k, v in mine.items() if k != "geometry"]
            parts += ["new geometry"] if "geometry" in mine else []
            lines.append(f"    yours:    {op} {'; '.join(parts)}")
    if len(conflicts) > MAX_LISTED:
        lines.append(f"  ... and {len(conflicts) - MAX_LISTED} more")
    lines.append(f"Read the features again (twin layers export), redo your change on version "
                 f"{current}, and edit with --base-version {current}.")
    return "\n".join(lines)


# --- revert -----------------------------------------------------------------------------------

def revert(path: str | Path, version: int, *, author: str | None, message: str | None,
           timeout: float = h.LOCK_TIMEOUT_S) -> EditResult:
    """Make a new version whose content equals the twin at ``version`` (history is kept).

    Parameters
    ----------
    path : path-like
        The twin file.
    version : int
        The version to go back to (from :func:`twin.layers.history.log`).
    author, message : str
        Who reverts and why (both required).

    Raises
    ------
    LayerError
        The version does not exist or is the current one; no author or message; a layer that
        existed then was removed since (restore it with ``checkout`` and ``import``).

    Examples
    --------
    >>> # revert("city.twin.gpkg", 3, author="ana", message="undo the bad import")
    """
    author = _text(author, "an author", "give --author NAME (it is recorded in the history)")
    message = _text(message, "a message", "give --message TEXT saying why")
    con = h.connect(path, timeout=timeout)
    try:
        with h.transaction(con), h.no_gc():
            h.prepare(con)
            v = h.check_version(con, version)
            current = h.current_version(con)
            if v == current:
                msg = f"version {v} is the current version; there is nothing to revert"
                raise LayerError(msg)
            tables = h.layer_tables(con)
            then = json.loads(con.execute("SELECT layers FROM twin_versions WHERE version = ?",
                                          (v,)).fetchone()[0])
            layers = [r[0] for r in con.execute(
                "SELECT DISTINCT layer FROM twin_history WHERE version > ?", (v,))]
            gone = [n for n in layers if n not in tables and n in then]
            if gone:
                msg = (f"layer(s) {', '.join(gone)} existed at version {v} but were removed "
                       f"since; write a copy with `twin layers checkout FILE {v} OUT` and "
                       "import them from it")
                raise LayerError(msg)
            new = h.open_version(con)
            for name in layers:
                if name in tables:
                    write(con, tables[name], _revert_plan(con, tables[name], v))
            stats = h.close_version(con, new, author=author, message=message, kind="revert",
                                    base=v, keep_empty=True)
        return EditResult(new, stats or {}, v)
    finally:
        con.close()


def _revert_plan(con: sqlite3.Connection, t: h.LayerTable, version: int) -> _Plan:
    if version < h.rows_from(con):
        return _revert_plan_by_id(con, t, version)
    rows = h.first_after_rows(con, t.name, version)
    cur = {int(r[0]): (r[1], r[2]) for r in con.execute(
        f"SELECT {_q(t.pk)}, {h.image_sql(t, 'x')}, {_q(t.geom)} FROM {_q(t.name)} x WHERE "
        f"{_q(t.pk)} IN (SELECT value FROM json_each(?))", (json.dumps([r[1] for r in rows]),))}
    plan = _Plan()
    cols = set(t.columns)
    for _, row_key, op, before, geom, _ in rows:
        now = cur.get(int(row_key))
        if op == "insert":          # the row did not exist then
            if now is not None:
                plan.deletes.append(int(row_key))
            continue
        image = {k: v for k, v in json.loads(before).items() if k in cols}
        if now is None:
            plan.inserts.append((int(row_key), image, geom))
        elif now[0] != before or now[1] != geom:
            plan.updates.append((int(row_key), image, geom if now[1] != geom else _KEEP))
    return plan


def _revert_plan_by_id(con: sqlite3.Connection, t: h.LayerTable, version: int) -> _Plan:
    """The revert of a version older than the history's row keys: by feature id."""
    rows = h.first_after(con, t.name, version)
    cur = _current(con, t, [r[0] for r in rows])
    taken = {f for (f,) in con.execute(
        f"SELECT {_q(t.pk)} FROM {_q(t.name)} WHERE {_q(t.pk)} IN "
        "(SELECT value FROM json_each(?))", (json.dumps([r[1] for r in rows]),))}
    plan = _Plan()
    cols = set(t.columns)
    for fid, row_key, op, before, geom, _ in rows:
        now = cur.get(str(fid))
        if op == "insert":
            if now is not None:
                plan.deletes.append(now[0])
            continue
        image = {k: v for k, v in json.loads(before).items() if k in cols}
        if now is None:
            plan.inserts.append((row_key if row_key not in taken else None, image, geom))
        elif now[1] != before or now[2] != geom:
            plan.updates.append((now[0], image, geom if now[2] != geom else _KEEP))
    return plan
