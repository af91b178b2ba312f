"""The work on a worker: base twins, prepared variants, one task's replications, run folders.

Private module of :mod:`twin.scenarios.runner`, which re-exports every public name.
:func:`load_base_twin` reads the twin a scenario names (the demo twin is built once into a
cache by :func:`demo_twin_path`); :func:`prepare_twin` applies the horizon and interventions to
a copy. :func:`run_task` runs the replications of one task: each is simulated by the engine and
written under a temporary name (``scenario.json``, ``run.json`` with seed, input hashes,
configuration hash and timings, ``kpis.json`` and the engine's results), then renamed, so a
crash never leaves half a result and a complete one is reused. :func:`engine_options` shows the
engine inputs ``twin.extras`` holds.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
>>> _write_json(p, {"a": 1})
>>> _read_json(p), _read_json(p.with_name("missing.json"))
({'a': 1}, {})
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from twin import __version__
from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.layers.store import Twin, file_hash
from twin.scenarios.spec import DEMO, Scenario, scenario_from_dict

__all__ = [
    "demo_twin_path",
    "engine_options",
    "load_base_twin",
    "prepare_twin",
    "run_task",
]


# --- base twins ------------------------------------------------------------------------------

def _user_cache() -> Path:
    env = os.environ.get("TWIN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "twin"


def demo_twin_path(cache: str | os.PathLike[str] | None = None) -> Path:
    """The demo twin file in ``cache`` (default: the user cache), built on first use.

    Examples
    --------
    >>> # demo_twin_path("out/_cache") -> Path("out/_cache/demo-0.1.0.twin.gpkg")
    """
    folder = Path(cache) if cache is not None else _user_cache()
    path = folder / f"demo-{__version__}.twin.gpkg"
    if not path.exists():
        import warnings

        from twin.layers import init_twin

        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            init_twin(path, demo=True, overwrite=True)
    return path


@lru_cache(maxsize=4)
def _read_twin_cached(path: str, stamp: tuple[int, float]) -> Twin:
    """Read a twin once per process; ``stamp`` (size, mtime) renews the cache on change."""
    from twin.layers.store import read_twin

    del stamp
    return read_twin(path)


def load_base_twin(ref: str, cache: str | os.PathLike[str] | None = None) -> Twin:
    """The twin a scenario names: a file path, or ``"demo"`` (built into ``cache``).

    The twin is read once per process and must not be changed: use :func:`prepare_twin`.

    Examples
    --------
    >>> # load_base_twin("demo").meta["name"] -> 'helsinki-demo'
    """
    path = demo_twin_path(cache) if ref == DEMO else Path(ref)
    if not path.is_file():
        msg = f"twin file {path} does not exist; build it with `twin init` or use `twin: demo`"
        raise ScenarioError(msg)
    st = path.stat()
    return _read_twin_cached(str(path.resolve()), (st.st_size, st.st_mtime))


def prepare_twin(scenario: Scenario, base: Twin) -> Twin:
    """A copy of ``base`` with the scenario's horizon and interventions applied.

    Intervention ``i`` draws from ``numpy.random.default_rng([runs.seed, i])``: the built
    environment is the same in every replication; the day varies.

    Examples
    --------
    >>> # t = prepare_twin(load_scenario("scenarios/bus-line.yaml"), load_base_twin("demo"))
    """
    from twin.scenarios.horizon import apply_horizon
    from twin.scenarios.registry import get

    work = base.copy()
    work.extras = copy.deepcopy(base.extras)
    work = apply_horizon(work, scenario.horizon)
    for i, entry in enumerate(scenario.interventions):
        rng = np.random.default_rng([int(scenario.runs["seed"]), i])
        try:
            work = get(entry.type).func(work, copy.deepcopy(entry.params), rng)
        except ScenarioError as err:
            msg = f"{scenario.name}: intervention {i + 1} ({entry.type}): {err}"
            raise ScenarioError(msg) from err
    work.extras["scenario"] = scenario.name
    return work


# --- run folders and hashes ------------------------------------------------------------------

def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _input_hashes(s: Scenario, twin_file: Path) -> dict[str, str]:
    out = {"twin": file_hash(twin_file)}
    b: Scenario | None = s
    while b is not None:
        if b.file and Path(b.file).is_file():
            out[f"scenario:{Path(b.file).name}"] = file_hash(b.file)
        b = b.base
    out.update(settings_hashes())
    return out


def settings_hashes() -> dict[str, str]:
    """Hashes of the settings every run reads: the agents' profiles and the economics file."""
    out = {f"agents/{p.name}": file_hash(p) for p in sorted(data_dir("agents").glob("*.yaml"))}
    econ = data_dir("scenarios") / "economics.yaml"
    if econ.is_file():
        out["scenarios/economics.yaml"] = file_hash(econ)
    return out


# --- the work on a worker --------------------------------------------------------------------

def engine_options(twin: Twin, day_hours: tuple[float, float] = (5.0, 24.0)
                   ) -> tuple[dict[str, Any], list[str]]:
    """The engine inputs ``twin.extras`` holds, as explicit model options, and notes.

    The day simulation reads ``twin.extras`` itself (:mod:`twin.agents.day_inputs`), so the
    runner does not pass these; they are for callers that want the arrays: node capacity
    factors and delays (``node_factor``, ``node_delay_s``), roads closed for the whole day
    (``capacity_scale`` 0 on both directions), closed in some hours (``hourly_capacity``) and
    dark signals (``hourly_node_factor``, ``hourly_node_delay_s``). Notes name ids that are not
    in the twin.

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> engine_options(Twin(layers={}, meta=new_meta("t", 3067)))
    ({}, [])
    """
    extras = twin.extras or {}
    if not (extras.get("params") or {}) and not extras.get("events"):
        return {}, []
    from twin.agents.day_inputs import engine_inputs
    from twin.agents.mobility import load_engine_config
    from twin.network.roads import road_graph

    graph = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    inputs = engine_inputs(twin, graph, load_engine_config(), start_h=day_hours[0],
                           end_h=day_hours[1])
    return inputs.link_options(), list(inputs.notes)


