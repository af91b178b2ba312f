"""Compact encodings of arrays and geometry for the maps' JavaScript.

Numbers are quantised to a step and stored as the smallest integer type that holds them
(base64 of little-endian bytes); categories as a dictionary plus integer codes; geometry as
vertex counts plus quantised coordinates in metres east and north of an origin (deck.gl's
``METER_OFFSETS`` coordinate system), closing vertices of rings dropped.

Examples
--------
>>> enc = encode_numbers([0.0, 1.26, float("nan")], step=0.1)
>>> enc["t"], enc["s"], decode_numbers(enc).tolist()[:2]
('i1', 0.1, [0.0, 1.3])
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

__all__ = [
    "LocalFrame",
    "decode_numbers",
    "encode_categories",
    "encode_lines",
    "encode_numbers",
    "encode_points",
    "encode_polygons",
]

#: Earth's circumference as deck.gl's Web Mercator uses it (m).
EARTH_CIRCUMFERENCE = 40075016.68557849
_INT_TYPES = (("i1", np.int8), ("i2", np.int16), ("i4", np.int32))
_UINT_TYPES = (("u1", np.uint8), ("u2", np.uint16), ("u4", np.uint32))


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"))
                            .tobytes()).decode("ascii")


def encode_numbers(values: Any, step: float | None = None) -> dict[str, Any]:
    """Encode numbers rounded to ``step`` as the smallest integer type (NaN kept).

    ``step=None`` stores 32-bit floats. The decoder multiplies the integers by ``s``; the
    integer type's largest value stands for NaN when ``n`` is true.

    Examples
    --------
    >>> encode_numbers([1, 2, 300], step=1)["t"]
    'i2'
    >>> decode_numbers(encode_numbers([5.0, float("nan")], step=1)).tolist()[1]
    nan
    """
    arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"),
                     dtype=float)
    if step is None:
        return {"t": "f4", "s": 1.0, "n": False, "b": _b64(arr.astype(np.float32))}
    q = np.round(arr / step)
    nan = ~np.isfinite(q)
    finite = q[~nan]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    for code, dtype in _INT_TYPES:
        info = np.iinfo(dtype)
        if lo >= info.min and hi < info.max:
            out = np.where(nan, info.max, q).astype(dtype)
            return {"t": code, "s": float(step), "n": bool(nan.any()), "b": _b64(out)}
    return {"t": "f4", "s": 1.0, "n": False, "b": _b64(arr.astype(np.float32))}


def encode_counts(values: Any) -> dict[str, Any]:
    """Encode non-negative integers (counts, indices) as the smallest unsigned type.

    Examples
    --------
    >>> encode_counts([3, 4, 70000])["t"]
    'u4'
    """
    arr = np.asarray(values, dtype=np.int64).ravel()
    hi = int(arr.max()) if arr.size else 0
    for code, dtype in _UINT_TYPES:
        if hi <= np.iinfo(dtype).max:
            return {"t": code, "s": 1.0, "n": False, "b": _b64(arr.astype(dtype))}
    msg = f"count {hi} does not fit 32 bits"
    raise ValueError(msg)


def decode_numbers(enc: dict[str, Any]) -> np.ndarray:
    """Decode :func:`encode_numbers` / :func:`encode_counts` (what the JavaScript does).

    Examples
    --------
    >>> decode_numbers(encode_counts([1, 2])).tolist()
    [1.0, 2.0]
    """
    dtype = np.dtype(enc["t"]).newbyteorder("<")
    raw = np.frombuffer(base64.b64decode(enc["b"]), dtype=dtype)
    out = raw.astype(float) * float(enc["s"])
    if enc.get("n"):
        out[raw == np.iinfo(dtype).max] = np.nan
    return out


def encode_categories(values: Sequence[Any] | np.ndarray | pd.Series) -> dict[str, Any]:
    """Dictionary-encode text values; missing values become ``""``.

    Examples
    --------
    >>> e = encode_categories(["a", "b", "a", None])
    >>> e["d"], decode_numbers(e["c"]).astype(int).tolist()
    (['', 'a', 'b'], [1, 2, 1, 0])
    """
    s = pd.Series(np.asarray(values, dtype=object).ravel())
    text = s.where(s.notna(), "").map(_text)
    uniques = sorted(set(text.tolist()) | {""})
    lookup = {v: i for i, v in enumerate(uniques)}
    codes = text.map(lookup).to_numpy(np.int64)
    return {"d": uniques, "c": encode_counts(codes)}


def _text(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return str(int(v))
    return str(v)


class LocalFrame:
    """Metres east and north of an origin (lon, lat), as deck.gl's METER_OFFSETS reads them.

    Examples
    --------
    >>> f = LocalFrame("EPSG:4326", (24.94, 60.17))
    >>> np.round(f.xy(np.array([[24.94, 60.17], [24.95, 60.17]])), 1).tolist()
    [[0.0, 0.0], [553.7, 0.0]]
    """

    def __init__(self, crs: Any, origin: tuple[float, float]) -> None:
        self.crs = CRS.from_user_input(crs)
        self.origin = (float(origin[0]), float(origin[1]))
        self._to_wgs = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        k = EARTH_CIRCUMFERENCE / 360.0
        self._kx = k * math.cos(math.radians(self.origin[1]))
        self._ky = k

    @classmethod
    def around(cls, crs: Any, bounds: Sequence[float]) -> LocalFrame:
        """A frame whose origin is the centre of ``bounds`` (minx, miny, maxx, maxy in crs).

        Examples
        --------
        >>> LocalFrame.around("EPSG:4326", (24.0, 60.0, 25.0, 61.0)).origin
        (24.5, 60.5)
        """
        cx, cy = (bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0
        tr = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(cx, cy)
        return cls(crs, (float(lon), float(lat)))

    def lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Longitude and latitude of coordinates in the frame's CRS."""
        if len(xy) == 0:
            return np.zeros((0, 2))
        lon, lat = self._to_wgs.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    def xy(self, xy: np.ndarray) -> np.ndarray:
        """Metres east and north of the origin of coordinates in the frame's CRS."""
        ll = self.lonlat(np.asarray(xy, dtype=float).reshape(-1, 2))
        return np.column_stack([(ll[:, 0] - self.origin[0]) * self._kx,
                                (ll[:, 1] - self.origin[1]) * self._ky])


