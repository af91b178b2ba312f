"""`twin layers edit|log|diff|revert|checkout`, run through twin.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest

import twin.commands.edit  # registers the commands on `twin layers`
import twin.layers.history  # noqa: F401  (installs the history in every twin written)
from twin.cli import main
from twin.layers.store import Twin, file_hash, read_twin, write_twin


@pytest.fixture
def path(grid_twin: Twin, tmp_path: Path) -> Path:
    out = tmp_path / "grid.twin.gpkg"
    write_twin(grid_twin, out)
    return out


def _geojson(tmp_path: Path, name: str, *features: dict) -> str:
    out = tmp_path / name
    out.write_text(json.dumps({"type": "FeatureCollection", "features": list(features),
                               "crs": {"type": "name", "properties": {"name": "EPSG:3067"}}}))
    return str(out)


def _feature(fid: str, geometry: dict | None = None, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": fid, **props}}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_edit_log_diff_revert_checkout_round(path, tmp_path, capsys):
    upd = _geojson(tmp_path, "u.geojson", _feature("b1", use="retail", jobs=50))
    code, out, _ = _run(capsys, "layers", "edit", str(path), "buildings", "--update", upd,
                        "--author", "ana", "--message", "shop")
    assert code == 0
    assert out.strip() == "version 2: buildings +0 ~1 -0 (based on version 1)"
    node = {"type": "Point", "coordinates": [3, 4]}
    add = _geojson(tmp_path, "a.geojson", _feature("n9", node, control="signal"))
    code, out, _ = _run(capsys, "layers", "edit", str(path), "road_nodes", "--add", add,
                        "--author", "bo", "-m", "new junction", "--json")
    assert code == 0
    assert json.loads(out)["layers"] == {"road_nodes": {"added": 1, "changed": 0,
                                                        "deleted": 0}}
    code, out, _ = _run(capsys, "layers", "edit", str(path), "buildings", "--delete", "b2, b3",
                        "--author", "cy", "-m", "demolished", "--base-version", "2")
    assert (code, out.strip()) == (0, "version 4: buildings +0 ~0 -2 (based on version 2)")

    code, out, _ = _run(capsys, "layers", "log", str(path), "--json")
    entries = json.loads(out)
    assert [e["version"] for e in entries] == [1, 2, 3, 4]
    for e in entries:
        assert {"version", "time", "author", "message", "layer", "added", "changed",
                "deleted"} <= set(e)
    assert (entries[0]["kind"], entries[0]["message"]) == ("created", "created")
    assert [(e["author"], e["layer"], e["added"], e["changed"], e["deleted"])
            for e in entries[1:]] == [("ana", "buildings", 0, 1, 0),
                                      ("bo", "road_nodes", 1, 0, 0),
                                      ("cy", "buildings", 0, 0, 2)]
    code, out, _ = _run(capsys, "layers", "log", str(path))
    assert code == 0
    assert "version" in out.splitlines()[0]
    assert "+0 ~0 -2" in out
    assert "demolished" in out
    code, out, _ = _run(capsys, "layers", "log", str(path), "--layer", "road_nodes", "--json")
    assert [e["version"] for e in json.loads(out)] == [1, 3]
    code, out, _ = _run(capsys, "layers", "log", str(path), "--id", "b1")
    assert code == 0
    assert "update: use 'office' -> 'retail'" in out
    assert "jobs 20 -> 50" in out

    code, out, _ = _run(capsys, "layers", "diff", str(path), "1", "4", "--geojson",
                        str(tmp_path / "d.geojson"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "version 1 -> 4: buildings +0 ~1 -2, road_nodes +1 ~0 -0"
    assert "~ buildings b1: use 'office' -> 'retail'; use_source 'synthetic' -> 'user'; " \
           "jobs 20 -> 50; jobs_source 'synthetic' -> 'user'" in lines
    assert "- buildings b2: deleted" in lines
    assert "+ road_nodes n9: added" in lines
    gdf = pyogrio.read_dataframe(tmp_path / "d.geojson")
    assert sorted(gdf["id"]) == ["b1", "b2", "b3", "n9"]
    assert gdf.crs.to_epsg() == 4326
    code, out, _ = _run(capsys, "layers", "diff", str(path), "1", "4", "--layer", "road_nodes",
                        "--json")
    d = json.loads(out)
    assert d["counts"] == {"road_nodes": {"added": 1, "changed": 0, "deleted": 0}}
    assert d["changes"][0]["fields"]["control"] == [None, "signal"]

    code, out, _ = _run(capsys, "layers", "revert", str(path), "2", "--author", "dee",
                        "-m", "undo")
    assert (code, out.strip()) == (0, "version 5: back to the content of version 2 "
                                      "(+2 ~0 -1)")
    code, out, _ = _run(capsys, "layers", "checkout", str(path), "3",
                        str(tmp_path / "v3.twin.gpkg"))
    assert code == 0
    assert "as it was at version 3" in out
    v3 = read_twin(tmp_path / "v3.twin.gpkg")
    assert "n9" in set(v3.layers["road_nodes"]["id"])
    assert len(v3.layers["buildings"]) == 4


def test_unchanged_edit_says_so(path, tmp_path, capsys):
    same = _geojson(tmp_path, "s.geojson", _feature("b1", use="office"))
    code, out, _ = _run(capsys, "layers", "edit", str(path), "buildings", "--update", same,
                        "--author", "ana", "-m", "same")
    assert code == 0
    assert "nothing to change" in out
    assert "stays at version 1" in out


def test_conflict_exits_3_and_shows_both_sides(path, tmp_path, capsys):
    a = _geojson(tmp_path, "a.geojson", _feature("b1", use="retail"))
    b = _geojson(tmp_path, "b.geojson", _feature("b1", use="hotel"))
    assert _run(capsys, "layers", "edit", str(path), "buildings", "--update", a, "--author",
                "ana", "-m", "a")[0] == 0
    before = file_hash(path)
    code, _, err = _run(capsys, "layers", "edit", str(path), "buildings", "--update", b,
                        "--author", "bo", "-m", "b", "--base-version", "1")
    assert code == 3
    assert "twin now: use 'office' -> 'retail'" in err
    assert "yours:    update use -> 'hotel'" in err
    assert "Traceback" not in err
    assert file_hash(path) == before


@pytest.mark.parametrize(("args", "match"), [
    (["edit", "{p}", "castles", "--delete", "x", "--author", "a", "-m", "m"],
     "unknown layer 'castles'"),
    (["edit", "{p}", "buildings", "--delete", "b77", "--author", "a", "-m", "m"],
     "no feature(s) with id b77"),
    (["edit", "{p}", "buildings", "--update", "{bad}", "--author", "a", "-m", "m"],
     "malformed GeoJSON"),
    (["edit", "{p}", "buildings", "--update", "{point}", "--author", "a", "-m", "m"],
     "holds Polygon geometries"),
    (["edit", "{p}", "buildings", "--update", "{colour}", "--author", "a", "-m", "m"],
     "not in layer buildings: 'colour'"),
    (["edit", "{p}", "buildings", "--delete", "b1", "-m", "m"], "--author NAME"),
    (["edit", "{p}", "buildings", "--delete", "b1", "--author", "a", "-m", "m",
      "--base-version", "8"], "--base-version 8 does not exist"),
    (["edit", "{p}", "buildings", "--update", "{floors}", "--author", "a", "-m", "m"],
     "floors: 0 is below the minimum 1"),
    (["log", "{p}", "--id", "nope"], "no feature with id 'nope'"),
    (["diff", "{p}", "1", "5"], "V2 5 does not exist"),
    (["revert", "{p}", "3", "--author", "a", "-m", "m"], "version 3 does not exist"),
    (["revert", "{p}", "1", "-m", "m"], "--author NAME"),
    (["checkout", "{p}", "2", "{out}"], "version 2 does not exist"),
])
def test_bad_input_exits_2_with_a_message(path, tmp_path, capsys, args, match):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    files = {
        "p": str(path), "bad": str(bad), "out": str(tmp_path / "out.twin.gpkg"),
        "point": _geojson(tmp_path, "pt.geojson",
                          _feature("b1", {"type": "Point", "coordinates": [0, 0]})),
        "colour": _geojson(tmp_path, "c.geojson", _feature("b1", colour="red")),
        "floors": _geojson(tmp_path, "f.geojson", _feature("b1", floors=0)),
    }
    before = file_hash(path)
    code, _, err = _run(capsys, "layers", *[a.format(**files) for a in args])
    assert code == 2
    assert match in err
    assert "Traceback" not in err
    assert file_hash(path) == before
    assert not (tmp_path / "out.twin.gpkg").exists()


def test_help_shows_an_example(capsys):
    for cmd in ("edit", "log", "diff", "revert", "checkout"):
        code, out, _ = _run(capsys, "layers", cmd, "--help")
        assert code == 0
        assert f"twin layers {cmd} city.twin.gpkg" in out
