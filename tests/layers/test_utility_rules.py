"""Zero-impedance branches found before a network is built (a layer rule)."""

from __future__ import annotations

import geopandas as gpd
import shapely

from tests.conftest import CRS
from tests.network.test_power import utility_grid
from twin.layers.schemas import layer_spec
from twin.layers.utility_rules import check_utility_values


def _lines() -> gpd.GeoDataFrame:
    return utility_grid(3).layers["power_lines"].copy()


def test_sound_synthetic_lines_give_no_finding() -> None:
    assert check_utility_values(_lines(), layer_spec("power_lines")) == []


def test_zero_impedance_length_and_transformer_are_errors() -> None:
    lines = _lines()
    lines.loc[lines["id"] == "pc1", ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    lines.loc[lines["id"] == "pc2", "length_km"] = 0.0
    lines.loc[lines["id"] == "pt1", "vk_percent"] = 0.0
    found = check_utility_values(lines, layer_spec("power_lines"), "grid.gpkg")
    assert [(f.severity, f.rule, f.feature, f.field) for f in found] == [
        ("error", "impedance", "pc1", None), ("error", "impedance", "pc2", "length_km"),
        ("error", "impedance", "pt1", "vk_percent")]
    assert found[0].format().startswith(
        "error [impedance] grid.gpkg / power_lines / feature pc1: r_ohm_per_km and "
        "x_ohm_per_km are both 0 (zero impedance), which the power flow cannot solve;")
    assert "make it kind: switch" in found[1].message
    assert "typically 4-12%" in found[2].message


def test_one_zero_is_fine_and_missing_values_are_left_to_the_builder() -> None:
    lines = _lines()
    lines.loc[lines["id"] == "pc1", "r_ohm_per_km"] = 0.0           # reactance left: solvable
    lines.loc[lines["id"] == "pc2", ["r_ohm_per_km", "x_ohm_per_km"]] = [0.0, None]
    assert check_utility_values(lines, layer_spec("power_lines")) == []


def test_a_rated_zero_transformer_and_other_layers() -> None:
    t = gpd.GeoDataFrame({"id": ["t1"], "kind": ["transformer"], "sn_mva": [0.0],
                          "vk_percent": [6.0]},
                         geometry=[shapely.LineString([(0, 0), (5, 5)])], crs=CRS)
    found = check_utility_values(t, layer_spec("power_lines"))
    assert [(f.feature, f.field) for f in found] == [("t1", "sn_mva")]
    pipes = utility_grid(3).layers["water_pipes"]
    assert check_utility_values(pipes, layer_spec("water_pipes")) == []


def test_many_are_summed_up() -> None:
    from twin.layers._vbase import MAX_LISTED

    n = MAX_LISTED + 3
    lines = gpd.GeoDataFrame({"id": [f"c{i}" for i in range(n)], "kind": "cable",
                              "length_km": 0.0},
                             geometry=[shapely.LineString([(i, 0), (i, 1)]) for i in range(n)],
                             crs=CRS)
    found = check_utility_values(lines, layer_spec("power_lines"))
    assert len(found) == MAX_LISTED + 1
    assert found[-1].message.startswith("... and 3 more features have length 0")
