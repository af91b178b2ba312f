"""The power builder and importer: round trips through the twin file, errors that name things."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
import shapely

from tests.conftest import CRS, grid_layers
from twin._errors import UtilityError
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, new_meta, read_twin, write_twin
from twin.layers.utility_layout import lay_utilities
from twin.network.power import (
    build_power_net,
    bundled_networks,
    import_power,
    load_pandapower,
    place_coordinates,
    power_layers_from_net,
    unsupplied,
)

warnings.filterwarnings("ignore", category=FutureWarning)


def _through_file(net, tmp_path: Path) -> Twin:
    """Export a net to power layers, write the twin file, read it back."""
    nodes, lines, _ = power_layers_from_net(net, CRS, anchor=(385000.0, 6672000.0))
    twin = Twin({"power_nodes": nodes, "power_lines": lines}, new_meta("rt", CRS))
    path = write_twin(twin, tmp_path / "rt.twin.gpkg")
    return read_twin(path)


def utility_grid(n: int = 4) -> Twin:
    """A small grid twin with synthetic power and water networks laid along its streets."""
    layers = grid_layers(n)
    utilities, buildings = lay_utilities(layers["roads"], layers["road_nodes"],
                                         layers["buildings"], crs=CRS)
    layers.update(utilities)
    layers["buildings"] = buildings
    typed = {}
    for name, frame in layers.items():
        out, _ = coerce_fields(frame, layer_spec(name))
        typed[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)
    return Twin(layers=typed, meta=new_meta("grid", CRS))


def test_mv_oberrhein_round_trip_same_power_flow(tmp_path: Path) -> None:
    net = pn.mv_oberrhein()
    pp.runpp(net, numba=False)
    twin = _through_file(net, tmp_path)
    pnet = build_power_net(twin)
    pp.runpp(pnet.net, numba=False)
    order = pnet.line_ids.get_indexer([f"l{i}" for i in net.line.index])
    diff = np.abs(net.res_line.loading_percent.to_numpy() -
                  pnet.net.res_line.loading_percent.to_numpy()[order])
    assert diff.max() <= 1e-6
    assert np.abs(net.res_trafo.loading_percent.to_numpy()
                  - pnet.net.res_trafo.loading_percent.to_numpy()).max() <= 1e-6
    assert np.abs(net.res_bus.vm_pu.to_numpy() - pnet.net.res_bus.vm_pu.to_numpy()).max() <= 1e-9
    for table in ("bus", "line", "trafo", "load", "sgen", "switch", "ext_grid"):
        assert len(pnet.net[table]) == len(net[table]), table


def test_every_element_kind_round_trips(tmp_path: Path) -> None:
    net = pn.example_multivoltage()  # gen, shunt, xward, impedance, trafo3w, b/l/t switches
    pp.runpp(net, numba=False)
    nodes, lines, info = power_layers_from_net(net, CRS, anchor=(0.0, 0.0))
    assert info["elements"] == {"bus": 57, "ext_grid": 1, "load": 25, "sgen": 11, "gen": 1,
                                "shunt": 1, "xward": 2, "line": 25, "trafo": 2, "trafo3w": 1,
                                "impedance": 1, "switch": 88}
    assert set(nodes["kind"]) == {"substation", "generator", "bus"}
    twin = Twin({"power_nodes": nodes, "power_lines": lines}, new_meta("mv", CRS))
    twin = read_twin(write_twin(twin, tmp_path / "mv.twin.gpkg"))
    rebuilt = build_power_net(twin).net
    pp.runpp(rebuilt, numba=False)
    assert np.abs(net.res_bus.vm_pu.to_numpy() - rebuilt.res_bus.vm_pu.to_numpy()).max() < 1e-9
    assert np.abs(net.res_trafo3w.loading_percent.to_numpy()
                  - rebuilt.res_trafo3w.loading_percent.to_numpy()).max() < 1e-6
    for table in ("gen", "shunt", "xward", "impedance", "trafo3w", "switch"):
        assert len(rebuilt[table]) == len(net[table]), table


def test_an_edited_load_field_wins_over_params() -> None:
    net = pn.mv_oberrhein()
    nodes, lines, _ = power_layers_from_net(net, CRS, anchor=(0.0, 0.0))
    fid = nodes.loc[nodes["load_p_mw"] > 0, "id"].iloc[0]
    nodes.loc[nodes["id"] == fid, "load_p_mw"] = 2.5
    pnet = build_power_net(Twin({"power_nodes": nodes, "power_lines": lines},
                                new_meta("e", CRS)))
    bus = int(pnet.bus_index([fid])[0])
    loads = pnet.net.load[pnet.net.load.bus == bus]
    assert float((loads.p_mw * loads.scaling).sum()) == pytest.approx(2.5)


def test_synthetic_network_builds_and_converges() -> None:
    twin = utility_grid()
    pnet = build_power_net(twin)
    net = pnet.net
    assert len(net.ext_grid) == 1
    assert len(net.trafo) == 1
    assert net.trafo.vn_hv_kv.iloc[0] == 110.0
    assert net.trafo.vn_lv_kv.iloc[0] == 10.0
    assert len(net.line) == len(twin.layers["power_lines"]) - 1
    pp.create_loads(net, np.arange(1, len(net.bus)), 0.05)
    pp.runpp(net, numba=False)
    assert net.res_bus.vm_pu.min() > 0.95
    assert unsupplied(pnet) == []


def _grid_power() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    twin = utility_grid(3)
    return twin.layers["power_nodes"].copy(), twin.layers["power_lines"].copy()


def _build(nodes: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, **layers: gpd.GeoDataFrame
           ) -> object:
    return build_power_net(Twin({"power_nodes": nodes, "power_lines": lines, **layers},
                                new_meta("x", CRS)))


def test_zero_impedance_line_is_named() -> None:
    nodes, lines = _grid_power()
    lines.loc[lines["id"] == "pc2", ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    with pytest.raises(UtilityError, match=r"power_lines: feature pc2: .*zero impedance"):
        _build(nodes, lines)


def test_zero_length_line_is_named() -> None:
    nodes, lines = _grid_power()
    lines.loc[lines["id"] == "pc1", "length_km"] = 0.0
    with pytest.raises(UtilityError, match=r"feature pc1: length_km must be > 0"):
        _build(nodes, lines)


def test_missing_node_is_named() -> None:
    nodes, lines = _grid_power()
    lines.loc[lines["id"] == "pc1", "to_node"] = "nowhere"
    with pytest.raises(UtilityError, match=r"feature pc1: to_node 'nowhere' is not in"):
        _build(nodes, lines)


def test_no_source_is_an_error() -> None:
    nodes, lines = _grid_power()
    nodes["ext_grid"] = False
    with pytest.raises(UtilityError, match="no node has ext_grid true"):
        _build(nodes, lines)


def test_island_with_buildings_is_an_error() -> None:
    twin = utility_grid(3)
    lines = twin.layers["power_lines"]
    cut = lines["from_node"] != "ps1"
    twin.layers["power_lines"] = lines[~cut | (lines.index == lines.index[-1])]
    with pytest.raises(UtilityError, match=r"not connected to any source \(islands\)"):
        build_power_net(twin)


def test_unknown_std_type_suggests() -> None:
    nodes, lines = _grid_power()
    lines.loc[lines["id"] == "pc1", ["r_ohm_per_km", "std_type"]] = [
        np.nan, "NA2XS2Y 1x185 RM/25 12/20 k"]
    with pytest.raises(UtilityError, match=r"pc1: std_type .*did you mean"):
        _build(nodes, lines)


def test_std_type_fills_missing_parameters() -> None:
    nodes, lines = _grid_power()
    cols = ["r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"]
    lines.loc[lines["id"] == "pc1", cols] = np.nan
    lines.loc[lines["id"] == "pc1", "std_type"] = "NA2XS2Y 1x185 RM/25 12/20 kV"
    net = _build(nodes, lines).net
    row = net.line[net.line.name == "pc1"].iloc[0]
    assert row.r_ohm_per_km == pytest.approx(0.161)
    assert row.max_i_ka == pytest.approx(0.362)


def test_bad_params_json_is_named() -> None:
    nodes, lines = _grid_power()
    lines.loc[lines["id"] == "pc1", "params"] = "{not json"
    with pytest.raises(UtilityError, match=r"power_lines: feature pc1, field params: not valid"):
        _build(nodes, lines)


def test_pandapower_file_that_does_not_parse(tmp_path: Path) -> None:
    bad = tmp_path / "net.json"
    bad.write_text("{ this is not json")
    with pytest.raises(UtilityError, match=r"net.json: not a pandapower network"):
        load_pandapower(bad)


def test_pandapower_json_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "simple.json"
    pp.to_json(pn.example_simple(), str(path))
    assert len(load_pandapower(path).bus) == 7


def test_unknown_bundled_name_suggests() -> None:
    assert "mv_oberrhein" in bundled_networks()
    with pytest.raises(UtilityError, match=r"did you mean 'mv_oberrhein'"):
        load_pandapower("mv_oberrein")


def test_place_coordinates_projects_near_and_moves_far() -> None:
    lonlat = np.array([[24.94, 60.17], [24.95, 60.17]])  # Helsinki, in EPSG:3067
    xy, note = place_coordinates(lonlat, CRS, src_crs="EPSG:4326", anchor=(386000, 6672000))
    assert note.startswith("coordinates projected")
    assert np.hypot(*(xy[1] - xy[0])) == pytest.approx(555, abs=5)
    far = np.array([[7.8, 48.4], [7.81, 48.4]])  # Oberrhein
    xy, note = place_coordinates(far, CRS, src_crs="EPSG:4326", anchor=(386000, 6672000))
    assert "moved to the twin's centre" in note
    assert np.hypot(*(xy[1] - xy[0])) == pytest.approx(739, abs=5)
    assert np.abs(xy.mean(axis=0) - [386000, 6672000]).max() < 1.0


def test_import_replace_reconnects_every_building() -> None:
    twin = utility_grid(3)
    out, info = import_power(twin, "example_simple", replace=True)
    ids = set(out.layers["power_nodes"]["id"])
    assert set(out.layers["buildings"]["power_node"]) <= ids
    assert not any(i.startswith("pb") for i in ids)
    assert out.meta["utility_models"]["power"]["source"] == "example_simple"
    assert info["buildings_connected_median_m"] >= 0
    low = out.layers["power_nodes"].set_index("id").loc[list(out.layers["buildings"][
        "power_node"]), "vn_kv"]
    assert (low == out.layers["power_nodes"]["vn_kv"].min()).all()
    build_power_net(out)  # every building sits on a supplied bus


def test_import_without_replace_refuses_clashing_ids() -> None:
    twin, _ = import_power(utility_grid(3), "example_simple", replace=True)
    with pytest.raises(UtilityError, match="pass --replace"):
        import_power(twin, "example_simple", replace=False)


def test_import_without_replace_adds_beside() -> None:
    twin = utility_grid(3)
    before = len(twin.layers["power_nodes"])
    out, _ = import_power(twin, "example_simple", replace=False)
    assert len(out.layers["power_nodes"]) == before + 7
    pd.testing.assert_series_equal(out.layers["buildings"]["power_node"],
                                   twin.layers["buildings"]["power_node"])


def test_params_of_an_imported_line_hold_the_rest() -> None:
    _, lines, _ = power_layers_from_net(pn.mv_oberrhein(), CRS, anchor=(0.0, 0.0))
    row = lines[lines["id"] == "l0"].iloc[0]
    assert row["kind"] == "cable"
    assert row["std_type"] == "NA2XS2Y 1x185 RM/25 12/20 kV"
    extra = json.loads(row["params"])["pp"]
    assert extra["parallel"] == 1
    assert extra["g_us_per_km"] == 0.0
    switch = lines[lines["kind"] == "switch"].iloc[0]
    assert json.loads(switch["params"])["pp"]["et"] == "l"
    assert shapely.length(switch.geometry) > 0


def _empty_twin() -> Twin:
    return Twin({}, new_meta("t", CRS))


def test_import_refuses_zero_impedance_lines_naming_them_all(tmp_path: Path) -> None:
    # before the fix a twin without buildings took them, and only the day simulation failed
    net = pn.example_simple()
    net.line.loc[[1, 3], ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    path = tmp_path / "zimp.json"
    pp.to_json(net, str(path))
    with pytest.raises(UtilityError, match=r"^zimp.json: 2 branches the power flow cannot "
                       r"solve; fix them in the model and import it again:\n  power_lines / "
                       r"feature l1 \(pandapower line 1 'Line 2'\): r_ohm_per_km and "
                       r"x_ohm_per_km are both 0 \(zero impedance\)") as err:
        import_power(_empty_twin(), path)
    assert "feature l3 (pandapower line 3 'Line 4')" in str(err.value)


def test_import_refuses_a_zero_length_line(tmp_path: Path) -> None:
    net = pn.example_simple()
    net.line.loc[2, "length_km"] = 0.0
    path = tmp_path / "zlen.json"
    pp.to_json(net, str(path))
    with pytest.raises(UtilityError, match=r"^zlen.json: power_lines / feature l2 \(pandapower "
                       r"line 2 'Line 3'\) / field length_km: length_km is 0, so the line has "
                       r"zero impedance"):
        import_power(utility_grid(3), path, replace=True)


def test_import_refuses_a_zero_impedance_transformer() -> None:
    net = pn.example_simple()
    net.trafo.loc[0, "vk_percent"] = 0.0
    with pytest.raises(UtilityError, match=r"^pandapower net: power_lines / feature t0 "
                       r"\(pandapower trafo 0 '110kV/20kV transformer'\) / field vk_percent: a "
                       r"transformer with vk_percent 0 has zero impedance"):
        import_power(_empty_twin(), net)


def test_import_refuses_what_cannot_be_built_without_buildings() -> None:
    net = pn.example_simple()
    net.line.loc[0, "std_type"] = None
    net.line.loc[0, "max_i_ka"] = np.nan
    with pytest.raises(UtilityError, match=r"feature l0: max_i_ka is missing"):
        import_power(_empty_twin(), net)
