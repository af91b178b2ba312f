"""Tests for the hazard interventions (flood, road_blockage) and the KPIs they register."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.scenarios.conftest import MAIN, X0, Y0, corridor_twin
from twin._errors import ScenarioError
from twin.layers.store import Twin, write_twin
from twin.scenarios.interventions.hazards import flood, road_blockage, twin_extent
from twin.scenarios.registry import get
from twin.scenarios.spec import load_scenario

RNG = np.random.default_rng(0)


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[X0 + x0, Y0 + y0], [X0 + x1, Y0 + y0], [X0 + x1, Y0 + y1], [X0 + x0, Y0 + y1]]


@pytest.fixture
def twin() -> Twin:
    return corridor_twin()


def events(t: Twin, kind: str) -> list[dict]:
    return [e for e in t.extras.get("events", []) if e["type"] == kind]


def test_flood_closes_roads_and_fails_nodes_in_its_hours(twin: Twin) -> None:
    out = flood(twin, {"polygon": box(550, -50, 650, 50), "hours": [6.0, 12.0]}, RNG)
    (close,) = events(out, "close_roads")
    assert close["road_ids"] == ["r3", "r4"]
    assert close["hours"] == [6.0, 12.0]
    assert events(out, "power_outage")[0]["power_node_ids"] == ["pba2"]
    assert events(out, "water_outage")[0]["water_node_ids"] == ["wja2"]
    (fl,) = events(out, "flood")
    assert fl["building_ids"] == []
    assert fl["hours"] == [6.0, 12.0]
    assert out.extras["highlight"]["roads"] == ["r3", "r4"]


def test_flood_all_day_and_in_lon_lat(twin: Twin) -> None:
    from pyproj import Transformer

    tr = Transformer.from_crs(twin.crs, "EPSG:4326", always_xy=True)
    lonlat = [list(tr.transform(x, y)) for x, y in box(100, -200, 200, -100)]
    out = flood(twin, {"polygon": lonlat, "hours": None}, RNG)
    (fl,) = events(out, "flood")
    assert fl["building_ids"] == ["b0"]
    assert fl["hours"] == [0, 24]


def test_flood_outside_the_twin(twin: Twin) -> None:
    with pytest.raises(ScenarioError, match=r"flood: the polygon \(bounds .*\) lies outside "
                                            r"the twin"):
        flood(twin, {"polygon": box(50000, 0, 50100, 100), "hours": [1, 2]}, RNG)
    with pytest.raises(ScenarioError, match="the shape is empty or invalid"):
        flood(twin, {"polygon": [[0, 0], [1, 1], [2, 2]], "hours": [1, 2]}, RNG)


def test_flood_outside_in_a_scenario_file(twin: Twin, tmp_path: Path) -> None:
    path = write_twin(twin, tmp_path / "c.twin.gpkg")
    sc = tmp_path / "flood.yaml"
    sc.write_text(yaml.safe_dump({"name": "flood", "twin": str(path), "interventions": [
        {"type": "flood", "polygon": box(50000, 0, 50100, 100), "hours": [6, 9]}]}),
        encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"flood.yaml:\d+: .*lies outside the twin"):
        load_scenario(sc)


def test_road_blockage_at_a_point(twin: Twin) -> None:
    out = road_blockage(twin, {"where": None, "at": [X0 + 450, Y0 + 5], "radius_m": 20.0,
                               "hours": [7.0, 10.0]}, RNG)
    (close,) = events(out, "close_roads")
    assert close == {"type": "close_roads", "road_ids": ["r3"], "hours": [7.0, 10.0],
                     "cause": "road_blockage"}


def test_road_blockage_bad_input(twin: Twin) -> None:
    with pytest.raises(ScenarioError, match="exactly one of `where` and `at`"):
        road_blockage(twin, {"where": None, "at": None, "radius_m": 30.0, "hours": None}, RNG)
    with pytest.raises(ScenarioError, match="no road within 5 m"):
        road_blockage(twin, {"where": None, "at": [X0 + 450, Y0 + 200], "radius_m": 5.0,
                             "hours": None}, RNG)


def test_registered_as_hazards() -> None:
    assert get("flood").family == "hazards"
    assert get("road_blockage").params["radius_m"].default == 30.0
    assert get("facility_add").params["units"].type == "int"   # ambulance / fire bases


def test_extent(twin: Twin) -> None:
    minx, _miny, maxx, maxy = twin_extent(twin).bounds
    assert minx <= X0 - 300
    assert maxx >= X0 + 1200
    assert maxy >= Y0 + 600


def test_kpis_have_units_groups_and_labels() -> None:
    from twin.scenarios.kpis import KPIS, kpi_info
    from twin.views.i18n import STRINGS, kpi_label

    assert kpi_info("clinic_wait_p90_min").unit == "min"
    assert kpi_info("clinic_wait_p90_min").group == "livelihood"
    assert kpi_info("emergency_coverage_share").better == "higher"
    assert kpi_info("emergency_response_p90_min").group == "government_safety"
    assert kpi_info("camera_coverage_share").group == "government_safety"
    for name in KPIS:
        assert f"kpi_{name}" in STRINGS, name
        assert kpi_label(name, "zh") != name.replace("_", " ")


# --- the KPIs move the right way ----------------------------------------------------------------

def test_flood_cuts_power_and_slows_response(twin: Twin) -> None:
    from tests.agents.test_emergency import busy, with_station
    from twin.agents.emergency import emergency_day
    from twin.agents.simulate import simulate
    from twin.network.utilities import run_utilities, typical_activities

    acts = typical_activities(twin, seed=1)
    wet = flood(twin.copy(), {"polygon": box(550, -50, 650, 50), "hours": [6.0, 12.0]}, RNG)
    _, k0 = run_utilities(twin, acts)
    _, k1 = run_utilities(wet, acts)
    assert k1["power_unserved_mwh"] > k0["power_unserved_mwh"]
    assert k1["unmet_water_m3"] > k0["unmet_water_m3"]
    base = with_station(corridor_twin())
    day = simulate(base, seed=1, iterations=1, start_h=6.0, end_h=12.0)
    wet2 = flood(base.copy(), {"polygon": box(250, -50, 350, 50), "hours": [6.0, 12.0]}, RNG)
    e0, _ = emergency_day(base, day, np.random.default_rng(2), config=busy())
    e1, _ = emergency_day(wet2, day, np.random.default_rng(2), config=busy())
    assert e1["emergency_nearest_base_mean_min"] > e0["emergency_nearest_base_mean_min"]
    assert e1["emergency_coverage_share"] <= e0["emergency_coverage_share"]


def test_road_blockage_in_the_day_raises_delay(twin: Twin) -> None:
    from tests.scenarios.conftest import fast_sim, road_delay_h

    base = fast_sim(twin)
    shut = road_blockage(twin.copy(), {"where": {"ids": MAIN}, "at": None, "radius_m": 30.0,
                                       "hours": [6, 10]}, RNG)
    blocked = fast_sim(shut)
    assert blocked.kpis["delay_hours"] > base.kpis["delay_hours"]
    assert road_delay_h(blocked, MAIN) == 0.0
