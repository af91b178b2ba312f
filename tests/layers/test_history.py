"""The edit history: tables and triggers in every twin, log, diff, checkout, rewrites."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from twin._errors import LayerError
from twin.layers import history
from twin.layers.changes import same_geometry
from twin.layers.edit import edit_layer, revert
from twin.layers.store import Twin, list_twin_layers, new_meta, read_twin, write_twin

INTERNAL = {"twin_history", "twin_versions", "twin_state"}


@pytest.fixture
def path(grid_twin: Twin, tmp_path: Path) -> Path:
    out = tmp_path / "grid.twin.gpkg"
    write_twin(grid_twin, out)
    return out


def _feature(fid: str, geometry: dict | None = None, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": fid, **props}}


def _sorted(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.sort_values("id").reset_index(drop=True)


def _same_layers(a: Twin, b: Twin) -> None:
    assert sorted(a.layers) == sorted(b.layers)
    for name in a.layers:
        assert_geodataframe_equal(_sorted(a.layers[name]), _sorted(b.layers[name]),
                                  check_like=True)


def _sql(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as any program would open the GeoPackage."""
    return history.gpkg_functions(sqlite3.connect(path))


# --- the tables in every new twin -------------------------------------------------------------

def test_new_twin_starts_at_version_1_created(path):
    entries = history.log(path)
    assert len(entries) == 1
    v1 = entries[0]
    assert (v1["version"], v1["kind"], v1["message"]) == (1, "created", "created")
    assert v1["layers"]["roads"] == {"added": 12, "changed": 0, "deleted": 0}
    assert v1["layers"]["buildings"]["added"] == 4
    assert v1["added"] == 1 + 12 + 9 + 4
    assert v1["layer"] == "buildings,road_nodes,roads,zones"


def test_history_tables_are_invisible_to_readers(grid_twin, path):
    assert not INTERNAL & {str(n) for n, _ in pyogrio.list_layers(path)}
    assert not INTERNAL & {n for n, _ in list_twin_layers(path)}
    back = read_twin(path)
    assert sorted(back.layers) == sorted(grid_twin.layers)
    assert_geodataframe_equal(back.layers["roads"].drop(columns="name"),
                              grid_twin.layers["roads"].drop(columns="name"), check_like=True)
    con = sqlite3.connect(path)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                          "'trigger' AND name LIKE 'twin_history_%'")}
    assert INTERNAL <= names
    assert "twin_history_buildings_update" in triggers
    assert len(triggers) == 4 * 4


def test_geometry_blobs_round_trip_and_match_gdal(path):
    con = sqlite3.connect(path)
    for table in ("buildings", "roads", "road_nodes"):
        blobs = [r[0] for r in con.execute(f"SELECT geom FROM {table}")]
        geoms = history.decode_geometries(blobs)
        assert history.encode_geometries(geoms, 3067) == blobs
    multi = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    back = history.decode_geometries(history.encode_geometries([multi, None], 3067))
    assert back[0].equals(multi)
    assert back[1] is None


# --- edits made outside twin ------------------------------------------------------------------

def test_plain_sqlite3_edits_are_recorded(path):
    con = _sql(path)
    con.execute("UPDATE buildings SET use = 'retail', floors = 5 WHERE id = 'b1'")
    new = history.encode_geometries([shapely.box(500, 500, 510, 510)], 3067)[0]
    con.execute("INSERT INTO buildings (id, use, height_m, floors, footprint_m2, floor_area_m2, "
                "residents, jobs, source, geom) VALUES ('b99', 'office', 6.4, 2, 100.0, 200.0, "
                "0, 5, 'user', ?)", (new,))
    con.commit()
    con.close()
    # a delete needs no GeoPackage functions at all: a bare sqlite3 connection
    bare = sqlite3.connect(path)
    bare.execute("DELETE FROM roads WHERE id = 'r3'")
    bare.commit()
    bare.close()
    last = history.log(path)[-1]
    assert (last["version"], last["kind"], last["author"]) == (2, "external", "outside twin")
    assert last["layers"] == {"buildings": {"added": 1, "changed": 1, "deleted": 0},
                              "roads": {"added": 0, "changed": 0, "deleted": 1}}
    d = history.diff(path, 1, 2)
    by_id = {c.id: c for c in d.changes}
    assert by_id["b1"].fields == {"use": ["office", "retail"], "floors": [4, 5]}
    assert by_id["b1"].moved_m == 0.0
    assert by_id["b99"].change == "added"
    assert by_id["r3"].change == "deleted"
    assert by_id["r3"].fields["highway"] == ["residential", None]


