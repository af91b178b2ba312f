"""Tests of twin.layers.synthetic: the generated city."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from scipy import sparse
from scipy.sparse import csgraph

from twin._errors import LayerError
from twin.layers.schemas import PROVENANCE, layer_spec
from twin.layers.store import read_twin, write_twin
from twin.layers.synthetic import synthetic_twin
from twin.layers.validate import validate_twin

ALL_LAYERS = {"zones", "roads", "road_nodes", "buildings", "facilities", "sensors",
              "transit_routes", "power_nodes", "power_lines", "water_nodes", "water_pipes"}


@pytest.fixture
def no_fsync():
    """Skip SQLite's fsync per layer in throwaway test files (~0.2 s a layer on this disk)."""
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    yield
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": None})


@pytest.fixture(scope="module")
def town():
    return synthetic_twin(1000, seed=0)


def strongly_connected(roads: pd.DataFrame) -> bool:
    ids, codes = np.unique(np.concatenate([roads["u"], roads["v"]]), return_inverse=True)
    u, v = codes[: len(roads)], codes[len(roads):]
    two = ~roads["oneway"].to_numpy(bool)
    src, dst = np.concatenate([u, v[two]]), np.concatenate([v, u[two]])
    m = sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(ids), len(ids)))
    return csgraph.connected_components(m, directed=True, connection="strong")[0] == 1


# --- the 1,000-resident town -------------------------------------------------------------------

def test_town_has_every_layer_and_is_tiny(town):
    assert set(town.layers) == ALL_LAYERS
    assert 200 < len(town.layers["roads"]) < 500
    assert 100 < len(town.layers["buildings"]) < 600
    assert town.meta["name"] == "synthetic-1000"
    assert town.meta["sources"] == [{"name": "twin synthetic generator",
                                     "licence": "generated", "seed": 0}]
    assert town.crs.to_epsg() == 32651


def test_town_residents_and_jobs(town):
    b = town.layers["buildings"]
    assert abs(int(b["residents"].sum()) - 1000) <= 20
    assert 0.5 <= b["jobs"].sum() / b["residents"].sum() <= 0.7
    assert (b["use"] == "residential").mean() > 0.5          # housing dominates
    assert {"education", "health", "public"} <= set(b["use"])  # schools, clinics are buildings
    assert ((b["height_m"] >= 3.2) & (b["height_m"] <= 130)).all()
    assert np.allclose(b["floor_area_m2"], b["footprint_m2"] * b["floors"], atol=0.05 * 40)


def test_town_is_valid_without_warnings(town):
    report = validate_twin(town)
    assert report.ok, report.format()
    assert report.format() == "OK: 0 error(s), 0 warning(s)"


def test_town_writes_and_reads_back(town, tmp_path, no_fsync):
    path = write_twin(town, tmp_path / "town.twin.gpkg")
    back = read_twin(path)
    assert {k: len(v) for k, v in back.layers.items()} == {k: len(v) for k, v in
                                                          town.layers.items()}
    for name, gdf in back.layers.items():
        assert back.layers[name]["id"].tolist() == town.layers[name]["id"].tolist()
        assert list(gdf.columns[: len(layer_spec(name).columns())]) == layer_spec(name).columns()


def test_every_feature_is_synthetic_with_provenance(town):
    for name, gdf in town.layers.items():
        assert (gdf["source"] == "synthetic").all(), name
        for f in layer_spec(name).provenance_fields():
            col = gdf[f"{f}_source"]
            assert col[gdf[f].notna()].notna().all(), (name, f)
            assert set(col.dropna()) <= {"synthetic", "derived"} <= set(PROVENANCE), (name, f)


def test_buildings_hang_off_existing_utility_nodes(town):
    b = town.layers["buildings"]
    assert b["power_node"].isin(town.layers["power_nodes"]["id"]).all()
    assert b["water_node"].isin(town.layers["water_nodes"]["id"]).all()


def test_road_network(town):
    roads, nodes = town.layers["roads"], town.layers["road_nodes"]
    assert strongly_connected(roads)
    assert set(roads["u"]) | set(roads["v"]) == set(nodes["id"])
    art = roads[roads["highway"].isin(["primary", "secondary"])]
    assert len(art)
    assert (art["lanes"] == 2).all()
    assert art["name"].notna().all()
    assert {"residential", "tertiary"} <= set(roads["highway"])
    assert set(roads["lanes_source"]) == {"synthetic"}
    assert set(roads["capacity_vph_source"]) == {"derived"}      # from class and lanes
    assert np.allclose(roads["length_m"], roads.geometry.length)
    assert (nodes["control"] == "signal").sum() >= 1
    gateways = nodes[nodes["gateway"].astype(bool)]
    assert len(gateways) >= 4
    hull = shapely.convex_hull(shapely.union_all(nodes.geometry.to_numpy()))
    assert (shapely.distance(gateways.geometry.to_numpy(), hull.boundary) < 1e-6).all()


