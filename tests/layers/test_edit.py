"""Editing layers: validation before writing, conflicts, atomicity, concurrent writers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from twin._errors import EditConflict, LayerError, ValidationError
from twin.layers import history
from twin.layers.edit import GEOMETRY_TOLERANCE_M, edit_layer, read_features, revert, same_value
from twin.layers.files import export_layer
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, file_hash, new_meta, read_twin, write_twin

CRS = "EPSG:3067"


@pytest.fixture
def path(grid_twin: Twin, tmp_path: Path) -> Path:
    out = tmp_path / "grid.twin.gpkg"
    write_twin(grid_twin, out)
    return out


def _feature(fid: str, geometry: dict | None = None, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": fid, **props}}


def _fc(*features: dict, crs: str | None = CRS) -> dict:
    out: dict = {"type": "FeatureCollection", "features": list(features)}
    if crs:
        out["crs"] = {"type": "name", "properties": {"name": crs}}
    return out


def _row(path: Path, layer: str, fid: str) -> dict:
    frame = read_twin(path).layers[layer].set_index("id")
    return frame.loc[fid].to_dict()


def _buildings(n: int) -> gpd.GeoDataFrame:
    i = np.arange(n)
    x, y = (i % 100) * 30.0, (i // 100) * 30.0
    frame = gpd.GeoDataFrame({
        "id": [f"b{k}" for k in i], "use": "residential", "height_m": 12.8, "floors": 4,
        "footprint_m2": 400.0, "floor_area_m2": 1600.0, "residents": 40, "jobs": 20,
        "source": "synthetic"}, geometry=shapely.box(x, y, x + 20, y + 20), crs=CRS)
    out, _ = coerce_fields(frame, layer_spec("buildings"))
    return gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)


# --- edits that land --------------------------------------------------------------------------

def test_update_is_partial_and_marks_provenance(path):
    before = _row(path, "buildings", "b1")
    r = edit_layer(path, "buildings", update=_feature("b1", use="retail", jobs=50),
                   author="ana", message="shop on the ground floor")
    assert (r.version, r.base_version, r.written) == (2, 1, True)
    assert r.stats == {"buildings": {"added": 0, "changed": 1, "deleted": 0}}
    after = _row(path, "buildings", "b1")
    assert (after["use"], after["use_source"], after["jobs"], after["jobs_source"]) == (
        "retail", "user", 50, "user")
    assert {k: v for k, v in after.items() if k not in ("use", "use_source", "jobs",
                                                        "jobs_source", "geometry")} == {
        k: v for k, v in before.items() if k not in ("use", "use_source", "jobs",
                                                     "jobs_source", "geometry")}
    assert after["geometry"].equals(before["geometry"])
    last = history.log(path)[-1]
    assert (last["author"], last["message"], last["base"]) == ("ana",
                                                               "shop on the ground floor", 1)


def test_add_update_delete_in_one_edit_is_one_version(path):
    square = {"type": "Polygon", "coordinates": [[[300, 300], [320, 300], [320, 320],
                                                  [300, 320], [300, 300]]]}
    r = edit_layer(path, "buildings",
                   add=_fc(_feature("b10", square, use="office", height_m=9.6, floors=3,
                                    footprint_m2=400.0, floor_area_m2=1200.0, residents=0,
                                    jobs=60)),
                   update=_fc(_feature("b0", floors=5)), delete="b2,b3",
                   author="ana", message="survey")
    assert r.stats == {"buildings": {"added": 1, "changed": 1, "deleted": 2}}
    twin = read_twin(path)
    b = twin.layers["buildings"].set_index("id")
    assert sorted(b.index) == ["b0", "b1", "b10"]
    assert (b.loc["b10", "source"], b.loc["b10", "floors_source"]) == ("user", "user")
    assert b.loc["b10", "geometry"].equals(shapely.box(300, 300, 320, 320))
    assert [e["version"] for e in history.log(path)] == [1, 2]


def test_geodataframe_input_and_wgs84_geojson(path, grid_twin):
    nodes = grid_twin.layers["road_nodes"].iloc[[0]].copy()
    nodes["control"] = "roundabout"
    edit_layer(path, "road_nodes", update=nodes[["id", "control", "geometry"]],
               author="ana", message="roundabout")
    assert _row(path, "road_nodes", "n0")["control"] == "roundabout"
    lonlat = nodes.to_crs("EPSG:4326").geometry.iloc[0]
    g = read_features(_fc(_feature("n0", shapely.geometry.mapping(lonlat)), crs=None),
                      "road_nodes", CRS)
    assert g.geometry.iloc[0].distance(nodes.geometry.iloc[0]) < 1e-6


def test_qgis_fid_property_is_ignored(path):
    feature = _feature("b1", use="retail")
    feature["properties"]["fid"] = 17
    r = edit_layer(path, "buildings", update=_fc(feature), author="ana",
                   message="from a QGIS export")
    assert r.changed == 1
    assert _row(path, "buildings", "b1")["use"] == "retail"


def test_unchanged_features_write_no_version(path, tmp_path):
    from twin.layers.files import export_layer

    out = export_layer(path, "buildings", tmp_path / "b.geojson")   # WGS84, rounded
    r = edit_layer(path, "buildings", update=out, author="ana", message="nothing")
    assert (r.written, r.version) == (False, 1)
    assert len(history.log(path)) == 1


def test_moved_less_than_the_tolerance_is_not_a_change(path):
    # b0 is the square 40..60; this one starts at another corner, runs clockwise, its corners
    # are 3 cm off in x and y (4.2 cm)
    square = {"type": "Polygon", "coordinates": [[[39.97, 39.97], [39.97, 60.03],
                                                  [60.03, 60.03], [60.03, 39.97],
                                                  [39.97, 39.97]]]}
    r = edit_layer(path, "buildings", update=_fc(_feature("b0", square)), author="a",
                   message="m")
    assert not r.written
    assert GEOMETRY_TOLERANCE_M == 0.05
    square["coordinates"][0][1] = [39.97, 60.1]           # one corner 10 cm off
    r = edit_layer(path, "buildings", update=_fc(_feature("b0", square)), author="a",
                   message="m")
    assert r.changed == 1
    assert history.diff(path, 1, 2).changes[0].moved_m == pytest.approx(0.1, abs=0.01)


def test_a_reversed_road_is_a_change(path):
    line = {"type": "LineString", "coordinates": [[100, 0], [0, 0]]}      # r0 runs 0 -> 100
    r = edit_layer(path, "roads", update=_fc(_feature("r0", line)), author="a", message="m")
    assert r.changed == 1
    assert history.diff(path, 1, 2).changes[0].moved_m == 0.0


def test_number_text_and_json_values_within_tolerance_are_unchanged(path):
    assert same_value(12.8, 12.800000000000001)
    assert not same_value(12.8, 12.81)
    assert same_value({"a": [1, 2]}, '{"a": [1, 2]}')
    assert same_value('{"a":1}', '{"a": 1}')
    assert not same_value("4", 4)
    assert same_value(None, float("nan"))
    r = edit_layer(path, "buildings", update=_fc(_feature("b0", height_m=12.8 + 1e-12)),
                   author="a", message="m")
    assert not r.written


def test_an_exported_layer_given_back_unchanged_changes_nothing(demo_twin_path, tmp_path):
    path = tmp_path / "demo.twin.gpkg"
    shutil.copy(demo_twin_path, path)
    # polygons (buildings, zones: rounded to 7 decimals of a degree, rings turned round by
    # RFC 7946), JSON fields written as objects (power_lines params), lines, points
    for layer in ("buildings", "zones", "power_lines", "roads", "sensors"):
        out = export_layer(path, layer, tmp_path / f"{layer}.geojson")
        r = edit_layer(path, layer, update=out, author="ana", message="round trip")
        assert (layer, r.written, r.version) == (layer, False, 1)
    # a real move of 1 m is recorded, and nothing else
    doc = json.loads((tmp_path / "buildings.geojson").read_text())
    feature = doc["features"][5]
    lat = feature["geometry"]["coordinates"][0][0][0][1]
    east = 1.0 / (111_320 * np.cos(np.radians(lat)))          # 1 m in degrees of longitude
    feature["geometry"]["coordinates"] = [[[[x + east, y] for x, y in ring] for ring in part]
                                          for part in feature["geometry"]["coordinates"]]
    moved = tmp_path / "moved.geojson"
    moved.write_text(json.dumps(doc))
    r = edit_layer(path, "buildings", update=moved, author="ana", message="moved 1 m east")
    assert (r.version, r.changed) == (2, 1)
    [change] = history.diff(path, 1, 2).changes
    assert change.id == feature["properties"]["id"]
    assert change.moved_m == pytest.approx(1.0, abs=0.02)


# --- bad input: clear message, nothing written ------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"layer": "castles", "delete": "b1"}, LayerError, "unknown layer 'castles'"),
    ({"layer": "sensors", "delete": "s1"}, LayerError, "twin has no layer 'sensors'.*import"),
    ({"delete": "b1,b77"}, LayerError, "no feature.*with id b77"),
    ({"update": _fc(_feature("b77", use="retail"))}, LayerError, "no feature.*with id b77"),
    ({"update": _fc(_feature("b1", colour="red"))}, LayerError,
     "field.*not in layer buildings: 'colour'"),
    ({"update": _fc(_feature("b1", flors=3))}, LayerError, "'flors' \\(did you mean 'floors'"),
    ({"update": _fc(_feature("b1", {"type": "Point", "coordinates": [1, 2]}))}, LayerError,
     "holds Polygon geometries; feature.*b1 have Point"),
    ({"add": _fc(_feature("b1", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1],
                                                                    [0, 0]]]}))},
     LayerError, "already has feature.*b1.*--update"),
    ({"add": _fc(_feature("b50"))}, LayerError, "without geometry: b50"),
    ({"update": _fc(_feature("b1"), _feature("b1"))}, LayerError, "more than once: b1"),
    ({"update": _fc({"type": "Feature", "geometry": None, "properties": {"use": "x"}})},
     LayerError, "have no \"id\""),
    ({"update": {"type": "Point", "coordinates": [0, 0]}}, LayerError, "is not a feature"),
    ({"update": _fc(_feature("b1"), crs=None) | {"features": "no"}}, LayerError,
     "no \"features\" list"),
    ({"update": _fc(_feature("b1", {"type": "Polygon", "coordinates": "oops"}))}, LayerError,
     "geometry of feature 'b1' is not valid GeoJSON"),
    ({"update": _fc(_feature("b1", floors="two"))}, ValidationError,
     "field floors: 'two' is not an? int"),
    ({"delete": "b1", "update": _fc(_feature("b1", floors=2))}, LayerError,
     "in both --update and --delete"),
    ({"delete": "b1", "base_version": 9}, LayerError,
     "--base-version 9 does not exist; the twin has versions 1 to 1"),
    ({"delete": "b1", "author": None}, LayerError, "needs an author.*--author"),
    ({"delete": "b1", "author": "  "}, LayerError, "needs an author"),
    ({"delete": "b1", "message": ""}, LayerError, "needs a message.*--message"),
    ({}, LayerError, "nothing to edit"),
])
def test_bad_input_is_refused_and_nothing_written(path, kwargs, error, match):
    args = {"layer": "buildings", "author": "ana", "message": "m", **kwargs}
    layer = args.pop("layer")
    before = file_hash(path)
    with pytest.raises(error, match=match):
        edit_layer(path, layer, **args)
    assert file_hash(path) == before


def test_malformed_or_missing_geojson_file(path, tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [}')
    before = file_hash(path)
    with pytest.raises(LayerError, match=r"bad.geojson: malformed GeoJSON: .* line 1, column"):
        edit_layer(path, "buildings", update=bad, author="a", message="m")
    with pytest.raises(LayerError, match=r"missing.geojson: no such file"):
        edit_layer(path, "buildings", add=tmp_path / "missing.geojson", author="a", message="m")
    assert file_hash(path) == before


def test_invalid_result_is_refused_with_every_problem(path):
    before = file_hash(path)
    with pytest.raises(ValidationError) as info:
        edit_layer(path, "buildings", update=_fc(_feature("b0", floors=0, use="castle"),
                                                 _feature("b1", height_m=900.0)),
                   author="ana", message="bad")
    text = str(info.value)
    assert "edit refused: layer buildings of grid.twin.gpkg would not be valid" in text
    assert "feature b0 / field floors: 0 is below the minimum 1" in text
    assert "feature b0 / field use: 'castle' is not allowed" in text
    assert "feature b1 / field height_m: 900 m is above the maximum 800 m" in text
    assert file_hash(path) == before


def test_references_are_checked(path):
    before = file_hash(path)
    with pytest.raises(ValidationError, match="roads / feature r0 / field u: u 'n99' is not "
                                              "the id of a feature in road_nodes"):
        edit_layer(path, "roads", update=_fc(_feature("r0", u="n99")), author="a", message="m")
    with pytest.raises(ValidationError, match="cannot delete: roads r0 refers to it in u"):
        edit_layer(path, "road_nodes", delete="n0", author="a", message="m")
    assert file_hash(path) == before


def test_a_problem_the_feature_already_had_does_not_block_other_changes(path):
    con = history.gpkg_functions(sqlite3.connect(path))
    con.execute("UPDATE buildings SET floors = 0 WHERE id = 'b0'")   # made outside twin
    con.commit()
    con.close()
    r = edit_layer(path, "buildings", update=_fc(_feature("b0", use="retail")), author="a",
                   message="m")
    assert r.changed == 1
    with pytest.raises(ValidationError, match="floors: -2 is below the minimum"):
        edit_layer(path, "buildings", update=_fc(_feature("b0", floors=-2, jobs=3)),
                   author="a", message="m")


# --- conflicts --------------------------------------------------------------------------------

def test_conflict_shows_both_sides_and_writes_nothing(path):
    edit_layer(path, "buildings", update=_fc(_feature("b1", use="retail")), author="ana",
               message="retail")
    before = file_hash(path)
    with pytest.raises(EditConflict) as info:
        edit_layer(path, "buildings", update=_fc(_feature("b1", use="hotel")), author="bo",
                   message="hotel", base_version=1)
    text = str(info.value)
    assert info.value.exit_code == 3
    assert "1 feature(s) of buildings changed after your base version 1" in text
    assert "buildings b1: changed in version 2 by ana ('retail')" in text
    assert "twin now: use 'office' -> 'retail'" in text
    assert "yours:    update use -> 'hotel'" in text
    assert "--base-version 2" in text
    assert file_hash(path) == before
    with pytest.raises(EditConflict, match="yours:    delete"):
        edit_layer(path, "buildings", delete="b1", author="bo", message="m", base_version=1)


def test_no_conflict_for_untouched_or_undone_features(path):
    edit_layer(path, "buildings", update=_fc(_feature("b1", use="retail")), author="ana",
               message="retail")
    # b2 did not change after version 1
    r = edit_layer(path, "buildings", update=_fc(_feature("b2", floors=6)), author="bo",
                   message="b2", base_version=1)
    assert r.written
    # the whole layer as exported at version 1, with one change: b1 is left alone
    layer = history.state_at(path, 1).layers["buildings"]
    layer.loc[layer["id"] == "b3", "jobs"] = 99
    r = edit_layer(path, "buildings", update=layer[["id", "use", "floors", "jobs", "geometry"]],
                   author="cy", message="b3", base_version=1)
    assert r.stats == {"buildings": {"added": 0, "changed": 1, "deleted": 0}}
    assert _row(path, "buildings", "b1")["use"] == "retail"
    assert _row(path, "buildings", "b2")["floors"] == 6
    # a change undone since the base version is no conflict
    edit_layer(path, "buildings", update=_fc(_feature("b1", use="office",
                                                      use_source="synthetic")),
               author="ana", message="undo")
    r = edit_layer(path, "buildings", delete="b1", author="bo", message="gone", base_version=1)
    assert r.deleted == 1


def test_default_base_is_the_version_read_when_the_edit_starts(path, monkeypatch):
    import twin.layers.edit as edit_module

    real = edit_module._check_overlap

    def meanwhile(*args: object) -> None:
        # someone else commits after this edit read the twin, before it takes the lock
        monkeypatch.setattr(edit_module, "_check_overlap", real)
        edit_layer(path, "buildings", update=_fc(_feature("b1", use="retail")), author="ana",
                   message="meanwhile")
        real(*args)

    monkeypatch.setattr(edit_module, "_check_overlap", meanwhile)
    with pytest.raises(EditConflict, match=r"changed after your base version 1 .*at version 2"):
        edit_layer(path, "buildings", update=_fc(_feature("b1", use="hotel")), author="bo",
                   message="hotel")
    assert _row(path, "buildings", "b1")["use"] == "retail"


def test_adding_an_id_someone_added_since_is_a_conflict(path):
    square = {"type": "Polygon", "coordinates": [[[300, 300], [320, 300], [320, 320],
                                                  [300, 320], [300, 300]]]}
    new = _fc(_feature("b10", square, use="office", height_m=9.6, floors=3,
                       footprint_m2=400.0, floor_area_m2=1200.0, residents=0, jobs=60))
    edit_layer(path, "buildings", add=new, author="ana", message="b10")
    with pytest.raises(EditConflict, match="twin now: added after your base version"):
        edit_layer(path, "buildings", add=new, author="bo", message="b10", base_version=1)


# --- revert -----------------------------------------------------------------------------------

def test_revert_restores_content_and_keeps_history(path):
    state1 = read_twin(path)
    edit_layer(path, "buildings", update=_fc(_feature("b1", use="retail")), delete="b2",
               author="ana", message="one")
    edit_layer(path, "roads", update=_fc(_feature("r0", lanes=3)), author="ana", message="two")
    r = revert(path, 1, author="bo", message="back to the start")
    assert (r.version, r.base_version) == (4, 1)
    assert r.stats == {"buildings": {"added": 1, "changed": 1, "deleted": 0},
                       "roads": {"added": 0, "changed": 1, "deleted": 0}}
    now = read_twin(path)
    for name in state1.layers:
        a = state1.layers[name].sort_values("id").reset_index(drop=True)
        b = now.layers[name].sort_values("id").reset_index(drop=True)
        assert_geodataframe_equal(a, b)
    assert [e["kind"] for e in history.log(path)] == ["created", "edit", "edit", "revert"]
    assert [e["version"] for e in history.log(path, feature_id="b2")] == [1, 2, 4]


def test_revert_bad_input(path):
    before = file_hash(path)
    with pytest.raises(LayerError, match="version 1 is the current version"):
        revert(path, 1, author="a", message="m")
    with pytest.raises(LayerError, match="version 5 does not exist"):
        revert(path, 5, author="a", message="m")
    with pytest.raises(LayerError, match="needs an author"):
        revert(path, 1, author="", message="m")
    assert file_hash(path) == before


# --- atomicity and concurrency ----------------------------------------------------------------

_EDIT = """
import sys
from twin.layers.edit import edit_layer
edit_layer(sys.argv[1], "buildings", update=sys.argv[2], author="big", message="10k")
"""


def test_sigkill_in_the_middle_of_a_10k_edit_leaves_the_previous_version(tmp_path):
    path = tmp_path / "big.twin.gpkg"
    layer = _buildings(10_000)
    write_twin(Twin({"buildings": layer}, new_meta("big", CRS)), path)
    upd = layer[["id", "geometry"]].copy()
    upd["height_m"] = 16.0
    upd["geometry"] = shapely.transform(np.asarray(upd.geometry.array), lambda c: c + 2.0)
    src = tmp_path / "update.geojson"
    doc = json.loads(upd.to_json())
    doc["crs"] = {"type": "name", "properties": {"name": CRS}}
    src.write_text(json.dumps(doc))
    log_before = history.log(path)
    triggers = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    with sqlite3.connect(path) as con:
        triggers_before = con.execute(triggers).fetchall()
    proc = subprocess.Popen([sys.executable, "-c", _EDIT, str(path), str(src)])
    journal = Path(f"{path}-journal")
    deadline = time.monotonic() + 300
    while not journal.exists():
        assert proc.poll() is None, "the edit ended before it started writing"
        assert time.monotonic() < deadline, "the edit never started writing"
        time.sleep(0.002)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert journal.exists()     # a hot journal: the transaction was cut in the middle
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM twin_history").fetchone()[0] == 0
    assert con.execute(triggers).fetchall() == triggers_before
    con.close()
    assert history.log(path) == log_before
    back = read_twin(path).layers["buildings"]
    assert len(back) == 10_000
    assert (back["height_m"] == 12.8).all()
    assert back.geometry.iloc[0].equals(layer.geometry.iloc[0])
    # and the edit can simply be run again
    r = edit_layer(path, "buildings", update=src, author="big", message="again")
    assert (r.version, r.changed) == (2, 10_000)
    # the R-tree follows the moved buildings, and GDAL's triggers are all still there
    con = sqlite3.connect(path)
    assert con.execute(triggers).fetchall() == triggers_before
    assert con.execute("SELECT COUNT(*) FROM rtree_buildings_geom").fetchone()[0] == 10_000
    box = con.execute("SELECT minx, maxx, miny, maxy FROM rtree_buildings_geom r JOIN "
                      "buildings b ON b.fid = r.id WHERE b.id = 'b0'").fetchone()
    assert box == pytest.approx((2, 22, 2, 22), abs=1e-4)
    con.close()
    # spatial filters (which use the R-tree) find b0 where it is now, not where it was
    assert pyogrio.read_dataframe(path, layer="buildings", bbox=(0, 0, 1.9, 1.9)).empty
    near = pyogrio.read_dataframe(path, layer="buildings", bbox=(21, 21, 21.5, 21.5))
    assert near["id"].tolist() == ["b0"]


_CLI = """
import sys
from twin.commands import edit
from twin.cli import main
open(sys.argv[1], "w").close()
sys.exit(main(sys.argv[2:]))
"""


def _parallel(path: Path, tmp_path: Path, *edits: list[str]) -> list[int]:
    """Run CLI edits in parallel processes, released at the same moment."""
    return _parallel_cli(path, tmp_path, *[["layers", "edit", str(path), *e] for e in edits])


def _parallel_cli(path: Path, tmp_path: Path, *commands: list[str],
                  while_held: str | None = None, staged: int = 0) -> list[int]:
    """Run CLI commands in parallel processes, released at the same moment (after
    ``while_held``, SQL run and committed by the holder of the lock, if given), once
    ``staged`` of them have read the twin and staged what they write back."""
    hold = history.gpkg_functions(sqlite3.connect(path, isolation_level=None))
    hold.execute("BEGIN IMMEDIATE")      # everyone queues behind this lock
    procs, marks = [], []
    for i, args in enumerate(commands):
        mark = tmp_path / f"ready-{i}"
        marks.append(mark)
        procs.append(subprocess.Popen([sys.executable, "-c", _CLI, str(mark), *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 120
    while not all(m.exists() for m in marks):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    while len(list(path.parent.glob(f".{path.name}.*.tmp.gpkg"))) < staged:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(1.5)                      # they have read the twin and wait for the lock
    if while_held:
        hold.execute(while_held)
        hold.execute("COMMIT")
    else:
        hold.execute("ROLLBACK")
    hold.close()
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        codes.append(p.returncode)
        if p.returncode not in (0, 3):
            pytest.fail(err)
    return codes


def _new_buildings(tmp_path: Path) -> Path:
    out = tmp_path / "new-buildings.geojson"
    gpd.GeoDataFrame({"id": ["b20", "b21"], "use": ["office", "retail"], "floors": [3, 2]},
                     geometry=[shapely.box(300, 300, 320, 320), shapely.box(400, 300, 420, 320)],
                     crs=CRS).to_crs("EPSG:4326").to_file(out)
    return out


def test_an_import_and_an_edit_at_once_lose_nothing(path, tmp_path):
    b = tmp_path / "b.geojson"
    b.write_text(json.dumps(_fc(_feature("b2", use="hotel"))))
    codes = _parallel_cli(path, tmp_path,
                          ["layers", "import", str(path), "buildings", str(_new_buildings(
                              tmp_path)), "--author", "imp"],
                          ["layers", "edit", str(path), "buildings", "--update", str(b),
                           "--author", "bo", "-m", "b2 is a hotel"], staged=1)
    assert codes == [0, 0]
    back = read_twin(path).layers["buildings"].set_index("id")
    assert back.loc["b2", "use"] == "hotel"                    # the edit is not lost
    assert sorted(back.index) == ["b0", "b1", "b2", "b20", "b21", "b3"]
    entries = history.log(path)
    assert sorted((e["kind"], e["author"], e["added"], e["changed"]) for e in entries[1:]) == [
        ("edit", "bo", 0, 1), ("rewrite", "imp", 2, 0)]


def test_an_edit_committed_while_an_import_waits_is_kept(path, tmp_path):
    # the import reads version 1, then waits; the holder of the lock changes b2 and commits
    codes = _parallel_cli(path, tmp_path,
                          ["layers", "import", str(path), "buildings", str(_new_buildings(
                              tmp_path)), "--author", "imp"],
                          while_held="UPDATE buildings SET use = 'hotel' WHERE id = 'b2'",
                          staged=1)
    assert codes == [0]
    back = read_twin(path).layers["buildings"].set_index("id")
    assert back.loc["b2", "use"] == "hotel"
    assert len(back) == 6
    assert [(e["kind"], e["base"]) for e in history.log(path)] == [
        ("created", None), ("external", None), ("rewrite", 1)]


def test_validate_fix_and_an_edit_at_once_lose_nothing(path, tmp_path):
    con = history.gpkg_functions(sqlite3.connect(path))
    bow = shapely.Polygon([(40, 40), (60, 60), (60, 40), (40, 60)])
    con.execute("UPDATE buildings SET geom = ? WHERE id = 'b0'",
                (history.encode_geometries([bow], 3067)[0],))
    con.commit()
    con.close()
    b = tmp_path / "b.geojson"
    b.write_text(json.dumps(_fc(_feature("b2", use="hotel"))))
    codes = _parallel_cli(path, tmp_path, ["layers", "validate", str(path), "--fix"],
                          ["layers", "edit", str(path), "buildings", "--update", str(b),
                           "--author", "bo", "-m", "b2 is a hotel"], staged=1)
    assert codes == [0, 0]
    back = read_twin(path).layers["buildings"].set_index("id")
    assert back.loc["b2", "use"] == "hotel"
    assert back.loc["b0", "geometry"].is_valid
    kinds = [(e["kind"], e["layers"]) for e in history.log(path)[2:]]
    assert sorted(k for k, _ in kinds) == ["edit", "rewrite"]
    assert dict(kinds)["rewrite"] == {"buildings": {"added": 0, "changed": 1, "deleted": 0}}


def test_an_import_changing_a_feature_edited_meanwhile_exits_3(path, tmp_path):
    b2 = read_twin(path).layers["buildings"].iloc[[2]].copy()
    b2["use"] = "education"
    src = tmp_path / "b2.geojson"
    b2.to_crs("EPSG:4326").to_file(src)
    codes = _parallel_cli(path, tmp_path,
                          ["layers", "import", str(path), "buildings", str(src), "--replace"],
                          while_held="UPDATE buildings SET use = 'hotel' WHERE id = 'b2'",
                          staged=1)
    assert codes == [3]
    back = read_twin(path).layers["buildings"].set_index("id")
    assert (len(back), back.loc["b2", "use"]) == (4, "hotel")


def test_two_writers_at_once_are_serialised_and_no_update_is_lost(path, tmp_path):
    a, b = tmp_path / "a.geojson", tmp_path / "b.geojson"
    a.write_text(json.dumps(_fc(_feature("b1", use="retail"))))
    b.write_text(json.dumps(_fc(_feature("b2", use="hotel"))))
    codes = _parallel(path, tmp_path,
                      ["buildings", "--update", str(a), "--author", "ana", "-m", "a",
                       "--base-version", "1"],
                      ["buildings", "--update", str(b), "--author", "bo", "-m", "b",
                       "--base-version", "1"])
    assert codes == [0, 0]
    assert (_row(path, "buildings", "b1")["use"], _row(path, "buildings", "b2")["use"]) == (
        "retail", "hotel")
    assert sorted(e["author"] for e in history.log(path)[1:]) == ["ana", "bo"]


def test_two_writers_on_the_same_feature_exactly_the_second_conflicts(path, tmp_path):
    a, b = tmp_path / "a.geojson", tmp_path / "b.geojson"
    a.write_text(json.dumps(_fc(_feature("b1", use="retail"))))
    b.write_text(json.dumps(_fc(_feature("b1", use="hotel"))))
    codes = _parallel(path, tmp_path,
                      ["buildings", "--update", str(a), "--author", "ana", "-m", "a",
                       "--base-version", "1"],
                      ["buildings", "--update", str(b), "--author", "bo", "-m", "b",
                       "--base-version", "1"])
    assert sorted(codes) == [0, 3]
    entries = history.log(path)
    assert len(entries) == 2
    winner = entries[-1]["author"]
    assert winner == ("ana" if codes[0] == 0 else "bo")
    assert _row(path, "buildings", "b1")["use"] == {"ana": "retail", "bo": "hotel"}[winner]
