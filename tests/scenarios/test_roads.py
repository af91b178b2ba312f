"""Road interventions: the layer changes, and their effect on the simulated corridor."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scenarios.conftest import MAIN, PARALLEL, X0, Y0, fast_sim, road_delay_h
from twin._errors import ScenarioError
from twin.network.roads import road_graph
from twin.scenarios.interventions.roads import as_points, new_ids
from twin.scenarios.registry import get
from twin.scenarios.runner import engine_options

RNG = np.random.default_rng(0)


def apply(twin, itype, **params):
    spec = get(itype).params
    full = {k: params.get(k, p.default) for k, p in spec.items()}
    return get(itype).func(twin.copy(), full, RNG)


def simulate(twin, **kw):
    opts, _ = engine_options(twin)
    return fast_sim(twin, **opts, **kw)


@pytest.fixture(scope="module")
def base_day():
    from tests.scenarios.conftest import corridor_twin

    return simulate(corridor_twin())


def test_new_ids_skip_existing_ones():
    assert new_ids(["rs1", "rs3"], "rs", 3) == ["rs2", "rs4", "rs5"]


def test_lon_lat_points_are_projected(corridor):
    xy = as_points([24.94, 60.17], corridor)
    assert 380000 < xy[0, 0] < 390000
    assert 6670000 < xy[0, 1] < 6675000
    with pytest.raises(ScenarioError, match=r"at: expected \[x, y\]"):
        as_points([[1, 2, 3]], corridor, "at")


def test_road_add_between_nodes_derives_lanes_speed_capacity_and_a_footpath(corridor):
    out = apply(corridor, "road_add", from_node="b1", to_node="a2", highway="secondary")
    r = out.layers["roads"].set_index("id").loc["rs1"]
    assert (r["u"], r["v"], r["lanes"], r["speed_kph"], r["capacity_vph"]) == (
        "b1", "a2", 1, 40.0, 800.0)
    assert r["source"] == "user"
    assert r["capacity_vph_source"] == "user"
    assert r["length_m"] == pytest.approx(np.hypot(300, 300))
    assert len(out.layers["roads"]) == len(corridor.layers["roads"]) + 1
    assert out.extras["highlight"]["roads"] == ["rs1"]
    assert len(road_graph(out.layers["roads"], out.layers["road_nodes"]).link_ids) == 18


def test_road_add_along_a_line_snaps_its_ends_or_adds_nodes(corridor):
    out = apply(corridor, "road_add", geometry=[[X0 + 5, Y0 + 5], [X0 + 300, Y0 + 600]],
                lanes=2)
    r = out.layers["roads"].set_index("id").loc["rs1"]
    assert r["u"] == "W"                      # 7 m from W: snapped
    assert r["v"] == "ns1"                    # nothing near: a new node
    assert r["lanes"] == 2
    assert r["capacity_vph"] == 1400.0
    assert "ns1" in set(out.layers["road_nodes"]["id"])


@pytest.mark.parametrize(("params", "message"), [
    ({}, "road_add needs `geometry` or both `from_node` and `to_node`"),
    ({"from_node": "a1", "to_node": "a1"}, "from_node and to_node are the same node"),
    ({"from_node": "a1", "to_node": "nope"}, "road node 'nope' does not exist"),
    ({"geometry": "POINT (1 2)"}, "geometry must be a line of positive length"),
])
def test_road_add_errors(corridor, params, message):
    with pytest.raises(ScenarioError, match=message):
        apply(corridor, "road_add", **params)


def test_road_add_bypass_lowers_delay(corridor, base_day):
    # a second two-lane road from W to E takes the load off the signalised corridor
    out = apply(corridor, "road_add", from_node="W", to_node="E", highway="primary", lanes=2)
    day = simulate(out)
    assert day.kpis["delay_hours"] < 0.7 * base_day.kpis["delay_hours"]


def test_road_close_all_day_changes_the_layer_and_adds_the_event(corridor):
    out = apply(corridor, "road_close", where={"ids": ["r3"]})
    r = out.layers["roads"].set_index("id")
    assert r.loc["r3", "capacity_vph"] == 1.0
    assert r.loc["r3", "speed_kph"] == 1.0
    assert r.loc["r2", "capacity_vph"] == corridor.layers["roads"].set_index("id").loc[
        "r2", "capacity_vph"]
    assert out.extras["events"] == [{"type": "close_roads", "road_ids": ["r3"],
                                     "hours": [0, 24]}]
    opts, notes = engine_options(out)
    g = road_graph(out.layers["roads"], out.layers["road_nodes"])
    closed = g.link_ids[opts["capacity_scale"] == 0].tolist()
    assert sorted(closed) == ["r3", "r3:rev"]
    assert notes == []
    assert corridor.extras == {}               # the input twin is untouched


def test_road_close_for_some_hours_closes_the_links_in_those_hours_only(corridor):
    out = apply(corridor, "road_close", where={"ids": ["r3"]}, hours=[7.0, 10.0])
    assert out.layers["roads"].set_index("id").loc["r3", "capacity_vph"] == 900.0
    opts, notes = engine_options(out)
    assert notes == []
    assert "capacity_scale" not in opts
    g = road_graph(out.layers["roads"], out.layers["road_nodes"])
    [(links, hours, factor)] = opts["hourly_capacity"]
    assert sorted(g.link_ids[links].tolist()) == ["r3", "r3:rev"]
    assert hours == [7, 8, 9]
    assert factor == 0.0


def test_road_close_raises_delay_on_the_parallel_route(corridor, base_day):
    day = simulate(apply(corridor, "road_close", where={"ids": ["r3"]}))
    assert road_delay_h(day, PARALLEL) > 3 * road_delay_h(base_day, PARALLEL)
    assert road_delay_h(day, ["r3"]) == 0.0
    assert day.kpis["delay_hours"] > base_day.kpis["delay_hours"]


def test_road_lanes_scale_capacity_per_lane(corridor):
    out = apply(corridor, "road_lanes", where={"ids": ["r2", "r3"]}, lanes_delta=1)
    r = out.layers["roads"].set_index("id")
    assert r.loc["r3", "lanes"] == 2
    assert r.loc["r3", "capacity_vph"] == 1800.0
    assert r.loc["r4", "lanes"] == 1
    out = apply(corridor, "road_lanes", where={"ids": ["r1"]}, lanes=1)
    assert out.layers["roads"].set_index("id").loc["r1", "capacity_vph"] == 900.0
    with pytest.raises(ScenarioError, match="exactly one of `lanes` and `lanes_delta`"):
        apply(corridor, "road_lanes", where={"ids": ["r1"]}, lanes=2, lanes_delta=1)


def test_more_lanes_on_the_corridor_lower_its_delay(corridor, base_day):
    day = simulate(apply(corridor, "road_lanes", where={"ids": MAIN + PARALLEL},
                         lanes_delta=1))
    assert day.kpis["delay_hours"] < 0.7 * base_day.kpis["delay_hours"]


def test_road_speed_sets_or_scales_speed(corridor):
    out = apply(corridor, "road_speed", where={"ids": ["r1"]}, speed_kph=30.0)
    assert out.layers["roads"].set_index("id").loc["r1", "speed_kph"] == 30.0
    out = apply(corridor, "road_speed", where={"ids": ["r1"]}, speed_pct=-50.0)
    assert out.layers["roads"].set_index("id").loc["r1", "speed_kph"] == 25.0
    with pytest.raises(ScenarioError, match="exactly one of `speed_kph` and `speed_pct`"):
        apply(corridor, "road_speed", where={"ids": ["r1"]})


def test_a_lower_speed_limit_raises_vehicle_hours(corridor, base_day):
    day = simulate(apply(corridor, "road_speed", where={"zone_kind": ["old_district"]},
                         speed_kph=15.0))
    assert day.kpis["vehicle_hours"] > 1.3 * base_day.kpis["vehicle_hours"]


def test_selected_roads_must_exist(corridor):
    with pytest.raises(ScenarioError, match="roads feature 'r99' does not exist"):
        apply(corridor, "road_close", where={"ids": ["r99"]})
