"""Compact encodings: quantised numbers, categories, geometry in metres around an origin."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from twin.views._encode import (
    LocalFrame,
    decode_numbers,
    encode_categories,
    encode_counts,
    encode_lines,
    encode_numbers,
    encode_points,
    encode_polygons,
)


@given(st.lists(st.floats(-1e5, 1e5, allow_nan=False), min_size=1, max_size=50),
       st.sampled_from([0.01, 0.1, 1.0]))
def test_numbers_round_trip_within_half_a_step(values: list[float], step: float) -> None:
    enc = encode_numbers(values, step=step)
    out = decode_numbers(enc)
    assert np.all(np.abs(out - np.asarray(values)) <= step / 2 + 1e-9 * np.abs(values).max())


def test_smallest_type_and_nan() -> None:
    assert encode_numbers([0, 100], step=1)["t"] == "i1"
    assert encode_numbers([0, 1000], step=1)["t"] == "i2"
    assert encode_numbers([0, 1e6], step=1)["t"] == "i4"
    assert encode_numbers([0, 1e12], step=1)["t"] == "f4"
    out = decode_numbers(encode_numbers([1.0, None, "x"], step=1))
    assert out[0] == 1.0
    assert np.isnan(out[1:]).all()
    assert encode_counts([1, 255])["t"] == "u1"
    with pytest.raises(ValueError, match="does not fit 32 bits"):
        encode_counts([2**40])


def test_categories() -> None:
    e = encode_categories([True, 2.0, "x", None])
    assert e["d"] == ["", "2", "true", "x"]
    assert decode_numbers(e["c"]).astype(int).tolist() == [2, 1, 3, 0]


def test_local_frame_metres_are_east_and_north() -> None:
    f = LocalFrame.around("EPSG:32635", (385000, 6671000, 387000, 6673000))
    xy = f.xy(np.array([[386000, 6672000], [386100, 6672000], [386000, 6672100]]))
    assert np.allclose(xy[0], 0, atol=0.5)
    # 100 m east in UTM is ~100 m east (grid convergence ~1.8 degrees at Helsinki)
    assert xy[1][0] == pytest.approx(100, abs=0.5)
    assert abs(xy[1][1]) < 4
    assert xy[2][1] == pytest.approx(100, abs=0.5)


def test_geometry_encodings() -> None:
    f = LocalFrame("EPSG:3067", (24.0, 60.0))
    ring = shapely.Polygon([(0, 0), (40, 0), (40, 40), (0, 40)], [[(10, 10), (20, 10), (20, 20)]])
    multi = shapely.MultiPolygon([shapely.box(100, 0, 110, 10), shapely.box(200, 0, 210, 10)])
    e = encode_polygons([ring, multi], f, tolerance=0)
    assert decode_numbers(e["pf"]).tolist() == [0, 1, 1]
    assert decode_numbers(e["pr"]).tolist() == [2, 1, 1]
    assert decode_numbers(e["rv"]).tolist() == [4, 3, 4, 4]
    assert len(decode_numbers(e["xy"])) == 2 * 15
    lines = encode_lines([shapely.LineString([(0, 0), (5, 0), (10, 0)]),
                          shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]])], f)
    assert decode_numbers(lines["pf"]).tolist() == [0, 1, 1]
    assert decode_numbers(lines["pv"]).tolist() == [2, 2, 2]    # the straight line simplified
    pts = encode_points([shapely.Point(0, 0), shapely.box(0, 0, 2, 2)], f)
    assert len(decode_numbers(pts["xy"])) == 4
