"""Run scenarios and their bases over replications: serially, on local Dask workers, or a cluster.

For each scenario file the runner plans two *variants*: the scenario, and its base run with the
scenario's horizon and run settings (so the comparison measures the interventions, not growth
or different settings). Replication ``k`` of both uses the same seed (common random numbers).
Each replication writes ``DIR/<folder>/rep-<k>/``:

- ``scenario.json``: the resolved scenario (inherited settings and interventions included);
- ``run.json``: seed, package version, input hashes (twin file, scenario files, agent
  profiles, economics), the configuration hash, timings, worker, and the engine's own record;
- ``kpis.json``: the day simulation's KPIs (mobility, power and water, the day analyses')
  plus the layer KPIs (access, sensor coverage);
- the engine's results: links and trips (``links.gpkg``, ``trips.parquet``), power and water
  (``power.parquet``, ``water.parquet``, ``utilities.gpkg``), the day analyses' tables.

A replication folder is written under a temporary name and renamed when complete, so a crash
never leaves half a result; a complete one with the same configuration hash is reused, never
rewritten (a rerun resumes). Work is cut into tasks of one variant and some replications, each
estimated at ``min_task_s`` or more. ``workers=N`` starts a Dask LocalCluster of N single-threaded
processes; ``scheduler="tcp://HOST:PORT"`` uses an existing cluster (DIR must then be on a file
system the workers share). A task whose worker dies is run again (by Dask, or resubmitted
here); every attempt is logged in ``DIR/_tasks/`` and ``summary.json`` lists the tasks that
needed more than one. Results are identical whichever way they run: every draw comes from the
replication's seed.

This module plans the variants, cuts them into tasks and runs them (serially or on Dask);
``_worker`` holds what runs on a worker (base twins, prepared variants, :func:`run_task`, run
folders, input hashes, :func:`engine_options`), and every public name of it is re-exported here.

Examples
--------
>>> replication_seed(2026, 0) == replication_seed(2026, 0) != replication_seed(2026, 1)
True
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin import __version__
from twin._errors import ScenarioError, SimulationError, TwinError
from twin.layers.store import Twin, file_hash
from twin.scenarios._worker import _PREPARED as _PREPARED
from twin.scenarios._worker import (
    _hash,
    _input_hashes,
    _read_json,
    _write_json,
    demo_twin_path,
    engine_options,
    load_base_twin,
    prepare_twin,
    run_task,
    settings_hashes,
)
from twin.scenarios._worker import _read_twin_cached as _read_twin_cached
from twin.scenarios.spec import DEMO, Scenario, load_scenario

__all__ = [
    "DEFAULT_ENGINE",
    "Variant",
    "demo_twin_path",
    "engine_options",
    "load_base_twin",
    "plan_variants",
    "prepare_twin",
    "replication_seed",
    "run_scenarios",
]

DEFAULT_ENGINE = "twin.agents.simulate"
#: How long to wait for an existing Dask scheduler to answer.
CONNECT_TIMEOUT_S = 20.0
Progress = Callable[[int, int, str], None]
_OVERRIDE_KEYS = ("replications", "seed", "iterations", "sample", "start_hour", "end_hour")


def replication_seed(seed: int, k: int) -> int:
    """The seed of replication ``k`` (the same for a scenario and its base).

    Examples
    --------
    >>> replication_seed(1, 0) > 0
    True
    """
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


# --- variants --------------------------------------------------------------------------------

@dataclass
class Variant:
    """One configuration to simulate: a scenario, or a base under a scenario's settings."""

    folder: str
    role: str                       # "scenario" or "base"
    scenario: dict[str, Any]        # resolved (Scenario.to_dict)
    config_hash: str
    replications: int
    used_by: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """Replication seeds."""
        seed = int(self.scenario["runs"]["seed"])
        return [replication_seed(seed, k) for k in range(self.replications)]


