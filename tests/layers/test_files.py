"""Tests of twin.layers.files: reading GIS files, importing layers, exporting them."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from twin._errors import LayerError, TwinError, ValidationError
from twin.layers.crs import wgs84_to_gcj02
from twin.layers.files import export_layer, import_layer, read_source, sniff_format
from twin.layers.store import Twin, new_meta, read_layer, write_twin
from twin.layers.validate import validate_twin

TWIN_CRS = "EPSG:3067"          # Finland, metric
HEL = (24.94, 60.17)


def buildings_wgs84(n: int = 3) -> gpd.GeoDataFrame:
    """n small buildings in central Helsinki, lon/lat, with a use and a height."""
    to_ll = Transformer.from_crs(3067, 4326, always_xy=True)
    boxes = []
    for k in range(n):
        x0, y0 = 385_000.0 + 40 * k, 6_672_000.0
        xs, ys = to_ll.transform([x0, x0 + 20, x0 + 20, x0], [y0, y0, y0 + 10, y0 + 10])
        boxes.append(shapely.Polygon(zip(xs, ys, strict=True)))
    return gpd.GeoDataFrame({"bid": [f"x{k}" for k in range(n)],
                             "use": ["residential", "office", "retail"][:n] + ["other"] * (n - 3),
                             "H": [12.0, 20.0, 6.5][:n] + [3.0] * (n - 3)},
                            geometry=boxes, crs="EPSG:4326")


def empty_twin() -> Twin:
    return Twin({}, new_meta("t", TWIN_CRS))


def write(gdf: gpd.GeoDataFrame, path: Path, **kw: object) -> Path:
    gdf.to_file(path, **kw)
    return path


# --- reading ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_read_each_format(tmp_path: Path, ext: str) -> None:
    src = buildings_wgs84()
    path = tmp_path / f"b{ext}"
    if ext == ".parquet":
        src.to_parquet(path)
    else:
        src.to_file(path)
    out = read_source(path)
    assert out.geometry.name == "geometry"
    assert out.crs.to_epsg() == 4326
    assert out["bid"].tolist() == ["x0", "x1", "x2"]
    # shapefiles store rings clockwise: compare normalised geometries
    assert shapely.normalize(out.geometry.iloc[0]).equals_exact(
        shapely.normalize(src.geometry.iloc[0]), 1e-9)


def test_read_zipped_shapefile(tmp_path: Path) -> None:
    write(buildings_wgs84(), tmp_path / "b.shp")
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in tmp_path.glob("b.*"):
            if f.suffix != ".zip":
                zf.write(f, f"data/{f.name}")
    out = read_source(z)
    assert len(out) == 3
    assert out.crs.to_epsg() == 4326


def test_sniff_format(tmp_path: Path) -> None:
    write(buildings_wgs84(), tmp_path / "a.gpkg")
    write(buildings_wgs84(), tmp_path / "a.geojson")
    assert sniff_format(tmp_path / "a.gpkg") == "gpkg"
    assert sniff_format(tmp_path / "a.geojson") == "geojson"
    (tmp_path / "x.bin").write_bytes(b"\x00garbage")
    assert sniff_format(tmp_path / "x.bin") is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"nope\.gpkg: no such file; check the path"):
        read_source(tmp_path / "nope.gpkg")


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".shp", ".zip", ".parquet"])
def test_empty_file(tmp_path: Path, ext: str) -> None:
    p = tmp_path / f"empty{ext}"
    p.write_bytes(b"")
    with pytest.raises(LayerError, match=rf"empty\{ext}: the file is empty \(0 bytes\)"):
        read_source(p)


def test_geojson_named_gpkg(tmp_path: Path) -> None:
    write(buildings_wgs84(), tmp_path / "b.geojson")
    wrong = tmp_path / "b.gpkg"
    os.replace(tmp_path / "b.geojson", wrong)
    with pytest.raises(LayerError, match=r"b\.gpkg: the extension \.gpkg says GeoPackage but the "
                                         r"content is GeoJSON .*; rename it to \.geojson"):
        read_source(wrong)


def test_text_file_named_geojson(tmp_path: Path) -> None:
    p = tmp_path / "notes.geojson"
    p.write_text("id,height\n1,12\n")
    with pytest.raises(LayerError, match="content is not a format twin reads; export it again"):
        read_source(p)


def test_unsupported_extension(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    p.write_text("a,b\n")
    with pytest.raises(LayerError, match=r"unsupported file type '\.csv'; use one of: \.gpkg"):
        read_source(p)


def test_truncated_geopackage(tmp_path: Path) -> None:
    p = write(buildings_wgs84(200), tmp_path / "b.gpkg")
    data = p.read_bytes()
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LayerError, match=r"cut\.gpkg: the GeoPackage is truncated .*copy it"):
        read_source(cut)


def test_corrupt_geopackage(tmp_path: Path) -> None:
    p = write(buildings_wgs84(200), tmp_path / "b.gpkg")
    data = bytearray(p.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)      # the schema page after the header
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(bytes(data))
    with pytest.raises(LayerError, match=r"bad\.gpkg: the GeoPackage is corrupt or unreadable"):
        read_source(bad)


def test_multi_layer_geopackage_needs_a_choice(tmp_path: Path) -> None:
    p = tmp_path / "multi.gpkg"
    write(buildings_wgs84(), p, layer="houses")
    write(buildings_wgs84(2), p, layer="sheds")
    with pytest.raises(LayerError, match=r"multi\.gpkg: the GeoPackage has 2 layers "
                                         r"\(houses, sheds\); choose one with --layer NAME"):
        read_source(p)
    assert len(read_source(p, layer="sheds")) == 2
    with pytest.raises(LayerError, match=r"no layer 'shed' \(did you mean 'sheds'\?\); it has: "
                                         r"houses, sheds"):
        read_source(p, layer="shed")


def test_shapefile_without_dbf(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.shp")
    (tmp_path / "b.dbf").unlink()
    with pytest.raises(LayerError, match=r"b\.dbf is missing beside it"):
        read_source(p)


def test_zip_without_shapefile(tmp_path: Path) -> None:
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(LayerError, match=r"x\.zip: the zip holds no \.shp"):
        read_source(z)


def test_parquet_without_geo_metadata_and_truncated(tmp_path: Path) -> None:
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(plain)
    with pytest.raises(LayerError, match="is Parquet but not GeoParquet"):
        read_source(plain)
    good = tmp_path / "good.parquet"
    buildings_wgs84().to_parquet(good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(LayerError, match=r"cut\.parquet: the Parquet file is truncated"):
        read_source(cut)


# --- import -----------------------------------------------------------------------------------

def test_import_buildings_converts_derives_and_flags(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.geojson")
    before = empty_twin()
    t = import_layer(before, "buildings", p, mapping={"bid": "id", "H": "height_m"})
    assert before.layers == {}                       # a new twin; the input is unchanged
    b = t.layers["buildings"]
    assert b.crs.to_epsg() == 3067
    assert b["id"].tolist() == ["x0", "x1", "x2"]
    assert b.geometry.area.round(0).tolist() == [200.0, 200.0, 200.0]
    assert b["height_m"].tolist() == [12.0, 20.0, 6.5]
    assert b["floors"].tolist() == [4, 6, 2]           # from height / 3.2 m
    assert b["footprint_m2"].tolist() == [200.0, 200.0, 200.0]
    assert b["residents"].tolist() == [20, 0, 0]      # 4 x 200 m2 / 40 m2 per resident
    assert (b["source"] == "import").all()
    assert (b["height_m_source"] == "import").all()
    assert (b["use_source"] == "import").all()
    assert (b["floors_source"] == "derived").all()
    assert (b["residents_source"] == "derived").all()
    assert str(b["floors"].dtype) == "int64"
    assert t.meta["sources"][-1]["name"] == "b.geojson"
    # the result validates and can be written
    assert validate_twin(t).ok
    write_twin(t, tmp_path / "t.twin.gpkg")
    assert len(read_layer(tmp_path / "t.twin.gpkg", "buildings")) == 3


def test_import_generates_ids_by_layer(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    t = import_layer(empty_twin(), "buildings", p)
    assert t.layers["buildings"]["id"].tolist() == ["b1", "b2", "b3"]
    t2 = import_layer(t, "buildings", p)             # appended: new ids skip the taken ones
    assert t2.layers["buildings"]["id"].tolist() == ["b1", "b2", "b3", "b4", "b5", "b6"]


def test_import_numeric_ids_become_text(tmp_path: Path) -> None:
    g = buildings_wgs84()
    g["code"] = [101, 102, 103]
    p = write(g, tmp_path / "b.gpkg")
    t = import_layer(empty_twin(), "buildings", p, mapping={"code": "id"})
    assert t.layers["buildings"]["id"].tolist() == ["101", "102", "103"]


def test_import_append_clash_and_replace(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    t = import_layer(empty_twin(), "buildings", p, mapping={"bid": "id"})
    with pytest.raises(ValidationError, match=r"feature x0 / field id: id 'x0' is already in "
                                              r"the twin's buildings; pass --replace"):
        import_layer(t, "buildings", p, mapping={"bid": "id"})
    t2 = import_layer(t, "buildings", p, mapping={"bid": "id"}, replace=True)
    assert len(t2.layers["buildings"]) == 3


def test_import_gcj02_points(tmp_path: Path) -> None:
    # two cameras in Wenzhou, surveyed on Amap (GCJ-02), into a CGCS2000 GK twin
    wlon, wlat = np.array([120.6994, 120.7010]), np.array([27.9943, 27.9960])
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    g = gpd.GeoDataFrame({"kind": ["camera", "camera"]},
                         geometry=shapely.points(glon, glat), crs="EPSG:4326")
    p = write(g, tmp_path / "cams.geojson")
    twin = Twin({}, new_meta("wz", "EPSG:4549"))
    t = import_layer(twin, "sensors", p, crs="gcj02")
    s = t.layers["sensors"]
    ex, ey = Transformer.from_crs(4326, 4549, always_xy=True).transform(wlon, wlat)
    np.testing.assert_allclose(s.geometry.x, ex, atol=1e-3)
    np.testing.assert_allclose(s.geometry.y, ey, atol=1e-3)
    assert s["range_m"].tolist() == [40.0, 40.0]     # derived from kind
    assert s["range_m_source"].tolist() == ["derived", "derived"]
    # without --crs gcj02 the points land hundreds of metres away
    off = import_layer(twin, "sensors", p).layers["sensors"]
    assert off.geometry.distance(s.geometry).min() > 100


def test_import_cgcs2000_gauss_kruger_file(tmp_path: Path) -> None:
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(120.7, 28.0)
    g = gpd.GeoDataFrame({"kind": ["camera"]}, geometry=[shapely.Point(x, y)], crs="EPSG:4549")
    p = write(g, tmp_path / "gk.gpkg")
    t = import_layer(Twin({}, new_meta("wz", "EPSG:32651")), "sensors", p)
    ux, uy = Transformer.from_crs(4326, 32651, always_xy=True).transform(120.7, 28.0)
    assert t.layers["sensors"].geometry.iloc[0].distance(shapely.Point(ux, uy)) < 1e-3


def test_import_layer_without_crs(tmp_path: Path) -> None:
    g = gpd.GeoDataFrame({"kind": ["camera"]}, geometry=[shapely.Point(385_000, 6_672_000)])
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        p = write(g, tmp_path / "nocrs.gpkg")
    with pytest.raises(ValidationError, match=r"nocrs\.gpkg / sensors: the layer has no CRS; "
                                              r"pass the CRS of its coordinates with --crs"):
        import_layer(empty_twin(), "sensors", p)
    t = import_layer(empty_twin(), "sensors", p, crs="EPSG:3067")
    assert t.layers["sensors"].geometry.iloc[0].x == pytest.approx(385_000)


def test_import_polygons_as_roads(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    with pytest.raises(ValidationError, match=r"b\.gpkg / roads: the file holds Polygon features "
                                              r"but roads needs LineString geometries"):
        import_layer(empty_twin(), "roads", p)


def test_import_required_field_missing(tmp_path: Path) -> None:
    g = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.Point(*HEL)], crs="EPSG:4326")
    p = write(g, tmp_path / "fac.geojson")
    with pytest.raises(ValidationError, match=r"facilities / field kind: required field is "
                                              r"missing; add a column 'kind'") as info:
        import_layer(empty_twin(), "facilities", p)
    # one finding for the missing column, not one per feature
    assert [f.feature for f in info.value.findings if f.field == "kind"] == [None]


def test_import_text_in_numeric_field(tmp_path: Path) -> None:
    g = buildings_wgs84()
    g["H"] = ["12", "tall", "6.5"]
    p = write(g, tmp_path / "b.gpkg")
    with pytest.raises(ValidationError, match=r"b\.gpkg / buildings / feature x1 / field "
                                              r"height_m: 'tall' is not a float"):
        import_layer(empty_twin(), "buildings", p, mapping={"bid": "id", "H": "height_m"})


def test_import_duplicate_ids(tmp_path: Path) -> None:
    g = buildings_wgs84()
    g["bid"] = ["x0", "x1", "x0"]
    p = write(g, tmp_path / "b.gpkg")
    with pytest.raises(ValidationError, match=r"feature x0 / field id: 'x0' is used by 2 "
                                              r"features"):
        import_layer(empty_twin(), "buildings", p, mapping={"bid": "id"})


def test_import_unknown_layer_name(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    with pytest.raises(LayerError, match=r"b\.gpkg: cannot import: unknown layer 'building' "
                                         r"\(did you mean 'buildings'\?\)"):
        import_layer(empty_twin(), "building", p)


def test_import_empty_file_and_no_features(tmp_path: Path) -> None:
    p = tmp_path / "b.geojson"
    p.write_bytes(b"")
    with pytest.raises(LayerError, match="the file is empty"):
        import_layer(empty_twin(), "buildings", p)
    p.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(LayerError, match="the file has no features to import into buildings"):
        import_layer(empty_twin(), "buildings", p)


def test_import_mapping_errors(tmp_path: Path) -> None:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    with pytest.raises(LayerError, match=r"--map hgt=height_m: the file has no column 'hgt'; "
                                         r"its columns: bid, use, H"):
        import_layer(empty_twin(), "buildings", p, mapping={"hgt": "height_m"})
    with pytest.raises(LayerError, match=r"--map H=height: 'height' is not a field of buildings "
                                         r"\(did you mean 'height_m'\?\)"):
        import_layer(empty_twin(), "buildings", p, mapping={"H": "height"})
    with pytest.raises(LayerError, match="the file already has a column 'use'"):
        import_layer(empty_twin(), "buildings", p, mapping={"H": "use"})


def test_import_reports_every_problem_at_once(tmp_path: Path) -> None:
    g = buildings_wgs84(4)
    g["bid"] = ["x0", "x0", "x2", "x3"]
    g["H"] = ["12", "tall", "6.5", "2000"]
    g["use"] = ["residential", "castle", "office", "office"]
    p = write(g, tmp_path / "b.gpkg")
    with pytest.raises(ValidationError) as info:
        import_layer(empty_twin(), "buildings", p, mapping={"bid": "id", "H": "height_m"})
    got = {(f.rule, f.feature, f.field) for f in info.value.findings if f.severity == "error"}
    # feature x0 twice (ids), 'tall' is the second x0; 2000 m also gives 625 floors
    assert got == {("type", "x0", "height_m"), ("unique", "x0", "id"),
                   ("allowed", "x0", "use"), ("range", "x3", "height_m"),
                   ("range", "x3", "floors")}
    assert str(info.value).startswith(f"{p}: cannot import layer buildings: 5 error(s)")


def test_import_roads_derives_and_keeps_bad_classes_visible(tmp_path: Path) -> None:
    to_ll = Transformer.from_crs(3067, 4326, always_xy=True)
    xs, ys = to_ll.transform([385_000.0, 385_100.0, 385_100.0], [6_672_000.0] * 2 + [6_672_100.0])
    lines = [shapely.LineString([(xs[0], ys[0]), (xs[1], ys[1])]),
             shapely.LineString([(xs[1], ys[1]), (xs[2], ys[2])])]
    g = gpd.GeoDataFrame({"u": ["a", "b"], "v": ["b", "c"], "highway": ["primary", "primary"],
                          "oneway": [False, True]}, geometry=lines, crs="EPSG:4326")
    p = write(g, tmp_path / "r.geojson")
    r = import_layer(empty_twin(), "roads", p).layers["roads"]
    assert r["id"].tolist() == ["r1", "r2"]
    assert r["lanes"].tolist() == [2, 2]
    assert r["capacity_vph"].tolist() == [1800.0, 1800.0]
    assert r["length_m"].round(1).tolist() == [100.0, 100.0]
    assert r["length_m_source"].tolist() == ["derived", "derived"]
    g["highway"] = ["primary", "Main road"]
    p2 = write(g, tmp_path / "r2.geojson")
    with pytest.raises(ValidationError, match=r"feature r2 / field highway: 'Main road' is not "
                                              r"allowed"):
        import_layer(empty_twin(), "roads", p2)


def test_import_from_multi_layer_geopackage(tmp_path: Path) -> None:
    p = tmp_path / "m.gpkg"
    write(buildings_wgs84(), p, layer="houses")
    write(buildings_wgs84(2), p, layer="sheds")
    with pytest.raises(LayerError, match="choose one with --layer NAME"):
        import_layer(empty_twin(), "buildings", p)
    t = import_layer(empty_twin(), "buildings", p, layer="sheds")
    assert len(t.layers["buildings"]) == 2


def test_import_errors_are_twin_errors(tmp_path: Path) -> None:
    with pytest.raises(TwinError, match="no such file"):
        import_layer(empty_twin(), "buildings", tmp_path / "missing.shp")


# --- export -----------------------------------------------------------------------------------

@pytest.fixture
def twin_file(tmp_path: Path) -> Path:
    p = write(buildings_wgs84(), tmp_path / "b.gpkg")
    t = import_layer(empty_twin(), "buildings", p, mapping={"bid": "id", "H": "height_m"})
    return write_twin(t, tmp_path / "city.twin.gpkg")


def test_export_geojson_is_wgs84(twin_file: Path, tmp_path: Path) -> None:
    out = export_layer(twin_file, "buildings", tmp_path / "b_out.geojson")
    data = json.loads(out.read_text())
    assert "crs" not in data                         # RFC 7946: always lon/lat WGS84
    assert data["name"] == "buildings"               # the layer, not the temporary file
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert abs(lon - HEL[0]) < 0.1
    assert abs(lat - HEL[1]) < 0.1
    back = read_source(out)
    assert back.crs.to_epsg() == 4326
    assert back["id"].tolist() == ["x0", "x1", "x2"]


@pytest.mark.parametrize("ext", [".gpkg", ".parquet"])
def test_export_keeps_twin_crs(twin_file: Path, tmp_path: Path, ext: str) -> None:
    out = export_layer(twin_file, "buildings", tmp_path / f"b_out{ext}")
    back = read_source(out)
    assert back.crs.to_epsg() == 3067
    orig = read_layer(twin_file, "buildings")
    assert back["height_m"].tolist() == orig["height_m"].tolist()
    assert back.geometry.iloc[0].equals_exact(orig.geometry.iloc[0], 1e-6)


def test_export_then_import_round_trip(twin_file: Path, tmp_path: Path) -> None:
    out = export_layer(twin_file, "buildings", tmp_path / "rt.geojson")
    t = import_layer(empty_twin(), "buildings", out)
    orig = read_layer(twin_file, "buildings")
    b = t.layers["buildings"]
    assert b["id"].tolist() == orig["id"].tolist()
    assert b["height_m"].tolist() == orig["height_m"].tolist()
    # RFC 7946 GeoJSON keeps 7 decimals of a degree (about 1 cm)
    assert np.allclose(b.geometry.area, orig.geometry.area, rtol=1e-3)


def test_export_refuses_existing_unless_overwrite(twin_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.geojson"
    out.write_text("{}")
    with pytest.raises(LayerError, match=r"b\.geojson: the file exists; choose another path or "
                                         r"pass --overwrite"):
        export_layer(twin_file, "buildings", out)
    export_layer(twin_file, "buildings", out, overwrite=True)
    assert len(read_source(out)) == 3
    leftovers = [f.name for f in tmp_path.iterdir() if f.name.startswith(".")]
    assert leftovers == []


def test_export_unknown_extension_missing_folder_and_layer(twin_file: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"cannot export to '\.shp'; use one of: \.gpkg"):
        export_layer(twin_file, "buildings", tmp_path / "b.shp")
    with pytest.raises(LayerError, match="does not exist; create it first"):
        export_layer(twin_file, "buildings", tmp_path / "no" / "b.gpkg")
    with pytest.raises(LayerError, match="the twin has no layer 'roads'"):
        export_layer(twin_file, "roads", tmp_path / "r.gpkg")
    assert not (tmp_path / "r.gpkg").exists()


def test_read_source_reads_what_export_wrote(twin_file: Path, tmp_path: Path) -> None:
    out = export_layer(twin_file, "buildings", tmp_path / "exported.gpkg")
    assert [str(n) for n, _ in pyogrio.list_layers(out)] == ["buildings"]
