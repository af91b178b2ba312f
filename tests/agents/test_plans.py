"""Tests for twin.agents.plans: activity plans, trips, departure times, mode choice, transit."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.conftest import CRS, grid_layers
from twin.agents.model import CityModel, build_places
from twin.agents.plans import MODES, mixture_draw, transit_costs, transit_network
from twin.agents.population import load_population_config
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, new_meta
from twin.network.roads import road_graph, walk_graph


def typed(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    out = {}
    for name, frame in layers.items():
        fixed, _ = coerce_fields(frame, layer_spec(name))
        out[name] = gpd.GeoDataFrame(fixed, geometry="geometry", crs=CRS)
    return out


def city(residents: int = 60, spacing: float = 600.0, island: bool = False) -> Twin:
    """A 4 x 4 grid with a primary bottom row and gateways at its ends; optionally an island."""
    layers = grid_layers(4, spacing)
    roads, nodes, b = layers["roads"], layers["road_nodes"], layers["buildings"]
    bottom = roads["u"].isin(["n0", "n1", "n2"]) & roads["v"].isin(["n1", "n2", "n3"])
    roads.loc[bottom, ["highway", "capacity_vph"]] = ["primary", 1800.0]
    nodes["gateway"] = nodes["id"].isin(["n0", "n3"])
    b["residents"] = residents
    b["jobs"] = 30
    if island:
        x0 = 10 * spacing
        nodes = pd.concat([nodes, gpd.GeoDataFrame(
            {"id": ["i1", "i2"], "control": "none", "control_source": "synthetic",
             "gateway": False, "source": "synthetic"},
            geometry=shapely.points([(x0, 0), (x0 + 200, 0)]), crs=CRS)], ignore_index=True)
        roads = pd.concat([roads, gpd.GeoDataFrame(
            {"id": ["ri"], "u": ["i1"], "v": ["i2"], "highway": "residential", "lanes": 1,
             "speed_kph": 36.0, "capacity_vph": 600.0, "oneway": False, "length_m": 200.0,
             "source": "synthetic"},
            geometry=[shapely.LineString([(x0, 0), (x0 + 200, 0)])], crs=CRS)],
            ignore_index=True)
        for col in ("lanes", "speed_kph", "capacity_vph", "length_m"):
            roads[f"{col}_source"] = "synthetic"
        extra = b.iloc[[0]].copy()
        extra["id"] = "island"
        extra["use"] = "residential"
        extra["jobs"] = 0
        extra["residents"] = 40
        extra["geometry"] = [shapely.box(x0 + 90, 10, x0 + 110, 30)]
        b = pd.concat([b, extra], ignore_index=True)
        layers.update(roads=roads, road_nodes=nodes, buildings=b)
    return Twin(layers=typed(layers), meta=new_meta("city", CRS))


@pytest.fixture(scope="module")
def model() -> CityModel:
    return CityModel(city(), seed=3, iterations=1)


def test_mixture_draw_matches_components() -> None:
    rng = np.random.default_rng(0)
    t = mixture_draw([{"mean_h": 7.0, "sd_h": 0.1, "weight": 3.0},
                      {"mean_h": 17.0, "sd_h": 0.1, "weight": 1.0}], 4000, rng) / 3600
    assert np.mean(t < 12) == pytest.approx(0.75, abs=0.03)
    assert np.median(t[t < 12]) == pytest.approx(7.0, abs=0.02)


def test_trips_chain_from_home_back_home(model: CityModel) -> None:
    p, places = model.plans, model.places
    res = p.agent_resident[p.trip_agent]
    first = np.r_[True, p.trip_agent[1:] != p.trip_agent[:-1]]
    last = np.r_[p.trip_agent[1:] != p.trip_agent[:-1], True]
    same = ~first
    assert np.all(p.trip_origin[same] == p.trip_dest[np.flatnonzero(same) - 1])
    home = model.population.home[p.trip_agent[res]]
    assert np.all(p.trip_origin[res & first] == home[first[res]])
    assert np.all(p.trip_dest[res & last] == home[last[res]])
    assert np.all(np.diff(p.trip_depart_s)[same[1:]] >= 0)
    assert p.trip_depart_s.min() >= 5 * 3600
    assert p.trip_depart_s.max() < 24 * 3600
    assert set(p.trip_mode) <= set(MODES)
    # one mode per resident's chain
    modes = pd.Series(p.trip_mode[res]).groupby(p.trip_agent[res]).nunique()
    assert (modes == 1).all()
    # in-commuters go gateway -> work -> gateway
    com = p.agent_kind[p.trip_agent] == "in_commuter"
    assert set(places.kind[p.trip_origin[com & first]]) == {"gateway"}
    assert set(p.trip_purpose[com]) == {"work", "home"}
    assert set(p.trip_purpose[p.agent_kind[p.trip_agent] == "through"]) == {"through"}


def test_car_routes_connect_origin_to_destination(model: CityModel) -> None:
    p, g = model.plans, model.graph
    car = np.flatnonzero(p.trip_mode == "car")
    assert car.size > 0
    for k, t in enumerate(car):
        links = model.route_links[model.route_ptr[k]:model.route_ptr[k + 1]]
        o, d = model.places.node[p.trip_origin[t]], model.places.node[p.trip_dest[t]]
        if o == d:
            assert links.size == 0
            continue
        assert g.from_node[links[0]] == o
        assert g.to_node[links[-1]] == d
        assert np.all(g.to_node[links[:-1]] == g.from_node[links[1:]])
    non_car = p.trip_mode != "car"
    assert np.all(np.diff(p.route_ptr)[non_car] == 0)


def test_activities_follow_trips(model: CityModel) -> None:
    p = model.plans
    assert np.all(p.act_agent[p.trip_act] == p.trip_agent)
    assert np.all(p.act_agent[p.trip_act + 1] == p.trip_agent)
    assert np.all(p.act_end_s[p.trip_act] == p.trip_depart_s)
    assert set(p.act_type) <= {"home", "work", "school", "errand", "external"}


def test_disconnected_origin_is_reported_not_dropped() -> None:
    m = CityModel(city(island=True), seed=1, iterations=1)
    reasons = m.plans.unrouted
    key = "disconnected: no road or walking path between the agent's places"
    assert reasons.get(key, 0) > 0
    island = int(np.flatnonzero(m.places.ids == "island")[0])
    lives = np.flatnonzero(m.population.home == island)
    makes_trips = np.array([c != "home" for c in m.population.chain[lives]])
    assert reasons[key] == makes_trips.sum()
    assert not np.isin(lives, m.plans.trip_agent).any()
    # they stay at home all day: one activity each
    stay = m.plans.act_agent[np.isin(m.plans.act_agent, lives)]
    assert np.bincount(stay).max() == 1


def test_transit_times_walk_wait_ride() -> None:
    twin = city(spacing=300.0)
    stops = gpd.GeoDataFrame({"id": ["s1", "s2"], "kind": "bus_stop", "capacity": 0.0,
                              "source": "synthetic"},
                             geometry=shapely.points([(0, 0), (900, 0)]), crs=CRS)
    route = gpd.GeoDataFrame({"id": ["t1"], "mode": ["bus"], "headway_min": [10.0],
                              "speed_kph": [18.0], "start_hour": [5.0], "end_hour": [24.0],
                              "stop_ids": ["s1,s2"], "source": ["synthetic"]},
                             geometry=[shapely.LineString([(0, 0), (900, 0)])], crs=CRS)
    twin.layers.update(typed({"facilities": stops, "transit_routes": route}))
    cfg = load_population_config()
    g = road_graph(twin.layers["roads"], twin.layers["road_nodes"])
    w = walk_graph(None, twin.layers["roads"], twin.layers["road_nodes"])
    places = build_places(twin, g, w, cfg)
    tr = transit_network(twin, places, w, cfg)
    assert tr is not None
    assert tr.time_min[0, 1] == pytest.approx(5.0 + 900 / 300)  # half headway + ride
    assert tr.gen_min[0, 1] == pytest.approx(1.6 * 5.0 + 3.0)
    a = int(np.flatnonzero(places.ids == "b0")[0])  # block (0-300, 0-300): next to s1
    b = int(np.flatnonzero(places.ids == "b6")[0])  # block (600-900, 0-300): next to s2
    minutes, gen, dist = transit_costs(tr, np.array([a]), np.array([b]), cfg)
    walk = tr.place_walk_m[a, 0] + tr.place_walk_m[b, 0]
    assert tr.place_stops[a, 0] == 0
    assert tr.place_stops[b, 0] == 1
    assert minutes[0] == pytest.approx(8.0 + walk / 80.0)
    assert dist[0] == pytest.approx(900 + walk)
    assert gen[0] == pytest.approx(11.0 + 1.6 * walk / 80.0)
    none = transit_costs(tr, np.array([a]), np.array([a]), cfg)
    assert np.isinf(none[0][0])  # the same stop at both ends is no ride


def test_large_twin_mode_choice_uses_zone_times(monkeypatch: pytest.MonkeyPatch) -> None:
    import twin.agents.plans as plans_module

    exact = CityModel(city(residents=60, spacing=600.0), seed=3, iterations=1)
    monkeypatch.setattr(plans_module, "EXACT_CAR_NODES", 0)
    zoned = CityModel(city(residents=60, spacing=600.0), seed=3, iterations=1)
    # zone times are true (not perceived) free-flow times: close, not equal, choices
    n_exact = np.count_nonzero(exact.plans.trip_mode == "car")
    n_zoned = np.count_nonzero(zoned.plans.trip_mode == "car")
    assert n_zoned == pytest.approx(n_exact, rel=0.25)
    assert zoned.plans.n_trips == exact.plans.n_trips
    g = zoned.graph
    links = zoned.route_links
    ends = zoned.route_ptr[1:][np.diff(zoned.route_ptr) > 0] - 1
    inner = np.setdiff1d(np.arange(len(links) - 1), ends)
    assert np.all(g.to_node[links[inner]] == g.from_node[links[inner + 1]])