def _with_overrides(s: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    runs = {**s.runs, **{k: overrides[k] for k in ("replications", "seed", "iterations",
                                                   "start_hour", "end_hour")
                         if overrides.get(k) is not None}}
    pop = {**s.population, **({"sample": overrides["sample"]}
                              if overrides.get("sample") is not None else {})}
    base = _with_overrides(s.base, overrides) if s.base is not None else None
    return Scenario(**{**s.__dict__, "runs": runs, "population": pop, "base": base})


def _as_base(base: Scenario, s: Scenario) -> Scenario:
    """The base run under the scenario's horizon, population and run settings."""
    return Scenario(**{**base.__dict__, "horizon": s.horizon, "runs": s.runs,
                       "population": s.population, "twin": s.twin})


def _config(s: Scenario, twin_hash: str) -> dict[str, Any]:
    d = s.to_dict()
    for k in ("file", "title", "description", "base"):
        d.pop(k, None)
    d["runs"] = {k: v for k, v in d["runs"].items() if k != "replications"}
    for i in d["interventions"]:
        i.pop("line", None)
    d["twin_hash"] = twin_hash
    # a run made under other settings (a calibrated profile copied over
    # agents/population.yaml, say) is not reused
    d["settings"] = _hash(settings_hashes())
    return d


def plan_variants(scenarios: Sequence[Scenario], out: Path, twin_hashes: Mapping[str, str]
                  ) -> tuple[list[Variant], dict[str, tuple[str, str | None]]]:
    """Variants to run, and per scenario name its (folder, base folder or None).

    A folder is the scenario's name (a base run under another horizon: ``name@YEAR``); when
    ``out`` already holds a different configuration under that name, ``-<hash>`` is appended so
    nothing written before is lost.
    """
    variants: dict[str, Variant] = {}
    pairs: dict[str, tuple[str, str | None]] = {}

    def add(s: Scenario, role: str, name: str, used_by: str) -> str:
        cfg = _config(s, twin_hashes[s.twin])
        h = _hash(cfg)
        for v in variants.values():
            if v.config_hash == h:
                v.replications = max(v.replications, int(s.runs["replications"]))
                v.used_by.append(used_by)
                return v.folder
        folder = name
        existing = out / folder / "variant.json"
        taken = {v.folder for v in variants.values()}
        if folder in taken or (existing.exists() and _read_json(existing).get(
                "config_hash") != h):
            folder = f"{name}-{h[:6]}"
        variants[h] = Variant(folder, role, s.to_dict(), h, int(s.runs["replications"]),
                              [used_by])
        return folder

    for s in scenarios:
        own = add(s, "scenario", s.name, s.name)
        base_folder = None
        if s.base is not None:
            b = _as_base(s.base, s)
            name = b.name
            if b.horizon != s.base.horizon and b.horizon.get("year"):
                name = f"{b.name}@{int(b.horizon['year'])}"
            base_folder = add(b, "base", name, s.name)
        pairs[s.name] = (own, base_folder)
    return list(variants.values()), pairs



# --- scheduling ------------------------------------------------------------------------------

def _estimate_run_s(twin: Twin, scenario: Mapping[str, Any]) -> float:
    b = twin.layer("buildings")
    residents = float(b["residents"].sum()) if len(b) else 0.0
    sample = float(scenario["population"].get("sample", 1.0))
    iterations = int(scenario["runs"]["iterations"])
    return 0.05 + 4e-5 * residents * sample * iterations


def _tasks(variants: Sequence[Variant], out: Path, twin_files: Mapping[str, Path],
           inputs: Mapping[str, dict[str, str]], engine: str, min_task_s: float,
           parallel: int = 1) -> list[dict[str, Any]]:
    """Cut the replications into tasks of one variant each.

    A task holds enough replications to take ``min_task_s`` (estimated), and as many as keep
    about two tasks per worker: a worker prepares a variant's twin once per task, so fewer,
    larger tasks prepare less; two per worker still balance the load.
    """
    tasks = []
    n_var = max(1, len(variants))
    share = n_var / max(n_var, 2 * max(1, parallel))
    for v in variants:
        ref = v.scenario["twin"]
        est = _estimate_run_s(load_base_twin(str(twin_files[ref])), v.scenario)
        batch = max(1, math.ceil(min_task_s / max(est, 1e-3)),
                    math.ceil(v.replications * share - 1e-9))
        batch = min(v.replications, batch)
        seeds = v.seeds
        for s in range(0, v.replications, batch):
            reps = list(range(s, min(v.replications, s + batch)))
            tasks.append({
                "id": f"{v.folder}-r{reps[0]}-{reps[-1]}", "folder": v.folder,
                "role": v.role, "scenario": v.scenario, "config_hash": v.config_hash,
                "reps": reps, "seeds": [seeds[k] for k in reps], "out": str(out),
                "twin_file": str(twin_files[ref]), "engine": engine,
                "inputs": inputs[v.folder]})
    return tasks


def _local_cluster(workers: int, engine: str) -> Any:
    """A LocalCluster of single-threaded worker processes.

    Where the platform can fork, workers are forked from this process with twin and the engine
    already imported (spawned workers would spend seconds importing them again).
    """
    import logging
    import multiprocessing

    import dask
    from distributed import LocalCluster

    importlib.import_module(engine)
    importlib.import_module("twin.scenarios.kpis")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # the statistical profiler samples the running task's stack every 10 ms: not needed here
    with dask.config.set({"distributed.worker.multiprocessing-method": method,
                          "distributed.worker.profile.enabled": False}):
        return LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)


