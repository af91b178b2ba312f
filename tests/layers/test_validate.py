"""Tests of twin.layers.validate: every rule, the report, fixes and speed."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from twin._errors import Finding, LayerError
from twin.layers.derive import derive_buildings
from twin.layers.history import gpkg_functions
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, new_meta, read_twin, write_twin
from twin.layers.validate import (
    MAX_LISTED,
    Report,
    check_stored_values,
    fix_twin,
    validate_layer,
    validate_twin,
)

CRS = "EPSG:3067"
BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])


def rules(findings: list[Finding], severity: str | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def with_layer(twin: Twin, name: str, gdf: gpd.GeoDataFrame) -> Twin:
    out = twin.copy()
    out.layers[name] = gdf
    return out


def power(node_ids: list[str], ext: list[bool], lines: list[tuple[str, str]]
          ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    pts = [shapely.Point(i * 50.0, 0.0) for i in range(len(node_ids))]
    nodes = gpd.GeoDataFrame({"id": node_ids, "kind": "bus", "vn_kv": 10.0, "ext_grid": ext,
                              "source": "synthetic"}, geometry=pts, crs=CRS)
    pos = dict(zip(node_ids, pts, strict=True))
    links = gpd.GeoDataFrame({
        "id": [f"l{i}" for i in range(len(lines))],
        "from_node": [a for a, _ in lines], "to_node": [b for _, b in lines],
        "kind": "cable", "vn_kv": 10.0, "source": "synthetic"},
        geometry=[shapely.LineString([pos[a], pos[b]]) for a, b in lines], crs=CRS)
    return nodes, links


# --- a clean twin -----------------------------------------------------------------------------

def test_clean_grid_twin_has_no_findings(grid_twin: Twin) -> None:
    report = validate_twin(grid_twin)
    assert report.findings == []
    assert report.ok
    assert report.format() == "OK: 0 error(s), 0 warning(s)"


def test_demo_twin_validates_without_errors(demo_twin: Twin) -> None:
    report = validate_twin(demo_twin)
    assert report.errors == [], report.format()
    # an extract clipped from a city has dead ends at its edge: a warning, not an error
    assert "dead_end" in rules(report.warnings)


# --- dictionary rules -------------------------------------------------------------------------

def test_required_field_missing(grid_twin: Twin) -> None:
    roads = grid_twin.layers["roads"].drop(columns=["highway"])
    found = validate_layer(roads, "roads")
    req = only(found, "required")
    assert [(f.severity, f.layer, f.field, f.feature) for f in req] == [
        ("error", "roads", "highway", None)]
    assert "--map SRC=highway" in req[0].message


def test_required_value_missing(grid_twin: Twin) -> None:
    b = grid_twin.layers["buildings"].copy()
    b["use"] = b["use"].astype(object)
    b.loc[1, "use"] = None
    found = only(validate_layer(b, "buildings"), "required")
    assert [(f.feature, f.field) for f in found] == [("b1", "use")]


def test_text_in_numeric_field_names_feature_and_field(grid_twin: Twin) -> None:
    b = grid_twin.layers["buildings"].copy()
    b["height_m"] = b["height_m"].astype(object)
    b.loc[2, "height_m"] = "tall"
    found = only(validate_layer(b, "buildings"), "type")
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.feature, f.field) == ("error", "b2", "height_m")
    assert "'tall' is not a number" in f.message


def test_text_stored_in_a_numeric_field_of_the_file_is_an_error(grid_twin: Twin,
                                                                 tmp_path: Path) -> None:
    path = write_twin(grid_twin, tmp_path / "grid.twin.gpkg")
    con = gpkg_functions(sqlite3.connect(path))
    con.execute("UPDATE buildings SET residents = 'many' WHERE id = 'b1'")
    con.execute("UPDATE road_nodes SET gateway = 'yes' WHERE id = 'n4'")
    con.commit()
    con.close()
    twin = read_twin(path)
    assert twin.layers["buildings"].set_index("id").loc["b1", "residents"] == 0   # GDAL's
    found = only(validate_twin(twin).errors, "type")
    assert [(f.layer, f.feature, f.field) for f in found] == [
        ("road_nodes", "n4", "gateway"), ("buildings", "b1", "residents")]
    assert found[1].message.startswith(
        "the text 'many' is stored in this int field; GDAL, QGIS and twin read it as a "
        "number (0 unless it starts with one); enter a whole number")
    assert "enter true or false" in found[0].message
    assert found[1].source == str(path)
    assert check_stored_values(path, ["roads"]) == []


def test_range_and_allowed_values(grid_twin: Twin) -> None:
    r = grid_twin.layers["roads"].copy()
    r["lanes"] = r["lanes"].astype("int64")
    r.loc[0, "lanes"] = 0
    r.loc[1, "speed_kph"] = 500.0
    r["highway"] = r["highway"].astype(object)
    r.loc[2, "highway"] = "Primary"
    found = validate_layer(r, "roads")
    rng = only(found, "range")
    assert [(f.feature, f.field) for f in rng] == [("r0", "lanes"), ("r1", "speed_kph")]
    assert "0 lanes per direction is below the minimum 1" in rng[0].message
    assert "500 km/h is above the maximum 200" in rng[1].message
    allowed = only(found, "allowed")
    assert [(f.feature, f.field) for f in allowed] == [("r2", "highway")]
    assert "use one of: motorway" in allowed[0].message


def test_bool_field_text(grid_twin: Twin) -> None:
    r = grid_twin.layers["roads"].copy()
    r["oneway"] = r["oneway"].astype(object)
    r.loc[3, "oneway"] = "maybe"
    r.loc[4, "oneway"] = "yes"
    found = only(validate_layer(r, "roads"), "type")
    assert [(f.feature, f.field) for f in found] == [("r3", "oneway")]


def test_provenance_values_and_missing_column(grid_twin: Twin) -> None:
    b = grid_twin.layers["buildings"].copy()
    b.loc[0, "height_m_source"] = "guess"
    b = b.drop(columns=["jobs_source"])
    found = only(validate_layer(b, "buildings"), "provenance")
    by_field = {f.field: f for f in found}
    assert by_field["height_m_source"].severity == "error"
    assert by_field["height_m_source"].feature == "b0"
    assert "osm, derived, synthetic, user, import" in by_field["height_m_source"].message
    assert by_field["jobs_source"].severity == "warning"


def test_duplicate_ids_are_each_reported(grid_twin: Twin) -> None:
    b = grid_twin.layers["buildings"].copy()
    b.loc[3, "id"] = "b0"
    found = only(validate_layer(b, "buildings"), "unique")
    assert [f.feature for f in found] == ["b0", "b0"]
    assert "'b0' is used by 2 features" in found[0].message


def test_refs_point_to_missing_features(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    t.layers["roads"].loc[0, "u"] = "n99"
    t.layers["buildings"].loc[1, "zone_id"] = "zX"
    t.layers["buildings"]["power_node"] = pd.Series([None, "pn1", None, None], dtype=object)
    sensors = gpd.GeoDataFrame({"id": ["s1", "s2"], "kind": "traffic_counter",
                                "range_m": 15.0, "range_m_source": "user", "road_id": ["r1", "rX"],
                                "source": "user"},
                               geometry=[shapely.Point(50, 0), shapely.Point(0, 50)], crs=CRS)
    t.layers["sensors"] = sensors
    nodes, lines = power(["pA", "pB"], [True, False], [("pA", "pB")])
    lines.loc[0, "to_node"] = "pZ"
    t.layers["power_nodes"], t.layers["power_lines"] = nodes, lines
    found = only(validate_twin(t).findings, "ref")
    got = {(f.layer, f.feature, f.field) for f in found}
    assert got == {("roads", "r0", "u"), ("buildings", "b1", "zone_id"),
                   ("buildings", "b1", "power_node"), ("sensors", "s2", "road_id"),
                   ("power_lines", "l0", "to_node")}
    msg = {f.field: f.message for f in found}
    assert msg["u"] == "u 'n99' is not the id of a feature in road_nodes; correct it or clear it"


def test_transit_stop_ids_must_exist(grid_twin: Twin) -> None:
    fac = gpd.GeoDataFrame({"id": ["f1"], "kind": "bus_stop", "capacity": 0.0,
                            "source": "user"}, geometry=[shapely.Point(0, 0)], crs=CRS)
    route = gpd.GeoDataFrame({"id": ["t1"], "mode": "bus", "headway_min": 10.0,
                              "speed_kph": 20.0, "start_hour": 6.0, "end_hour": 22.0,
                              "stop_ids": ["f1,f9"], "source": "user"},
                             geometry=[shapely.LineString([(0, 0), (200, 0)])], crs=CRS)
    t = with_layer(with_layer(grid_twin, "facilities", fac), "transit_routes", route)
    found = only(validate_twin(t).findings, "ref")
    assert [(f.feature, f.field) for f in found] == [("t1", "stop_ids")]
    assert "f9" in found[0].message
    assert "f1," not in found[0].message


# --- geometry and CRS -------------------------------------------------------------------------

def test_invalid_empty_missing_and_wrong_type(grid_twin: Twin) -> None:
    b = grid_twin.layers["buildings"].copy()
    geoms = list(b.geometry)
    geoms[0] = BOWTIE
    geoms[1] = shapely.Polygon()
    geoms[2] = None
    geoms[3] = shapely.LineString([(0, 0), (5, 5)])
    b = b.set_geometry(gpd.GeoSeries(geoms, index=b.index, crs=CRS))
    found = validate_layer(b, "buildings")
    got = {(f.rule, f.feature) for f in found if f.severity == "error"}
    assert got >= {("invalid", "b0"), ("empty", "b1"), ("geometry", "b2"),
                   ("geometry_type", "b3")}
    invalid = only(found, "invalid")[0]
    assert "Self-intersection" in invalid.message
    assert "--fix" in invalid.message
    wrong = only(found, "geometry_type")[0]
    assert wrong.message.startswith("a LineString in a Polygon layer")


def test_polygon_in_roads_is_an_error_but_multilinestring_is_fine(grid_twin: Twin) -> None:
    r = grid_twin.layers["roads"].copy()
    geoms = list(r.geometry)
    geoms[0] = shapely.MultiLineString([[(0, 0), (50, 0)], [(50, 0), (100, 0)]])
    geoms[1] = shapely.box(0, 0, 10, 10)
    r = r.set_geometry(gpd.GeoSeries(geoms, index=r.index, crs=CRS))
    found = only(validate_layer(r, "roads"), "geometry_type")
    assert [f.feature for f in found] == ["r1"]
    assert "roads needs LineString or MultiLineString" in found[0].message


@pytest.mark.parametrize(("crs", "twin_crs", "match"), [
    (None, None, "no CRS"),
    ("EPSG:4326", None, "not projected"),
    ("EPSG:32635", CRS, "differs from the twin's"),
])
def test_crs_rules(grid_twin: Twin, crs: str | None, twin_crs: str | None, match: str) -> None:
    z = grid_twin.layers["zones"].copy()
    z = (z.set_crs(crs, allow_override=True) if crs else
         gpd.GeoDataFrame(pd.DataFrame(z.drop(columns="geometry")), geometry=list(z.geometry)))
    assert (z.crs is None) == (crs is None)
    found = only(validate_layer(z, "zones", twin_crs=twin_crs), "crs")
    assert len(found) == 1
    assert found[0].severity == "error"
    assert match in found[0].message


def test_geographic_twin_is_an_error(grid_twin: Twin) -> None:
    t = Twin(dict(grid_twin.layers), new_meta("geo", "EPSG:4326"))
    assert "crs" in rules(validate_twin(t).errors)


def test_unknown_layer_kind_is_a_warning_and_validate_layer_refuses_it(grid_twin: Twin) -> None:
    t = with_layer(grid_twin, "trees", grid_twin.layers["zones"])
    assert "unknown_layer" in rules(validate_twin(t).warnings)
    with pytest.raises(LayerError, match="unknown layer 'trees'"):
        validate_layer(grid_twin.layers["zones"], "trees")


# --- road graph -------------------------------------------------------------------------------

def test_one_way_trap_warns_about_strong_connectivity(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    # n8 is reachable only through one-way roads pointing into it
    t.layers["roads"].loc[t.layers["roads"]["id"].isin(["r9", "r11"]), "oneway"] = True
    found = only(validate_twin(t).findings, "strong_connectivity")
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert "88.9% of 9 road nodes" in found[0].message
    assert "n8" in found[0].message


def test_mostly_disconnected_network_is_an_error(grid_twin: Twin) -> None:
    roads = grid_twin.layers["roads"]
    # keep only two separate links: each part holds half of the nodes
    r = roads[roads["id"].isin(["r0", "r11"])].copy()
    found = validate_twin(with_layer(grid_twin, "roads", r)).findings
    conn = only(found, "connectivity")
    assert conn
    assert conn[0].severity == "warning"
    r3 = roads[roads["id"].isin(["r0", "r9", "r10"])].copy()   # three parts of 2 nodes
    conn = only(validate_twin(with_layer(grid_twin, "roads", r3)).findings, "connectivity")
    assert conn[0].severity == "error"
    assert "3 separate parts" in conn[0].message


def test_dead_ends_at_the_edge_and_inside(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    r = t.layers["roads"]
    # a spur into the middle of the block (inside) and one along the edge (at the edge)
    extra = gpd.GeoDataFrame({
        "id": ["rin", "redge"], "u": ["n4", "n2"], "v": ["nin", "nedge"],
        "highway": "service", "lanes": 1, "speed_kph": 20.0, "capacity_vph": 300.0,
        "oneway": False, "length_m": [40.0, 100.0], "source": "user"},
        geometry=[shapely.LineString([(100, 100), (140, 140)]),
                  shapely.LineString([(200, 0), (300, 0)])], crs=CRS)
    for c in ("lanes", "speed_kph", "capacity_vph", "length_m"):
        extra[f"{c}_source"] = "user"
    merged, _ = coerce_fields(pd.concat([r, extra], ignore_index=True), layer_spec("roads"))
    t.layers["roads"] = gpd.GeoDataFrame(merged, geometry="geometry", crs=CRS)
    found = only(validate_twin(t).findings, "dead_end")
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert "2 dead-end road nodes: 1 at the edge of the extract" in found[0].message
    assert "1 inside" in found[0].message
    assert "nin" in found[0].message


def test_length_far_from_geometry_is_a_warning(grid_twin: Twin) -> None:
    r = grid_twin.layers["roads"].copy()
    r.loc[0, "length_m"] = 300.0
    r.loc[1, "length_m"] = 104.0      # within tolerance
    found = only(validate_layer(r, "roads"), "length")
    assert [(f.severity, f.feature) for f in found] == [("warning", "r0")]
    assert "length_m is 300 m but the geometry is 100 m long" in found[0].message


# --- utilities and zones ----------------------------------------------------------------------

def test_power_nodes_not_connected_to_a_source(grid_twin: Twin) -> None:
    nodes, lines = power(["pA", "pB", "pC", "pD"], [True, False, False, False],
                         [("pA", "pB"), ("pC", "pD")])
    t = with_layer(with_layer(grid_twin, "power_nodes", nodes), "power_lines", lines)
    t.layers["buildings"]["power_node"] = pd.Series(["pB", "pC", "pD", "pD"], dtype=object)
    found = only(validate_twin(t).findings, "supply")
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert found[0].message.startswith("2 of 4 power nodes are not connected to an external")
    assert "3 buildings are supplied from them" in found[0].message


def test_zero_impedance_line_is_an_error(grid_twin: Twin) -> None:
    nodes, lines = power(["pA", "pB", "pC"], [True, False, False], [("pA", "pB"), ("pB", "pC")])
    lines["kind"] = "line"
    lines["r_ohm_per_km"], lines["x_ohm_per_km"] = [0.0, 0.2], [0.0, 0.1]
    found = only(validate_layer(lines, "power_lines"), "impedance")
    assert [(f.severity, f.layer, f.feature) for f in found] == [
        ("error", "power_lines", lines["id"].iloc[0])]
    assert "zero impedance" in found[0].message
    t = with_layer(with_layer(grid_twin, "power_nodes", nodes), "power_lines", lines)
    assert only(validate_twin(t).findings, "impedance")


def test_open_switch_cuts_supply(grid_twin: Twin) -> None:
    nodes, lines = power(["pA", "pB"], [True, False], [("pA", "pB")])
    lines["kind"] = "switch"
    lines["closed"] = False
    t = with_layer(with_layer(grid_twin, "power_nodes", nodes), "power_lines", lines)
    assert "1 of 2 power nodes" in only(validate_twin(t).findings, "supply")[0].message


def test_power_without_external_grid(grid_twin: Twin) -> None:
    nodes, lines = power(["pA", "pB"], [False, False], [("pA", "pB")])
    t = with_layer(with_layer(grid_twin, "power_nodes", nodes), "power_lines", lines)
    found = only(validate_twin(t).findings, "supply")
    assert "has no source" in found[0].message


def test_water_supplied_from_reservoir_or_tank(grid_twin: Twin) -> None:
    pts = [shapely.Point(i * 10.0, 0) for i in range(4)]
    nodes = gpd.GeoDataFrame({"id": ["R", "j1", "T", "j2"],
                              "kind": ["reservoir", "junction", "tank", "junction"],
                              "elevation_m": 5.0, "source": "user"}, geometry=pts, crs=CRS)
    pipes = gpd.GeoDataFrame({"id": ["w1", "w2"], "from_node": ["R", "T"],
                              "to_node": ["j1", "j2"], "kind": "pipe",
                              "status": ["open", "closed"], "source": "user"},
                             geometry=[shapely.LineString([pts[0], pts[1]]),
                                       shapely.LineString([pts[2], pts[3]])], crs=CRS)
    t = with_layer(with_layer(grid_twin, "water_nodes", nodes), "water_pipes", pipes)
    found = only(validate_twin(t).findings, "supply")
    assert len(found) == 1
    assert found[0].message.startswith("1 of 4 water nodes are not connected to a reservoir")
    assert "j2" in found[0].message


def test_buildings_outside_every_zone(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    b = t.layers["buildings"]
    b.loc[0, "geometry"] = shapely.box(500, 500, 520, 520)
    found = only(validate_twin(t).findings, "outside_zones")
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert found[0].message.startswith("1 of 4 buildings lie outside every zone (b0)")


def test_overlapping_zones(grid_twin: Twin) -> None:
    z = grid_twin.layers["zones"]
    extra = z.copy()
    extra["id"] = ["z2"]
    extra["geometry"] = [shapely.box(150, 0, 400, 200)]   # overlaps z1 by 50 x 200
    tiny = z.copy()
    tiny["id"] = ["z3"]
    tiny["geometry"] = [shapely.box(-1000, 0, 0.5, 200)]   # overlap 0.25% of z1: ignored
    zones = gpd.GeoDataFrame(pd.concat([z, extra, tiny], ignore_index=True), crs=CRS)
    found = only(validate_twin(with_layer(grid_twin, "zones", zones)).findings,
                 "zone_overlap")
    assert [(f.feature, f.severity) for f in found] == [("z1", "warning")]
    assert "overlaps zone z2 by 10000 m2 (25.0% of the smaller zone)" in found[0].message


# --- the report -------------------------------------------------------------------------------

def test_every_problem_is_collected_in_one_report(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    t.layers["roads"].loc[0, "u"] = "n99"
    b = t.layers["buildings"]
    b["height_m"] = b["height_m"].astype(object)
    b.loc[0, "height_m"] = "tall"
    b.loc[1, "id"] = "b2"
    b.loc[3, "geometry"] = BOWTIE
    t.layers["zones"] = t.layers["zones"].drop(columns=["name"])
    report = validate_twin(t)
    assert rules(report.errors) >= {"ref", "type", "unique", "invalid", "required"}
    assert not report.ok
    assert report.errors[0].severity == "error"


def test_report_counts_strict_json_and_text() -> None:
    findings = [Finding("error", "crs", "no CRS", layer="roads"),
                Finding("warning", "dead_end", "3 dead ends", layer="roads"),
                Finding("warning", "outside_zones", "1 building", layer="buildings")]
    r = Report(findings, path="x.twin.gpkg")
    assert (len(r.errors), len(r.warnings), r.ok) == (1, 2, False)
    d = json.loads(json.dumps(r.to_dict()))
    assert (d["errors"], d["warnings"], d["ok"], d["path"]) == (1, 2, False, "x.twin.gpkg")
    assert d["findings"][1]["rule"] == "dead_end"
    text = r.format().splitlines()
    assert text == [
        "twin x.twin.gpkg",
        "roads: 1 error(s), 1 warning(s)",
        "  error [crs] roads: no CRS",
        "  warning [dead_end] roads: 3 dead ends",
        "buildings: 0 error(s), 1 warning(s)",
        "  warning [outside_zones] buildings: 1 building",
        "FAILED: 1 error(s), 2 warning(s)",
    ]
    warn_only = Report(findings[1:])
    assert warn_only.ok
    strict = Report(findings[1:], strict=True)
    assert not strict.ok
    assert strict.format().endswith("FAILED (strict: warnings count as errors): "
                                    "0 error(s), 2 warning(s)")


def test_many_bad_features_are_listed_then_summed(grid_twin: Twin) -> None:
    n = MAX_LISTED + 10
    s = gpd.GeoDataFrame({"id": [f"s{i}" for i in range(n)], "kind": "camera",
                          "range_m": 9999.0, "range_m_source": "user", "source": "user"},
                         geometry=[shapely.Point(i, 0) for i in range(n)], crs=CRS)
    found = only(validate_layer(s, "sensors"), "range")
    assert len(found) == MAX_LISTED + 1
    assert found[-1].feature is None
    assert found[-1].message.startswith("... and 10 more features above the maximum 5000")
    assert "s20" in found[-1].message


# --- fixes ------------------------------------------------------------------------------------

def test_fix_twin_repairs_and_reports(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    b = t.layers["buildings"]
    geoms = list(b.geometry)
    geoms[0] = BOWTIE
    geoms[1] = shapely.Polygon()
    geoms[2] = shapely.GeometryCollection([shapely.box(120, 20, 140, 40),
                                           shapely.LineString([(0, 0), (1, 1)])])
    t.layers["buildings"] = b.set_geometry(gpd.GeoSeries(geoms, index=b.index, crs=CRS))
    before = validate_twin(t)
    assert {"invalid", "empty", "geometry_type"} <= rules(before.errors)
    fixed, changes = fix_twin(t)
    assert all(c.severity == "warning" and c.rule == "fixed" for c in changes)
    assert sorted(str(c.feature) for c in changes) == ["b0", "b1", "b2"]
    out = fixed.layers["buildings"]
    assert out["id"].tolist() == ["b0", "b2", "b3"]
    assert out.geometry.iloc[0].geom_type == "MultiPolygon"
    assert out.geometry.iloc[0].area == pytest.approx(50.0)
    assert out.geometry.iloc[1].equals(shapely.box(120, 20, 140, 40))
    assert validate_twin(fixed).ok
    assert len(t.layers["buildings"]) == 4          # the input is not changed


def test_fix_twin_drops_features_with_nothing_of_their_kind(grid_twin: Twin) -> None:
    t = grid_twin.copy()
    b = t.layers["buildings"]
    geoms = list(b.geometry)
    # a collapsed polygon: make_valid turns it into a line, which a building cannot be
    geoms[0] = shapely.Polygon([(0, 0), (10, 0), (20, 0), (0, 0)])
    t.layers["buildings"] = b.set_geometry(gpd.GeoSeries(geoms, index=b.index, crs=CRS))
    fixed, changes = fix_twin(t)
    assert "b0" not in set(fixed.layers["buildings"]["id"])
    assert [c.feature for c in changes] == ["b0"]
    assert "deleted" in changes[0].message


def test_fix_twin_on_a_clean_twin_changes_nothing(grid_twin: Twin) -> None:
    fixed, changes = fix_twin(grid_twin)
    assert changes == []
    for name, gdf in grid_twin.layers.items():
        assert fixed.layers[name].equals(gdf)


# --- speed ------------------------------------------------------------------------------------

def test_validate_100k_buildings_is_fast() -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x, y = (i % side) * 30.0, (i // side) * 30.0
    src = gpd.GeoDataFrame({"id": [f"b{k}" for k in i],
                            "use": np.array(["residential", "office", "mixed"])[i % 3],
                            "height_m": rng.uniform(3, 60, n).round(1), "floors": np.nan},
                           geometry=shapely.box(x, y, x + 20, y + 15), crs=CRS)
    b = derive_buildings(src, source="synthetic")
    b["source"] = "synthetic"
    typed, _ = coerce_fields(b, layer_spec("buildings"))
    b = gpd.GeoDataFrame(typed, geometry="geometry", crs=CRS)
    validate_layer(b.head(100), "buildings")   # warm up
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        found = validate_layer(b, "buildings", twin_crs=CRS)
        best = min(best, time.perf_counter() - t0)
    assert found == []
    assert best < 1.0, f"validate_layer on 100k buildings took {best:.2f} s"
