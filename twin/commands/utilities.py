"""``twin utilities ...``: check the power and water networks; import a utility's own model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from twin.commands._ui import echo_json


@click.group("utilities")
def utilities() -> None:
    """Power (pandapower) and water (WNTR / EPANET) networks of a twin."""


@utilities.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_cmd(file: Path, as_json: bool) -> None:
    """Build both networks, solve one design-peak hour, report what is wrong.

    Reports islands, buildings without a working connection, a power flow that does not
    converge (with pandapower's diagnostic in plain words), overloads, low voltages and low
    pressures. Exit 0 when there are no errors, 2 otherwise.

    \b
    Example:
      twin utilities check demo.twin.gpkg
    """
    from twin.layers.store import read_twin
    from twin.network.utilities import check_utilities

    report = check_utilities(read_twin(file))
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.format())
    raise SystemExit(0 if report.ok else 2)


def import_utility_model(file: Path, *, epanet: Path | None = None,
                         pandapower_net: str | None = None, replace: bool = False,
                         crs: str | None = None) -> dict[str, Any]:
    """``twin layers import FILE --epanet NET.inp | --pandapower NET.json|NAME [--replace]``.

    Reads the twin, brings the model in as water or power layers (every element; what the
    fields do not hold goes into ``params``), writes the twin back atomically and prints what
    arrived and where it was placed. ``crs`` is the EPANET file's coordinate CRS, if known.

    Raises
    ------
    UtilityError
        The model does not parse, or its ids clash with the twin's (without ``replace``).
    """
    from twin._errors import UtilityError
    from twin.layers.store import read_twin, write_twin
    from twin.network.power import import_power
    from twin.network.water import import_water

    if (epanet is None) == (pandapower_net is None):
        msg = "give one of --epanet NET.inp or --pandapower NET.json|NAME"
        raise UtilityError(msg)
    twin = read_twin(file)
    if epanet is not None:
        new, info = import_water(twin, epanet, replace=replace, crs=crs)
        what = f"water network {Path(epanet).name}"
    else:
        new, info = import_power(twin, str(pandapower_net), replace=replace)
        what = f"power network {pandapower_net}"
    write_twin(new, file, overwrite=True)
    counts = ", ".join(f"{n:,} {k}" for k, n in info["elements"].items() if n)
    click.echo(f"imported {what} ({'replaced' if replace else 'added'}): {counts}")
    click.echo(f"placement: {info['placement']}")
    if info.get("buildings_connected_median_m") is not None:
        click.echo(f"buildings connected to the nearest node (median "
                   f"{info['buildings_connected_median_m']:,} m)")
    if info.get("fixed_load_mw"):
        click.echo(f"fixed loads of the model: {info['fixed_load_mw']:,} MW (buildings add theirs)")
    if info.get("not_imported"):
        click.echo(f"not imported: {info['not_imported']}")
    return info
