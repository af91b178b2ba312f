"""Tests for twin.agents.model: the mesa model, its clock, agents, learning and interventions."""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
import pytest

from tests.agents.test_plans import city
from twin._errors import SimulationError
from twin.agents.external import load_external_config
from twin.agents.model import CityModel, Resident


@pytest.fixture(scope="module")
def run_model() -> CityModel:
    m = CityModel(city(residents=40, spacing=300.0), seed=11, iterations=2)
    m.run()
    return m


def congested_city() -> tuple:
    twin = city(residents=100, spacing=300.0)
    roads = twin.layers["roads"]
    bottom = roads["highway"] == "primary"
    roads.loc[bottom, "capacity_vph"] = 300.0
    roads.loc[~bottom, "capacity_vph"] = 250.0
    ext = dataclasses.replace(load_external_config(), gateways={
        "n0": {"through_scale": 5.0}, "n3": {"through_scale": 5.0}})
    return twin, ext


def test_model_owns_agents_clock_and_collector(run_model: CityModel) -> None:
    m = run_model
    assert isinstance(m, mesa.Model)
    residents = m.agents_by_type[Resident]
    assert len(residents) == m.population.n == 40 * 9
    first = next(iter(residents))
    assert first.home_id == m.places.ids[m.population.home[first.index]]
    assert first.mode in {None, "car", "transit", "walk", "bike"}
    hourly = m.datacollector.get_model_vars_dataframe()
    assert hourly["hour"].tolist() == list(range(5, 24))
    assert hourly["departures"].sum() == pytest.approx(m.plans.n_trips)
    assert hourly["car_departures"].sum() == pytest.approx(len(m.car_trips))
    assert len(m.gaps) == 2
    assert m.result is not None
    assert m.result.arrive_s.shape == (len(m.car_trips),)
    assert {"network_s", "plans_s", "engine_s"} <= set(m.timings)


def test_same_seed_same_day_other_seed_other_day() -> None:
    twin = city(residents=30, spacing=300.0)
    a = CityModel(twin, seed=5, iterations=1)
    b = CityModel(twin, seed=5, iterations=1)
    c = CityModel(twin, seed=6, iterations=1)
    assert np.array_equal(a.plans.trip_depart_s, b.plans.trip_depart_s)
    assert list(a.plans.trip_mode) == list(b.plans.trip_mode)
    assert not np.array_equal(a.plans.trip_depart_s[:50], c.plans.trip_depart_s[:50])


def test_learning_reduces_the_relative_gap() -> None:
    twin, ext = congested_city()
    m = CityModel(twin, seed=2, iterations=5, external_config=ext)
    m.run()
    assert m.gaps[0] > 0.1
    assert m.gaps[-1] < 0.8 * m.gaps[0]
    assert m.congested().any()


def test_progress_reports_iteration_and_clock() -> None:
    seen: list[tuple[int, float]] = []
    m = CityModel(city(residents=20, spacing=300.0), seed=1, iterations=2,
                  progress=lambda it, clock: seen.append((it, clock)))
    m.run()
    assert seen[-1] == (2, 24 * 3600.0)
    assert {it for it, _ in seen} == {1, 2}


