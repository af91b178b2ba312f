"""Coordinate reference systems: parsing, Chinese datums and conversion to the twin's CRS.

Three coordinate systems common in Chinese sources are handled here:

- **GCJ-02** ("Mars coordinates", used by Amap/Gaode, Tencent and Google in mainland China):
  WGS84 longitude/latitude shifted by a public obfuscation formula of a few hundred metres. It is
  not a pyproj CRS; :func:`gcj02_to_wgs84` removes the shift (iteratively: the formula has no
  closed-form inverse, the usual one-step approximation is off by up to ~2 m).
- **BD-09** (Baidu): GCJ-02 shifted once more.
- **CGCS2000** (EPSG:4490) and its Gauss-Krüger zones (EPSG:4491-4554): ordinary EPSG CRSs
  that pyproj converts exactly.

GCJ-02 is defined only inside China: outside the conventional bounding box
(lon 72.004-137.8347, lat 0.8293-55.8271) coordinates are left unchanged.

Examples
--------
>>> import numpy as np
>>> lon, lat = wgs84_to_gcj02(np.array([116.404]), np.array([39.915]))
>>> round(float(lon[0]), 6), round(float(lat[0]), 6)
(116.410244, 39.916404)
>>> parse_crs("cgcs2000").crs.to_epsg()
4490
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError

from twin._errors import LayerError

__all__ = [
    "ACCEPTED_FORMS",
    "CrsSpec",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "local_utm",
    "out_of_china",
    "parse_crs",
    "to_twin_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: What :func:`parse_crs` accepts, for error messages and help text.
ACCEPTED_FORMS = (
    "EPSG:<code> (e.g. EPSG:4326, EPSG:32651)",
    "wgs84",
    "gcj02 (Amap/Gaode, Tencent: lon/lat)",
    "bd09 (Baidu: lon/lat)",
    "cgcs2000 (= EPSG:4490) and its Gauss-Krüger zones EPSG:4491-4554",
    "a WKT string",
    "a PROJ string (+proj=...)",
)

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)
_MAX_ITER = 30
_TOL_DEG = 1e-11  # ~1 micrometre

_ALIASES = {
    "wgs84": "EPSG:4326", "wgs 84": "EPSG:4326", "wgs-84": "EPSG:4326",
    "cgcs2000": "EPSG:4490", "cgcs-2000": "EPSG:4490", "cgcs 2000": "EPSG:4490",
}
_SHIFTED = {"gcj02": "gcj02", "gcj-02": "gcj02", "gcj_02": "gcj02",
            "bd09": "bd09", "bd-09": "bd09", "bd_09": "bd09", "bd09ll": "bd09"}
_WKT_START = re.compile(
    r"^\s*(GEOGCS|PROJCS|GEOCCS|COMPD_CS|VERT_CS|GEOGCRS|GEODCRS|PROJCRS|BOUNDCRS|COMPOUNDCRS|"
    r"GEODETICCRS|PROJECTEDCRS|VERTCRS|ENGCRS)\s*\[", re.IGNORECASE)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    if x.shape != y.shape:
        msg = f"lon and lat must have the same shape, got {x.shape} and {y.shape}"
        raise ValueError(msg)
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the box in which GCJ-02 applies.

    Examples
    --------
    >>> out_of_china([116.4, 24.94], [39.9, 60.17]).tolist()
    [False, True]
    """
    x, y = _arrays(lon, lat)
    x0, y0, x1, y1 = _CHINA_BBOX
    return np.asarray(~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))


