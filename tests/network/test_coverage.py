"""Tests for twin.network.coverage: camera coverage, its gaps, greedy placement."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tests.conftest import CRS, grid_layers
from twin._errors import LayerError
from twin.layers.store import Twin, new_meta
from twin.network.coverage import camera_coverage, default_range, place_cameras
from twin.scenarios.interventions.sensors import sensor_add


def line_twin(cams: list[tuple[float, float, float]]) -> Twin:
    roads = gpd.GeoDataFrame({"id": ["r1", "r2"]},
                             geometry=[shapely.LineString([(0, 0), (100, 0)]),
                                       shapely.LineString([(100, 0), (100, 100)])], crs=CRS)
    s = gpd.GeoDataFrame({"id": [f"s{i}" for i in range(len(cams))], "kind": "camera",
                          "range_m": [c[2] for c in cams]},
                         geometry=[shapely.Point(c[0], c[1]) for c in cams], crs=CRS)
    return Twin(layers={"roads": roads, "sensors": s}, meta=new_meta("t", CRS))


def grid_twin(n: int = 4) -> Twin:
    layers = grid_layers(n, 100.0)
    return Twin(layers={k: layers[k] for k in ("roads", "road_nodes")}, meta=new_meta("g", CRS))


def test_coverage_share_gaps_and_per_camera() -> None:
    c = camera_coverage(line_twin([(0, 0, 20.0), (10, 0, 20.0), (100, 100, 50.0)]))
    assert c.road_m == pytest.approx(200.0)
    assert c.covered_m == pytest.approx(30.0 + 50.0)
    assert c.share == pytest.approx(0.4)
    assert c.gaps["length_m"].sum() == pytest.approx(120.0)
    assert set(c.gaps["road_id"]) == {"r1", "r2"}
    per = c.per_sensor.set_index("sensor_id")
    assert per.loc["s0", "covered_m"] == pytest.approx(20.0)
    assert per.loc["s1", "covered_m"] == pytest.approx(30.0)
    assert per.loc["s0", "unique_m"] == pytest.approx(0.0, abs=1e-6)   # s1 sees all of it
    assert per.loc["s1", "unique_m"] == pytest.approx(10.0)


def test_no_cameras_everything_is_a_gap() -> None:
    c = camera_coverage(line_twin([]))
    assert c.share == 0
    assert c.gaps["length_m"].sum() == pytest.approx(200.0)


def test_unknown_sensor_kind() -> None:
    with pytest.raises(LayerError, match="sensor kind 'drone' is not in the data dictionary"):
        camera_coverage(line_twin([]), kinds=("drone",))
    with pytest.raises(LayerError, match="sensor kind 'drone'"):
        place_cameras(grid_twin(), 2, kind="drone")
    assert default_range("camera") == 40.0


def test_placement_is_greedy_and_near_optimal() -> None:
    twin = grid_twin(3)
    p = place_cameras(twin, 3, range_m=60.0, spacing_m=5.0, site_spacing_m=50.0)
    assert len(p.sites) == 3
    assert p.sites["gain_m"].is_monotonic_decreasing
    assert p.share_after > p.share_before == 0.0
    assert p.sites["share"].iloc[-1] == pytest.approx(p.share_after)
    # brute force over the intersections: greedy gets at least (1 - 1/e) of the best
    nodes = twin.layer("road_nodes")
    best = 0.0
    for combo in itertools.combinations(range(len(nodes)), 3):
        s = gpd.GeoDataFrame({"id": [f"c{i}" for i in combo], "kind": "camera",
                              "range_m": 60.0}, geometry=nodes.geometry.iloc[list(combo)].values,
                             crs=CRS)
        t = Twin(layers={**twin.layers, "sensors": s}, meta=twin.meta)
        best = max(best, camera_coverage(t).share)
    assert p.share_after >= (1 - 1 / np.e) * best
    assert p.share_after >= 0.9 * best


def test_placement_adds_to_existing_cameras_and_sensor_add_raises_coverage() -> None:
    twin = grid_twin(4)
    first = place_cameras(twin, 2)
    twin2 = sensor_add(twin.copy(), {"kind": "camera", "points": first.sites[["x", "y"]]
                                     .to_numpy().tolist(), "where": None,
                                     "signals_only": False, "range_m": None},
                       np.random.default_rng(0))
    after = camera_coverage(twin2).share
    assert after > camera_coverage(twin).share
    assert after == pytest.approx(first.share_after, abs=0.03)   # pieces vs exact geometry
    more = place_cameras(twin2, 2)
    assert more.share_before == pytest.approx(first.share_after, abs=1e-9)
    assert more.share_after > more.share_before


def test_placement_bad_budget() -> None:
    with pytest.raises(LayerError, match="--budget must be at least 1"):
        place_cameras(grid_twin(), 0)


def test_full_coverage_stops_early() -> None:
    twin = line_twin([(50, 0, 500.0)])
    p = place_cameras(twin, 5)
    assert len(p.sites) == 0
    assert p.share_before == pytest.approx(1.0)
