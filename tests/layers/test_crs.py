"""Tests of twin.layers.crs: GCJ-02 / BD-09 shifts, CRS parsing and conversion."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer

from twin._errors import LayerError
from twin.layers.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    local_utm,
    out_of_china,
    parse_crs,
    to_twin_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Published reference values for the point (116.404, 39.915) in central Beijing
# (wandergis/coordtransform, test/app.js). The inverse values there are the one-step
# approximations, good to a few metres only.
REF = (116.404, 39.915)
REF_WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)
REF_GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
REF_BD_TO_GCJ_APPROX = (116.39762729119315, 39.90865673957631)
REF_GCJ_TO_WGS_APPROX = (116.39775550083061, 39.91359571849836)


def metres(lon0: ArrayLike, lat0: ArrayLike, lon1: ArrayLike, lat1: ArrayLike) -> np.ndarray:
    """Distance between lon/lat points in metres (equirectangular, fine below 1 km)."""
    dx = (np.asarray(lon1) - np.asarray(lon0)) * np.cos(np.radians(lat0)) * 111_320.0
    dy = (np.asarray(lat1) - np.asarray(lat0)) * 110_574.0
    return np.hypot(dx, dy)


def china_grid(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(73.5, 135.0, n), np.linspace(18.0, 53.5, n))
    return lon.ravel(), lat.ravel()


# --- the shifts -------------------------------------------------------------------------------

def test_wgs84_to_gcj02_matches_published_reference() -> None:
    lon, lat = wgs84_to_gcj02([REF[0]], [REF[1]])
    assert lon[0] == pytest.approx(REF_WGS_TO_GCJ[0], abs=1e-9)
    assert lat[0] == pytest.approx(REF_WGS_TO_GCJ[1], abs=1e-9)


def test_gcj02_to_bd09_matches_published_reference() -> None:
    lon, lat = gcj02_to_bd09([REF[0]], [REF[1]])
    assert lon[0] == pytest.approx(REF_GCJ_TO_BD[0], abs=1e-9)
    assert lat[0] == pytest.approx(REF_GCJ_TO_BD[1], abs=1e-9)


def test_gcj02_to_wgs84_is_exact_inverse_near_published_approximation() -> None:
    lon, lat = gcj02_to_wgs84([REF[0]], [REF[1]])
    # within 1 m of the published one-step value ...
    assert metres(lon, lat, *REF_GCJ_TO_WGS_APPROX)[0] < 1.0
    # ... and exact: shifting it forward gives the input back
    back = wgs84_to_gcj02(lon, lat)
    assert metres(np.array(REF[0]), np.array(REF[1]), back[0], back[1])[0] < 1e-6


def test_bd09_to_gcj02_is_exact_inverse_near_published_approximation() -> None:
    lon, lat = bd09_to_gcj02([REF[0]], [REF[1]])
    assert metres(lon, lat, *REF_BD_TO_GCJ_APPROX)[0] < 1.0
    back = gcj02_to_bd09(lon, lat)
    assert metres(np.array(REF[0]), np.array(REF[1]), back[0], back[1])[0] < 1e-6


def test_gcj02_round_trip_error_under_a_centimetre_across_china() -> None:
    lon, lat = china_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    shift = metres(lon, lat, glon, glat)
    assert shift.min() > 10
    assert shift.max() < 1000
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, wlon, wlat).max() < 0.01


def test_iterative_inverse_beats_the_one_step_approximation() -> None:
    lon, lat = china_grid(80)
    glon, glat = wgs84_to_gcj02(lon, lat)
    flon, flat = wgs84_to_gcj02(glon, glat)
    one_step = metres(lon, lat, 2 * glon - flon, 2 * glat - flat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert one_step.max() > 1.0    # the usual approximation is off by metres
    assert metres(lon, lat, wlon, wlat).max() < 1e-4


def test_bd09_round_trip_across_china() -> None:
    lon, lat = china_grid(100)
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert metres(lon, lat, wlon, wlat).max() < 0.01
    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert metres(lon, lat, glon, glat).max() < 0.01


@pytest.mark.parametrize(("lon", "lat"), [(24.94, 60.17), (-74.0, 40.7), (151.2, -33.9),
                                          (139.7, 35.7), (2.35, 48.85)])
def test_points_outside_china_are_unchanged(lon: float, lat: float) -> None:
    assert out_of_china([lon], [lat])[0]
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        x, y = func([lon], [lat])
        assert (x[0], y[0]) == (lon, lat)


def test_shifts_are_vectorised_and_keep_shape() -> None:
    lon = np.array([[116.4, 121.47, 24.94], [113.26, 104.07, 120.7]])
    lat = np.array([[39.9, 31.23, 60.17], [23.13, 30.67, 28.0]])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == (2, 3)
    assert glat.shape == (2, 3)
    one = [wgs84_to_gcj02([x], [y]) for x, y in zip(lon.ravel(), lat.ravel(), strict=True)]
    np.testing.assert_allclose(glon.ravel(), [o[0][0] for o in one])
    assert glon[0, 2] == 24.94   # Helsinki untouched inside the same array


def test_shifts_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        wgs84_to_gcj02([1.0, 2.0], [3.0])


# --- parse_crs --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "epsg"), [
    ("EPSG:4326", 4326), ("epsg:32651", 32651), ("EPSG : 3067", 3067), ("4490", 4490),
    ("cgcs2000", 4490), ("CGCS2000", 4490), ("wgs84", 4326), (4549, 4549),
    ("urn:ogc:def:crs:EPSG::4326", 4326),
])
def test_parse_crs_accepts_codes_and_aliases(text: str | int, epsg: int) -> None:
    spec = parse_crs(text)
    assert spec.crs.to_epsg() == epsg
    assert spec.shift is None


@pytest.mark.parametrize(("text", "shift"), [("gcj02", "gcj02"), ("GCJ-02", "gcj02"),
                                             ("bd09", "bd09"), ("BD-09", "bd09")])
def test_parse_crs_chinese_shifts(text: str, shift: str) -> None:
    spec = parse_crs(text)
    assert spec.shift == shift
    assert spec.crs.to_epsg() == 4326
    assert spec.is_geographic


def test_parse_crs_all_cgcs2000_gauss_kruger_zones() -> None:
    for code in range(4491, 4555):
        spec = parse_crs(f"EPSG:{code}")
        assert spec.crs.is_projected, code
        assert spec.crs.name.startswith("CGCS2000 / "), code
        assert spec.crs.geodetic_crs is not None
        assert spec.crs.geodetic_crs.to_epsg() == 4490, code


def test_parse_crs_wkt_and_proj_strings() -> None:
    wkt = CRS.from_epsg(4549).to_wkt()
    assert parse_crs(wkt).crs.equals(CRS.from_epsg(4549))
    wkt1 = CRS.from_epsg(32651).to_wkt(version="WKT1_GDAL")
    assert parse_crs(wkt1).crs.to_epsg() == 32651
    proj = parse_crs("+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 "
                     "+units=m +no_defs")
    assert proj.crs.is_projected


@pytest.mark.parametrize("text", ["foo", "EPSG:999999", "", "mars", None, "GEOGCS[broken"])
def test_parse_crs_unknown_lists_accepted_forms(text: str | None) -> None:
    with pytest.raises(LayerError, match=r"unknown CRS .*EPSG:<code>.*gcj02.*bd09.*cgcs2000"):
        parse_crs(text)


def test_parse_crs_unknown_epsg_says_so() -> None:
    with pytest.raises(LayerError, match="no such EPSG code"):
        parse_crs("EPSG:999999")


# --- conversions of layers --------------------------------------------------------------------

def test_to_wgs84_unshifts_gcj02_points_and_polygons() -> None:
    gcj = shapely.Point(*REF_WGS_TO_GCJ)
    ring = [(116.40, 39.91), (116.41, 39.91), (116.41, 39.92), (116.40, 39.91)]
    g = gpd.GeoDataFrame({"id": ["p", "a"]}, geometry=[gcj, shapely.Polygon(ring)],
                         crs="EPSG:4326")
    out = to_wgs84(g, "gcj02")
    assert out.crs.to_epsg() == 4326
    p = out.geometry.iloc[0]
    assert metres(np.array(REF[0]), np.array(REF[1]), np.array(p.x), np.array(p.y)) < 1e-6
    xy = shapely.get_coordinates(out.geometry.iloc[1])
    ex, ey = gcj02_to_wgs84([c[0] for c in ring], [c[1] for c in ring])
    np.testing.assert_allclose(xy[:, 0], ex)
    np.testing.assert_allclose(xy[:, 1], ey)
    assert shapely.get_coordinates(g.geometry.iloc[0])[0, 0] == REF_WGS_TO_GCJ[0]  # input kept


def test_to_wgs84_unshifts_bd09() -> None:
    blon, blat = wgs84_to_bd09([120.6994], [27.9943])
    g = gpd.GeoDataFrame(geometry=[shapely.Point(blon[0], blat[0])], crs="EPSG:4326")
    p = to_wgs84(g, "bd09").geometry.iloc[0]
    assert metres(np.array(120.6994), np.array(27.9943), np.array(p.x), np.array(p.y)) < 1e-3


def test_to_wgs84_from_cgcs2000_gauss_kruger() -> None:
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(120.7, 28.0)
    g = gpd.GeoDataFrame(geometry=[shapely.Point(x, y)])          # no CRS in the file
    p = to_wgs84(g, "EPSG:4549").geometry.iloc[0]
    assert p.x == pytest.approx(120.7, abs=1e-8)
    assert p.y == pytest.approx(28.0, abs=1e-8)


def test_to_wgs84_without_crs_asks_for_crs() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)])
    with pytest.raises(LayerError, match=r"roads\.shp: layer roads: has no CRS; pass .*--crs"):
        to_wgs84(g, layer="roads", source="roads.shp")


def test_gcj02_refuses_projected_coordinates() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3100000)], crs="EPSG:4549")
    with pytest.raises(LayerError, match="not longitude/latitude, so they cannot be GCJ-02"):
        to_wgs84(g, "gcj02")


def test_local_utm() -> None:
    hel = gpd.GeoDataFrame(geometry=[shapely.Point(24.94, 60.17)], crs="EPSG:4326")
    wz = gpd.GeoDataFrame(geometry=[shapely.Point(120.7, 28.0)], crs="EPSG:4326")
    assert local_utm(hel).to_epsg() == 32635
    assert local_utm(wz).to_epsg() == 32651


def test_local_utm_needs_crs_and_geometry() -> None:
    with pytest.raises(LayerError, match="no CRS"):
        local_utm(gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)]))
    with pytest.raises(LayerError, match="no geometry"):
        local_utm(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))


def test_to_twin_crs_converts_gcj02_to_utm() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(*REF_WGS_TO_GCJ)], crs="EPSG:4326")
    out = to_twin_crs(g, "EPSG:32650", "gcj02")
    x, y = Transformer.from_crs(4326, 32650, always_xy=True).transform(*REF)
    p = out.geometry.iloc[0]
    assert out.crs.to_epsg() == 32650
    assert p.distance(shapely.Point(x, y)) < 1e-3


def test_to_twin_crs_gauss_kruger_zone_with_prefix() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(120.0, 28.0)], crs="EPSG:4490")
    out = to_twin_crs(g, "EPSG:4528")      # CGCS2000 3-degree GK zone 40 (CM 120E)
    assert out.geometry.iloc[0].x == pytest.approx(40_500_000.0, abs=1e-3)


def test_to_twin_crs_same_crs_keeps_coordinates() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(385000.5, 6672000.25)], crs="EPSG:3067")
    out = to_twin_crs(g, "EPSG:3067")
    assert out.geometry.iloc[0].equals(g.geometry.iloc[0])


def test_to_twin_crs_declared_crs_overrides_file() -> None:
    # a file that wrongly declares EPSG:4326 for GK coordinates
    g = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3098441.75)], crs="EPSG:4326")
    out = to_twin_crs(g, "EPSG:4549", "EPSG:4549")
    assert out.geometry.iloc[0].x == pytest.approx(500000)


def test_to_twin_crs_without_any_crs_asks_for_crs() -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)])
    with pytest.raises(LayerError, match="has no CRS; pass the CRS of its coordinates with --crs"):
        to_twin_crs(g, "EPSG:3067")


@pytest.mark.parametrize("twin_crs", ["EPSG:4326", "gcj02", "cgcs2000"])
def test_to_twin_crs_refuses_geographic_twin(twin_crs: str) -> None:
    g = gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)], crs="EPSG:4326")
    with pytest.raises(LayerError, match="not a projected metric CRS"):
        to_twin_crs(g, twin_crs)
