"""Tests for twin.scenarios.warn: early warning for the hazards of a scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.scenarios.conftest import MAIN, X0, Y0, corridor_twin
from twin._errors import ScenarioError
from twin.layers.store import Twin, write_twin
from twin.scenarios.interventions.services import facility_add
from twin.scenarios.warn import format_warning, hazard_effects, warn_scenario


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[X0 + x0, Y0 + y0], [X0 + x1, Y0 + y0], [X0 + x1, Y0 + y1], [X0 + x0, Y0 + y1]]


def station_twin() -> Twin:
    t = corridor_twin()
    return facility_add(t, {"kind": "fire_station", "at": [X0 - 20.0, Y0 - 20.0],
                            "capacity": 0.0, "units": 1, "name": "west"},
                        np.random.default_rng(0))


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_twin(station_twin(), tmp_path_factory.mktemp("warn") / "c.twin.gpkg")


def scenario(tmp_path: Path, twin_file: Path, interventions: list[dict]) -> Path:
    p = tmp_path / "hazards.yaml"
    p.write_text(yaml.safe_dump({"name": "hazards", "twin": str(twin_file),
                                 "interventions": interventions}), encoding="utf-8")
    return p


def test_warn_flood_and_blockage(twin_file: Path, tmp_path: Path) -> None:
    path = scenario(tmp_path, twin_file, [
        {"type": "flood", "polygon": box(550, -50, 650, 50), "hours": [6, 12],
         "label": "River flood"},
        {"type": "road_blockage", "where": {"ids": MAIN}, "hours": [7, 9]},
        {"type": "facility_add", "kind": "clinic", "at": [X0 + 100, Y0 - 100]}])
    report = warn_scenario(path)
    assert [h.type for h in report.hazards] == ["flood", "road_blockage"]
    fl, rb = report.hazards
    assert fl.label == "River flood"
    assert fl.hours == [6.0, 12.0]
    assert fl.roads_closed == ["r3", "r4"]
    # the flooded bus cuts every bus beyond it from the substation in the east
    assert {"f1", "f3"} <= set(fl.facilities_without_power["facility_id"])
    assert "f2" not in set(fl.facilities_without_power["facility_id"])
    # and the flooded junction cuts the west from the reservoir
    assert {"f1", "f3"} <= set(fl.facilities_without_water["facility_id"])
    # closing the main road cuts the homes on it off from the station in the west
    assert rb.roads_closed == sorted(MAIN)
    cut = rb.cut_off.set_index("building_id")
    assert cut["reason"].eq("no ambulance can reach").all()
    assert cut["residents"].sum() > 0
    r = rb.response
    assert r["during"]["residents_beyond_target"] > r["before"]["residents_beyond_target"]
    assert r["during"]["within_target_share"] < r["before"]["within_target_share"]
    assert r["base"].startswith("ambulance base")
    text = format_warning(report)
    assert "[1] River flood (flood), 06:00-12:00" in text
    assert "facilities without power" in text
    assert "residents cut off" in text
    assert report.to_dict()["hazards"][1]["residents_cut_off"] == cut["residents"].sum()


def test_flooded_homes_are_reported() -> None:
    ref = station_twin()
    from twin.scenarios.interventions.hazards import flood

    wet = flood(ref.copy(), {"polygon": box(100, -200, 200, -100), "hours": [0, 24]},
                np.random.default_rng(0))
    cut, response = hazard_effects(ref, wet, [0, 24])
    assert cut.set_index("building_id").loc["b0", "reason"] == "flooded"
    assert response["target_min"] == 8.0


def test_no_hazard_is_an_error(twin_file: Path, tmp_path: Path) -> None:
    path = scenario(tmp_path, twin_file, [{"type": "e_services", "share": 0.3}])
    with pytest.raises(ScenarioError, match="has no hazard to warn about"):
        warn_scenario(path)


def test_warn_with_congested_times(twin_file: Path, tmp_path: Path) -> None:
    path = scenario(tmp_path, twin_file, [
        {"type": "road_blockage", "where": {"ids": MAIN}, "hours": [7, 9]}])
    report = warn_scenario(path, simulate=True, seed=1, sample=0.5)
    assert "congested" in report.notes[0]
    assert report.hazards[0].response["during"]["mean_min"] >= 0
