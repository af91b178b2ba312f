"""Tests of twin.layers.utility_layout: synthetic power and water networks along streets."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandapower as pp
import pandas as pd
import pyogrio
import pytest
import shapely
import wntr
from geopandas.testing import assert_geodataframe_equal
from scipy import sparse
from scipy.sparse import csgraph

from twin._errors import LayerError, UtilityError
from twin.layers.schemas import PROVENANCE, layer_spec
from twin.layers.store import Twin, new_meta, read_twin, write_twin
from twin.layers.synthetic import synthetic_twin
from twin.layers.utility_layout import (
    POWER_FACTOR,
    building_peak_demand,
    lay_utilities,
    typed_layer,
)

CRS = "EPSG:32651"
LAYERS = ("power_nodes", "power_lines", "water_nodes", "water_pipes")


def grid(nx: int, ny: int, *, block: float = 100.0, per_block: int = 2, floors: int = 5,
         seed: int = 0, elevation: np.ndarray | None = None
         ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A street lattice of nx x ny blocks with ``per_block`` buildings of 25 x 25 m each."""
    rng = np.random.default_rng(seed)
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(nx + 1), np.arange(ny + 1)))
    node = iy * (nx + 1) + ix
    xy = np.column_stack([ix * block, iy * block])
    h = node[ix < nx]
    v = node[iy < ny]
    a = np.concatenate([h, v])
    b = np.concatenate([h + 1, v + nx + 1])
    nodes = gpd.GeoDataFrame({"id": [f"n{i}" for i in node]}, geometry=shapely.points(xy),
                             crs=CRS)
    if elevation is not None:
        nodes["elevation_m"] = elevation
    roads = gpd.GeoDataFrame({
        "id": [f"r{k}" for k in range(len(a))], "u": [f"n{i}" for i in a],
        "v": [f"n{i}" for i in b]},
        geometry=shapely.linestrings(np.stack([xy[a], xy[b]], axis=1)), crs=CRS)
    bx, by = (np.repeat(g.ravel(), per_block) for g in np.meshgrid(np.arange(nx), np.arange(ny)))
    ox, oy = rng.uniform(15, 60, len(bx)), rng.uniform(15, 60, len(bx))
    area = 625.0 * floors
    use = rng.choice(["residential", "office", "mixed"], len(bx), p=[0.7, 0.2, 0.1])
    buildings = gpd.GeoDataFrame({
        "id": [f"b{k}" for k in range(len(bx))], "use": use, "floor_area_m2": area,
        "residents": np.where(use == "residential", int(area / 40), 0),
        "jobs": np.where(use == "office", int(area / 25), 0)},
        geometry=shapely.box(bx * block + ox, by * block + oy, bx * block + ox + 25,
                             by * block + oy + 25), crs=CRS)
    return roads, nodes, buildings


def power_flow(layers: dict[str, gpd.GeoDataFrame], buildings: pd.DataFrame
               ) -> pp.pandapowerNet:
    """A pandapower net built directly from the layers, with every building at its peak."""
    pn, pl = layers["power_nodes"], layers["power_lines"]
    net = pp.create_empty_network()
    bus = pp.create_buses(net, len(pn), vn_kv=pn["vn_kv"].to_numpy(float))
    idx = pd.Series(bus, index=pn["id"].to_numpy())
    kv = pd.Series(pn["vn_kv"].to_numpy(float), index=pn["id"].to_numpy())
    for row in pn[pn["ext_grid"].fillna(False).astype(bool)].itertuples():
        pp.create_ext_grid(net, idx[row.id], vm_pu=row.vm_pu)
    for row in pl[pl["kind"] == "transformer"].itertuples():
        pp.create_transformer_from_parameters(
            net, idx[row.from_node], idx[row.to_node], sn_mva=row.sn_mva,
            vn_hv_kv=kv[row.from_node], vn_lv_kv=kv[row.to_node],
            vkr_percent=row.vkr_percent, vk_percent=row.vk_percent, pfe_kw=0.0, i0_percent=0.0)
    cab = pl[pl["kind"] == "cable"]
    if len(cab):
        pp.create_lines_from_parameters(
            net, idx[cab["from_node"]].to_numpy(), idx[cab["to_node"]].to_numpy(),
            length_km=cab["length_km"].to_numpy(float),
            r_ohm_per_km=cab["r_ohm_per_km"].to_numpy(float),
            x_ohm_per_km=cab["x_ohm_per_km"].to_numpy(float),
            c_nf_per_km=cab["c_nf_per_km"].to_numpy(float),
            max_i_ka=cab["max_i_ka"].to_numpy(float))
    p_mw, _ = building_peak_demand(buildings)
    load = pd.Series(p_mw).groupby(buildings["power_node"].to_numpy()).sum()
    pp.create_loads(net, idx[load.index].to_numpy(), p_mw=load.to_numpy(),
                    q_mvar=load.to_numpy() * np.tan(np.arccos(POWER_FACTOR)))
    pp.runpp(net, numba=False)
    return net


