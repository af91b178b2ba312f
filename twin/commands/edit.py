"""``twin layers edit|log|diff|revert|checkout``: edit layers with a history that can be read,
compared and reverted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from twin.commands._ui import echo_json, table
from twin.commands.layers import layers


def _value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _fields(fields: dict[str, Any]) -> str:
    return "; ".join(f"{k} {_value(a)} -> {_value(b)}" for k, (a, b) in fields.items())


def _geometry(moved_m: float | None) -> str:
    """How a changed geometry is described: how far it moved, or that it was reshaped in
    place (e.g. a self-intersection repaired: the same ground, another shape)."""
    if moved_m is not None and moved_m >= 0.005:
        return f"geometry moved {moved_m:.2f} m"
    return "geometry reshaped in place (moved 0.00 m)"


def _layers(label: str | None) -> str:
    names = (label or "").split(",") if label else []
    return ",".join(names) if len(names) <= 3 else f"{len(names)} layers"


def _counts(added: int, changed: int, deleted: int) -> str:
    return f"+{added} ~{changed} -{deleted}"


@layers.command("edit")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("layer")
@click.option("--add", "add", metavar="FEATURES.geojson", help="Features to add (new ids).")
@click.option("--update", "update", metavar="FEATURES.geojson",
              help="Features to change, by id; only the properties given change.")
@click.option("--delete", "delete", metavar="ID[,ID...]", help="Ids of features to delete.")
@click.option("--author", help="Who makes the edit (required; recorded in the history).")
@click.option("--message", "-m", help="What changed and why (required).")
@click.option("--base-version", type=int,
              help="The version the edit was prepared against (default: the current one).")
@click.option("--crs", help="CRS of the GeoJSON when not WGS84 lon/lat: EPSG:n, gcj02, bd09.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def edit_cmd(file: Path, layer: str, add: str | None, update: str | None, delete: str | None,
             author: str | None, message: str | None, base_version: int | None,
             crs: str | None, as_json: bool) -> None:
    """Add, update or delete features of one layer: one edit is one new version.

    The edit is checked against the data dictionary and against changes made after
    --base-version before anything is written; a conflict exits with code 3 and shows both
    sides, any other problem with code 2. Nothing is written in either case.

    \b
    Examples:
      twin layers edit city.twin.gpkg buildings --update fix.geojson --author ana -m "uses"
      twin layers edit city.twin.gpkg water_pipes --add new-pipe.geojson --author ana \\
          -m "planned main" --base-version 7
      twin layers edit city.twin.gpkg roads --delete r12,r13 --author ana -m "closed"
    """
    from twin.layers.edit import edit_layer

    result = edit_layer(file, layer, add=add, update=update, delete=delete, author=author,
                        message=message, base_version=base_version, crs=crs)
    if as_json:
        echo_json(result.to_dict())
    elif not result.written:
        click.echo(f"nothing to change: the features already have these values; the twin "
                   f"stays at version {result.version}")
    else:
        click.echo(f"version {result.version}: {layer} "
                   f"{_counts(result.added, result.changed, result.deleted)} "
                   f"(based on version {result.base_version})")


@layers.command("log")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--layer", help="Only versions that touched this layer.")
@click.option("--id", "feature_id", help="The whole history of one feature.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of versions).")
def log_cmd(file: Path, layer: str | None, feature_id: str | None, as_json: bool) -> None:
    """Versions of the twin: time, author, message, layer and features added/changed/deleted.

    \b
    Examples:
      twin layers log city.twin.gpkg
      twin layers log city.twin.gpkg --layer roads --json
      twin layers log city.twin.gpkg --id b1042
    """
    from twin.layers.history import log

    entries = log(file, layer=layer, feature_id=feature_id)
    if as_json:
        echo_json(entries)
        return
    if feature_id is not None:
        for e in entries:
            what = (_fields(e["fields"]) if e["op"] == "update" else
                    {"created": "present when the twin was created", "insert": "added",
                     "delete": "deleted"}[e["op"]])
            if e["op"] == "update" and e["moved"]:
                what = f"{what}; {_geometry(e['moved_m'])}".lstrip("; ")
            click.echo(f"version {e['version']}  {e['time']}  {e['author']}  {e['layer']}  "
                       f"{e['op']}: {what or 'no change'}  ({e['message']})")
        return
    rows = [{"version": e["version"], "time": e["time"], "author": e["author"],
             "layer": _layers(e["layer"]), "changes": _counts(e["added"], e["changed"],
                                                            e["deleted"]),
             "message": e["message"]} for e in entries]
    table(rows, ["version", "time", "author", "layer", "changes", "message"])


@layers.command("diff")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@click.option("--layer", help="Only this layer.")
@click.option("--geojson", "geojson", type=click.Path(path_type=Path),
              help="Write the changed features to this GeoJSON file (for a map).")
@click.option("--json", "as_json", is_flag=True, help="Print every change as JSON.")
def diff_cmd(file: Path, v1: int, v2: int, layer: str | None, geojson: Path | None,
             as_json: bool) -> None:
    """Features added, deleted and changed between versions V1 and V2, field by field.

    \b
    Examples:
      twin layers diff city.twin.gpkg 1 5
      twin layers diff city.twin.gpkg 4 5 --layer roads --geojson changes.geojson
    """
    from twin.layers.history import diff, no_gc

    d = diff(file, v1, v2, layer=layer)
    if geojson is not None:
        d.to_geojson(geojson)
    if as_json:     # one change per line (Diff.to_json: the C encoder, not indent=2)
        head = json.dumps({"v1": d.v1, "v2": d.v2, "counts": d.counts()}, indent=2)
        click.echo(f'{head[:-2]},\n  "changes": {d.to_json(indent="    ")[:-1]}  ]\n}}')
        return
    counts = d.counts()
    summary = ", ".join(f"{n} {_counts(c['added'], c['changed'], c['deleted'])}"
                        for n, c in counts.items()) or "no changes"
    click.echo(f"version {d.v1} -> {d.v2}: {summary}")
    mark = {"added": "+", "deleted": "-", "changed": "~"}
    lines = []
    d.load_fields()
    with no_gc():
        for c in d.changes:
            if c.change == "changed":
                what = _fields(c.fields)
                if c.moved:
                    what = f"{what}; {_geometry(c.moved_m)}".lstrip("; ")
            else:
                what = c.change
            lines.append(f"{mark[c.change]} {c.layer} {c.id}: {what}")
    if lines:
        click.echo("\n".join(lines))
    if geojson is not None:
        click.echo(f"wrote {geojson}")


@layers.command("revert")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("version", type=int)
@click.option("--author", help="Who reverts (required).")
@click.option("--message", "-m", help="Why (required).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def revert_cmd(file: Path, version: int, author: str | None, message: str | None,
               as_json: bool) -> None:
    """Make a new version whose content equals version VERSION (history is kept).

    \b
    Example:
      twin layers revert city.twin.gpkg 4 --author ana -m "undo the survey import"
    """
    from twin.layers.edit import revert

    result = revert(file, version, author=author, message=message)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"version {result.version}: back to the content of version {version} "
               f"({_counts(result.added, result.changed, result.deleted)})")


@layers.command("checkout")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("version", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def checkout_cmd(file: Path, version: int, out: Path, overwrite: bool) -> None:
    """Write a copy of the twin as it was at VERSION (with its history up to then).

    \b
    Example:
      twin layers checkout city.twin.gpkg 3 city-v3.twin.gpkg
    """
    from twin.layers.history import checkout

    checkout(file, version, out, overwrite=overwrite)
    click.echo(f"wrote {out}: {file.name} as it was at version {version}")