def test_zones_old_district_new_zone_and_totals(town):
    zones, b = town.layers["zones"], town.layers["buildings"]
    assert {"old_district", "new_zone"} <= set(zones["kind"])
    assert b["zone_id"].isin(zones["id"]).all()
    new = zones[zones["kind"] == "new_zone"]
    assert not b["zone_id"].isin(new["id"]).any()          # undeveloped
    assert set(new["land_use"]) == {"brownfield"}
    assert zones["population"].sum() == b["residents"].sum()
    assert zones["jobs"].sum() == b["jobs"].sum()
    assert np.allclose(zones["area_m2"], 300.0 * 300.0)


def test_facilities_sensors_and_bus_lines(town):
    fac, sensors = town.layers["facilities"], town.layers["sensors"]
    assert {"clinic", "hospital", "school", "service_centre", "fire_station", "police",
            "bus_stop"} <= set(fac["kind"])
    assert fac.loc[fac["kind"] == "hospital", "units"].tolist() == [4]
    routes = town.layers["transit_routes"]
    assert len(routes) >= 2
    assert (routes[["headway_min", "speed_kph", "start_hour", "end_hour"]].to_numpy()
            == [10.0, 20.0, 6.0, 23.0]).all()
    stops = fac.set_index("id")
    for stop_ids in routes["stop_ids"]:
        ids = stop_ids.split(",")
        assert (stops.loc[ids, "kind"] == "bus_stop").all()
    assert {"camera", "traffic_counter"} <= set(sensors["kind"])
    counted = sensors.loc[sensors["kind"] == "traffic_counter", "road_id"]
    arterial = town.layers["roads"].set_index("id").loc[counted, "highway"]
    assert set(arterial) <= {"primary", "secondary"}


# --- sizes, seeds, errors ----------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 37, 2500, 12_000])
def test_residents_match_the_request(n):
    b = synthetic_twin(n, seed=n).layers["buildings"]
    assert abs(int(b["residents"].sum()) - n) <= max(0.02 * n, 0)
    if n >= 1000:
        assert 0.5 <= b["jobs"].sum() / n <= 0.7


def test_same_seed_same_city_other_seed_other_city():
    one, two, other = (synthetic_twin(800, seed=s) for s in (7, 7, 8))
    for name in ALL_LAYERS:
        assert_geodataframe_equal(one.layers[name], two.layers[name])
    assert not one.layers["buildings"].geometry.equals(other.layers["buildings"].geometry)


def test_progress_is_reported():
    steps: list[str] = []
    synthetic_twin(100, progress=steps.append)
    assert steps == ["streets", "buildings", "zones", "facilities", "utilities"]


def test_other_crs_and_origin():
    t = synthetic_twin(300, crs="EPSG:3067", origin=(24.94, 60.17))
    centre = shapely.centroid(shapely.union_all(t.layers["zones"].geometry.to_numpy()))
    assert t.crs.to_epsg() == 3067
    assert 380_000 < centre.x < 390_000
    assert 6_670_000 < centre.y < 6_680_000


def test_bad_arguments_are_refused():
    with pytest.raises(LayerError, match="residents must be a whole number from 1"):
        synthetic_twin(0)
    with pytest.raises(LayerError, match="residents must be a whole number"):
        synthetic_twin(12.5)  # type: ignore[arg-type]
    with pytest.raises(LayerError, match="projected metric CRS"):
        synthetic_twin(100, crs="EPSG:4326")
    with pytest.raises(LayerError, match="not a CRS pyproj knows"):
        synthetic_twin(100, crs="not-a-crs")
    with pytest.raises(LayerError, match=r"origin .* cannot be placed"):
        synthetic_twin(100, origin=(float("nan"), 28.0))


def test_a_city_of_100k(tmp_path, no_fsync):
    start = time.perf_counter()
    t = synthetic_twin(100_000, seed=0)
    elapsed = time.perf_counter() - start
    b = t.layers["buildings"]
    assert abs(int(b["residents"].sum()) - 100_000) <= 2000
    assert 0.5 <= b["jobs"].sum() / b["residents"].sum() <= 0.7
    assert 18_000 <= len(t.layers["roads"]) <= 22_000
    assert len(b) >= 10_000
    assert b["power_node"].isin(t.layers["power_nodes"]["id"]).all()
    assert b["water_node"].isin(t.layers["water_nodes"]["id"]).all()
    assert strongly_connected(t.layers["roads"])
    assert elapsed < 20.0   # ~1.5 s here; generous for slow CI machines
    back = read_twin(write_twin(t, tmp_path / "city.twin.gpkg"))
    assert {k: len(v) for k, v in back.layers.items()} == {k: len(v) for k, v in
                                                          t.layers.items()}
