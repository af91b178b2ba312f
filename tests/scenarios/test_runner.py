"""The runner: outputs, common random numbers, reuse, Dask (local and existing), worker death.

This module doubles as a stand-in engine (``simulate`` / ``write_day`` below) for the worker
death test: its first call kills the worker process.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import pytest
import yaml
from distributed import LocalCluster

from twin._errors import ScenarioError, SimulationError
from twin.layers.store import file_hash
from twin.scenarios import runner
from twin.scenarios.runner import plan_variants, replication_seed, run_scenarios
from twin.scenarios.spec import load_scenario

DIE_ONCE = "TWIN_TEST_DIE_ONCE"


# --- a stand-in engine --------------------------------------------------------------------

@dataclass
class _Day:
    kpis: dict[str, float]


def simulate(twin, *, seed: int, iterations: int = 1, sample: float = 1.0, **options: Any):
    """Kill this worker the first time (when DIE_ONCE names a marker file), else a fake day."""
    marker = os.environ.get(DIE_ONCE)
    if marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    time.sleep(0.3)
    roads = float(twin.layer("roads")["capacity_vph"].sum())
    return _Day({"fake_kpi": roads + seed % 1000, "sample": sample})


def write_day(result: _Day, out_dir: Path) -> None:
    (Path(out_dir) / "kpis.json").write_text(json.dumps(result.kpis))


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path, corridor_file):
    runs = {"replications": 2, "seed": 11, "iterations": 1, "start_hour": 7, "end_hour": 9}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"name": "base", "twin": str(corridor_file), "runs": runs}))
    (tmp_path / "signals.yaml").write_text(yaml.safe_dump({
        "name": "signals", "base": "base.yaml",
        "interventions": [{"type": "adaptive_signals", "where": {"zone_kind": "old_district"},
                           "cost": {"capex": 1.0e6, "opex_per_year": 2.0e4,
                                    "life_years": 15, "financing": "PPP"}}]}))
    (tmp_path / "grow.yaml").write_text(yaml.safe_dump({
        "name": "grow", "base": "base.yaml",
        "horizon": {"year": 2035, "population_growth_pct_per_year": 2.0},
        "interventions": [{"type": "e_services", "share": 0.5}]}))
    return tmp_path


def kpis(folder: Path, k: int) -> dict[str, Any]:
    return json.loads((folder / f"rep-{k}" / "kpis.json").read_text())


@pytest.fixture
def fork_cluster():
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    yield cluster
    cluster.close()


# --- tests ---------------------------------------------------------------------------------

def test_serial_run_writes_every_replication_of_scenario_and_base(files, corridor_file):
    before = file_hash(corridor_file)
    out = files / "out"
    summary = run_scenarios([files / "signals.yaml"], out)
    assert file_hash(corridor_file) == before          # the twin file is never modified
    assert summary["scenarios"] == {"signals": {"folder": "signals", "base": "base"}}
    assert summary["runs"] == 4
    assert summary["retried"] == []
    assert summary["mode"] == "serial"
    for folder in ("signals", "base"):
        for k in range(2):
            rep = out / folder / f"rep-{k}"
            names = {p.name for p in rep.iterdir()}
            assert {"kpis.json", "run.json", "scenario.json", "links.gpkg",
                    "trips.parquet", "power.parquet", "water.parquet",
                    "utilities.gpkg"} <= names
            run = json.loads((rep / "run.json").read_text())
            assert run["seed"] == replication_seed(11, k)          # common random numbers
            assert run["package_version"]
            assert run["inputs"]["twin"] == before
            assert "scenario:base.yaml" in run["inputs"]
            assert "agents/population.yaml" in \
                run["inputs"]
            assert set(run["timings"]) == {"prepare_s", "simulate_s", "write_s"}
    k0 = kpis(out / "signals", 0)
    assert k0["delay_hours"]["unit"] == "veh-h/day"
    assert k0["access_clinic_15min_share"]["unit"] == "share"
    # every run solves the power and water networks of its day
    assert k0["peak_line_loading_pct"]["unit"] == "%"
    assert k0["power_unsolved_hours"]["value"] == 0
    assert k0["min_pressure_m"]["value"] > 0
    assert k0["delay_hours"]["value"] < kpis(out / "base", 0)["delay_hours"]["value"]
    resolved = json.loads((out / "signals" / "rep-0" / "scenario.json").read_text())
    assert resolved["interventions"][0]["type"] == "adaptive_signals"
    assert resolved["base"]["name"] == "base"
    saved = json.loads((out / "summary.json").read_text())
    cmp = saved["comparisons"]["signals"]
    assert cmp["replications"] == 2
    assert cmp["kpis"]["delay_hours"]["diff"] < 0
    assert cmp["costs"]["capex"] == 1.0e6
    assert not (out / "_tasks").exists()


def test_a_rerun_reuses_finished_replications_and_rewrites_nothing(files):
    out = files / "out"
    run_scenarios([files / "signals.yaml"], out)
    stamp = (out / "signals" / "rep-1" / "kpis.json").stat().st_mtime_ns
    again = run_scenarios([files / "signals.yaml"], out)
    assert again["reused"] == 4
    assert (out / "signals" / "rep-1" / "kpis.json").stat().st_mtime_ns == stamp
    more = run_scenarios([files / "signals.yaml"], out, replications=3)
    assert more["reused"] == 4
    assert more["runs"] == 6
    assert (out / "signals" / "rep-2" / "kpis.json").exists()


def test_the_base_runs_under_the_scenario_horizon_in_its_own_folder(files):
    out = files / "out"
    summary = run_scenarios([files / "grow.yaml", files / "signals.yaml"], out,
                            replications=1, overrides={"iterations": 1})
    assert summary["scenarios"]["grow"] == {"folder": "grow", "base": "base@2035"}
    assert summary["scenarios"]["signals"]["base"] == "base"
    grown = kpis(out / "base@2035", 0)["residents"]["value"]
    assert grown == round(720 * 1.02 ** 10)
    assert kpis(out / "base", 0)["residents"]["value"] == 720
    # the same growth in both: the comparison measures e-services only
    assert summary["comparisons"]["grow"]["kpis"]["residents"]["diff"] == 0.0
    assert summary["comparisons"]["grow"]["kpis"]["access_service_centre_15min_share"][
        "diff"] == pytest.approx(0.5 * (1 - kpis(out / "base@2035", 0)[
            "access_service_centre_15min_share"]["value"]))


def test_a_folder_holding_another_configuration_is_not_overwritten(files, corridor_file):
    out = files / "out"
    run_scenarios([files / "signals.yaml"], out, replications=1)
    stamp = (out / "base" / "rep-0" / "kpis.json").read_text()
    summary = run_scenarios([files / "signals.yaml"], out, replications=1,
                            overrides={"seed": 99})
    base_folder = summary["scenarios"]["signals"]["base"]
    assert base_folder.startswith("base-")
    assert base_folder != "base"
    assert (out / "base" / "rep-0" / "kpis.json").read_text() == stamp


def test_plan_shares_one_base_between_scenarios(files):
    s1 = load_scenario(files / "signals.yaml", check_twin=False)
    s2 = load_scenario(files / "grow.yaml", check_twin=False)
    hashes = {s1.twin: "h"}
    variants, pairs = plan_variants([s1, s2, s1], files / "none", hashes)
    assert sorted(v.folder for v in variants) == ["base", "base@2035", "grow", "signals"]
    base = next(v for v in variants if v.folder == "base")
    assert base.used_by == ["signals", "signals"]
    assert base.role == "base"
    assert pairs["grow"] == ("grow", "base@2035")


def test_tasks_batch_replications_per_variant(files):
    s = load_scenario(files / "signals.yaml", check_twin=False)
    variants, _ = plan_variants([s], files / "none", {s.twin: "h"})
    for v in variants:
        v.replications = 6
    twin = {variants[0].scenario["twin"]: Path(variants[0].scenario["twin"])}
    inputs = {v.folder: {} for v in variants}

    def reps(**kw):
        return [t["reps"] for t in runner._tasks(variants, files, twin, inputs, "e", **kw)]

    # serial: one task per variant
    assert reps(min_task_s=0.0) == [list(range(6))] * 2
    # 2 workers, 2 variants: about two tasks per worker
    assert reps(min_task_s=0.0, parallel=2) == [[0, 1, 2], [3, 4, 5]] * 2
    # 8 workers: one replication per task, unless a task would take less than min_task_s
    assert len(reps(min_task_s=0.0, parallel=8)) == 12
    assert reps(min_task_s=1e6, parallel=8) == [list(range(6))] * 2


def test_two_local_workers_give_the_same_kpis_as_serial(files):
    serial = files / "serial"
    local = files / "local"
    run_scenarios([files / "signals.yaml"], serial, min_task_s=0.0)
    summary = run_scenarios([files / "signals.yaml"], local, workers=2, min_task_s=0.0)
    assert summary["mode"] == "local cluster, 2 workers"
    for folder in ("signals", "base"):
        for k in range(2):
            assert kpis(local / folder, k) == kpis(serial / folder, k)


def test_an_existing_cluster_gives_the_same_kpis_as_serial(files, fork_cluster):
    serial = files / "serial"
    remote = files / "remote"
    run_scenarios([files / "signals.yaml"], serial)
    summary = run_scenarios([files / "signals.yaml"], remote,
                            scheduler=fork_cluster.scheduler_address)
    assert summary["mode"] == f"scheduler {fork_cluster.scheduler_address}"
    for folder in ("signals", "base"):
        for k in range(2):
            assert kpis(remote / folder, k) == kpis(serial / folder, k)


def test_a_worker_that_dies_mid_run_is_retried_and_the_summary_says_so(files, monkeypatch):
    marker = files / "died"
    monkeypatch.setenv(DIE_ONCE, str(marker))
    out = files / "out"
    summary = run_scenarios([files / "signals.yaml"], out, workers=2, engine=__name__,
                            min_task_s=0.0)
    assert marker.exists()                              # a worker did die
    assert len(summary["retried"]) == 1
    assert summary["retried"][0]["attempts"] == 2
    for folder in ("signals", "base"):
        for k in range(2):
            assert "fake_kpi" in kpis(out / folder, k)
    # identical to a run where nobody died
    monkeypatch.delenv(DIE_ONCE)
    clean = run_scenarios([files / "signals.yaml"], files / "clean", engine=__name__)
    assert clean["retried"] == []
    for folder in ("signals", "base"):
        for k in range(2):
            assert kpis(out / folder, k) == kpis(files / "clean" / folder, k)


def test_bad_options_are_refused(files, monkeypatch):
    p = files / "signals.yaml"
    with pytest.raises(ScenarioError, match="give --workers or --scheduler, not both"):
        run_scenarios([p], files / "o", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ScenarioError, match="--workers must be at least 1, got 0"):
        run_scenarios([p], files / "o", workers=0)
    with pytest.raises(ScenarioError, match=r"unknown override\(s\) \['speed'\]"):
        run_scenarios([p], files / "o", overrides={"speed": 1})
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(SimulationError, match=r"cannot reach the Dask scheduler at "
                       r"tcp://127\.0\.0\.1:9"):
        run_scenarios([p], files / "o", scheduler="tcp://127.0.0.1:9")


def test_an_invalid_scenario_stops_before_anything_runs(files):
    (files / "bad.yaml").write_text("name: bad\nbase: base.yaml\ninterventions:\n"
                                    "  - type: road_close\n    where: {ids: [nope]}\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:4: .*roads feature 'nope' does not "
                       "exist"):
        run_scenarios([files / "bad.yaml"], files / "out")
    assert not (files / "out" / "bad").exists()


def test_a_missing_twin_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist; build it with `twin init`"):
        runner.load_base_twin(str(tmp_path / "none.twin.gpkg"))