def hydraulics(layers: dict[str, gpd.GeoDataFrame], buildings: pd.DataFrame
               ) -> tuple[pd.Series, pd.Series]:
    """Junction pressures (m) and pipe velocities (m/s) at peak, from a WNTR model."""
    nodes, pipes = layers["water_nodes"], layers["water_pipes"]
    _, lps = building_peak_demand(buildings)
    demand = pd.Series(lps).groupby(buildings["water_node"].to_numpy()).sum() / 1000.0
    wn = wntr.network.WaterNetworkModel()
    wn.options.hydraulic.headloss = "H-W"
    wn.options.time.duration = 0
    for row in nodes.itertuples():
        if row.kind == "reservoir":
            wn.add_reservoir(row.id, base_head=row.head_m)
        else:
            wn.add_junction(row.id, base_demand=float(demand.get(row.id, 0.0)),
                            elevation=row.elevation_m)
    for row in pipes.itertuples():
        wn.add_pipe(row.id, row.from_node, row.to_node, length=row.length_m,
                    diameter=row.diameter_mm / 1000.0, roughness=row.roughness)
    res = wntr.sim.WNTRSimulator(wn).run_sim()
    pressure = res.node["pressure"].iloc[0]
    junctions = nodes.loc[nodes["kind"] == "junction", "id"]
    return pressure[junctions], res.link["velocity"].iloc[0]


@pytest.fixture
def no_fsync():
    """Skip SQLite's fsync per layer in throwaway test files (~0.2 s a layer on this disk)."""
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    yield
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": None})


@pytest.fixture(scope="module")
def laid() -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame]:
    roads, nodes, buildings = grid(12, 12)
    return lay_utilities(roads, nodes, buildings, crs=CRS)


# --- layers ------------------------------------------------------------------------------------

def test_layers_follow_the_dictionary(laid):
    layers, _ = laid
    assert set(layers) == set(LAYERS)
    for name, gdf in layers.items():
        spec = layer_spec(name)
        assert list(gdf.columns[:-1]) == spec.columns()
        for f in spec.fields.values():
            assert str(gdf[f.name].dtype) == f.dtype, (name, f.name)
        assert gdf["id"].is_unique
        assert gdf.crs.to_string() == CRS


def test_layers_write_and_read_back(laid, tmp_path, no_fsync):
    layers, buildings = laid
    twin = Twin(layers={**layers, "buildings": typed_layer("buildings", buildings.assign(
        height_m=16.0, floors=5, footprint_m2=625.0, source="synthetic"))},
                meta=new_meta("grid", CRS))
    path = write_twin(twin, tmp_path / "grid.twin.gpkg")
    back = read_twin(path)
    assert {k: len(v) for k, v in back.layers.items()} == {k: len(v) for k, v in
                                                          twin.layers.items()}
    assert back.layers["power_lines"]["params"].iloc[1].startswith('{"feeder": "F')


