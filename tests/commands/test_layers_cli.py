"""The `twin init` and `twin layers` commands, run through twin.cli.main."""

from __future__ import annotations

import json
import time

import pytest

from twin.cli import main


def test_init_demo_lists_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo.twin.gpkg"
    assert main(["init", "--demo", str(out)]) == 0
    text = capsys.readouterr().out
    assert "buildings" in text
    assert "© OpenStreetMap contributors" in text
    assert main(["init", "--demo", str(out)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert "--overwrite" in err
    assert "Traceback" not in err
    assert main(["init", "--demo", str(out), "--overwrite"]) == 0


def test_layers_list_info_json(demo_twin_path, capsys):
    assert main(["layers", "list", str(demo_twin_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["layer"] for r in rows} >= {"roads", "buildings", "zones"}
    assert main(["layers", "info", str(demo_twin_path), "buildings", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] > 400
    assert info["crs"] == "EPSG:32635"
    assert set(info["provenance"]["height_m"]) == {"osm", "derived"}
    assert abs(sum(info["provenance"]["height_m"].values()) - 1.0) < 1e-6


def test_info_text_shows_provenance(demo_twin_path, capsys):
    assert main(["layers", "info", str(demo_twin_path), "roads"]) == 0
    text = capsys.readouterr().out
    assert "provenance" in text
    assert "capacity_vph" in text


def test_unknown_layer_exit_2(demo_twin_path, capsys):
    assert main(["layers", "info", str(demo_twin_path), "building"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'buildings'" in err


@pytest.mark.parametrize("args", [
    ["init", "--synthetic", "X.twin.gpkg"],
    ["init", "X.twin.gpkg"],
    ["init", "--demo", "--synthetic", "--residents", "5", "X.twin.gpkg"],
])
def test_init_argument_errors(tmp_path, capsys, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "X.twin.gpkg").exists()


def test_place_offline_fails_fast_with_exit_2(tmp_path, capsys, monkeypatch):
    import twin.layers.place as place

    # a host that can never resolve: the command must fail at once, not hang
    monkeypatch.setattr(place, "_HOSTS", (("nominatim.invalid", 443),))
    t0 = time.perf_counter()
    code = main(["init", "--place", "Lucheng District, Wenzhou, China",
                 str(tmp_path / "l.twin.gpkg")])
    assert code == 2
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert "needs the internet" in err
    assert "--osm" in err
    assert not (tmp_path / "l.twin.gpkg").exists()


def test_not_a_geopackage_exit_2(tmp_path, capsys):
    bad = tmp_path / "fake.twin.gpkg"
    bad.write_text("id,name\n1,x\n")
    assert main(["layers", "list", str(bad)]) == 2
    assert "not a GeoPackage" in capsys.readouterr().err