def _accepts(func: Callable[..., Any], names: Sequence[str]) -> bool:
    import inspect

    params = inspect.signature(func).parameters
    return any(p.kind is p.VAR_KEYWORD for p in params.values()) or all(
        n in params for n in names)


_PREPARED: dict[str, tuple[Twin, dict[str, float]]] = {}


def _prepared(task: Mapping[str, Any]) -> tuple[Twin, dict[str, float]]:
    """The variant's twin (horizon and interventions applied) and its layer KPIs, once per
    process."""
    key = str(task["config_hash"])
    if key not in _PREPARED:
        from twin.scenarios.kpis import layer_kpis

        scenario = scenario_from_dict(task["scenario"])
        base = load_base_twin(str(task["twin_file"]))
        twin = prepare_twin(scenario, base)
        if len(_PREPARED) >= 4:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = (twin, layer_kpis(twin))
    return _PREPARED[key]


def _complete(rep: Path, config_hash: str, seed: int) -> bool:
    run = _read_json(rep / "run.json")
    return (run.get("config_hash") == config_hash and run.get("seed") == seed
            and (rep / "kpis.json").is_file())


def _flat(kpis: Mapping[str, Any]) -> dict[str, Any]:
    from twin.scenarios.compare import _flat as flat

    return flat(kpis)


def run_task(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run the replications of one task (one variant); return one record per replication.

    Called on a worker (or in-process when serial). Each attempt is logged first.
    """
    out = Path(task["out"])
    log = out / "_tasks" / f"{task['id']}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"start {socket.gethostname()} pid {os.getpid()} {time.time():.3f}\n")
    from twin.scenarios.kpis import kpi_info, trip_kpis

    engine = importlib.import_module(str(task["engine"]))
    folder = out / str(task["folder"])
    records = []
    for k, seed in zip(task["reps"], task["seeds"], strict=True):
        rep = folder / f"rep-{k}"
        if _complete(rep, task["config_hash"], seed):
            records.append({"rep": k, "seed": seed, "reused": True})
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        twin, layer = _prepared(task)
        t1, c1 = time.perf_counter(), time.process_time()
        runs = task["scenario"]["runs"]
        sample = float(task["scenario"]["population"].get("sample", 1.0))
        opts = {"start_h": float(runs.get("start_hour", 5)),
                "end_h": float(runs.get("end_hour", 24))}
        accepted = {n: v for n, v in opts.items() if _accepts(engine.simulate, [n])}
        dropped = sorted(n for n in set(opts) - set(accepted)
                         if (n, opts[n]) not in (("start_h", 5.0), ("end_h", 24.0)))
        notes = [f"the engine does not take {', '.join(dropped)}: not applied"] if dropped \
            else []
        opts = accepted
        result = engine.simulate(twin.copy(), seed=seed, iterations=int(runs["iterations"]),
                                 sample=sample, **opts)
        t2, c2 = time.perf_counter(), time.process_time()
        tmp = folder / f".rep-{k}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        engine.write_day(result, tmp)
        kpis = _flat(dict(getattr(result, "kpis", {}) or {}))
        trips = getattr(result, "trips", None)
        if trips is not None:
            kpis.update({k2: v for k2, v in trip_kpis(trips, sample).items() if k2 not in kpis})
        kpis.update(layer)
        # units: the report's, else those the engine wrote (e.g. of its day analyses)
        engine_units = {n: str(e.get("unit", "")) for n, e in
                        _read_json(tmp / "kpis.json").items() if isinstance(e, dict)}
        _write_json(tmp / "kpis.json", {n: {"value": v, "unit": kpi_info(n).unit
                                            or engine_units.get(n, "")}
                                        for n, v in sorted(kpis.items())})
        _write_json(tmp / "scenario.json", task["scenario"])
        engine_run = _read_json(tmp / "run.json")
        _write_json(tmp / "run.json", {
            "scenario": task["scenario"]["name"], "folder": task["folder"],
            "role": task["role"], "replication": k, "seed": seed,
            "package_version": __version__, "engine": task["engine"],
            "config_hash": task["config_hash"], "inputs": task["inputs"],
            "timings": {"prepare_s": round(t1 - t0, 3), "simulate_s": round(t2 - t1, 3),
                        "write_s": round(time.perf_counter() - t2, 3)},
            "cpu_s": {"prepare": round(c1 - c0, 3), "simulate": round(c2 - c1, 3),
                      "write": round(time.process_time() - c2, 3)},
            "worker": f"{socket.gethostname()}:{os.getpid()}", "notes": notes,
            "engine_run": engine_run})
        try:
            os.replace(tmp, rep)
        except OSError:   # another attempt finished it first: keep that one
            shutil.rmtree(tmp, ignore_errors=True)
        records.append({"rep": k, "seed": seed, "reused": False,
                        "wall_s": round(time.perf_counter() - t0, 3)})
    return records
