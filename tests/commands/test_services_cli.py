"""``twin services forecast``, ``twin warn``, ``twin sensors ...`` and ``twin calibrate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.scenarios.conftest import MAIN, X0, Y0, corridor_twin
from twin.cli import main
from twin.layers.store import read_twin, write_twin
from twin.scenarios.interventions.services import facility_add


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = facility_add(corridor_twin(), {"kind": "fire_station", "at": [X0 - 20.0, Y0 - 20.0],
                                       "capacity": 0.0, "units": 1, "name": "west"},
                     np.random.default_rng(0))
    return write_twin(t, tmp_path_factory.mktemp("cli") / "c.twin.gpkg")


@pytest.fixture
def fresh_file(twin_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy.twin.gpkg"
    out.write_bytes(twin_file.read_bytes())
    return out


def scenario(tmp_path: Path, twin_file: Path, interventions: list[dict]) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "s", "twin": str(twin_file),
                                 "interventions": interventions}), encoding="utf-8")
    return p


# --- services forecast --------------------------------------------------------------------------

def test_forecast(twin_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "years.csv"
    assert main(["services", "forecast", str(twin_file), "--to-year", "2035", "--from-year",
                 "2026", "--growth", "2", "--growth", "z1=4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Demand against capacity 2026-2035 (residents +2% a year; zones: z1 +4%" in text
    assert "clinic" in text
    assert "served outside it" in text
    assert out.read_text(encoding="utf-8").startswith("year,kind,zone_id,demand_per_day")


def test_forecast_json(twin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services", "forecast", str(twin_file), "--to-year", "2030", "--from-year",
                 "2026", "--kind", "clinic", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in data["by_kind"]] == ["clinic"]


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "spa"], "facility kind 'spa' is not in the data dictionary"),
    (["--growth", "zz=1"], "zone 'zz' does not exist"),
    (["--growth", "fast"], "give a percentage per year"),
])
def test_forecast_bad_input(twin_file: Path, capsys: pytest.CaptureFixture[str],
                            args: list[str], message: str) -> None:
    assert main(["services", "forecast", str(twin_file), "--to-year", "2030", *args]) == 2
    assert message in capsys.readouterr().err


# --- warn ---------------------------------------------------------------------------------------

def test_warn(twin_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario(tmp_path, twin_file, [
        {"type": "road_blockage", "where": {"ids": MAIN}, "hours": [7, 9],
         "label": "Main road blocked"}])
    assert main(["warn", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[1] Main road blocked (road_blockage), 07:00-09:00" in out
    assert "no ambulance can reach" in out
    assert main(["warn", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hazards"][0]["residents_cut_off"] > 0


def test_warn_flood_outside_exits_2(twin_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario(tmp_path, twin_file, [{"type": "flood", "polygon": [
        [X0 + 9e4, Y0], [X0 + 9.1e4, Y0], [X0 + 9.1e4, Y0 + 100]], "hours": [6, 9]}])
    assert main(["warn", str(path)]) == 2
    assert "lies outside the twin" in capsys.readouterr().err


def test_unknown_facility_kind_in_a_scenario_exits_2(twin_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario(tmp_path, twin_file, [
        {"type": "flood", "polygon": [[X0, Y0], [X0 + 100, Y0], [X0 + 100, Y0 + 100]]},
        {"type": "facility_add", "kind": "ambulance_depot", "at": [X0, Y0], "units": 2}])
    assert main(["warn", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'ambulance_depot' is not allowed" in err
    assert "hospital" in err


# --- sensors ------------------------------------------------------------------------------------

def test_coverage_and_gaps(twin_file: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    gaps = tmp_path / "gaps.gpkg"
    assert main(["sensors", "coverage", str(twin_file), "--gaps", str(gaps)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("camera: 1 sensors cover")
    import pyogrio

    assert {n for n, _ in pyogrio.list_layers(gaps)} == {"coverage_gaps", "sensor_coverage"}
    assert main(["sensors", "coverage", str(twin_file), "--kind", "drone"]) == 2
    assert "sensor kind 'drone'" in capsys.readouterr().err


def test_place_writes_a_scenario_and_applies(fresh_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cams.yaml"
    assert main(["sensors", "place", str(fresh_file), "--budget", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 new camera sites (range 40 m): coverage" in text
    from twin.scenarios.spec import load_scenario

    sc = load_scenario(out)
    assert sc.interventions[0].type == "sensor_add"
    assert len(sc.interventions[0].params["points"]) == 3
    assert main(["sensors", "place", str(fresh_file), "--budget", "2", "--apply",
                 "--author", "ana"]) == 0
    s = read_twin(fresh_file).layer("sensors")
    assert len(s) == 3
    assert (s["source"] == "user").sum() == 2
    assert main(["sensors", "place", str(fresh_file), "--budget", "0"]) == 2


# --- counts and calibration -----------------------------------------------------------------------

@pytest.mark.parametrize(("csv", "message"), [
    ("sensor_id,hour,count\nghost,8,10\n", "sensor 'ghost' is not in the twin's sensors layer"),
    ("sensor_id,hour,count\ns1,8,-5\n", "count -5 is negative"),
    ("sensor_id,hour,count\ns1,8h30,5\n", "malformed hour '8h30'"),
    ("sensor_id,hour,count,date\ns1,8,5,yesterday\n", "malformed date 'yesterday'"),
])
def test_import_counts_bad_input(fresh_file: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str], csv: str,
                                 message: str) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(csv, encoding="utf-8")
    assert main(["sensors", "import-counts", str(fresh_file), str(counts)]) == 2
    assert message in capsys.readouterr().err
    assert main(["calibrate", str(fresh_file), "--counts", str(counts)]) == 2
    assert read_twin(fresh_file).observations is None       # nothing written


def test_import_and_calibrate(fresh_file: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text("sensor_id,hour,count\ns1,7,900\ns1,08:00,1400\ns1,9,800\n",
                      encoding="utf-8")
    assert main(["sensors", "import-counts", str(fresh_file), str(counts)]) == 0
    assert "imported 3 counts of 1 sensors" in capsys.readouterr().out
    out = tmp_path / "external-calibrated.yaml"
    assert main(["calibrate", str(fresh_file), "--out", str(out), "--rounds", "1",
                 "--iterations", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["before"]["counts"] == 3
    assert data["out"] == str(out)
    from twin.agents.external import load_external_config

    assert load_external_config(out).through_traffic["hourly_profile"]


def test_calibrate_without_counts_exits_2(fresh_file: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(fresh_file)]) == 2
    assert "no counts to calibrate against" in capsys.readouterr().err