def _coords(xy: np.ndarray) -> dict[str, Any]:
    return encode_numbers(np.round(xy, 1).ravel(), step=0.1)


def encode_points(geoms: Any, frame: LocalFrame) -> dict[str, Any]:
    """Points (other geometries by a representative point) as ``{"k": "point", "xy": ...}``.

    Examples
    --------
    >>> f = LocalFrame("EPSG:4326", (0.0, 0.0))
    >>> encode_points(shapely.points([[0, 0]]), f)["k"]
    'point'
    """
    g = np.asarray(geoms, dtype=object)
    pts = np.where(shapely.get_type_id(g) == 0, g, shapely.point_on_surface(g))
    xy = shapely.get_coordinates(pts)
    return {"k": "point", "xy": _coords(frame.xy(xy))}


def encode_lines(geoms: Any, frame: LocalFrame, *, tolerance: float = 0.5) -> dict[str, Any]:
    """Lines as parts (``pf``: feature of each part, ``pv``: vertices per part) and ``xy``.

    Multi-lines are split into parts; lines are simplified by ``tolerance`` metres.

    Examples
    --------
    >>> f = LocalFrame("EPSG:4326", (0.0, 0.0))
    >>> e = encode_lines([shapely.LineString([(0, 0), (0.001, 0)])], f, tolerance=0)
    >>> decode_numbers(e["pv"]).tolist()
    [2.0]
    """
    g = np.asarray(geoms, dtype=object)
    if tolerance > 0:
        g = shapely.simplify(g, tolerance)
    parts, feature = shapely.get_parts(g, return_index=True)
    xy, which = shapely.get_coordinates(parts, return_index=True)
    counts = np.bincount(which, minlength=len(parts))
    return {"k": "line", "pf": encode_counts(feature), "pv": encode_counts(counts),
            "xy": _coords(frame.xy(xy))}


def encode_polygons(geoms: Any, frame: LocalFrame, *, tolerance: float = 0.2
                    ) -> dict[str, Any]:
    """Polygons as parts (``pf``), rings per part (``pr``), vertices per ring (``rv``), ``xy``.

    The first ring of a part is its exterior, the others holes; closing vertices are dropped
    (deck.gl closes rings itself).

    Examples
    --------
    >>> f = LocalFrame("EPSG:4326", (0.0, 0.0))
    >>> e = encode_polygons([shapely.box(0, 0, 0.001, 0.001)], f, tolerance=0)
    >>> decode_numbers(e["pr"]).tolist(), decode_numbers(e["rv"]).tolist()
    ([1.0], [4.0])
    """
    g = np.asarray(geoms, dtype=object)
    if tolerance > 0:
        g = shapely.simplify(g, tolerance, preserve_topology=True)
    parts, feature = shapely.get_parts(g, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    parts, feature = parts[keep], feature[keep]
    rings, part_of_ring = shapely.get_rings(parts, return_index=True)
    xy, ring_of_vertex = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of_vertex, minlength=len(rings))
    # drop each ring's closing vertex (the last one)
    last = np.cumsum(counts) - 1
    mask = np.ones(len(xy), dtype=bool)
    mask[last[counts > 0]] = False
    return {"k": "poly", "pf": encode_counts(feature),
            "pr": encode_counts(np.bincount(part_of_ring, minlength=len(parts))),
            "rv": encode_counts(np.maximum(counts - 1, 0)),
            "xy": _coords(frame.xy(xy[mask]))}