def _run_dask(tasks: list[dict[str, Any]], workers: int | None, scheduler: str | None,
              done: Callable[[dict[str, Any], list[dict[str, Any]]], None],
              max_attempts: int = 3, engine: str = DEFAULT_ENGINE) -> list[dict[str, Any]]:
    from distributed import Client, as_completed

    resubmitted: list[dict[str, Any]] = []
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except OSError as err:
            msg = f"cannot reach the Dask scheduler at {scheduler} ({err})"
            raise SimulationError(msg) from err
    else:
        cluster = _local_cluster(int(workers or 1), engine)
        client = Client(cluster)
    try:
        pending = {}
        for t in tasks:
            fut = client.submit(run_task, t, key=f"twin-{t['id']}-{os.getpid()}-a1", pure=False)
            pending[fut] = (t, 1)
        ac = as_completed(list(pending))
        for fut in ac:
            t, attempt = pending.pop(fut)
            try:
                records = fut.result()
            except TwinError:
                raise
            except Exception as err:
                if attempt >= max_attempts:
                    msg = f"task {t['id']} failed {attempt} times; last error: {err!r}"
                    raise SimulationError(msg) from err
                resubmitted.append({"task": t["id"], "attempt": attempt + 1,
                                    "reason": repr(err)[:200]})
                nf = client.submit(run_task, t, key=f"twin-{t['id']}-{os.getpid()}-a"
                                   f"{attempt + 1}", pure=False)
                pending[nf] = (t, attempt + 1)
                ac.add(nf)
                continue
            done(t, records)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return resubmitted