def _gcj_offset(lon: NDArray[np.float64], lat: NDArray[np.float64]
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS84 (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * np.pi * x) + 20.0 * np.sin(2.0 * np.pi * x)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(np.pi * y) + 40.0 * np.sin(np.pi * y / 3.0)) * 2.0 / 3.0
            + (160.0 * np.sin(np.pi * y / 12.0) + 320.0 * np.sin(np.pi * y / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(np.pi * x) + 40.0 * np.sin(np.pi * x / 3.0)) * 2.0 / 3.0
            + (150.0 * np.sin(np.pi * x / 12.0) + 300.0 * np.sin(np.pi * x / 30.0)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Shift WGS84 lon/lat to GCJ-02 (points outside China are returned unchanged).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([116.404, 24.94], [39.915, 60.17])
    >>> [round(v, 8) for v in lon.tolist()], [round(v, 8) for v in lat.tolist()]
    ([116.4102445, 24.94], [39.91640428, 60.17])
    """
    x, y = _arrays(lon, lat)
    dlon, dlat = _gcj_offset(x, y)
    outside = out_of_china(x, y)
    return np.where(outside, x, x + dlon), np.where(outside, y, y + dlat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Remove the GCJ-02 shift: the WGS84 lon/lat whose GCJ-02 image is (lon, lat).

    Solved iteratively (fixed point on the forward formula) to about a micrometre, so a round
    trip WGS84 -> GCJ-02 -> WGS84 returns the input; points outside China are unchanged.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02([120.6994], [27.9943]))
    >>> round(float(lon[0]), 9), round(float(lat[0]), 9)
    (120.6994, 27.9943)
    """
    gx, gy = _arrays(lon, lat)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(_MAX_ITER):
        fx, fy = wgs84_to_gcj02(wx, wy)
        ex, ey = fx - gx, fy - gy
        wx, wy = wx - ex, wy - ey
        if not (np.nanmax(np.abs(ex), initial=0.0) > _TOL_DEG
                or np.nanmax(np.abs(ey), initial=0.0) > _TOL_DEG):
            break
    outside = out_of_china(gx, gy)
    return np.where(outside, gx, wx), np.where(outside, gy, wy)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Shift GCJ-02 lon/lat to Baidu's BD-09.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09([116.404], [39.915])
    >>> round(float(lon[0]), 8), round(float(lat[0]), 8)
    (116.41036949, 39.92133699)
    """
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Remove Baidu's BD-09 shift, giving GCJ-02 lon/lat (iterative, to about a micrometre).

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02([116.404], [39.915])
    >>> round(float(lon[0]), 5), round(float(lat[0]), 5)
    (116.39763, 39.90866)
    """
    bx, by = _arrays(lon, lat)
    # the published closed-form approximation as the start, refined on the forward formula
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_ITER):
        fx, fy = gcj02_to_bd09(gx, gy)
        ex, ey = fx - bx, fy - by
        gx, gy = gx - ex, gy - ey
        if not (np.nanmax(np.abs(ex), initial=0.0) > _TOL_DEG
                or np.nanmax(np.abs(ey), initial=0.0) > _TOL_DEG):
            break
    return gx, gy


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """BD-09 lon/lat to WGS84 (via GCJ-02).

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09([121.47], [31.23]))
    >>> round(float(lon[0]), 9), round(float(lat[0]), 9)
    (121.47, 31.23)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 lon/lat to BD-09 (via GCJ-02).

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09([116.404], [39.915])
    >>> round(float(lon[0]), 4), round(float(lat[0]), 4)
    (116.4166, 39.9227)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


@dataclass(frozen=True)
class CrsSpec:
    """A parsed CRS: a pyproj CRS, plus the Chinese shift applied on top of it, if any.

    Attributes
    ----------
    text : str
        What the user wrote.
    crs : pyproj.CRS
        The CRS of the coordinates; for GCJ-02 and BD-09 the lon/lat base (EPSG:4326).
    shift : {None, "gcj02", "bd09"}
        The obfuscation shift the coordinates carry.

    Examples
    --------
    >>> s = parse_crs("bd09")
    >>> s.shift, s.crs.to_epsg(), s.label
    ('bd09', 4326, 'BD-09')
    """

    text: str
    crs: CRS
    shift: str | None = None

    @property
    def label(self) -> str:
        """A short human name: ``GCJ-02``, ``BD-09`` or the CRS name."""
        if self.shift == "gcj02":
            return "GCJ-02"
        if self.shift == "bd09":
            return "BD-09"
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg} ({self.crs.name})" if epsg else str(self.crs.name)

    @property
    def is_geographic(self) -> bool:
        """True for lon/lat systems (GCJ-02 and BD-09 included)."""
        return bool(self.crs.is_geographic)


def _bad_crs(text: Any, why: str = "") -> LayerError:
    forms = "; ".join(ACCEPTED_FORMS)
    reason = f" ({why})" if why else ""
    return LayerError(f"unknown CRS {text!r}{reason}; pass --crs as one of: {forms}")


def parse_crs(text: Any) -> CrsSpec:
    """Parse a CRS the user wrote (``--crs``) into a :class:`CrsSpec`.

    Parameters
    ----------
    text : str, int or pyproj.CRS
        ``"EPSG:n"``, ``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"cgcs2000"`` (EPSG:4490), the
        CGCS2000 Gauss-Krüger zones ``"EPSG:4491"`` ... ``"EPSG:4554"``, a WKT or PROJ string, an
        EPSG code as an int, or a pyproj CRS.

    Raises
    ------
    LayerError
        The text is not a CRS; the message lists the accepted forms.

    Examples
    --------
    >>> parse_crs("EPSG:4549").crs.name
    'CGCS2000 / 3-degree Gauss-Kruger CM 120E'
    >>> parse_crs("GCJ-02").shift
    'gcj02'
    >>> parse_crs("+proj=utm +zone=51 +datum=WGS84").crs.is_projected
    True
    """
    if isinstance(text, CRS):
        return CrsSpec(text.to_string(), text)
    if isinstance(text, int) and not isinstance(text, bool):
        text = f"EPSG:{text}"
    if not isinstance(text, str) or not text.strip():
        raise _bad_crs(text)
    raw = text.strip()
    key = raw.lower()
    if key in _SHIFTED:
        return CrsSpec(raw, CRS.from_epsg(4326), _SHIFTED[key])
    target = _ALIASES.get(key, raw)
    if re.fullmatch(r"\d{4,6}", target):
        target = f"EPSG:{target}"
    m = re.fullmatch(r"epsg\s*:\s*(\d+)", target, re.IGNORECASE)
    try:
        if m:
            crs = CRS.from_epsg(int(m.group(1)))
        elif _WKT_START.match(target):
            crs = CRS.from_wkt(target)
        else:
            crs = CRS.from_user_input(target)
    except CRSError as err:
        why = "no such EPSG code" if m else str(err).split(":")[0]
        raise _bad_crs(raw, why) from err
    return CrsSpec(raw, crs)


def _source_spec(gdf: gpd.GeoDataFrame, crs_text: Any, where: str) -> CrsSpec:
    if crs_text is not None:
        return parse_crs(crs_text)
    if gdf.crs is None:
        msg = (f"{where}has no CRS; pass the CRS of its coordinates with --crs (e.g. "
               "--crs EPSG:4326, --crs gcj02 for Amap/Gaode, --crs bd09 for Baidu, "
               "--crs EPSG:4549 for CGCS2000 Gauss-Krüger 120E)")
        raise LayerError(msg)
    return CrsSpec(gdf.crs.to_string(), CRS.from_user_input(gdf.crs))


def _where(layer: str | None, source: str | None) -> str:
    parts = [p for p in (source, f"layer {layer}" if layer else None) if p]
    return (": ".join(parts) + ": ") if parts else "the layer "


def _unshift(gdf: gpd.GeoDataFrame, shift: str, where: str) -> gpd.GeoDataFrame:
    geoms = np.asarray(gdf.geometry.array)
    xy = shapely.get_coordinates(geoms)
    if len(xy) and (np.nanmax(np.abs(xy[:, 0])) > 180 or np.nanmax(np.abs(xy[:, 1])) > 90):
        name = "GCJ-02" if shift == "gcj02" else "BD-09"
        msg = (f"{where}coordinates are not longitude/latitude, so they cannot be {name}; "
               "pass the CRS they really are in with --crs")
        raise LayerError(msg)
    func = gcj02_to_wgs84 if shift == "gcj02" else bd09_to_wgs84

    def unshift(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(shapely.transform(geoms, unshift), index=gdf.index,
                                           crs="EPSG:4326")
    return out.set_crs("EPSG:4326", allow_override=True)


def to_wgs84(gdf: gpd.GeoDataFrame, crs_text: Any = None, *, layer: str | None = None,
             source: str | None = None) -> gpd.GeoDataFrame:
    """Convert a layer to WGS84 lon/lat (EPSG:4326), removing GCJ-02 / BD-09 shifts.

    Parameters
    ----------
    gdf : GeoDataFrame
    crs_text : str, optional
        The CRS of the coordinates (anything :func:`parse_crs` accepts); it overrides the CRS
        the file declares (a GCJ-02 file usually declares EPSG:4326). Default: ``gdf.crs``.
    layer, source : str, optional
        Layer name and file, for error messages.

    Raises
    ------
    LayerError
        No CRS anywhere, an unknown CRS, or GCJ-02/BD-09 given for projected coordinates.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(116.41024449916938, 39.91640428150164)],
    ...                      crs="EPSG:4326")
    >>> p = to_wgs84(g, "gcj02").geometry[0]
    >>> round(p.x, 7), round(p.y, 7)
    (116.404, 39.915)
    """
    where = _where(layer, source)
    spec = _source_spec(gdf, crs_text, where)
    if spec.shift:
        return _unshift(gdf.set_crs("EPSG:4326", allow_override=True), spec.shift, where)
    out = gdf.set_crs(spec.crs, allow_override=True)
    return out.to_crs("EPSG:4326")


def local_utm(gdf: gpd.GeoDataFrame) -> CRS:
    """The UTM zone CRS of a layer's extent (geopandas' ``estimate_utm_crs``).

    Raises
    ------
    LayerError
        The layer has no CRS or no geometry.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(24.94, 60.17)], crs="EPSG:4326")
    >>> local_utm(g).to_epsg()
    32635
    """
    if gdf.crs is None:
        msg = "the layer has no CRS; set it (or pass --crs) before choosing a UTM zone"
        raise LayerError(msg)
    geoms = gdf.geometry
    if len(gdf) == 0 or bool(geoms.is_empty.all() if len(geoms) else True):
        msg = "the layer has no geometry to choose a UTM zone from; pass --crs EPSG:<code>"
        raise LayerError(msg)
    try:
        return CRS.from_user_input(gdf.estimate_utm_crs())
    except (RuntimeError, ValueError) as err:
        msg = f"cannot choose a UTM zone for the layer ({err}); pass --crs EPSG:<code>"
        raise LayerError(msg) from err


def to_twin_crs(gdf: gpd.GeoDataFrame, twin_crs: Any, source_crs: Any = None, *,
                layer: str | None = None, source: str | None = None) -> gpd.GeoDataFrame:
    """Convert a layer to the twin's projected CRS.

    Parameters
    ----------
    gdf : GeoDataFrame
    twin_crs : str or pyproj.CRS
        The twin's CRS; it must be projected (metric).
    source_crs : str, optional
        The CRS of ``gdf``'s coordinates (``--crs``), overriding the CRS the file declares;
        ``gcj02`` and ``bd09`` are unshifted to WGS84 first.
    layer, source : str, optional
        Layer name and file, for error messages.

    Raises
    ------
    LayerError
        The layer has no CRS and none was given, a CRS is unknown, or the twin CRS is
        geographic.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3100000)])
    >>> out = to_twin_crs(g, "EPSG:32651", "EPSG:4549")
    >>> out.crs.to_epsg(), round(out.geometry[0].x)
    (32651, 204995)
    """
    target = parse_crs(twin_crs)
    if target.shift or not target.crs.is_projected:
        msg = (f"the twin CRS {target.label} is not a projected metric CRS; twins use one "
               "projected CRS such as a UTM zone (EPSG:326xx) or a CGCS2000 Gauss-Krüger zone")
        raise LayerError(msg)
    where = _where(layer, source)
    spec = _source_spec(gdf, source_crs, where)
    if spec.shift:
        gdf = to_wgs84(gdf, source_crs, layer=layer, source=source)
    else:
        gdf = gdf.set_crs(spec.crs, allow_override=True)
    if CRS.from_user_input(gdf.crs).equals(target.crs):
        return gdf.set_crs(target.crs, allow_override=True)
    return gdf.to_crs(target.crs)