def test_pyogrio_append_is_recorded(path):
    extra = gpd.GeoDataFrame({"id": ["n99"], "control": ["signal"], "control_source": ["user"],
                              "gateway": [False], "source": ["user"]},
                             geometry=[shapely.Point(50, 50)], crs="EPSG:3067")
    pyogrio.write_dataframe(extra, path, layer="road_nodes", append=True)
    last = history.log(path, layer="road_nodes")[-1]
    assert (last["kind"], last["added"], last["layer"]) == ("external", 1, "road_nodes")
    assert [e["op"] for e in history.log(path, feature_id="n99")] == ["insert"]


def test_layer_replaced_outside_twin_is_noted(path, grid_twin):
    pyogrio.write_dataframe(grid_twin.layers["zones"], path, layer="zones", driver="GPKG")
    last = history.log(path)[-1]
    assert last["kind"] == "external"
    assert "history tracking installed on zones" in last["message"]
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = "
                       "'twin_history_zones_update'").fetchone()[0] == 1


def test_twin_without_history_gets_one(path):
    con = sqlite3.connect(path)
    for t in ("twin_history", "twin_versions", "twin_state"):
        con.execute(f"DROP TABLE {t}")
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND "
                               "name LIKE 'twin_history_%'").fetchall():
        con.execute(f'DROP TRIGGER "{name}"')
    con.commit()
    con.close()
    entries = history.log(path)
    assert [(e["version"], e["kind"]) for e in entries] == [(1, "created")]
    assert "history started" in entries[0]["message"]
    assert entries[0]["layers"]["roads"]["added"] == 12


# --- the GeoPackage stays standard ------------------------------------------------------------

def test_geopackage_stays_standard_after_edits(path):
    moved = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    edit_layer(path, "buildings", update=_feature("b0", moved, use="retail"),
               author="ana", message="move b0", crs="EPSG:3067")
    con = _sql(path)
    con.execute("UPDATE roads SET lanes = 2 WHERE id = 'r1'")
    con.commit()
    con.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for name, _ in list_twin_layers(path):
        gdf = pyogrio.read_dataframe(path, layer=name)
        n_rtree = con.execute(f"SELECT COUNT(*) FROM rtree_{name}_geom").fetchone()[0]
        assert n_rtree == len(gdf) > 0
    box = con.execute("SELECT r.minx, r.maxx, r.miny, r.maxy FROM rtree_buildings_geom r "
                      "JOIN buildings b ON b.fid = r.id WHERE b.id = 'b0'").fetchone()
    assert box == pytest.approx((0, 1, 0, 1), abs=1e-4)  # the R-tree stores float32 boxes
    # a spatial filter (which uses the R-tree) finds b0 where it now is
    found = pyogrio.read_dataframe(path, layer="buildings", bbox=(-1, -1, 2, 2))
    assert found["id"].tolist() == ["b0"]


# --- checkout and state_at --------------------------------------------------------------------