def run_scenarios(paths: Sequence[str | os.PathLike[str] | Scenario], out: str | os.PathLike[str],
                  *, replications: int | None = None, overrides: Mapping[str, Any] | None = None,
                  workers: int | None = None, scheduler: str | None = None,
                  engine: str = DEFAULT_ENGINE, progress: Progress | None = None,
                  min_task_s: float = 1.0, compare: bool = True) -> dict[str, Any]:
    """Run scenario files and their bases; write ``out/<folder>/rep-<k>/`` and ``summary.json``.

    Parameters
    ----------
    paths : sequence of path-like or Scenario
        Scenario files (validated against their twin first) or loaded scenarios.
    out : path-like
        Output folder (created).
    replications : int, optional
        Replications of every scenario (default: each file's ``runs.replications``).
    overrides : mapping, optional
        ``seed``, ``iterations``, ``sample`` for every scenario and base.
    workers, scheduler : optional
        ``workers=N``: a Dask LocalCluster of N processes; ``scheduler``: an existing cluster.
        Neither: serial, in this process.
    engine : str
        Module with ``simulate(twin, *, seed, iterations, sample)`` and
        ``write_day(result, out_dir)``.
    progress : callable, optional
        ``progress(done, total, label)`` after each task.
    min_task_s : float
        Batch replications so each task is estimated to take at least this long.
    compare : bool
        Add each scenario's comparison with its base to the summary.

    Returns
    -------
    dict
        The summary (also written to ``out/summary.json``).

    Raises
    ------
    ScenarioError
        A scenario file is invalid.
    SimulationError
        A run failed (after retries), or the cluster cannot be reached.
    """
    if workers is not None and scheduler is not None:
        msg = "give --workers or --scheduler, not both"
        raise ScenarioError(msg)
    if workers is not None and workers < 1:
        msg = f"--workers must be at least 1, got {workers}"
        raise ScenarioError(msg)
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / "_cache"
    opts = dict(overrides or {})
    if replications is not None:
        opts["replications"] = replications
    unknown = set(opts) - set(_OVERRIDE_KEYS)
    if unknown:
        msg = f"unknown override(s) {sorted(unknown)}; valid: {', '.join(_OVERRIDE_KEYS)}"
        raise ScenarioError(msg)
    t_start = time.perf_counter()
    scenarios = []
    for p in paths:
        s = p if isinstance(p, Scenario) else load_scenario(
            Path(p), twin_provider=lambda ref: load_base_twin(ref, cache))
        scenarios.append(_with_overrides(s, opts))
    twin_files = {s.twin: (demo_twin_path(cache) if s.twin == DEMO else Path(s.twin))
                  for s in scenarios}
    twin_hashes = {ref: file_hash(path) for ref, path in twin_files.items()}
    variants, pairs = plan_variants(scenarios, out_dir, twin_hashes)
    by_name = {s.name: s for s in scenarios}
    inputs = {}
    for v in variants:
        owner = by_name[v.used_by[0]]
        inputs[v.folder] = _input_hashes(owner, twin_files[v.scenario["twin"]])
        (out_dir / v.folder).mkdir(parents=True, exist_ok=True)
        _write_json(out_dir / v.folder / "variant.json", {
            "folder": v.folder, "role": v.role, "config_hash": v.config_hash,
            "scenario": v.scenario, "used_by": v.used_by})
    tasks = _tasks(variants, out_dir, twin_files, inputs, engine, min_task_s,
                   parallel=workers or (4 if scheduler else 1))
    for t in tasks:  # attempts of an earlier, interrupted run do not count
        (out_dir / "_tasks" / f"{t['id']}.log").unlink(missing_ok=True)
    total = sum(len(t["reps"]) for t in tasks)
    finished = 0
    records: dict[str, list[dict[str, Any]]] = {}

    def done(task: dict[str, Any], recs: list[dict[str, Any]]) -> None:
        nonlocal finished
        finished += len(recs)
        records.setdefault(task["folder"], []).extend(recs)
        if progress is not None:
            progress(finished, total, task["folder"])

    resubmitted: list[dict[str, Any]] = []
    if workers is None and scheduler is None:
        for t in tasks:
            done(t, run_task(t))
        mode = "serial"
    else:
        resubmitted = _run_dask(tasks, workers, scheduler, done, engine=engine)
        mode = f"scheduler {scheduler}" if scheduler else f"local cluster, {workers} workers"
    retried = []
    for t in tasks:
        log = out_dir / "_tasks" / f"{t['id']}.log"
        attempts = len(log.read_text().splitlines()) if log.exists() else 0
        if attempts > 1:
            retried.append({"task": t["id"], "folder": t["folder"], "replications": t["reps"],
                            "attempts": attempts})
        log.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out_dir / "_tasks").rmdir()
    summary: dict[str, Any] = {
        "package_version": __version__, "engine": engine, "mode": mode,
        "wall_s": round(time.perf_counter() - t_start, 2), "runs": total,
        "tasks": len(tasks),
        "reused": sum(r.get("reused", False) for rs in records.values() for r in rs),
        "retried": retried, "resubmitted": resubmitted,
        "variants": {v.folder: {"role": v.role, "replications": v.replications,
                                "config_hash": v.config_hash, "used_by": v.used_by}
                     for v in variants},
        "scenarios": {n: {"folder": f, "base": b} for n, (f, b) in pairs.items()},
    }
    if compare:
        from twin.scenarios.compare import compare as compare_dirs

        summary["comparisons"] = {
            n: compare_dirs(out_dir / b, out_dir / f) for n, (f, b) in pairs.items()
            if b is not None}
    _write_json(out_dir / "summary.json", summary)
    return summary
