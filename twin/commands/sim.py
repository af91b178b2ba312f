"""``twin simulate`` (one representative weekday) and ``twin assign`` (static assignment)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from twin.commands._ui import echo_json, table


@click.command("simulate")
@click.argument("twin_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, required=True, help="Seed of every random draw.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for kpis.json, trips.parquet, links.gpkg, run.json.")
@click.option("--iterations", type=int, default=5, show_default=True,
              help="Route-learning iterations (simulated days).")
@click.option("--sample", type=float, default=1.0, show_default=True,
              help="Share of the population simulated (0 < F <= 1).")
@click.option("--population", "population_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Population profile to use instead of agents/population.yaml (e.g. the "
                   "one `twin calibrate` wrote).")
@click.option("--external", "external_file", type=click.Path(dir_okay=False, path_type=Path),
              help="External-demand profile to use instead of agents/external.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the KPIs as one JSON object.")
def simulate(twin_file: Path, seed: int, out_dir: Path, iterations: int, sample: float,
             population_file: Path | None, external_file: Path | None, as_json: bool) -> None:
    """Simulate one representative weekday: residents, commuters, through traffic.

    Writes kpis.json, trips.parquet, links.gpkg (volume, v/c, speed per link and hour),
    activities.parquet, hourly.csv and run.json to OUT. A progress bar shows the simulated
    clock of each iteration.

    \b
    Examples:
      twin simulate demo.twin.gpkg --seed 1 --out runs/base
      twin simulate big.twin.gpkg --seed 1 --out runs/big --sample 0.25 --iterations 3
      twin simulate demo.twin.gpkg --seed 1 --out runs/cal \\
          --population agents/population-calibrated-2026-11-29.yaml
    """
    from twin.agents.kpis import KPI_UNITS
    from twin.agents.simulate import simulate as simulate_day
    from twin.agents.simulate import write_day
    from twin.layers.store import read_twin

    configs: dict[str, Any] = {}
    if population_file is not None:
        from twin.agents.population import load_population_config

        configs["population_config"] = load_population_config(population_file)
    if external_file is not None:
        from twin.agents.external import load_external_config

        configs["external_config"] = load_external_config(external_file)
    twin = read_twin(twin_file)
    hours = 19.0
    bar = tqdm(total=iterations * hours, desc="simulating", unit="h", file=sys.stderr,
               disable=None, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

    def progress(iteration: int, clock_s: float) -> None:
        clock = min(max(clock_s - 5 * 3600.0, 0.0), hours * 3600.0) / 3600.0
        bar.n = round((iteration - 1) * hours + clock, 2)
        hh, mm = divmod(int(clock_s // 60), 60)
        bar.set_postfix_str(f"iteration {iteration}/{iterations} {hh:02d}:{mm:02d}",
                            refresh=False)
        bar.refresh()

    t0 = time.perf_counter()
    try:
        result = simulate_day(twin, seed=seed, iterations=iterations, sample=sample,
                              progress=progress, **configs)
    finally:
        bar.close()
    files = write_day(result, out_dir)
    if as_json:
        echo_json(result.kpis)
        return
    click.echo(f"simulated {result.run['counts']['trips']:,} trips in "
               f"{time.perf_counter() - t0:.1f} s (seed {seed}, {iterations} iterations, "
               f"sample {sample:g})")
    click.echo("relative gap per iteration: "
               + ", ".join(f"{g:.4f}" for g in result.gaps))
    table([{"kpi": k, "value": f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}",
            "unit": KPI_UNITS.get(k, "")} for k, v in result.kpis.items()],
          ["kpi", "value", "unit"])
    for reason, count in result.unrouted.items():
        click.echo(f"not routed: {count} — {reason}")
    for note in result.run.get("notes", []):
        click.echo(f"note: {note}")
    click.echo(f"wrote {', '.join(str(f) for f in files.values())}")


@click.command("assign")
@click.argument("twin_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tntp", "tntp", type=click.Path(path_type=Path),
              help="A TNTP network: its folder or its *_net.tntp file.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for the link flows and the summary.")
@click.option("--gap", type=float, default=1e-5, show_default=True,
              help="Target relative gap.")
@click.option("--max-iter", type=int, default=2000, show_default=True)
@click.option("--method", type=click.Choice(["bfw", "cfw", "fw"]), default="bfw",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the agents whose car trips are assigned (twin file).")
@click.option("--hour", type=int, default=None,
              help="Hour of departure assigned (twin file; default: the busiest).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def assign(twin_file: Path | None, tntp: Path | None, out_dir: Path, gap: float,
           max_iter: int, method: str, seed: int, hour: int | None, as_json: bool) -> None:
    """Static user-equilibrium assignment (bi-conjugate Frank-Wolfe, BPR link costs).

    Either the agents' car trips of a twin in one hour, or any network in the TNTP format
    (net, trips, optional node and flow files). With a best-known flow file, the largest
    link-flow difference from it is reported.

    \b
    Examples:
      twin assign demo.twin.gpkg --out runs/assign
      twin assign --tntp data/tntp/SiouxFalls --out runs/sf --json
    """
    from twin._errors import AssignmentError

    if (twin_file is None) == (tntp is None):
        msg = "give either a twin file or --tntp DIR_OR_NET_FILE (not both)"
        raise AssignmentError(msg)
    if tntp is not None:
        summary = _assign_tntp(tntp, out_dir, gap=gap, max_iter=max_iter, method=method)
        keys = ["iterations", "relative_gap", "tstt"]
        if "max_flow_diff_pct" in summary:
            keys.append("max_flow_diff_pct")
        if as_json:
            echo_json({k: summary[k] for k in keys})
            return
        click.echo(f"{summary['network']}: {summary['links']} links, {summary['zones']} zones")
        click.echo(f"iterations         {summary['iterations']}")
        click.echo(f"relative gap       {summary['relative_gap']:.3e}")
        click.echo(f"TSTT               {summary['tstt']:,.1f}")
        if "best_tstt" in summary:
            click.echo(f"best-known TSTT    {summary['best_tstt']:,.1f} "
                       f"({summary['tstt_diff_pct']:+.4f} %)")
        if "max_flow_diff_pct" in summary:
            click.echo(f"max link-flow diff {summary['max_flow_diff_pct']:.4f} % "
                       f"(link {summary['worst_link']})")
        click.echo(f"wrote {out_dir / 'flows.csv'}, {out_dir / 'summary.json'}")
        return
    assert twin_file is not None
    from twin.agents.simulate import assign_agents, write_assigned
    from twin.layers.store import read_twin

    day = assign_agents(read_twin(twin_file), seed=seed, hour=hour, gap=gap, max_iter=max_iter)
    files = write_assigned(day, out_dir)
    s = day.summary
    if as_json:
        echo_json({"iterations": s["iterations"], "relative_gap": s["relative_gap"],
                   "tstt": s["tstt_veh_h"] * 3600.0, "hour": s["hour"],
                   "car_trips": s["car_trips"]})
        return
    click.echo(f"hour {s['hour']:02d}:00: {s['car_trips']:,.0f} car trips between "
               f"{s['zones']} nodes")
    click.echo(f"iterations {s['iterations']}, relative gap {s['relative_gap']:.3e}, "
               f"TSTT {s['tstt_veh_h']:,.1f} veh-h, max v/c {s['max_vc']:.2f}")
    click.echo(f"wrote {', '.join(str(f) for f in files.values())}")


def _assign_tntp(path: Path, out_dir: Path, *, gap: float, max_iter: int,
                 method: str) -> dict[str, Any]:
    """Assign a TNTP network; write flows.csv and summary.json; return the summary."""
    import numpy as np
    import pandas as pd

    from twin.network.assign import assign_tntp, compare_flows

    t0 = time.perf_counter()
    res, data = assign_tntp(path, gap=gap, max_iter=max_iter, method=method)
    net = data.network
    summary: dict[str, Any] = {
        "network": data.name, "links": int(net.n_links), "zones": int(net.n_zones),
        "iterations": int(res.iterations), "relative_gap": float(res.relative_gap),
        "tstt": float(res.tstt), "beckmann": float(res.beckmann),
        "converged": bool(res.converged), "method": method,
        "wall_s": round(time.perf_counter() - t0, 3)}
    frame = pd.DataFrame({"init_node": data.node_ids[net.from_node],
                          "term_node": data.node_ids[net.to_node],
                          "flow": res.flows, "time": res.times})
    if data.best_flows is not None and np.isfinite(data.best_flows).any():
        comp = compare_flows(res, data.best_flows)
        summary.update(max_flow_diff_pct=comp.max_flow_diff_pct,
                       mean_flow_diff_pct=comp.mean_flow_diff_pct,
                       worst_link=int(comp.worst_link) + 1, best_tstt=data.best_tstt,
                       tstt_diff_pct=100.0 * (res.tstt / data.best_tstt - 1.0))
        frame["best_flow"] = data.best_flows
    out_dir.mkdir(parents=True, exist_ok=True)
    from twin.agents.simulate import atomic_write

    atomic_write(out_dir / "flows.csv", lambda p: frame.to_csv(p, index=False))
    atomic_write(out_dir / "summary.json", lambda p: p.write_text(
        json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8"))
    return summary
