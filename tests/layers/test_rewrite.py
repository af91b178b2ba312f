"""Writing a twin back over its file (import, --fix): one serialised, versioned commit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from twin._errors import EditConflict
from twin.layers import history
from twin.layers.edit import edit_layer
from twin.layers.schemas import coerce_fields, empty_layer, layer_spec
from twin.layers.store import Twin, file_hash, new_meta, read_twin, write_twin
from twin.layers.validate import fix_twin, validate_twin

CRS = "EPSG:3067"
BOWTIE = shapely.Polygon([(40, 40), (60, 60), (60, 40), (40, 60)])


@pytest.fixture
def path(grid_twin: Twin, tmp_path: Path) -> Path:
    out = tmp_path / "grid.twin.gpkg"
    write_twin(grid_twin, out)
    return out


def _update(fid: str, **props: object) -> dict:
    return {"type": "Feature", "geometry": None, "properties": {"id": fid, **props}}


def _sql(path: Path) -> sqlite3.Connection:
    return history.gpkg_functions(sqlite3.connect(path))


def _row(path: Path, layer: str, fid: str) -> dict:
    return read_twin(path).layers[layer].set_index("id").loc[fid].to_dict()


def _buildings(twin: Twin) -> gpd.GeoDataFrame:
    return twin.layers["buildings"]


def test_an_edit_made_after_the_twin_was_read_is_kept(path):
    twin = read_twin(path)
    assert (twin.extras["read_version"], twin.extras["read_seq"]) == (1, 0)
    edit_layer(path, "buildings", update=_update("b2", use="retail"), author="ana",
               message="b2 is a shop")
    b = _buildings(twin)
    b.loc[b["id"] == "b1", "floors"] = 9                      # what the rewrite changes
    twin.layers["buildings"] = b[b["id"] != "b3"]
    twin.extras["history"] = {"author": "imp", "message": "twin layers import x"}
    write_twin(twin, path, overwrite=True)
    assert twin.extras["commit"] == {
        "version": 3, "base": 1, "written": True,
        "stats": {"buildings": {"added": 0, "changed": 1, "deleted": 1}}}
    assert _row(path, "buildings", "b2")["use"] == "retail"    # the edit is not lost
    assert _row(path, "buildings", "b1")["floors"] == 9
    last = history.log(path)[-1]
    assert (last["kind"], last["author"], last["base"]) == ("rewrite", "imp", 1)
    changes = {c.id: c for c in history.diff(path, 2, 3).changes}
    assert sorted(changes) == ["b1", "b3"]                     # exactly what it changed
    assert changes["b1"].fields == {"floors": [4, 9]}


def test_a_rewrite_changing_what_others_changed_since_is_a_conflict(path):
    twin = read_twin(path)
    edit_layer(path, "buildings", update=_update("b2", use="retail"), author="ana",
               message="b2 is a shop")
    edit_layer(path, "buildings", delete="b3", author="bo", message="b3 demolished")
    b = _buildings(twin)
    b.loc[b["id"].isin(["b2", "b3"]), "use"] = "hotel"
    twin.extras["history"] = {"message": "twin layers import hotels.geojson"}
    before = file_hash(path)
    with pytest.raises(EditConflict, match=(
            r"(?s)twin layers import hotels.geojson refused: 2 feature\(s\) it changes were "
            r"changed differently after version 1.*the twin is at version 3.*nothing was "
            r"written.*buildings b2: changed in version 2 by ana \('b2 is a shop'\); twin "
            r"layers import hotels.geojson would change use\n.*buildings b3: deleted in "
            r"version 3 by bo.*would change use\n.*Run the command again")):
        write_twin(twin, path, overwrite=True)
    assert file_hash(path) == before
    assert not list(path.parent.glob(".*tmp*"))               # the staged file is removed


def test_what_others_added_or_deleted_since_stays_so(path):
    twin = read_twin(path)
    square = {"type": "Polygon", "coordinates": [[[300, 300], [310, 300], [310, 310],
                                                  [300, 310], [300, 300]]]}
    edit_layer(path, "buildings", add={"type": "Feature", "geometry": square, "properties": {
        "id": "b9", "use": "office", "height_m": 6.0, "floors": 2, "footprint_m2": 100.0,
        "floor_area_m2": 200.0, "residents": 0, "jobs": 9}}, delete="b0", crs=CRS,
        author="ana", message="b9 built, b0 gone")
    z = twin.layers["zones"]
    z.loc[0, "name"] = "Centre"
    write_twin(twin, path, overwrite=True)
    ids = set(_buildings(read_twin(path))["id"])
    assert "b9" in ids
    assert "b0" not in ids
    assert history.log(path)[-1]["layers"] == {
        "zones": {"added": 0, "changed": 1, "deleted": 0}}


def test_unchanged_rewrite_and_unsealed_outside_edits(path):
    con = _sql(path)
    con.execute("UPDATE buildings SET use = 'retail' WHERE id = 'b1'")   # not yet a version
    con.commit()
    con.close()
    twin = read_twin(path)
    assert twin.extras["read_seq"] == 1
    write_twin(twin, path, overwrite=True)       # saw the outside edit: nothing to merge
    assert twin.extras["commit"]["written"] is False
    assert [e["kind"] for e in history.log(path)] == ["created", "external"]


def test_fix_records_only_the_repaired_feature_and_keeps_the_layer_standard(path):
    con = _sql(path)
    blob = history.encode_geometries([BOWTIE], 3067)[0]
    con.execute("UPDATE buildings SET geom = ? WHERE id = 'b1'", (blob,))
    con.execute("UPDATE buildings SET residents = 'many' WHERE id = 'b2'")
    con.commit()
    con.close()
    objects = "SELECT type, name FROM sqlite_master WHERE tbl_name = 'buildings' ORDER BY 2"
    with sqlite3.connect(path) as c:
        before = c.execute(objects).fetchall()
    fixed, found = fix_twin(read_twin(path))
    assert [f.feature for f in found] == ["b1"]
    write_twin(fixed, path, overwrite=True)
    last = history.log(path)[-1]
    assert (last["kind"], last["layers"]) == ("rewrite", {
        "buildings": {"added": 0, "changed": 1, "deleted": 0}})
    [change] = history.diff(path, 2, 3).changes
    assert (change.id, change.fields, change.moved, change.moved_m) == ("b1", {}, True, 0.0)
    con = sqlite3.connect(path)
    assert con.execute(objects).fetchall() == before      # triggers and index put back
    assert con.execute("SELECT geometry_type_name FROM gpkg_geometry_columns WHERE "
                       "table_name = 'buildings'").fetchone() == ("MULTIPOLYGON",)
    assert '"geom" MULTIPOLYGON' in con.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'buildings'").fetchone()[0]
    # the text another program stored is left as it was (GDAL read it as 0): validate says so
    assert con.execute("SELECT residents FROM buildings WHERE id = 'b2'").fetchone() == (
        "many",)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT COUNT(*) FROM rtree_buildings_geom").fetchone() == (4,)
    con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # GDAL finds the layer consistent
        back = pyogrio.read_dataframe(path, layer="buildings")
    assert back.geom_type.tolist() == ["Polygon", "MultiPolygon", "Polygon", "Polygon"]
    found = validate_twin(read_twin(path)).errors
    assert [(f.layer, f.feature, f.field) for f in found] == [("buildings", "b2", "residents")]
    assert "'many'" in found[0].message
    # the next edit and every version are still exact
    edit_layer(path, "buildings", update=_update("b3", floors=2), author="a", message="m")
    for v in (1, 2, 3):
        assert len(history.state_at(path, v).layers["buildings"]) == 4


def test_layers_added_and_removed_meta_and_observations_in_place(path):
    twin = read_twin(path)
    sensors = empty_layer("sensors", CRS)
    sensors.loc[0, ["id", "kind", "range_m", "source"]] = ["s1", "camera", 40.0, "user"]
    sensors = gpd.GeoDataFrame(sensors, geometry=[shapely.Point(5, 5)], crs=CRS)
    twin.layers["sensors"] = sensors
    del twin.layers["zones"]
    twin.meta["description"] = "rewritten"
    twin.observations = pd.DataFrame({"sensor_id": ["s1"], "hour": [8], "count": [120],
                                      "date": ["2026-03-01"]})
    write_twin(twin, path, overwrite=True)
    last = history.log(path)[-1]
    assert last["layers"] == {"sensors": {"added": 1, "changed": 0, "deleted": 0},
                              "zones": {"added": 0, "changed": 0, "deleted": 1}}
    back = read_twin(path)
    assert sorted(back.layers) == ["buildings", "road_nodes", "roads", "sensors"]
    assert back.layers["sensors"]["id"].tolist() == ["s1"]
    assert back.meta["description"] == "rewritten"
    assert back.observations["count"].tolist() == [120]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT COUNT(*) FROM rtree_sensors_geom").fetchone() == (1,)
    assert con.execute("SELECT COUNT(*) FROM gpkg_contents WHERE table_name = 'zones'"
                       ).fetchone() == (0,)
    con.close()
    # the new layer is tracked like the others, and version 1 still has the zones
    edit_layer(path, "sensors", update=_update("s1", range_m=60), author="a", message="m")
    assert history.log(path, feature_id="s1")[-1]["fields"]["range_m"] == [40.0, 60.0]
    assert len(history.state_at(path, 1).layers["zones"]) == 1


def test_cli_fix_diff_info_and_import_messages(path, tmp_path, capsys):
    from twin.cli import main

    con = _sql(path)
    con.execute("UPDATE buildings SET geom = ? WHERE id = 'b1'",
                (history.encode_geometries([BOWTIE], 3067)[0],))
    con.commit()
    con.close()
    assert main(["layers", "validate", str(path), "--fix"]) == 0
    out = capsys.readouterr().out
    assert "version 3: buildings +0 ~1 -0 (based on version 2)" in out
    assert main(["layers", "diff", str(path), "2", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "~ buildings b1: geometry reshaped in place (moved 0.00 m)"]
    assert main(["layers", "info", str(path), "buildings"]) == 0
    assert "features  4 (MultiPolygon; Polygon 3, MultiPolygon 1)" in capsys.readouterr().out
    assert main(["layers", "info", str(path), "nosuch"]) == 2
    assert f"error: {path}: unknown layer 'nosuch'" in capsys.readouterr().err
    src = tmp_path / "one.geojson"
    gpd.GeoDataFrame({"id": ["b7"], "use": ["office"]}, geometry=[shapely.box(300, 300, 320, 320)],
                     crs=CRS).to_crs("EPSG:4326").to_file(src)
    assert main(["layers", "import", str(path), "buildings", str(src), "--author", "x"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "buildings: 5 features (1 added)", "version 4: buildings +1 ~0 -0 (based on version 3)"]


_REWRITE = """
import sys
from twin.layers.store import read_twin, write_twin
twin = read_twin(sys.argv[1])
twin.layers["buildings"]["floors"] = 9
write_twin(twin, sys.argv[1], overwrite=True)
"""


def test_sigkill_in_the_middle_of_a_rewrite_leaves_the_previous_version(tmp_path):
    n = 10_000
    i = np.arange(n)
    x, y = (i % 100) * 30.0, (i // 100) * 30.0
    frame = gpd.GeoDataFrame({
        "id": [f"b{k}" for k in i], "use": "residential", "height_m": 12.8, "floors": 4,
        "footprint_m2": 400.0, "floor_area_m2": 1600.0, "residents": 40, "jobs": 20,
        "source": "synthetic"}, geometry=shapely.box(x, y, x + 20, y + 20), crs=CRS)
    out, _ = coerce_fields(frame, layer_spec("buildings"))
    path = write_twin(Twin({"buildings": gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)},
                           new_meta("big", CRS)), tmp_path / "big.twin.gpkg")
    before = file_hash(path)
    proc = subprocess.Popen([sys.executable, "-c", _REWRITE, str(path)])
    journal = Path(f"{path}-journal")
    deadline = time.monotonic() + 300
    while not journal.exists():
        assert proc.poll() is None, "the rewrite ended before it started writing"
        assert time.monotonic() < deadline, "the rewrite never started writing"
        time.sleep(0.002)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    con = sqlite3.connect(path)         # opening rolls the hot journal back
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    assert file_hash(path) == before
    assert [e["kind"] for e in history.log(path)] == ["created"]
    assert (read_twin(path).layers["buildings"]["floors"] == 4).all()
    for staged in path.parent.glob(f".{path.name}.*"):    # what the killed process left
        staged.unlink()
    subprocess.run([sys.executable, "-c", _REWRITE, str(path)], check=True)
    assert history.log(path)[-1]["layers"] == {
        "buildings": {"added": 0, "changed": n, "deleted": 0}}
