from __future__ import annotations

import sqlite3

import pyogrio
import pytest

from twin._errors import LayerError
from twin.layers.store import (
    OSM_CREDIT,
    Twin,
    file_hash,
    list_twin_layers,
    new_meta,
    read_layer,
    read_twin,
    write_twin,
)


def test_round_trip_keeps_layers_types_and_meta(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    grid_twin.meta["sources"] = [OSM_CREDIT]
    write_twin(grid_twin, path)
    back = read_twin(path)
    assert set(back.layers) == {"zones", "roads", "road_nodes", "buildings"}
    assert len(back.layers["roads"]) == len(grid_twin.layers["roads"])
    assert str(back.layers["roads"]["lanes"].dtype) == "int64"
    assert back.layers["roads"]["oneway"].dtype == bool
    assert back.meta["sources"][0]["licence"] == "ODbL 1.0"
    assert back.crs.to_epsg() == 3067


def test_every_layer_opens_with_pyogrio_with_its_crs(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    write_twin(grid_twin, path)
    for name, _ in list_twin_layers(path):
        info = pyogrio.read_info(path, layer=name)
        assert info["crs"] == "EPSG:3067"


def test_existing_output_is_refused_without_overwrite(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    write_twin(grid_twin, path)
    before = file_hash(path)
    with pytest.raises(LayerError, match=r"exists.*--overwrite"):
        write_twin(grid_twin, path)
    assert file_hash(path) == before
    write_twin(grid_twin, path, overwrite=True)


def test_failed_write_leaves_no_file(grid_twin, tmp_path):
    bad = grid_twin.copy()
    bad.layers["roads"] = bad.layers["roads"].drop(columns=["u"])
    path = tmp_path / "bad.twin.gpkg"
    with pytest.raises(LayerError, match="missing column"):
        write_twin(bad, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"hello, I am a CSV\n1,2,3\n", "not a GeoPackage"),
])
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "x.twin.gpkg"
    path.write_bytes(content)
    with pytest.raises(LayerError, match=match):
        read_twin(path)


def test_truncated_geopackage_is_reported(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    write_twin(grid_twin, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(LayerError, match=r"corrupt|truncated|cannot"):
        read_twin(path)


def test_geopackage_without_meta_is_not_a_twin(tmp_path, grid_twin):
    path = tmp_path / "plain.gpkg"
    pyogrio.write_dataframe(grid_twin.layers["roads"], path, layer="roads")
    with pytest.raises(LayerError, match="not made by twin"):
        read_twin(path)


def test_missing_layer_named_with_alternatives(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    write_twin(grid_twin, path)
    with pytest.raises(LayerError, match=r"no layer 'sensors'.*twin layers import"):
        read_layer(path, "sensors")


def test_twin_layer_returns_empty_for_absent_kinds():
    t = Twin(layers={}, meta=new_meta("x", "EPSG:3067"))
    assert len(t.layer("facilities")) == 0
    with pytest.raises(LayerError, match="did you mean"):
        t.layer("facility")


def test_meta_table_is_plain_sqlite(grid_twin, tmp_path):
    path = tmp_path / "g.twin.gpkg"
    write_twin(grid_twin, path)
    con = sqlite3.connect(path)
    keys = {k for (k,) in con.execute("select key from twin_meta")}
    con.close()
    assert {"name", "crs", "sources", "schema_version"} <= keys
