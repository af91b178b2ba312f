"""Scale-out: 8 demo runs on a 2-worker Dask LocalCluster vs the same 8 runs serially.

The runs: the demo baseline (``scenarios/baseline.yaml``, the demo twin of central Helsinki)
with 8 replications, each a full simulated weekday (05:00-24:00) of all residents with 5
route-learning iterations (``--quick``: half the residents, 2 iterations). Both sweeps go through
:func:`twin.scenarios.runner.run_scenarios` into fresh folders, so each includes preparing the
scenario twin, the layer KPIs and writing every replication; the parallel one also includes
starting the cluster. The demo twin is built once beforehand (the same cache for both). The
in-process caches are cleared before the parallel sweep, so its workers prepare the twin
themselves as a ``twin run --workers 2`` would.

Ratio: serial wall time over parallel wall time for the same 8 runs (throughput ratio; target
at least 1.6 on this 2-core machine). The KPIs of both sweeps must be identical. The row also
gives the CPU seconds each sweep used (this process and its children) and the load average
before it: on a shared machine the parallel sweep cannot be faster than the cores it gets.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import row

from twin._resources import data_dir
from twin.scenarios import runner

RUNS = 8


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _sweep(out: Path, workers: int | None, overrides: dict[str, Any]) -> tuple[float, float]:
    c0, t0 = _cpu_s(), time.perf_counter()
    runner.run_scenarios([data_dir("scenarios") / "baseline.yaml"], out, replications=RUNS,
                         overrides=overrides, workers=workers, compare=False)
    return time.perf_counter() - t0, _cpu_s() - c0


def _kpis(folder: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / f"rep-{k}" / "kpis.json").read_text()) for k in range(RUNS)]


def bench_sweep(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """8 demo runs: 2 local Dask workers vs serial (throughput ratio, target >= 1.6)."""
    overrides = {"sample": 0.5, "iterations": 2} if quick else {"sample": 1.0,
                                                                "iterations": 5}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = root / "_cache"
        runner.demo_twin_path(cache)
        best_serial = best_parallel = float("inf")
        cpu_serial = cpu_parallel = 0.0
        load = os.getloadavg()[0]
        for i in range(max(1, repeat)):
            serial, parallel = root / f"serial{i}", root / f"parallel{i}"
            for out in (serial, parallel):
                out.mkdir()
                shutil.copytree(cache, out / "_cache")
            t_serial, c_serial = _sweep(serial, None, overrides)
            runner._PREPARED.clear()
            runner._read_twin_cached.cache_clear()
            t_parallel, c_parallel = _sweep(parallel, 2, overrides)
            if _kpis(serial / "baseline") != _kpis(parallel / "baseline"):
                msg = "the KPIs of the serial and the parallel sweep differ"
                raise AssertionError(msg)
            if t_serial < best_serial:
                best_serial, cpu_serial = t_serial, c_serial
            if t_parallel < best_parallel:
                best_parallel, cpu_parallel = t_parallel, c_parallel
        rows.append(row("sweep", "wall s for 8 demo runs, 2 workers", best_parallel,
                        "serial (1 process)", best_serial,
                        runs=RUNS, runs_per_min_parallel=round(RUNS / best_parallel * 60, 2),
                        runs_per_min_serial=round(RUNS / best_serial * 60, 2),
                        kpis_identical=True, cpu_s_serial=round(cpu_serial, 1),
                        cpu_s_parallel=round(cpu_parallel, 1),
                        load_average_before=round(load, 2), **overrides))
    return rows


BENCHMARKS = {"sweep": bench_sweep}