def test_checkout_of_every_version_equals_the_state_then(path, tmp_path):
    states = {1: read_twin(path)}
    line = {"type": "LineString", "coordinates": [[0, 0], [50, 5], [100, 0]]}
    edit_layer(path, "roads", update=_feature("r0", line, lanes=2, speed_kph=0.1 + 0.2 + 40),
               author="ana", message="re-draw r0", crs="EPSG:3067")
    states[2] = read_twin(path)
    square = {"type": "Polygon", "coordinates": [[[300, 300], [310, 300], [310, 310],
                                                  [300, 310], [300, 300]]]}
    edit_layer(path, "buildings",
               add=_feature("b9", square, use="office", height_m=1 / 3 + 6, floors=2,
                            footprint_m2=100.0, floor_area_m2=200.0, residents=0, jobs=9),
               delete="b2", update=_feature("b0", height_m=40.0, floors=12),
               author="bo", message="survey", crs="EPSG:3067")
    states[3] = read_twin(path)
    con = _sql(path)
    con.execute("UPDATE road_nodes SET control = 'signal' WHERE id IN ('n1', 'n2')")
    con.execute("DELETE FROM buildings WHERE id = 'b3'")
    con.commit()
    con.close()
    assert history.log(path)[-1]["version"] == 4
    states[4] = read_twin(path)
    revert(path, 2, author="cy", message="undo the survey")
    states[5] = read_twin(path)
    twin = read_twin(path)
    twin.layers["zones"].loc[0, "name"] = "Centre"
    twin.layers["buildings"] = twin.layers["buildings"].iloc[1:]
    write_twin(twin, path, overwrite=True)
    states[6] = read_twin(path)
    entries = history.log(path)
    assert [e["kind"] for e in entries] == ["created", "edit", "edit", "external", "revert",
                                            "rewrite"]
    for v, state in states.items():
        out = tmp_path / f"v{v}.twin.gpkg"
        history.checkout(path, v, out)
        _same_layers(read_twin(out), state)
        _same_layers(history.state_at(path, v), state)
        copied = history.log(out)
        assert [e["version"] for e in copied] == list(range(1, v + 1))
    # the float written by the edit reads back to the last bit
    r0 = states[2].layers["roads"].set_index("id").loc["r0"]
    assert r0["speed_kph"] == 0.1 + 0.2 + 40
    assert read_twin(tmp_path / "v3.twin.gpkg").layers["buildings"].set_index("id").loc[
        "b9", "height_m"] == 1 / 3 + 6


def test_checkout_refuses_bad_targets_and_versions(path, tmp_path):
    with pytest.raises(LayerError, match="version 7 does not exist; the twin has versions 1 to 1"):
        history.checkout(path, 7, tmp_path / "x.twin.gpkg")
    with pytest.raises(LayerError, match=r"not the twin itself.*revert"):
        history.checkout(path, 1, path)
    other = tmp_path / "other.twin.gpkg"
    other.write_text("x")
    with pytest.raises(LayerError, match=r"exists.*--overwrite"):
        history.checkout(path, 1, other)


# --- rewrites by write_twin -------------------------------------------------------------------

def test_rewrite_of_the_same_twin_keeps_history_and_records_changes(path):
    edit_layer(path, "buildings", update=_feature("b1", use="retail"), author="ana",
               message="retail")
    twin = read_twin(path)
    roads = twin.layers["roads"]
    roads.loc[roads["id"] == "r2", "lanes"] = 3
    twin.layers["roads"] = roads[roads["id"] != "r5"]
    twin.extras["history"] = {"author": "importer", "message": "import roads.shp"}
    write_twin(twin, path, overwrite=True)
    entries = history.log(path)
    assert [e["version"] for e in entries] == [1, 2, 3]
    last = entries[-1]
    assert (last["kind"], last["author"], last["message"]) == ("rewrite", "importer",
                                                               "import roads.shp")
    assert last["layers"] == {"roads": {"added": 0, "changed": 1, "deleted": 1}}
    changes = {c.id: c for c in history.diff(path, 2, 3).changes}
    assert changes["r2"].fields == {"lanes": [1, 3]}
    assert changes["r5"].change == "deleted"
    # an unchanged rewrite adds no version
    write_twin(read_twin(path), path, overwrite=True)
    assert len(history.log(path)) == 3


def test_a_new_twin_written_over_an_old_file_starts_fresh(path, grid_twin):
    edit_layer(path, "buildings", update=_feature("b1", use="retail"), author="ana",
               message="retail")
    fresh = Twin(layers=grid_twin.layers, meta=new_meta("other", "EPSG:3067"))
    fresh.meta["created"] = "2001-01-01T00:00:00+00:00"
    write_twin(fresh, path, overwrite=True)
    assert [e["kind"] for e in history.log(path)] == ["created"]
    junk = path.with_name("junk.twin.gpkg")
    junk.write_text("not a database " * 100)
    write_twin(fresh, junk, overwrite=True)
    assert [e["kind"] for e in history.log(junk)] == ["created"]


# --- log and diff -----------------------------------------------------------------------------

