"""`twin init --crs`: every source builds the twin in the CRS asked for."""

from __future__ import annotations

import pyogrio

from twin.cli import main


def test_init_demo_honours_crs(tmp_path, capsys):
    out = tmp_path / "demo3067.twin.gpkg"
    assert main(["init", "--demo", "--crs", "EPSG:3067", str(out)]) == 0
    assert "EPSG:3067" in capsys.readouterr().out
    for layer in ("roads", "buildings", "zones", "power_lines"):
        assert pyogrio.read_info(out, layer=layer)["crs"] == "EPSG:3067"
    xmin, ymin, _, _ = pyogrio.read_bounds(out, layer="buildings")[1].min(axis=1)
    # ETRS-TM35FIN puts central Helsinki near (385 km, 6672 km)
    assert 380_000 < xmin < 390_000
    assert 6_668_000 < ymin < 6_676_000
