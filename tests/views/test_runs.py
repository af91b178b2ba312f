"""Reading what a map shows: twin files, day folders, scenario runs, utility results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from twin._errors import LayerError
from twin.views.runs import find_replications, load_source, replication_index, road_hours


def test_twin_file_alone(twin_file: Path) -> None:
    src = load_source(twin_file)
    assert src.label == "grid"
    assert src.folder is None
    assert src.trips is None
    assert src.hours is None


def test_day_folder_reads_its_twin_from_run_json(day_dir: Path) -> None:
    src = load_source(day_dir)
    assert src.folder == day_dir
    assert src.trips is not None
    assert src.trips.num_rows == 16
    assert src.hours == (5, 24)
    assert src.building_kw is not None
    assert list(src.building_kw.columns) == list(range(24))
    assert src.replications == 0


def test_road_hours_take_the_busier_direction(day_dir: Path) -> None:
    rh = road_hours(day_dir / "links.gpkg")
    r0 = rh[(rh["road_id"] == "r0") & (rh["hour"] == 8)].iloc[0]
    # r0 carries v/c 1.1 forwards and 0.9 backwards; volumes add up
    assert r0["vc"] == pytest.approx(1.1)
    assert r0["volume"] == pytest.approx(1.1 * 600 + 0.9 * 600)


def test_scenario_folder_uses_its_first_replication_and_scenario(runs_dir: Path) -> None:
    assert [p.name for p in find_replications(runs_dir / "closure")] == ["rep-0", "rep-1",
                                                                         "rep-2"]
    src = load_source(runs_dir / "closure")
    assert src.folder == runs_dir / "closure" / "rep-0"
    assert src.replications == 3
    assert src.label == "closure"
    assert src.twin.extras["highlight"] == {"roads": ["r0"]}
    roads = src.twin.layer("roads").set_index("id")
    assert roads.loc["r0", "capacity_vph"] == 1.0
    assert replication_index(src.folder) == 0


def test_utility_results_are_read_when_present(day_dir: Path) -> None:
    pd.DataFrame({"id": ["l1", "l1", "l2"], "hour": [0, 1, 0],
                  "loading_pct": [10.0, 20.0, 5.0]}).to_parquet(day_dir / "power.parquet")
    wide = pd.DataFrame({"id": ["w1"], **{str(h): [30.0 + h] for h in range(24)}})
    (day_dir / "utilities").mkdir()
    wide.to_parquet(day_dir / "utilities" / "water.parquet")
    src = load_source(day_dir)
    assert src.line_loading is not None
    assert src.line_loading.loc["l1", 1] == 20.0
    assert src.node_pressure is not None
    assert src.node_pressure.loc["w1", 23] == 53.0


def test_errors_name_the_folder_and_the_fix(tmp_path: Path, day_dir: Path) -> None:
    with pytest.raises(LayerError, match="no such file or folder"):
        load_source(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayerError, match="not a run folder"):
        load_source(empty)
    run = json.loads((day_dir / "run.json").read_text())
    run["input"] = str(tmp_path / "gone.twin.gpkg")
    (day_dir / "run.json").write_text(json.dumps(run))
    with pytest.raises(LayerError, match=r"give it with --twin FILE\.twin\.gpkg"):
        load_source(day_dir)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "links.gpkg").write_text("not a GeoPackage")
    with pytest.raises(LayerError, match="cannot read the link results"):
        road_hours(tmp_path / "broken" / "links.gpkg")


def test_explicit_twin_for_a_folder_without_input(day_dir: Path, twin_file: Path) -> None:
    run = json.loads((day_dir / "run.json").read_text())
    run["input"] = None
    (day_dir / "run.json").write_text(json.dumps(run))
    assert load_source(day_dir, twin=twin_file).twin.meta["name"] == "grid"