def test_sources_and_provenance(laid):
    layers, _ = laid
    for gdf in layers.values():
        assert (gdf["source"] == "synthetic").all()
    pl, pn = layers["power_lines"], layers["power_nodes"]
    cables = pl["kind"] == "cable"
    assert (pl.loc[cables, "length_km_source"] == "derived").all()
    assert (pl.loc[cables, "max_i_ka_source"] == "synthetic").all()
    assert pn.loc[pn["kind"] == "substation", "capacity_mva_source"].tolist() == ["synthetic"]
    wp, wn = layers["water_pipes"], layers["water_nodes"]
    assert set(wp["diameter_mm_source"]) == {"synthetic"}
    assert set(wp["length_m_source"]) == {"derived"}
    assert set(wn["elevation_m_source"]) == {"synthetic"}
    for gdf in layers.values():
        for col in [c for c in gdf.columns if c.endswith("_source")]:
            assert set(gdf[col].dropna()) <= set(PROVENANCE)


def test_substation_transformer_and_reservoir(laid):
    layers, _ = laid
    pn, pl = layers["power_nodes"], layers["power_lines"]
    sub = pn[pn["kind"] == "substation"].iloc[0]
    assert (sub["vn_kv"], bool(sub["ext_grid"]), sub["vm_pu"]) == (110.0, True, 1.0)
    trafo = pl[pl["kind"] == "transformer"].iloc[0]
    assert (trafo["from_node"], trafo["vk_percent"], trafo["vkr_percent"]) == ("ps1", 12.0, 0.4)
    assert trafo["sn_mva"] == sub["capacity_mva"]
    p_mw, _ = building_peak_demand(laid[1])
    assert trafo["sn_mva"] >= p_mw.sum() / POWER_FACTOR * 1.6
    assert set(pn.loc[pn["kind"] == "bus", "vn_kv"]) == {10.0}
    res = layers["water_nodes"].query("kind == 'reservoir'").iloc[0]
    assert (res["head_m"], res["elevation_m"]) == (60.0, 0.0)


def test_networks_are_connected_trees_along_streets(laid):
    layers, _ = laid
    pn, pl = layers["power_nodes"], layers["power_lines"]
    assert len(pl) == len(pn) - 1
    index = pd.Index(pn["id"])
    a, b = index.get_indexer(pl["from_node"]), index.get_indexer(pl["to_node"])
    assert (a >= 0).all()
    assert (b >= 0).all()
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(pn), len(pn)))
    assert csgraph.connected_components(graph, directed=False)[0] == 1
    # geometry runs from the from-node to the to-node
    cables = pl[pl["kind"] == "cable"]
    start = shapely.get_point(cables.geometry.to_numpy(), 0)
    at = pn.set_index("id").geometry
    assert shapely.equals(start, at[cables["from_node"]].to_numpy()).all()
    # the bus ids are the road nodes they stand on
    assert pn.loc[pn["kind"] == "bus", "id"].str.match(r"^pbn\d+$").all()
    wn, wp = layers["water_nodes"], layers["water_pipes"]
    windex = pd.Index(wn["id"])
    wa, wb = windex.get_indexer(wp["from_node"]), windex.get_indexer(wp["to_node"])
    wgraph = sparse.coo_matrix((np.ones(len(wa)), (wa, wb)), shape=(len(wn), len(wn)))
    assert csgraph.connected_components(wgraph, directed=False)[0] == 1
    assert len(wp) > len(wn) - 1  # loop-closing pipes


def test_every_building_hangs_off_an_existing_node(laid):
    layers, buildings = laid
    assert buildings["power_node"].isin(layers["power_nodes"]["id"]).all()
    assert buildings["water_node"].isin(layers["water_nodes"]["id"]).all()
    # the node is the road node nearest the building
    bus = layers["power_nodes"].set_index("id").geometry[buildings["power_node"]].to_numpy()
    pts = shapely.point_on_surface(buildings.geometry.to_numpy())
    assert (shapely.distance(pts, bus) <= 100 * np.sqrt(2) / 2 + 1e-6).all()


def test_loops_zero_gives_a_tree():
    roads, nodes, buildings = grid(5, 5)
    layers, _ = lay_utilities(roads, nodes, buildings, crs=CRS, loops=0.0)
    assert len(layers["water_pipes"]) == len(layers["water_nodes"]) - 1


