"""`twin check`, `twin run`, `twin compare`, `twin demo` through the CLI."""

from __future__ import annotations

import json

import pytest
import yaml

from twin.cli import main
from twin.commands import scenarios as commands


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    """A small generated city (500 residents) written to a file."""
    from twin.layers.store import write_twin
    from twin.layers.synthetic import synthetic_twin

    path = tmp_path_factory.mktemp("cli") / "small.twin.gpkg"
    write_twin(synthetic_twin(500, seed=1), path)
    return path


@pytest.fixture
def files(tmp_path, twin_file):
    runs = {"replications": 2, "seed": 3, "iterations": 1, "start_hour": 7, "end_hour": 8}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"name": "base", "twin": str(twin_file), "runs": runs,
         "population": {"sample": 0.5}}))
    (tmp_path / "lanes.yaml").write_text(yaml.safe_dump({
        "name": "lanes", "base": "base.yaml",
        "interventions": [{"type": "road_lanes", "where": {"zone_kind": "old_district"},
                           "lanes_delta": 1, "label": "Widen the main road",
                           "cost": {"capex": 5.0e6, "life_years": 40,
                                    "financing": {"model": "BOT", "concession_years": 20,
                                                  "user_fees_per_year": 2.0e5}}}]}))
    return tmp_path


def test_the_commands_are_registered():
    from twin.cli import cli

    assert {"check", "run", "compare", "demo"} <= set(cli.commands)
    assert commands.demo.params[0].default == "twin-demo"


def test_check_ok(files, capsys):
    assert main(["check", str(files / "lanes.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok: " in out
    assert "lanes: 1 intervention(s), 0 inherited" in out


def test_check_reports_file_line_and_exits_2(files, capsys):
    (files / "bad.yaml").write_text("name: bad\nbase: base.yaml\nrunz: {}\ninterventions:\n"
                                    "  - type: road_lanes\n    where: {ids: [r404]}\n"
                                    "    lanes: 2\n")
    assert main(["check", str(files / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3: runz: unknown key (did you mean 'runs'?)" in err
    assert "Traceback" not in err
    (files / "bad2.yaml").write_text("name: bad2\nbase: base.yaml\ninterventions:\n"
                                     "  - type: road_lanes\n    where: {ids: [r404]}\n"
                                     "    lanes: 2\n")
    assert main(["check", str(files / "bad2.yaml")]) == 2
    assert "bad2.yaml:4: interventions[0] (road_lanes).where.ids: roads feature 'r404' does " \
        "not exist" in capsys.readouterr().err
    assert main(["check", "--no-twin", str(files / "bad2.yaml")]) == 0


def test_run_then_compare(files, capsys):
    out = files / "out"
    assert main(["run", str(files / "lanes.yaml"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 runs (0 reused)" in text
    assert "lanes vs base (2 paired replications)" in text
    assert "delay_hours" in text
    assert "95% CI" in text
    assert "public budget cash flow" in text
    assert "ASSUMPTION" in text
    assert main(["compare", str(out / "base"), str(out / "lanes"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["delay_hours"]) == {"base_mean", "scenario_mean", "diff", "ci_low",
                                        "ci_high", "significant", "unit"}
    assert isinstance(data["delay_hours"]["diff"], float)
    assert main(["compare", str(out / "base"), str(out / "lanes"), "--kpi", "co2_t"]) == 0
    text = capsys.readouterr().out
    assert "co2_t" in text
    assert "delay_hours" not in text
    assert "Widen the main road" in text
    assert "BOT" in text


def test_run_json_and_overrides(files, capsys):
    """Also `twin run scenarios/*.yaml`: the economics settings file among them is skipped."""
    from twin._resources import data_dir

    out = files / "out"
    econ = data_dir("scenarios") / "economics.yaml"
    assert main(["run", str(econ), str(files / "lanes.yaml"), "--out", str(out), "-n", "1",
                 "--seed", "5", "--iterations", "1", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["runs"] == 2
    assert summary["comparisons"]["lanes"]["replications"] == 1
    assert f"skipped: {econ} is the economics settings file" in captured.err


def test_check_skips_the_economics_file_among_several(files, capsys):
    from twin._resources import data_dir

    econ = data_dir("scenarios") / "economics.yaml"
    assert main(["check", "--no-twin", str(econ), str(files / "lanes.yaml")]) == 0
    captured = capsys.readouterr()
    assert "skipped: " in captured.err
    assert "not a scenario" in captured.err
    assert "ok: " in captured.out
    # alone, it is an error that says what the file is
    assert main(["check", "--no-twin", str(econ)]) == 2
    assert "this is the economics settings file" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["-n", "0"], ["-n", "-2"], ["--replications", "0"],
                                  ["--workers", "0"], ["--iterations", "0"],
                                  ["--sample", "0"]])
def test_run_refuses_counts_below_one_without_a_traceback(files, capsys, args):
    code = main(["run", str(files / "lanes.yaml"), "--out", str(files / "o"), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Invalid value for" in err
    assert not (files / "o").exists()


def test_demo_refuses_counts_below_one(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "-n", "0"]) == 2
    assert "Invalid value for '--replications' / '-n': 0 is not in the range" in \
        capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--workers", "0"]) == 2
    assert not (tmp_path / "d").exists()


def _fake_runs(folder, name, sample, values, scenario=None):
    for k, v in enumerate(values):
        rep = folder / name / f"rep-{k}"
        rep.mkdir(parents=True)
        (rep / "kpis.json").write_text(json.dumps({"co2_t": {"value": v, "unit": "t"}}))
        (rep / "run.json").write_text(json.dumps({"seed": k, "sample": sample,
                                                  "iterations": 3}))
        (rep / "scenario.json").write_text(json.dumps(scenario or {"name": name}))
    return folder / name


def test_compare_warns_on_different_settings_and_prints_costs_json(tmp_path, capsys):
    scenario = {"name": "scen", "interventions": [
        {"type": "adaptive_signals", "origin": "scen", "label": "signals",
         "cost": {"capex": 1e6, "life_years": 15}, "financing": {"model": "PPP"}}]}
    b = _fake_runs(tmp_path, "base", 1.0, [2.0, 2.2])
    s = _fake_runs(tmp_path, "scen", 0.5, [1.0, 1.1], scenario)
    assert main(["compare", str(b), str(s), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert set(data) == {"co2_t"}                      # the contract: KPI names only
    assert data["co2_t"]["unit"] == "t CO2/day"
    assert f"warning: sample differs: 1.0 in {b}, 0.5 in {s}" in captured.err
    assert main(["compare", str(b), str(s), "--json", "--costs"]) == 0
    costs = json.loads(capsys.readouterr().out)
    assert costs["capex"] == 1e6
    assert set(costs["public_cash_flow"]) >= {"public", "BOT", "PPP"}
    assert main(["compare", str(b), str(s), "--costs"]) == 2
    assert "--costs goes with --json" in capsys.readouterr().err


def test_run_refuses_workers_with_scheduler(files, capsys):
    assert main(["run", str(files / "lanes.yaml"), "--out", str(files / "o"), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "give --workers or --scheduler, not both" in capsys.readouterr().err


def test_compare_without_runs_exits_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "no complete replication" in capsys.readouterr().err
