"""Tests for twin.agents.external: gateways, in-commuters, through traffic."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import yaml

from tests.conftest import CRS, grid_layers
from twin._errors import SimulationError
from twin._resources import data_dir
from twin.agents.external import external_demand, gateway_table, load_external_config
from twin.agents.model import build_places
from twin.agents.population import load_population_config, make_zones
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, new_meta
from twin.network.roads import road_graph, walk_graph
from twin.network.routing import travel_time_matrix


def gateway_twin(jobs: int = 50) -> Twin:
    """A 4 x 4 grid (300 m) whose bottom row is a primary road with gateways at both ends."""
    layers = {}
    for name, frame in grid_layers(4, 300.0).items():
        out, _ = coerce_fields(frame, layer_spec(name))
        layers[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)
    roads, nodes = layers["roads"], layers["road_nodes"]
    bottom = roads["u"].isin(["n0", "n1", "n2"]) & roads["v"].isin(["n1", "n2", "n3"])
    roads.loc[bottom, ["highway", "capacity_vph"]] = ["primary", 1800.0]
    nodes["gateway"] = nodes["id"].isin(["n0", "n3"])
    layers["buildings"]["jobs"] = jobs
    return Twin(layers=layers, meta=new_meta("gw", CRS))


def setup(twin: Twin, config=None):
    cfg = load_population_config()
    ecfg = config or load_external_config()
    g = road_graph(twin.layers["roads"], twin.layers["road_nodes"])
    w = walk_graph(None, twin.layers["roads"], twin.layers["road_nodes"])
    places = build_places(twin, g, w, cfg)
    zones = make_zones(places, g, g.fft_s, max_zones=100)
    gws = gateway_table(g, places, ecfg)
    t_in = travel_time_matrix(g, gws.node, zones.node) / 60
    t_out = travel_time_matrix(g, zones.node, gws.node) / 60
    m_gw = travel_time_matrix(g, gws.node, gws.node, cost=g.length_m)
    return ecfg, g, places, gws, zones, t_in, t_out, m_gw


def test_default_config() -> None:
    cfg = load_external_config()
    assert cfg.in_commuters["share_of_unfilled_jobs"] == 0.85
    assert cfg.through_traffic["peak_share_of_capacity"]["primary"] == 0.18
    assert max(cfg.through_traffic["hourly_profile"].values()) == 1.0


def _write(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load((data_dir("agents") / "external.yaml").read_text())
    change(raw)
    p = tmp_path / "external.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["in_commuters"].update(bus_share=0.1), "unknown key 'bus_share'"),
    (lambda r: r["in_commuters"].update(car_share=1.4), r"car_share: must be in \[0, 1\]"),
    (lambda r: r["through_traffic"]["hourly_profile"].update({25: 1.0}), "hours must be 0..23"),
    (lambda r: r.update(gateways={"n0": {"speed": 2.0}}), r"unknown key\(s\) \['speed'\]"),
    (lambda r: r.pop("out_commuters"), "missing key 'out_commuters'"),
])
def test_bad_config_is_refused(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        load_external_config(_write(tmp_path, change))


def test_gateway_table_capacities_classes_and_overrides(tmp_path: Path) -> None:
    twin = gateway_twin()
    cfg = load_external_config(_write(tmp_path, lambda r: r.update(
        gateways={"n3": {"through_scale": 2.0, "entry_weight": 0.5}})))
    _, g, places, gws, *_ = setup(twin, cfg)
    assert g.node_ids[gws.node].tolist() == ["n0", "n3"]
    # each corner: a primary (1800) and a residential (600) link, both two-way
    assert gws.entry_vph.tolist() == [2400.0, 2400.0]
    assert gws.exit_vph.tolist() == [2400.0, 2400.0]
    assert gws.highway.tolist() == ["primary", "primary"]
    assert gws.through_scale.tolist() == [1.0, 2.0]
    assert gws.entry_weight.tolist() == [1.0, 0.5]
    assert (places.kind[gws.place] == "gateway").all()
    bad = load_external_config(_write(tmp_path, lambda r: r.update(gateways={"zz": {}})))
    with pytest.raises(SimulationError, match=r"gateways \['zz'\] are not gateway nodes"):
        setup(twin, bad)


def test_in_commuters_take_the_unfilled_jobs() -> None:
    twin = gateway_twin(jobs=200)
    ecfg, g, places, gws, zones, t_in, t_out, m_gw = setup(twin)
    filled = np.zeros(places.n, np.int64)
    filled[0] = 150
    rng = np.random.default_rng(0)
    ext = external_demand(places, gws, g, zones.of_place, t_in, t_out, m_gw, filled, ecfg, 0.1,
                          rng)
    unfilled = places.jobs.sum() - 150
    assert len(ext.commuter_id) == pytest.approx(0.85 * unfilled, rel=0.05)
    per_job = np.bincount(ext.commuter_job, minlength=places.n)
    assert np.all(per_job <= places.jobs - filled)
    assert set(places.kind[ext.commuter_entry]) == {"gateway"}
    assert np.mean(ext.commuter_car) == pytest.approx(0.2, abs=0.05)
    assert ext.commuter_id[0] == "c1"


def test_through_traffic_volumes_and_crossing() -> None:
    twin = gateway_twin()
    ecfg, g, places, gws, zones, t_in, t_out, m_gw = setup(twin)
    ext = external_demand(places, gws, g, zones.of_place, t_in, t_out, m_gw,
                          np.zeros(places.n), ecfg, 0.1, np.random.default_rng(1))
    hours = (ext.through_depart_s // 3600).astype(int)
    assert hours.min() >= 5
    assert hours.max() <= 23
    # peak hour: 2400 veh/h entry capacity x 0.18 (primary) x 1.0, at each of two gateways
    assert np.sum(hours == 8) == pytest.approx(2 * 432, rel=0.01)
    assert np.all(ext.through_entry != ext.through_exit)  # 900 m apart, >= 400 m
    assert np.all(np.diff(ext.through_depart_s) >= 0)
    half = external_demand(places, gws, g, zones.of_place, t_in, t_out, m_gw,
                           np.zeros(places.n), ecfg, 0.1, np.random.default_rng(1), sample=0.5)
    assert len(half.through_id) == pytest.approx(len(ext.through_id) / 2, rel=0.05)


def test_no_gateways_no_external_demand() -> None:
    twin = gateway_twin()
    twin.layers["road_nodes"]["gateway"] = False
    ecfg, g, places, gws, zones, t_in, t_out, m_gw = setup(twin)
    ext = external_demand(places, gws, g, zones.of_place, t_in, t_out, m_gw,
                          np.zeros(places.n), ecfg, 0.1, np.random.default_rng(1))
    assert gws.n == 0
    assert len(ext.commuter_id) == 0
    assert len(ext.through_id) == 0


def test_long_crossings_carry_less_through_traffic() -> None:
    layers = {}
    for name, frame in grid_layers(4, 1500.0).items():
        out, _ = coerce_fields(frame, layer_spec(name))
        layers[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)
    roads = layers["roads"]
    bottom = roads["u"].isin(["n0", "n1", "n2"]) & roads["v"].isin(["n1", "n2", "n3"])
    roads.loc[bottom, ["highway", "capacity_vph"]] = ["primary", 1800.0]
    layers["road_nodes"]["gateway"] = layers["road_nodes"]["id"].isin(["n0", "n3"])
    twin = Twin(layers=layers, meta=new_meta("wide", CRS))
    ecfg, g, places, gws, zones, t_in, t_out, m_gw = setup(twin)
    ext = external_demand(places, gws, g, zones.of_place, t_in, t_out, m_gw,
                          np.zeros(places.n), ecfg, 0.1, np.random.default_rng(1))
    hours = (ext.through_depart_s // 3600).astype(int)
    carry = np.exp(-(4500.0 - 1000.0) / 1500.0)  # the gateways are 4.5 km apart
    assert np.sum(hours == 8) == pytest.approx(2 * 432 * carry, abs=3)
