from __future__ import annotations

import geopandas as gpd
import shapely

from twin.layers.zoning import make_zones


def _setup():
    area = shapely.box(0, 0, 900, 600)
    dense = [shapely.box(x, y, x + 40, y + 40) for x in range(5, 290, 50)
             for y in range(5, 290, 50)]
    b = gpd.GeoDataFrame(geometry=[*dense, shapely.box(700, 400, 720, 420)], crs=3067)
    lu = gpd.GeoDataFrame({"landuse": ["railway", "residential"]},
                          geometry=[shapely.box(600, 0, 900, 300), shapely.box(0, 300, 300, 600)],
                          crs=3067)
    return area, b, lu


def test_cells_cover_the_area_and_new_zone_is_carved_out():
    area, b, lu = _setup()
    z = make_zones(area, b, lu, cell_size=300)
    assert abs(z.area.sum() - area.area) < 1.0
    new = z[z["kind"] == "new_zone"]
    assert len(new) == 1
    assert new.iloc[0]["name"].startswith("Rail yard")
    assert abs(new.area.iloc[0] - 90000) < 1.0
    assert z["id"].is_unique


def test_dense_cell_is_old_district_and_land_use_from_cover():
    area, b, lu = _setup()
    z = make_zones(area, b, lu, cell_size=300)
    dense = z[z.contains(shapely.Point(150, 150))].iloc[0]
    assert dense["kind"] == "old_district"
    res = z[z.contains(shapely.Point(150, 450))].iloc[0]
    assert res["land_use"] == "residential"
    assert res["kind"] == "other"
    assert set(z["kind_source"]) == {"derived"}


def test_no_brownfield_no_new_zone():
    area, b, _ = _setup()
    empty = gpd.GeoDataFrame({"landuse": []}, geometry=gpd.GeoSeries([]), crs=3067)
    z = make_zones(area, b, empty, cell_size=300)
    assert "new_zone" not in set(z["kind"])
    assert len(z) == 6
