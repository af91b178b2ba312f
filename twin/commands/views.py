"""``twin view`` and ``twin report``: offline 3D maps and the stakeholder report."""

from __future__ import annotations

import time
from pathlib import Path

import click

_LANG = click.Choice(["en", "zh"])


def _clock(text: str | None) -> float | None:
    if text is None:
        return None
    from twin._errors import TwinError

    try:
        h, _, m = text.partition(":")
        sec = int(h) * 3600 + int(m or 0) * 60
    except ValueError as err:
        msg = f"--time {text!r}: give the time of day as HH:MM, e.g. 08:00"
        raise TwinError(msg) from err
    if not 0 <= sec < 24 * 3600:
        msg = f"--time {text!r}: must be between 00:00 and 23:59"
        raise TwinError(msg)
    return float(sec)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


@click.command("view")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
@click.option("--compare", type=click.Path(exists=True, path_type=Path),
              help="A run to compare with (usually the base run): before / after / difference.")
@click.option("--lang", type=_LANG, default="en", show_default=True,
              help="Language of labels, legends and tooltips.")
@click.option("--twin", "twin_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The twin file SOURCE's results belong to, if its run.json does not say.")
@click.option("--trips", "max_trips", type=click.IntRange(0, 100_000), default=2000,
              show_default=True, help="Car trips animated (a sample).")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also render the page in headless Chromium and save this PNG.")
@click.option("--time", "at", help="Time of day for the screenshot, HH:MM (default 08:00).")
@click.option("--state", type=click.Choice(["before", "after", "diff"]),
              help="Map state for the screenshot (with --compare).")
@click.option("--size", default="1200x800", show_default=True,
              help="Screenshot size in pixels, WIDTHxHEIGHT.")
def view(source: Path, out: Path, compare: Path | None, lang: str, twin_file: Path | None,
         max_trips: int, screenshot: Path | None, at: str | None, state: str | None,
         size: str) -> None:
    """Write a self-contained, offline 3D map of a twin file or a run folder.

    SOURCE is a twin file (layers only), a day-simulation folder, a scenario run folder
    (DIR/<name>, its first replication) or one replication (DIR/<name>/rep-<k>). The page
    inlines deck.gl: no request leaves it, so it opens on a laptop with no network.

    \b
    Examples:
      twin view demo.twin.gpkg --out demo-map.html
      twin view runs/bus-line --compare runs/baseline --out bus-line.html --lang zh
      twin view demo.twin.gpkg --out map.html --screenshot map.png
    """
    from twin._errors import TwinError
    from twin.views import write_map

    t0 = time.perf_counter()
    path = write_map(source, out, compare=compare, lang=lang, twin=twin_file,
                     max_trips=max_trips)
    click.echo(f"wrote {path} ({_size(path)}) in {time.perf_counter() - t0:.1f} s")
    if screenshot is not None:
        from twin.views.browser import render

        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError as bad:
            msg = f"--size {size!r}: give WIDTHxHEIGHT in pixels, e.g. 1200x800"
            raise TwinError(msg) from bad
        res = render(path, screenshot, width=w, height=h, state=state,
                     time_s=_clock(at) if at else None)
        click.echo(f"wrote {screenshot} ({_size(screenshot)}); first frame in "
                   f"{res.first_frame_s:.1f} s")
        for line in res.console_errors:
            click.echo(f"console error: {line}", err=True)


@click.command("report")
@click.argument("base_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("scenario_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
@click.option("--lang", type=_LANG, default="en", show_default=True,
              help="Language of the report.")
@click.option("--no-maps", is_flag=True, help="Leave the 3D maps out (a much smaller file).")
@click.option("--map", "map_names", multiple=True, metavar="NAME",
              help="Embed only this scenario's map (repeatable; default: every scenario's).")
@click.option("--trips", "max_trips", type=click.IntRange(0, 100_000), default=1000,
              show_default=True, help="Car trips animated per map and state.")
def report(base_dir: Path, scenario_dirs: tuple[Path, ...], out: Path, lang: str,
           no_maps: bool, map_names: tuple[str, ...], max_trips: int) -> None:
    """Write the stakeholder report of scenario runs as one offline HTML file.

    BASE_DIR and SCENARIO_DIRS are folders written by `twin run` (DIR/<name>). Each scenario
    is compared with its base replication by replication: KPI table with means, differences
    and 95% intervals, costs and financing, charts, 3D maps and the data's provenance.

    \b
    Examples:
      twin report runs/baseline runs/bus-line runs/new-clinic --out report.html
      twin report runs/baseline runs/densify-old-town --out report-zh.html --lang zh
      twin report runs/baseline runs/bus-line runs/new-clinic --map bus-line --out r.html
    """
    from twin._errors import ViewError
    from twin.views import write_report

    if no_maps and map_names:
        msg = "give --no-maps or --map NAME, not both"
        raise ViewError(msg)
    t0 = time.perf_counter()
    maps: bool | list[str] = list(map_names) if map_names else not no_maps
    path = write_report(base_dir, list(scenario_dirs), out, lang=lang, maps=maps,
                        max_trips=max_trips)
    click.echo(f"wrote {path} ({_size(path)}) in {time.perf_counter() - t0:.1f} s")
