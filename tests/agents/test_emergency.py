"""Tests for twin.agents.emergency: units, congested link times, dispatch, response KPIs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.sparse.csgraph import dijkstra

from tests.scenarios.conftest import MAIN, corridor_twin
from twin.agents.emergency import (
    _dispatch,
    attach,
    closed_links,
    coverage_day,
    emergency_day,
    emergency_units,
    hourly_link_times,
    people_present,
    place_set,
    response_matrix,
)
from twin.agents.model import CityModel
from twin.agents.services import ServicesConfig, load_services_config
from twin.agents.simulate import simulate
from twin.layers.store import Twin
from twin.network.roads import road_graph
from twin.scenarios.interventions.hazards import road_blockage
from twin.scenarios.interventions.services import facility_add

X0, Y0 = 385000.0, 6672000.0


def with_station(twin: Twin, units: int | None = 1) -> Twin:
    """The corridor with a fire station at its west end."""
    return facility_add(twin, {"kind": "fire_station", "at": [X0 - 20.0, Y0 - 20.0],
                               "capacity": 0.0, "units": units, "name": "west"},
                        np.random.default_rng(0))


def busy(rate: float = 5.0, ambulances: int = 10) -> ServicesConfig:
    cfg = load_services_config()
    em = dict(cfg.emergency)
    em["incidents"] = {"medical": {**em["incidents"]["medical"], "per_1000_people_h": rate},
                       "fire": {**em["incidents"]["fire"], "per_1000_people_h": rate / 10}}
    em["ambulances_per_fire_station"] = ambulances
    return dataclasses.replace(cfg, emergency=em)


@pytest.fixture(scope="module")
def twin() -> Twin:
    return with_station(corridor_twin())


@pytest.fixture(scope="module")
def day(twin: Twin):
    return simulate(twin, seed=1, iterations=2, start_h=6.0, end_h=12.0)


def test_units_by_base_with_flags() -> None:
    t = with_station(corridor_twin(), units=3)
    t.layers["facilities"]["units"] = t.layers["facilities"]["units"].astype("Int64")
    t.layers["facilities"].loc[t.layers["facilities"]["kind"] == "fire_station", "units"] = \
        pd.NA                                     # none given: the dictionary's default
    t = facility_add(t, {"kind": "hospital", "at": [X0 + 900.0, Y0 + 30.0], "capacity": 60.0,
                         "units": 2, "name": "east"}, np.random.default_rng(0))
    u = emergency_units(t)
    got = u.groupby(["base_kind", "unit", "source"]).size().to_dict()
    assert got == {("fire_station", "ambulance", "derived"): 2,
                   ("fire_station", "engine", "default"): 3,
                   ("hospital", "ambulance", "layer"): 2}
    assert u["unit_id"].is_unique


def test_people_present_counts_person_hours(twin: Twin, day) -> None:
    places = place_set(twin, road_graph(twin.layer("roads"), twin.layer("road_nodes")))
    present = people_present(places, day.activities)
    # at 03:00 everybody who sleeps in the twin is at home
    homes = np.isin(places.ids, twin.layer("buildings")["id"].astype(str)[
        twin.layer("buildings")["residents"] > 0])
    assert present[homes, 3].sum() == pytest.approx(720, abs=1)
    assert (present >= 0).all()


def test_link_times_are_the_engines(twin: Twin, day) -> None:
    model = CityModel(twin, seed=1, iterations=2, start_h=6.0, end_h=12.0)
    model.run()
    g = model.graph
    lt = hourly_link_times(g, day.link_hours)
    hours = np.arange(6, 12)
    np.testing.assert_allclose(lt[:, hours], model.result.link_time_s[:, hours], rtol=1e-9)
    assert (lt[:, 8] > g.fft_s * 1.01).any()     # the morning peak is congested somewhere


def test_response_uses_that_hours_times(twin: Twin, day) -> None:
    g = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    lt = hourly_link_times(g, day.link_hours)
    src = attach(g, np.array([[X0 - 20.0, Y0 - 20.0]]))[0]
    hours = np.array([7, 8, 11])
    drive = response_matrix(g, lt, closed_links(twin, g), src, hours)
    for i, h in enumerate(hours):
        want = dijkstra(g.csr(lt[:, h])[0], indices=src)
        np.testing.assert_allclose(drive[i, 0], want[0])


def test_closing_the_fast_road_raises_response_times(twin: Twin, day) -> None:
    cfg = busy()
    base, t0 = emergency_day(twin, day, np.random.default_rng(7), config=cfg)
    shut = road_blockage(twin.copy(), {"where": {"ids": MAIN}, "at": None, "radius_m": 30.0,
                                       "hours": [6, 12]}, np.random.default_rng(0))
    closed, t1 = emergency_day(shut, day, np.random.default_rng(7), config=cfg)
    assert base["emergency_incidents"] == closed["emergency_incidents"] > 20
    assert closed["emergency_nearest_base_mean_min"] > base["emergency_nearest_base_mean_min"]
    assert closed["emergency_coverage_share"] <= base["emergency_coverage_share"]
    a, b = t0["emergency_incidents"], t1["emergency_incidents"]
    assert a["incident_id"].tolist() == b["incident_id"].tolist()
    both = a["reached"].to_numpy(bool) & b["reached"].to_numpy(bool)
    slower = b["response_min"].to_numpy()[both] - a["response_min"].to_numpy()[both]
    assert (slower >= -1e-9).all()
    assert (slower > 0.5).any()
    # homes on the main road itself (its intersections a1, a2) are cut off
    assert closed["emergency_unreached"] >= base["emergency_unreached"]


def test_closure_only_in_its_hours(twin: Twin, day) -> None:
    g = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    shut = road_blockage(twin.copy(), {"where": {"ids": MAIN}, "at": None, "radius_m": 30.0,
                                       "hours": [7, 9]}, np.random.default_rng(0))
    lt = hourly_link_times(g, day.link_hours)
    src = attach(g, np.array([[X0 - 20.0, Y0 - 20.0]]))[0]
    hours = np.array([6, 8, 10])
    open_ = response_matrix(g, lt, closed_links(twin, g), src, hours)
    part = response_matrix(g, lt, closed_links(shut, g), src, hours)
    east = g.node_index(["E"])[0]
    assert part[1, 0, east] > open_[1, 0, east]          # 08:00: closed
    assert part[0, 0, east] == open_[0, 0, east]          # 06:00, 10:00: open
    assert part[2, 0, east] == open_[2, 0, east]


def test_new_ambulance_base_improves_response(twin: Twin, day) -> None:
    cfg = busy()
    base, _ = emergency_day(twin, day, np.random.default_rng(3), config=cfg)
    more = facility_add(twin.copy(), {"kind": "hospital", "at": [X0 + 1000.0, Y0 - 30.0],
                                      "capacity": 60.0, "units": 2, "name": "east"},
                        np.random.default_rng(0))
    new, tables = emergency_day(more, day, np.random.default_rng(3), config=cfg)
    assert new["emergency_nearest_base_mean_min"] < base["emergency_nearest_base_mean_min"]
    assert new["emergency_response_mean_min"] < base["emergency_response_mean_min"]
    assert new["emergency_coverage_share"] >= base["emergency_coverage_share"]
    units = tables["emergency_units"]
    assert units.loc[units["base_kind"] == "hospital", "missions"].sum() > 0


def test_a_quiet_day(twin: Twin, day) -> None:
    kpis, tables = emergency_day(twin, day, np.random.default_rng(0), config=busy(0.0))
    assert kpis["emergency_incidents"] == 0
    assert "emergency_response_p90_min" not in kpis       # undefined: left out, not made up
    assert 0 < kpis["emergency_coverage_share"] <= 1
    assert len(tables["emergency_incidents"]) == 0
    assert "within_target" in tables["emergency_incidents"].columns


def test_busy_units_make_calls_wait(twin: Twin, day) -> None:
    _, tables = emergency_day(twin, day, np.random.default_rng(1), config=busy(20.0, 1))
    inc = tables["emergency_incidents"]
    med = inc[inc["type"] == "medical"]
    assert (med["wait_s"] > 0).any()
    # response = waiting for the unit + 1 min dispatch + driving + walking to the door
    rest = med["response_min"] * 60 - med["wait_s"] - med["drive_s"] - 60.0
    assert (rest >= 0).all()
    assert (rest < 300).all()
    zones = tables["emergency_zones"]
    assert zones["incidents"].sum() == len(inc)


def test_dispatch_nearest_free_unit() -> None:
    from twin.agents.emergency import PlaceSet

    places = PlaceSet(np.array(["building"], object), np.array(["b"], object),
                      np.array(["z"], object), np.zeros((1, 2)), np.array([2]), np.zeros(1))
    units = pd.DataFrame({"unit_id": ["near", "far"], "unit": "ambulance", "base_id": ["a", "b"]})
    drive = np.full((1, 2, 3), np.inf)
    drive[0, 0, 2], drive[0, 1, 2] = 60.0, 300.0
    inc = pd.DataFrame({"type": "medical", "unit": "ambulance", "t_s": [0.0, 10.0, 20.0],
                        "hour": 0, "place": 0})
    cfg = {"dispatch_min": 1.0, "access_speed_kph": 5.0,
           "incidents": {"medical": {"service_min": 60.0}}}
    out = _dispatch(inc, units, np.array([0, 1]), drive, {0: 0}, places, cfg)
    assert out["unit_id"].tolist() == ["near", "far", "near"]
    assert out["wait_s"].iloc[2] == pytest.approx(60 + 60 + 3600 - 20)  # waits for "near"
    assert out["response_min"].iloc[0] == pytest.approx(2.0)


def test_coverage_day(twin: Twin, day) -> None:
    kpis, tables = coverage_day(twin, day, np.random.default_rng(0))
    assert 0 < kpis["camera_coverage_share"] < 1
    gaps = tables["coverage_gaps"]
    assert gaps["length_m"].sum() / 1000 == pytest.approx(kpis["camera_gap_km"], rel=1e-3)
