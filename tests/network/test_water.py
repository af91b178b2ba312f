"""The water builder and EPANET importer: round trips through the twin file, named errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wntr

from tests.conftest import CRS
from tests.network.test_power import utility_grid
from twin._errors import UtilityError
from twin.layers.store import Twin, new_meta, read_twin, write_twin
from twin.network.water import (
    NET1,
    NET3,
    _library,
    build_water_network,
    import_water,
    read_inp,
    run_epanet,
    water_islands,
    water_layers_from_inp,
)


def _through_file(path: Path, tmp_path: Path) -> Twin:
    nodes, pipes, model, _ = water_layers_from_inp(path, CRS, anchor=(385000.0, 6672000.0))
    twin = Twin({"water_nodes": nodes, "water_pipes": pipes}, new_meta("rt", CRS))
    twin.meta["utility_models"] = {"water": model}
    return read_twin(write_twin(twin, tmp_path / "rt.twin.gpkg"))


def test_net3_round_trip_same_pressures(tmp_path: Path) -> None:
    twin = _through_file(NET3, tmp_path)
    wnet = build_water_network(twin)
    original = run_epanet(read_inp(NET3)).node["pressure"]
    rebuilt = run_epanet(wnet.wn).node["pressure"][original.columns]
    assert original.shape == (169, 97)
    assert float(np.abs(original - rebuilt).to_numpy().max()) <= 1e-3
    # and with WNTR's own simulator, over a day
    a, b = read_inp(NET3), wnet.wn
    for wn in (a, b):
        wn.options.time.duration = 24 * 3600
    pa = wntr.sim.WNTRSimulator(a).run_sim().node["pressure"]
    pb = wntr.sim.WNTRSimulator(b).run_sim().node["pressure"][pa.columns]
    assert float(np.abs(pa - pb).to_numpy().max()) <= 1e-3


def test_net3_every_element_arrives() -> None:
    nodes, pipes, model, info = water_layers_from_inp(NET3, CRS, anchor=(0.0, 0.0))
    assert info["elements"] == {"junction": 92, "reservoir": 2, "tank": 3, "pipe": 117,
                                "pump": 2, "valve": 0}
    tank = nodes[nodes["id"] == "1"].iloc[0]
    assert tank["kind"] == "tank"
    assert tank["diameter_m"] == pytest.approx(25.908)
    pump = pipes[pipes["id"] == "10"].iloc[0]
    assert pump["kind"] == "pump"
    assert json.loads(pump["params"])["wntr"]["pump_curve_name"] == "1"
    assert [c["name"] for c in model["curves"]] == ["1", "2"]
    assert len(model["controls"]) > 0
    assert "no CRS in the model" in info["placement"]
    # placed on the anchor, scaled so straight distances match pipe lengths
    x0, y0, x1, y1 = nodes.total_bounds
    assert abs((x0 + x1) / 2) < 1.0
    assert abs((y0 + y1) / 2) < 1.0
    ratio = (pipes.length / pipes["length_m"])[pipes["kind"] == "pipe"].median()
    assert 0.5 < ratio <= 1.01


def test_valves_pumps_and_tanks_round_trip(tmp_path: Path) -> None:
    ky10 = _library("ky10.inp")
    twin = _through_file(ky10, tmp_path)
    counts = twin.layers["water_pipes"]["kind"].value_counts().to_dict()
    assert counts == {"pipe": 1043, "pump": 13, "valve": 5}
    valve = twin.layers["water_pipes"][twin.layers["water_pipes"]["kind"] == "valve"].iloc[0]
    assert json.loads(valve["params"])["wntr"]["valve_type"] == "PRV"
    original = run_epanet(read_inp(ky10)).node["pressure"]
    rebuilt = run_epanet(build_water_network(twin).wn).node["pressure"][original.columns]
    assert float(np.abs(original - rebuilt).to_numpy().max()) <= 1e-3


def test_an_edited_diameter_field_wins(tmp_path: Path) -> None:
    twin = _through_file(NET1, tmp_path)
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "10", "diameter_mm"] = 200.0
    wn = build_water_network(twin).wn
    assert wn.get_link("10").diameter == pytest.approx(0.2)


def test_synthetic_network_builds() -> None:
    twin = utility_grid()
    wnet = build_water_network(twin)
    assert wnet.wn.reservoir_name_list == ["wr1"]
    assert len(wnet.junction_ids) == len(twin.layers["water_nodes"]) - 1
    assert water_islands(wnet) == []
    res = run_epanet(wnet.wn)
    assert float(res.node["pressure"].loc[0, list(wnet.junction_ids)].min()) > 50


def test_inp_that_does_not_parse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.inp"
    bad.write_text("[JUNCTIONS]\n J1 notanumber 0\n[PIPES]\n P1 J1 J9 100 x 100\n[END]\n")
    with pytest.raises(UtilityError, match=r"bad.inp: not a valid EPANET input file, 3 problems") \
            as err:
        read_inp(bad)
    lines = str(err.value).splitlines()[1:]
    assert [line.split(";")[0].strip() for line in lines] == [
        "bad.inp: [JUNCTIONS] line 2, junction J1, field Elevation: 'notanumber' is not a "
        "number",
        "bad.inp: [PIPES] line 4, pipe P1, field Node2: 'J9' is not a junction, reservoir or "
        "tank of the file",
        "bad.inp: [PIPES] line 4, pipe P1, field Diameter: 'x' is not a number"]


def test_missing_inp(tmp_path: Path) -> None:
    with pytest.raises(UtilityError, match="no such file"):
        read_inp(tmp_path / "none.inp")


def _grid_water() -> Twin:
    return utility_grid(3)


def test_zero_diameter_pipe_is_named() -> None:
    twin = _grid_water()
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "wp2", "diameter_mm"] = 0.0
    with pytest.raises(UtilityError, match=r"water_pipes: feature wp2: diameter_mm must be > 0"):
        build_water_network(twin)


def test_pipe_to_missing_node_is_named() -> None:
    twin = _grid_water()
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "wp1", "from_node"] = "ghost"
    with pytest.raises(UtilityError, match=r"feature wp1: from_node 'ghost' is not in"):
        build_water_network(twin)


def test_no_source_is_an_error() -> None:
    twin = _grid_water()
    nodes = twin.layers["water_nodes"]
    twin.layers["water_nodes"] = nodes[nodes["kind"] != "reservoir"]
    twin.layers["water_pipes"] = twin.layers["water_pipes"].iloc[1:]
    with pytest.raises(UtilityError, match="no reservoir or tank"):
        build_water_network(twin)


def test_island_with_demand_is_an_error() -> None:
    twin = _grid_water()
    twin.layers["water_pipes"] = twin.layers["water_pipes"].iloc[:1]  # only the main
    with pytest.raises(UtilityError, match=r"not connected to any reservoir or tank \(islands\)"):
        build_water_network(twin)
    assert len(water_islands(build_water_network(twin, check=False))) > 0


def test_pump_without_curve_is_named() -> None:
    twin = _grid_water()
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "wp1", "kind"] = "pump"
    with pytest.raises(UtilityError, match=r"feature wp1: a pump needs params"):
        build_water_network(twin)
    pipes.loc[pipes["id"] == "wp1", "params"] = json.dumps({"curve": [[10, 30]]})
    wn = build_water_network(twin).wn
    assert wn.get_link("wp1").pump_type == "HEAD"


def test_valve_needs_a_type() -> None:
    twin = _grid_water()
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "wp1", "kind"] = "valve"
    with pytest.raises(UtilityError, match=r"feature wp1: a valve needs params"):
        build_water_network(twin)
    pipes.loc[pipes["id"] == "wp1", "params"] = json.dumps({"valve_type": "PRV",
                                                              "setting": 40})
    assert build_water_network(twin).wn.get_link("wp1").valve_type == "PRV"


def test_import_replace_reconnects_buildings_and_keeps_the_model() -> None:
    twin = utility_grid(3)
    out, info = import_water(twin, NET1, replace=True)
    ids = set(out.layers["water_nodes"]["id"])
    assert set(out.layers["buildings"]["water_node"]) <= ids
    junctions = set(out.layers["water_nodes"].loc[
        out.layers["water_nodes"]["kind"] == "junction", "id"])
    assert set(out.layers["buildings"]["water_node"]) <= junctions
    model = out.meta["utility_models"]["water"]
    assert model["source"] == "Net1.inp"
    assert model["options"]["hydraulic"]["headloss"] == "H-W"
    assert info["elements"]["pump"] == 1
    build_water_network(out)


def test_import_twice_without_replace_is_refused() -> None:
    twin, _ = import_water(utility_grid(3), NET1, replace=True)
    with pytest.raises(UtilityError, match="pass --replace"):
        import_water(twin, NET3, replace=False)


def test_import_with_a_crs_keeps_coordinates() -> None:
    twin = Twin({}, new_meta("t", CRS))
    out, info = import_water(twin, NET1, crs=CRS)
    assert info["placement"].startswith("coordinates projected")
    xy = out.layers["water_nodes"].set_index("id").geometry
    assert (xy["10"].x, xy["10"].y) == pytest.approx((20.0, 70.0))
    assert isinstance(out.layers["water_nodes"], pd.DataFrame)