def test_log_of_a_layer_and_of_a_feature(path):
    edit_layer(path, "buildings", update=_feature("b1", use="retail"), author="ana",
               message="retail")
    point = {"type": "Point", "coordinates": [3, 4]}
    edit_layer(path, "road_nodes", update=_feature("n0", point), author="bo", message="move",
               crs="EPSG:3067")
    edit_layer(path, "buildings", delete=["b1"], author="cy", message="demolished")
    assert [e["version"] for e in history.log(path, layer="buildings")] == [1, 2, 4]
    assert history.log(path, layer="buildings")[1]["layers"] == {
        "buildings": {"added": 0, "changed": 1, "deleted": 0}}
    b1 = history.log(path, feature_id="b1")
    assert [(e["version"], e["op"], e["author"]) for e in b1] == [
        (1, "created", b1[0]["author"]), (2, "update", "ana"), (4, "delete", "cy")]
    assert b1[1]["fields"] == {"use": ["office", "retail"], "use_source": ["synthetic", "user"]}
    assert b1[2]["fields"]["use"] == ["retail", None]
    n0 = history.log(path, feature_id="n0", layer="road_nodes")
    assert n0[-1]["moved_m"] == pytest.approx(5.0)
    with pytest.raises(LayerError, match="no feature with id 'zz' in any layer"):
        history.log(path, feature_id="zz")
    with pytest.raises(LayerError, match=r"unknown layer 'road'.*did you mean 'roads'"):
        history.log(path, layer="road")


def test_diff_fields_moves_directions_layers_and_geojson(path, tmp_path):
    point = {"type": "Point", "coordinates": [203, 4]}   # n2 sits at (200, 0): 5 m away
    edit_layer(path, "road_nodes", update=_feature("n2", point, control="signal"),
               author="ana", message="n2", crs="EPSG:3067")
    edit_layer(path, "buildings", delete="b0", author="ana", message="b0")
    d = history.diff(path, 1, 3)
    assert d.counts() == {"buildings": {"added": 0, "changed": 0, "deleted": 1},
                          "road_nodes": {"added": 0, "changed": 1, "deleted": 0}}
    n2 = next(c for c in d.changes if c.id == "n2")
    assert n2.fields == {"control": ["none", "signal"], "control_source": ["synthetic", "user"]}
    assert n2.moved
    assert n2.moved_m == pytest.approx(5.0)
    back = history.diff(path, 3, 1)
    assert {c.id: c.change for c in back.changes} == {"b0": "added", "n2": "changed"}
    assert next(c for c in back.changes if c.id == "n2").fields["control"] == ["signal", "none"]
    assert [c.id for c in history.diff(path, 1, 3, layer="buildings").changes] == ["b0"]
    assert history.diff(path, 2, 2).changes == []
    out = history.diff(path, 1, 3).to_geojson(tmp_path / "changes.geojson")
    gj = json.loads(out.read_text())
    assert {f["properties"]["id"] for f in gj["features"]} == {"b0", "n2"}
    lon, lat = next(f for f in gj["features"] if f["properties"]["id"] == "n2")[
        "geometry"]["coordinates"]
    assert 20 < lon < 30     # WGS84 (EPSG:3067 origin is near 21 E, 0 N)
    assert 0 < lat < 1e-3
    with pytest.raises(LayerError, match="V2 9 does not exist; the twin has versions 1 to 3"):
        history.diff(path, 1, 9)
    with pytest.raises(LayerError, match="V1 0 does not exist"):
        history.diff(path, 0, 1)


def test_connect_refuses_files_that_are_not_twins(tmp_path):
    with pytest.raises(LayerError, match="no such twin file"):
        history.log(tmp_path / "none.twin.gpkg")
    junk = tmp_path / "junk.twin.gpkg"
    junk.write_text("hello")
    with pytest.raises(LayerError, match="not a GeoPackage"):
        history.log(junk)
    plain = tmp_path / "plain.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)],
                                             crs=3067), plain)
    with pytest.raises(LayerError, match="not made by twin"):
        history.log(plain)