def test_same_input_same_layout():
    roads, nodes, buildings = grid(6, 4, seed=3)
    one, b1 = lay_utilities(roads, nodes, buildings, crs=CRS)
    two, b2 = lay_utilities(roads, nodes, buildings, crs=CRS)
    for name in LAYERS:
        assert_geodataframe_equal(one[name], two[name])
    assert b1["power_node"].tolist() == b2["power_node"].tolist()


# --- physics -----------------------------------------------------------------------------------

def test_power_flow_at_peak(laid):
    layers, buildings = laid
    net = power_flow(layers, buildings)
    assert net.converged
    assert net.res_bus["vm_pu"].min() >= 0.95
    assert net.res_line["loading_percent"].max() < 100 / 1.6 * 1.06   # sized with headroom
    assert net.res_trafo["loading_percent"].max() < 100


def test_heavy_load_gets_parallel_cables_and_still_holds_voltage():
    # a 6 km street with 30 MW on it: sized by current alone, its far end would sag to 0.947
    roads, nodes, buildings = grid(60, 1, per_block=3, floors=10)
    layers, buildings = lay_utilities(roads, nodes, buildings, crs=CRS)
    cables = layers["power_lines"]["params"].str.extract(r'"cables": (\d+)')[0].dropna()
    assert cables.astype(int).max() > 1
    net = power_flow(layers, buildings)
    assert net.converged
    assert net.res_bus["vm_pu"].min() >= 0.95
    assert net.res_line["loading_percent"].max() < 100


def test_water_pressure_and_velocity_at_peak(laid):
    layers, buildings = laid
    pressure, velocity = hydraulics(layers, buildings)
    assert pressure.min() > 20.0
    assert velocity.abs().max() <= layer_spec("water_pipes").derive["max_velocity_mps"]


def test_elevation_is_used_and_pressure_kept():
    slope = np.tile(np.arange(9) * 2.0, 9)   # 0..16 m rising eastwards
    roads, nodes, buildings = grid(8, 8, elevation=slope)
    layers, buildings = lay_utilities(roads, nodes, buildings, crs=CRS)
    wn = layers["water_nodes"]
    assert set(wn["elevation_m_source"]) == {"derived"}
    res = wn[wn["kind"] == "reservoir"].iloc[0]
    assert res["head_m"] == res["elevation_m"] + 60.0
    pressure, _ = hydraulics(layers, buildings)
    assert pressure.min() > 20.0


def test_reservoir_moves_uphill_when_the_ground_rises_too_much():
    hill = np.tile(np.arange(9) * 10.0, 9)   # 0..80 m rising eastwards
    roads, nodes, buildings = grid(8, 8, elevation=hill)
    layers, buildings = lay_utilities(roads, nodes, buildings, crs=CRS)
    wn = layers["water_nodes"]
    res = wn[wn["kind"] == "reservoir"].iloc[0]
    assert (res["elevation_m"], res["head_m"]) == (80.0, 140.0)
    assert layers["power_nodes"].query("kind == 'substation'").geometry.x.iloc[0] < 600
    pressure, _ = hydraulics(layers, buildings)
    assert pressure.min() > 20.0
    assert layers["water_pipes"]["diameter_mm"].max() <= 600


def test_synthetic_city_networks_hold_at_peak():
    twin = synthetic_twin(1000, seed=4)
    net = power_flow(twin.layers, twin.layers["buildings"])
    assert net.converged
    assert net.res_bus["vm_pu"].min() >= 0.95
    assert net.res_line["loading_percent"].max() < 100
    pressure, _ = hydraulics(twin.layers, twin.layers["buildings"])
    assert pressure.min() > 20.0


def test_disconnected_streets_are_left_out():
    roads, nodes, buildings = grid(4, 4)
    island_nodes = gpd.GeoDataFrame({"id": ["x1", "x2"]},
                                    geometry=shapely.points([(5000, 0), (5100, 0)]), crs=CRS)
    island = gpd.GeoDataFrame({"id": ["rx"], "u": ["x1"], "v": ["x2"]},
                              geometry=[shapely.LineString([(5000, 0), (5100, 0)])], crs=CRS)
    layers, out = lay_utilities(pd.concat([roads, island]), pd.concat([nodes, island_nodes]),
                                buildings, crs=CRS)
    assert not layers["power_nodes"]["id"].isin(["pbx1", "pbx2"]).any()
    assert out["power_node"].isin(layers["power_nodes"]["id"]).all()


