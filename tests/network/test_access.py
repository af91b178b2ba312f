"""Accessibility: nearest-facility times and jobs reachable, on tiny networks made in code."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from twin._errors import SimulationError
from twin.layers.store import Twin, new_meta
from twin.network.access import (
    WALK_SPEED_MPS,
    access_graph,
    jobs_reachable,
    nearest_facility_times,
)

CRS = "EPSG:3067"


def line_twin(n: int = 11, spacing: float = 200.0, *, oneway: bool = False) -> Twin:
    """Nodes 0..n-1 on a straight road; a home at node 0, jobs at every node."""
    xs = np.arange(n) * spacing
    nodes = gpd.GeoDataFrame({"id": [f"n{i}" for i in range(n)], "control": "none"},
                             geometry=shapely.points(xs, np.zeros(n)), crs=CRS)
    roads = gpd.GeoDataFrame({
        "id": [f"r{i}" for i in range(n - 1)], "u": [f"n{i}" for i in range(n - 1)],
        "v": [f"n{i + 1}" for i in range(n - 1)], "length_m": spacing, "speed_kph": 36.0,
        "oneway": oneway, "capacity_vph": 600.0, "lanes": 1, "highway": "residential"},
        geometry=[shapely.LineString([(xs[i], 0), (xs[i + 1], 0)]) for i in range(n - 1)],
        crs=CRS)
    b = gpd.GeoDataFrame({"id": [f"b{i}" for i in range(n)], "residents": [10] + [0] * (n - 1),
                          "jobs": [0] + [5] * (n - 1)},
                         geometry=[shapely.box(x - 5, 10, x + 5, 20) for x in xs], crs=CRS)
    return Twin(layers={"roads": roads, "road_nodes": nodes, "buildings": b},
                meta=new_meta("line", CRS))


def with_facilities(t: Twin, rows: list[tuple[str, str, float]]) -> Twin:
    f = gpd.GeoDataFrame({"id": [r[0] for r in rows], "kind": [r[1] for r in rows]},
                         geometry=[shapely.Point(r[2], 0) for r in rows], crs=CRS)
    t.layers["facilities"] = f
    return t


def test_walk_time_is_network_distance_over_speed_plus_the_walk_to_the_street():
    t = with_facilities(line_twin(), [("c1", "clinic", 1000.0)])
    times = nearest_facility_times(t, ["clinic"], ["walk"])
    # building b0 sits 15 m off node n0 (its centre is at y = 15)
    expected = (1000.0 + 15.0) / WALK_SPEED_MPS
    assert times.loc["b0", "clinic_walk"] == pytest.approx(expected)
    assert times.loc["b0", "clinic"] == pytest.approx(expected)
    assert times.loc["b5", "clinic"] == pytest.approx(15.0 / WALK_SPEED_MPS)


def test_the_nearest_of_several_facilities_wins_and_kinds_are_separate():
    t = with_facilities(line_twin(), [("c1", "clinic", 2000.0), ("c2", "clinic", 400.0),
                                      ("s1", "school", 1200.0)])
    times = nearest_facility_times(t, ["clinic", "school"], ["walk"])
    assert times.loc["b0", "clinic"] == pytest.approx((400 + 15) / WALK_SPEED_MPS)
    assert times.loc["b0", "school"] == pytest.approx((1200 + 15) / WALK_SPEED_MPS)


def test_matches_networkx_on_a_grid(grid_twin):
    t = grid_twin.copy()
    b = t.layers["buildings"].copy()
    b.loc[0, "geometry"] = shapely.box(85, 90, 95, 100)   # nearest node: n4 at (100, 100)
    t.layers["buildings"] = b
    t.layers["facilities"] = gpd.GeoDataFrame(
        {"id": ["c1"], "kind": ["clinic"]}, geometry=[shapely.Point(200.0, 200.0)], crs=CRS)
    times = nearest_facility_times(t, ["clinic"], ["walk"])
    g = nx.Graph()
    for _, r in t.layers["roads"].iterrows():
        g.add_edge(r["u"], r["v"], weight=r["length_m"])
    d = nx.single_source_dijkstra_path_length(g, "n8")  # the node at (200, 200)
    best = d["n4"] + float(np.hypot(10, 5))
    assert times.loc["b0", "clinic_walk"] == pytest.approx(best / WALK_SPEED_MPS)


def test_no_facility_of_a_kind_gives_infinity():
    t = with_facilities(line_twin(), [("c1", "clinic", 0.0)])
    times = nearest_facility_times(t, ["school"], ["walk"])
    assert np.isinf(times["school"]).all()


def test_transit_is_faster_than_walking_where_a_route_runs_and_waits_half_the_headway():
    t = with_facilities(line_twin(), [("c1", "clinic", 2000.0), ("p0", "bus_stop", 0.0),
                                      ("p1", "bus_stop", 2000.0)])
    walk = nearest_facility_times(t, ["clinic"], ["walk"]).loc["b0", "clinic"]
    t.layers["transit_routes"] = gpd.GeoDataFrame({
        "id": ["t1"], "mode": ["bus"], "headway_min": [10.0], "speed_kph": [36.0],
        "start_hour": [5.0], "end_hour": [24.0], "stop_ids": ["p0,p1"]},
        geometry=[shapely.LineString([(0, 0), (2000, 0)])], crs=CRS)
    times = nearest_facility_times(t, ["clinic"], ["walk", "transit"])
    # walk 15 m to the stop, wait 5 min, ride 2 km at 10 m/s; the clinic is at the stop
    expected = 15 / WALK_SPEED_MPS + 300 + 200
    assert times.loc["b0", "clinic_transit"] == pytest.approx(expected, abs=0.01)
    assert times.loc["b0", "clinic"] == pytest.approx(expected, abs=0.01)
    assert expected < walk
    # outside its hours the route does not help
    late = nearest_facility_times(t, ["clinic"], ["transit"], hour=4.0)
    assert late.loc["b0", "clinic"] == pytest.approx(walk)


def test_car_times_avoid_roads_closed_at_that_hour():
    t = with_facilities(line_twin(), [("c1", "clinic", 2000.0)])
    # a second, longer way round from n0 to n10
    t.layers["road_nodes"] = gpd.GeoDataFrame(
        {"id": [*t.layers["road_nodes"]["id"], "x"], "control": "none"},
        geometry=[*t.layers["road_nodes"].geometry, shapely.Point(1000, 1500)], crs=CRS)
    extra = gpd.GeoDataFrame({
        "id": ["d1", "d2"], "u": ["n0", "x"], "v": ["x", "n10"], "length_m": 1803.0,
        "speed_kph": 36.0, "oneway": False, "capacity_vph": 600.0, "lanes": 1,
        "highway": "residential"},
        geometry=[shapely.LineString([(0, 0), (1000, 1500)]),
                  shapely.LineString([(1000, 1500), (2000, 0)])], crs=CRS)
    t.layers["roads"] = gpd.GeoDataFrame(
        gpd.pd.concat([t.layers["roads"], extra], ignore_index=True), crs=CRS)
    before = nearest_facility_times(t, ["clinic"], ["car"]).loc["b0", "clinic"]
    t.extras["events"] = [{"type": "close_roads", "road_ids": ["r4"], "hours": [7, 10]}]
    during = nearest_facility_times(t, ["clinic"], ["car"], hour=8.0).loc["b0", "clinic"]
    after = nearest_facility_times(t, ["clinic"], ["car"], hour=12.0).loc["b0", "clinic"]
    assert during > before
    assert after == pytest.approx(before)
    # walk 15 m to n0, drive both legs of the detour; the clinic stands on n10
    assert during == pytest.approx(15 / WALK_SPEED_MPS + 2 * 1803.0 / 10.0)


def test_direction_matters_on_one_way_roads():
    t = with_facilities(line_twin(3, oneway=True), [("f1", "fire_station", 0.0)])
    out = nearest_facility_times(t, ["fire_station"], ["car"], direction="from")
    back = nearest_facility_times(t, ["fire_station"], ["car"], direction="to")
    assert np.isfinite(out.loc["b2", "fire_station"])
    assert np.isinf(back.loc["b2", "fire_station"])


def test_jobs_reachable_counts_jobs_within_the_budget():
    t = line_twin()  # jobs 5 at nodes 1..10, 200 m apart; home at node 0
    reach = jobs_reachable(t, "walk", budget_s=(600 + 30) / WALK_SPEED_MPS)
    # within 600 m (+15 m at each end): nodes 1, 2, 3
    assert reach.tolist() == [15.0]
    assert reach.index.tolist() == ["b0"]
    assert jobs_reachable(t, "walk", budget_s=1e6).tolist() == [50.0]


def test_islands_are_not_snapped_to():
    t = line_twin(3)
    # a disconnected stub right next to the home
    t.layers["road_nodes"] = gpd.GeoDataFrame(
        {"id": [*t.layers["road_nodes"]["id"], "i1", "i2"], "control": "none"},
        geometry=[*t.layers["road_nodes"].geometry, shapely.Point(0, 14),
                  shapely.Point(5, 14)], crs=CRS)
    stub = gpd.GeoDataFrame({
        "id": ["s"], "u": ["i1"], "v": ["i2"], "length_m": 5.0, "speed_kph": 36.0,
        "oneway": False, "capacity_vph": 600.0, "lanes": 1, "highway": "service"},
        geometry=[shapely.LineString([(0, 14), (5, 14)])], crs=CRS)
    t.layers["roads"] = gpd.GeoDataFrame(gpd.pd.concat([t.layers["roads"], stub],
                                                       ignore_index=True), crs=CRS)
    t = with_facilities(t, [("c", "clinic", 400.0)])
    assert np.isfinite(nearest_facility_times(t, ["clinic"], ["walk"]).loc["b0", "clinic"])


def test_bad_mode_and_direction_are_refused():
    t = with_facilities(line_twin(), [("c", "clinic", 0.0)])
    with pytest.raises(SimulationError, match="unknown access mode 'boat'"):
        access_graph(t, "boat")
    with pytest.raises(SimulationError, match="direction must be 'to' or 'from'"):
        nearest_facility_times(t, ["clinic"], ["walk"], direction="up")


def test_car_mode_with_every_road_closed_is_an_error():
    t = line_twin(2)
    t.extras["events"] = [{"type": "close_roads", "road_ids": ["r0"], "hours": [0, 24]}]
    with pytest.raises(SimulationError, match="every road is closed"):
        access_graph(t, "car")