def test_outside_float_edits_are_exact_in_the_history(path):
    value = float(np.nextafter(12.8, 13.0))
    con = _sql(path)
    con.execute("UPDATE buildings SET height_m = ? WHERE id = 'b2'", (value,))
    con.commit()
    con.close()
    change = next(c for c in history.diff(path, 1, 2).changes if c.id == "b2")
    assert change.fields["height_m"] == [12.8, value]
    assert history.state_at(path, 2).layers["buildings"].set_index("id").loc[
        "b2", "height_m"] == value


# --- ids repeated outside twin, and geometries that only changed type -------------------------

def test_an_id_repeated_outside_twin_is_flagged_and_every_version_keeps_its_rows(path,
                                                                                tmp_path):
    con = _sql(path)
    con.execute("UPDATE buildings SET id = 'b2' WHERE id = 'b1'")      # two features b2 now
    con.commit()
    con.close()
    last = history.log(path)[-1]
    assert (last["kind"], last["added"], last["deleted"]) == ("external", 1, 1)
    assert "WARNING: id used by more than one feature: buildings 'b2' (2 features)" in (
        last["message"])
    out = tmp_path / "v1.twin.gpkg"
    history.checkout(path, 1, out)
    assert sorted(read_twin(out).layers["buildings"]["id"]) == ["b0", "b1", "b2", "b3"]
    assert sorted(history.state_at(path, 2).layers["buildings"]["id"]) == [
        "b0", "b2", "b2", "b3"]
    with pytest.raises(LayerError, match=r"more than one feature with id 'b2' \(2 features\)"):
        edit_layer(path, "buildings", update=_feature("b2", use="retail"), author="a",
                   message="m")
    revert(path, 1, author="ana", message="undo the rename")
    assert sorted(read_twin(path).layers["buildings"]["id"]) == ["b0", "b1", "b2", "b3"]
    assert history.diff(path, 1, 3).changes == []


def test_same_geometry_ignores_single_part_multi_and_tolerates_rounding():
    box = shapely.box(0, 0, 10, 10)
    line = shapely.LineString([(0, 0), (100, 0)])
    a = [box, box, box, line, None, shapely.Polygon()]
    b = [shapely.MultiPolygon([box]), shapely.box(0, 0, 10, 10.004), shapely.box(0, 0, 10, 11),
         shapely.LineString([(100, 0), (0, 0)]), None, shapely.Polygon()]
    assert same_geometry(a, b).tolist() == [True, False, False, False, True, True]
    assert same_geometry(a, b, tolerance=0.05).tolist() == [True, True, False, False, True,
                                                           True]


def test_a_layer_promoted_to_multipolygon_is_not_a_change(path):
    con = _sql(path)
    rows = con.execute("SELECT fid, geom FROM buildings").fetchall()
    multi = [shapely.MultiPolygon([g]) for g in history.decode_geometries([r[1] for r in rows])]
    blobs = history.encode_geometries(multi, 3067)
    con.executemany("UPDATE buildings SET geom = ? WHERE fid = ?",
                    [(b, r[0]) for b, r in zip(blobs, rows, strict=True)])
    con.execute("UPDATE buildings SET floors = 5 WHERE id = 'b3'")
    con.commit()
    con.close()
    assert history.log(path)[-1]["changed"] == 4          # the rows did change ...
    [change] = history.diff(path, 1, 2).changes          # ... but only b3 in content
    assert (change.id, change.fields, change.moved) == ("b3", {"floors": [4, 5]}, False)
    assert history.diff(path, 2, 1).to_dicts() == [{
        "layer": "buildings", "id": "b3", "change": "changed", "fields": {"floors": [5, 4]},
        "moved": False, "moved_m": 0.0}]


def test_checkout_over_an_older_checkout_writes_that_version(path, tmp_path):
    edit_layer(path, "buildings", update=_feature("b1", use="retail"), author="ana",
               message="retail")
    out = tmp_path / "copy.twin.gpkg"
    history.checkout(path, 2, out)
    history.checkout(path, 1, out, overwrite=True)     # the same twin: still a fresh copy
    assert [e["version"] for e in history.log(out)] == [1]
    assert _row_use(out, "b1") == "office"


def _row_use(path: Path, fid: str) -> str:
    return str(read_twin(path).layers["buildings"].set_index("id").loc[fid, "use"])