def test_building_peak_demand_values():
    b = pd.DataFrame({"use": ["residential", "office", None], "floor_area_m2": [1000.0, 0, 100],
                      "residents": [25, 0, 0], "jobs": [0, 10, 0]})
    p, w = building_peak_demand(b)
    assert p.tolist() == pytest.approx([0.012, 0.0, 0.0005])
    assert w.tolist() == pytest.approx([25 * 150 * 2.5 / 86400, 10 * 50 * 2.5 / 86400, 0.0])


def test_fast_on_a_city_sized_grid():
    roads, nodes, buildings = grid(100, 100)   # 20,200 links, 20,000 buildings
    start = time.perf_counter()
    layers, _ = lay_utilities(roads, nodes, buildings, crs=CRS)
    assert time.perf_counter() - start < 3.0
    assert len(layers["power_nodes"]) > 9000


# --- errors ------------------------------------------------------------------------------------

def test_missing_columns_are_named():
    roads, nodes, buildings = grid(2, 2)
    with pytest.raises(UtilityError, match=r"buildings: missing column\(s\) \['residents'\]"):
        lay_utilities(roads, nodes, buildings.drop(columns="residents"), crs=CRS)
    with pytest.raises(UtilityError, match="roads: expected a GeoDataFrame"):
        lay_utilities(pd.DataFrame(roads.drop(columns="geometry")), nodes, buildings, crs=CRS)


def test_unknown_road_nodes_are_named():
    roads, nodes, buildings = grid(2, 2)
    roads.loc[0, "v"] = "nowhere"
    with pytest.raises(UtilityError, match=r"roads: features \['r0'\] name u/v nodes"):
        lay_utilities(roads, nodes, buildings, crs=CRS)


def test_duplicate_node_ids_are_refused():
    roads, nodes, buildings = grid(2, 2)
    nodes.loc[1, "id"] = "n0"
    with pytest.raises(UtilityError, match=r"road_nodes: ids \['n0'\] are used by several"):
        lay_utilities(roads, nodes, buildings, crs=CRS)


def test_crs_must_be_projected_and_shared():
    roads, nodes, buildings = grid(2, 2)
    with pytest.raises(UtilityError, match="projected metric CRS"):
        lay_utilities(roads, nodes, buildings, crs="EPSG:4326")
    with pytest.raises(UtilityError, match="not a CRS pyproj knows"):
        lay_utilities(roads, nodes, buildings, crs="EPSG:nope")
    with pytest.raises(UtilityError, match=r"buildings: CRS .* differs .* to_crs"):
        lay_utilities(roads, nodes, buildings.to_crs(3857), crs=CRS)


def test_empty_inputs_are_refused():
    roads, nodes, buildings = grid(2, 2)
    with pytest.raises(UtilityError, match="nothing to supply"):
        lay_utilities(roads, nodes, buildings.iloc[:0], crs=CRS)
    with pytest.raises(UtilityError, match="roads: the layer is empty"):
        lay_utilities(roads.iloc[:0], nodes, buildings, crs=CRS)
    loop = roads.iloc[:1].assign(v=roads["u"].iloc[0])
    with pytest.raises(UtilityError, match="no link joins two different nodes"):
        lay_utilities(loop, nodes, buildings, crs=CRS)


def test_loops_out_of_range():
    roads, nodes, buildings = grid(2, 2)
    with pytest.raises(UtilityError, match="loops must be between 0 and 1"):
        lay_utilities(roads, nodes, buildings, crs=CRS, loops=2.0)


def test_typed_layer_refuses_values_that_do_not_fit():
    with pytest.raises(LayerError, match=r"layer sensors: .*'far' is not a float"):
        typed_layer("sensors", {"id": ["s1"], "kind": ["camera"], "range_m": ["far"],
                                "source": ["synthetic"]}, [shapely.Point(0, 0)], CRS)
