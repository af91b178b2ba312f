from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from twin.layers.derive import (
    assign_zones,
    derive_buildings,
    derive_roads,
    jobs_residents,
    parse_number,
    zone_totals,
)


def _buildings(**cols):
    n = len(next(iter(cols.values())))
    return gpd.GeoDataFrame({"id": [f"b{i}" for i in range(n)], **cols},
                            geometry=[shapely.box(0, 0, 20, 10)] * n, crs=3067)


def test_five_levels_give_sixteen_metres():
    out = derive_buildings(_buildings(use=["residential"], levels=[5.0], height=[np.nan]))
    assert out.loc[0, "height_m"] == pytest.approx(16.0)
    assert out.loc[0, "floors"] == 5
    assert out.loc[0, "height_m_source"] == "derived"
    assert out.loc[0, "floors_source"] == "osm"


def test_height_tag_wins_and_gives_floors():
    out = derive_buildings(_buildings(use=["office"], height=[32.0], levels=[np.nan]))
    assert out.loc[0, "height_m"] == 32.0
    assert out.loc[0, "height_m_source"] == "osm"
    assert out.loc[0, "floors"] == 10
    assert out.loc[0, "floors_source"] == "derived"


def test_default_floors_by_use_when_nothing_known():
    out = derive_buildings(_buildings(use=["retail", "residential"], height=[np.nan] * 2,
                                      levels=[np.nan] * 2))
    assert out["floors"].tolist() == [2, 4]
    assert out["height_m"].tolist() == [6.4, 12.8]


def test_floor_area_residents_and_jobs_from_density_table():
    out = derive_buildings(_buildings(use=["residential", "office"], levels=[4.0, 4.0],
                                      height=[np.nan] * 2))
    assert out["floor_area_m2"].tolist() == [800.0, 800.0]
    assert out["residents"].tolist() == [20, 0]   # 800 / 40 m2 per resident
    assert out["jobs"].tolist() == [0, 32]         # 800 / 25 m2 per job
    assert set(out["residents_source"]) == {"derived"}


def test_given_residents_are_kept():
    out = derive_buildings(_buildings(use=["residential"], levels=[4.0], height=[np.nan],
                                      residents=[7]))
    assert out.loc[0, "residents"] == 7
    assert out.loc[0, "residents_source"] == "osm"


def test_mixed_use_splits_floor_area():
    res, jobs = jobs_residents(pd.Series(["mixed"]), pd.Series([900.0]))
    assert res.tolist() == [10]   # 450 m2 / 45
    assert jobs.tolist() == [13]  # 450 m2 / 35


def test_roads_derived_from_class():
    r = gpd.GeoDataFrame({"id": ["a", "b"], "highway": ["secondary", "motorway"],
                          "oneway": [False, True], "lanes": [np.nan, 3.0],
                          "speed_kph": [np.nan, 80.0]},
                         geometry=[shapely.LineString([(0, 0), (50, 0)])] * 2, crs=3067)
    out = derive_roads(r)
    assert out["lanes"].tolist() == [1, 3]
    assert out["speed_kph"].tolist() == [40.0, 80.0]
    assert out["capacity_vph"].tolist() == [800.0, 6000.0]
    assert out["lanes_source"].tolist() == ["derived", "osm"]
    assert out["length_m"].tolist() == [50.0, 50.0]


def test_unknown_road_class_becomes_road():
    r = gpd.GeoDataFrame({"id": ["a"], "highway": ["busway"], "oneway": [True]},
                         geometry=[shapely.LineString([(0, 0), (10, 0)])], crs=3067)
    assert derive_roads(r)["highway"].tolist() == ["road"]


def test_parse_number_handles_osm_forms():
    got = parse_number(pd.Series(["12 m", "7", "2;3", "20 mph", "x"]))
    assert got.iloc[:4].round(3).tolist() == [12.0, 7.0, 2.0, 32.187]
    assert np.isnan(got.iloc[4])


def test_zones_assignment_and_totals():
    z = gpd.GeoDataFrame({"id": ["z1", "z2"]}, geometry=[shapely.box(0, 0, 50, 50),
                                                          shapely.box(50, 0, 100, 50)],
                         crs=3067)
    b = gpd.GeoDataFrame({"residents": [5, 6, 7], "jobs": [1, 2, 3]},
                         geometry=[shapely.box(1, 1, 5, 5), shapely.box(60, 1, 70, 5),
                                   shapely.box(200, 200, 210, 210)], crs=3067)
    b["zone_id"] = assign_zones(b, z)
    assert b["zone_id"].tolist() == ["z1", "z2", None]
    t = zone_totals(z, b)
    assert t["population"].tolist() == [5, 6]
    assert t["jobs"].tolist() == [1, 2]