def test_interventions_from_extras_close_roads_and_set_node_factors() -> None:
    twin = city(residents=60, spacing=300.0)
    road = str(twin.layers["roads"].loc[twin.layers["roads"]["highway"] == "primary",
                                        "id"].iloc[1])
    twin.extras["events"] = [{"type": "close_roads", "road_ids": [road], "hours": [7, 10]}]
    twin.extras["params"] = {"node_capacity_factor": {"n1": 0.5}, "node_delay_s": {"n1": 9.0}}
    m = CityModel(twin, seed=1, iterations=2)
    m.run()
    closed = m.road_ids == road
    # closed in 07-10 only: open before and after, nobody enters it then
    assert not m.links.closed[closed].any()
    by_hour = m.links.closed_by_hour()[closed]
    assert by_hour[:, 7:10].all()
    assert not by_hour[:, [5, 6, 10, 11]].any()
    assert m.result.link_entries[closed][:, 7:10].sum() == 0
    # routes of the trips departing 06:00-10:00 avoid it (a trip leaving at 06:50 would meet it)
    _, _, hour = m._od_nodes()
    owner = np.repeat(np.arange(len(hour)), np.diff(m.route_ptr))
    on_it = np.isin(m.route_links, np.flatnonzero(closed))
    assert not on_it[np.isin(hour[owner], [6, 7, 8, 9])].any()
    into_n1 = m.graph.to_node == int(m.graph.node_index(["n1"])[0])
    assert np.allclose(m.links.flow_cap_per_s[into_n1],
                       m.graph.capacity_vph[into_n1] / 3600 * 0.5)
    assert np.allclose(m.links.fft_s[into_n1], m.graph.fft_s[into_n1] + 9.0)
    assert not any("closed all day" in n for n in m.notes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"iterations": 0}, "iterations must be >= 1"),
    ({"sample": 0.0}, r"sample must be in \(0, 1\]"),
    ({"start_h": 9.0, "end_h": 8.0}, "0 <= start_h < end_h <= 24"),
])
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        CityModel(city(residents=5), seed=1, **kwargs)


def test_twin_without_roads_or_residents() -> None:
    twin = city(residents=5)
    twin.layers["roads"] = twin.layers["roads"].iloc[0:0]
    with pytest.raises(SimulationError, match="the twin has no roads"):
        CityModel(twin, seed=1)
    with pytest.raises(SimulationError, match="the twin has no residents"):
        CityModel(city(residents=0), seed=1)


def test_closed_roads_leave_walking() -> None:
    twin = city(residents=10, spacing=300.0)
    twin.layers["road_nodes"]["gateway"] = False
    roads = twin.layers["roads"]
    twin.extras["events"] = [{"type": "close_roads", "road_ids": roads["id"].tolist(),
                              "hours": [0, 24]}]
    model = CityModel(twin, seed=1, iterations=1)  # walking still works: closed roads only
    assert model.route_links.size == 0  # no car drives a road (only trips within a node)
    assert {"walk", "bike"} <= set(model.plans.trip_mode)


def test_nobody_routable_is_an_error() -> None:
    """Homes on one road island, every job and shop on another: no agent can be routed."""
    twin = city(residents=10, spacing=300.0, island=True)
    b = twin.layers["buildings"]
    b["residents"] = np.where(b["id"] == "island", 50, 0)
    twin.layers["road_nodes"]["gateway"] = False
    with pytest.raises(SimulationError, match=r"no agent could be routed: \d+ disconnected"):
        CityModel(twin, seed=1)


def test_a_closure_7_to_9_reroutes_traffic_then_and_not_at_10() -> None:
    # r2 is the middle of the primary bottom row n0-n1-n2-n3; r9 (n5-n6) runs beside it
    twin = city(residents=120, spacing=300.0)
    closed = twin.copy()
    closed.extras["events"] = [{"type": "close_roads", "road_ids": ["r2"], "hours": [7, 9]}]
    days = {}
    for name, t in (("base", twin), ("closed", closed)):
        m = CityModel(t, seed=2, iterations=3)
        m.run()
        per_road = {r: m.result.link_entries[m.road_ids == r].sum(axis=0) for r in ("r2", "r9")}
        days[name] = per_road
    base, shut = days["base"], days["closed"]
    # nobody on r2 in 07-09 (nor from 06:00: drivers leaving then avoid it), all on r9
    assert shut["r2"][6:9].tolist() == [0, 0, 0]
    assert base["r2"][6:9].tolist() == [350, 746, 878]
    assert shut["r9"][6:9].tolist() == [350, 738, 871]
    assert base["r9"][6:9].sum() <= 2
    # at 10:00 the day is as without the closure
    assert shut["r2"][10] == base["r2"][10] == 528
    assert shut["r9"][10] == base["r9"][10]
