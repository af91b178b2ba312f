"""Derivations: values a source lacks, filled by the data dictionary's rules and flagged.

Every function takes a layer and returns a new one; a value it fills gets ``derived`` in the
field's ``*_source`` column, a value it keeps keeps its source.

Examples
--------
>>> import geopandas as gpd, shapely
>>> b = gpd.GeoDataFrame({"id": ["b1"], "use": ["residential"], "levels": [5.0],
...                       "height": [None]}, geometry=[shapely.box(0, 0, 20, 10)], crs=3067)
>>> out = derive_buildings(b, source="osm")
>>> out[["height_m", "floors", "floor_area_m2", "residents"]].to_dict("records")
[{'height_m': 16.0, 'floors': 5, 'floor_area_m2': 1000.0, 'residents': 25}]
>>> out.loc[0, "height_m_source"]
'derived'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

from twin._errors import LayerError
from twin._resources import data_dir
from twin.layers.schemas import layer_spec

__all__ = [
    "assign_zones",
    "density_table",
    "derive_buildings",
    "derive_roads",
    "jobs_residents",
    "parse_number",
    "zone_totals",
]


@lru_cache(maxsize=2)
def density_table() -> dict[str, Any]:
    """The densities and per-use factors of ``agents/density.yaml``.

    Examples
    --------
    >>> density_table()["by_use"]["residential"]["floor_area_per_resident_m2"]
    40
    """
    path = data_dir("agents") / "density.yaml"
    try:
        return dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as err:
        msg = f"{path}: cannot read the density table ({err})"
        raise LayerError(msg) from err


def parse_number(values: pd.Series) -> pd.Series:
    """Parse OSM numeric tags such as ``"12.13 m"``, ``"4"``, ``"3;4"`` or ``"50 mph"``.

    Returns floats (km/h for speeds given in mph); unparseable values become NaN.

    Examples
    --------
    >>> parse_number(pd.Series(["12.13 m", "4", "3;4", "30 mph", "none", None])).round(2).tolist()
    [12.13, 4.0, 3.0, 48.28, nan, nan]
    """
    text = values.astype("string").str.strip().str.lower()
    digits = text.str.extract(r"^(-?\d+(?:[.,]\d+)?)", expand=False).str.replace(",", ".")
    num = pd.to_numeric(digits.astype(object), errors="coerce").astype("float64")
    mph = text.str.contains("mph", na=False)
    num = num.where(~mph, num * 1.609344)
    return num.astype("float64")


def _fill(frame: pd.DataFrame, col: str, values: pd.Series, derived: pd.Series,
          source: str) -> None:
    """Set ``col`` and ``col_source`` ('derived' where ``derived`` is True, else ``source``)."""
    frame[col] = values
    src_col = f"{col}_source"
    flags = np.asarray(derived, dtype=bool)
    if src_col not in frame or frame[src_col].isna().all():
        # the common case: one label or two, no per-row objects to compare
        frame[src_col] = pd.Series(np.where(flags, "derived", source), index=frame.index,
                                   dtype=object)
        return
    existing = frame[src_col]
    keep = existing.where(existing.notna(), source)
    frame[src_col] = keep.where(~flags, "derived").astype(object)


def derive_roads(roads: gpd.GeoDataFrame, *, source: str = "osm") -> gpd.GeoDataFrame:
    """Fill lanes, speed, capacity and length from the road class where missing.

    ``lanes`` is per direction. Input may carry OSM-style ``lanes`` (both directions on two-way
    roads, already converted by the caller) and ``speed_kph``; missing values are derived.

    Examples
    --------
    >>> import shapely
    >>> r = gpd.GeoDataFrame({"id": ["r1"], "highway": ["primary"], "oneway": [False],
    ...                       "lanes": [np.nan], "speed_kph": [np.nan]},
    ...                      geometry=[shapely.LineString([(0, 0), (100, 0)])], crs=3067)
    >>> d = derive_roads(r)
    >>> d[["lanes", "speed_kph", "capacity_vph", "length_m"]].to_dict("records")
    [{'lanes': 2, 'speed_kph': 50.0, 'capacity_vph': 1800.0, 'length_m': 100.0}]
    """
    table = layer_spec("roads").derive["by_class"]
    out = roads.copy()
    cls = out["highway"].where(out["highway"].isin(list(table)), "road")
    out["highway"] = cls
    defaults = pd.DataFrame.from_dict(table, orient="index")
    d = defaults.loc[cls.to_numpy()].set_index(out.index)
    for col in ("lanes", "speed_kph", "capacity_vph", "length_m"):
        if col not in out:
            out[col] = np.nan
    lanes = pd.to_numeric(out["lanes"], errors="coerce")
    lanes_missing = lanes.isna() | (lanes < 1)
    lanes = lanes.where(~lanes_missing, d["lanes"]).round().clip(lower=1).astype("int64")
    _fill(out, "lanes", lanes, lanes_missing, source)
    speed = pd.to_numeric(out["speed_kph"], errors="coerce")
    speed_missing = speed.isna() | (speed <= 0)
    _fill(out, "speed_kph", speed.where(~speed_missing, d["speed_kph"]).astype(float),
          speed_missing, source)
    cap = pd.to_numeric(out["capacity_vph"], errors="coerce")
    cap_missing = cap.isna() | (cap <= 0)
    derived_cap = lanes * d["capacity_per_lane_vph"]
    _fill(out, "capacity_vph", cap.where(~cap_missing, derived_cap).astype(float), cap_missing,
          "derived" if source == "osm" else source)
    length = pd.to_numeric(out["length_m"], errors="coerce")
    length_missing = length.isna() | (length <= 0)
    geo_len = out.geometry.length.clip(lower=0.1)
    _fill(out, "length_m", length.where(~length_missing, geo_len).astype(float), length_missing,
          source)
    return out


def jobs_residents(use: pd.Series, floor_area: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Residents and jobs from floor area by use (``agents/density.yaml``), rounded.

    Examples
    --------
    >>> r, j = jobs_residents(pd.Series(["residential", "office", "mixed"]),
    ...                       pd.Series([400.0, 500.0, 900.0]))
    >>> r.tolist(), j.tolist()
    ([10, 0, 10], [0, 20, 13])
    """
    by_use = density_table()["by_use"]
    per_res = use.map({k: v.get("floor_area_per_resident_m2", 0) for k, v in by_use.items()})
    per_job = use.map({k: v.get("floor_area_per_job_m2", 0) for k, v in by_use.items()})
    share = use.map({k: v.get("residential_share", 1.0 if v.get(
        "floor_area_per_resident_m2", 0) else 0.0) for k, v in by_use.items()}).fillna(0.0)
    per_res = per_res.fillna(0).astype(float)
    per_job = per_job.fillna(0).astype(float)
    res_area = floor_area * share
    job_area = floor_area * np.where(share < 1.0, 1.0 - share, 0.0)
    job_area = job_area.where(per_res > 0, floor_area)
    residents = np.where(per_res > 0, res_area / per_res.replace(0, np.inf), 0.0)
    jobs = np.where(per_job > 0, job_area / per_job.replace(0, np.inf), 0.0)
    return (pd.Series(np.floor(residents + 0.5).astype("int64"), index=use.index),
            pd.Series(np.floor(jobs + 0.5).astype("int64"), index=use.index))


def derive_buildings(buildings: gpd.GeoDataFrame, *, source: str = "osm") -> gpd.GeoDataFrame:
    """Fill use, height, floors, footprint, floor area, residents and jobs where missing.

    Height comes from ``height`` if given, else ``levels`` x the floor height (3.2 m), else the
    default floors for the use. Floors come from ``levels``, else height / floor height.

    Input columns used when present: ``use``, ``height`` (parsed m), ``levels`` (parsed),
    ``height_m``, ``floors``, ``residents``, ``jobs``.

    Examples
    --------
    >>> import shapely
    >>> b = gpd.GeoDataFrame({"id": ["a", "b"], "use": ["office", None],
    ...                       "height": [20.0, None], "levels": [None, None]},
    ...                      geometry=[shapely.box(0, 0, 10, 10)] * 2, crs=3067)
    >>> d = derive_buildings(b)
    >>> d[["use", "height_m", "floors", "jobs"]].values.tolist()
    [['office', 20.0, 6, 24], ['other', 6.4, 2, 0]]
    """
    rules = layer_spec("buildings").derive
    fh = float(rules["floor_height_m"])
    out = buildings.copy()
    use = out["use"] if "use" in out else pd.Series(None, index=out.index, dtype=object)
    use_missing = use.isna()
    _fill(out, "use", use.fillna("other").astype(object), use_missing, source)
    nothing = pd.Series(np.nan, index=out.index)
    height = pd.to_numeric(out.get("height", out.get("height_m", nothing)), errors="coerce")
    levels = pd.to_numeric(out.get("levels", out.get("floors", nothing)), errors="coerce")
    height = height.where(height >= 1)
    levels = levels.where(levels >= 1)
    default_floors = out["use"].map(rules["default_floors"]).fillna(2).astype(float)
    footprint = out.geometry.area.astype(float)
    small = footprint < float(rules["min_footprint_m2"])
    default_floors = default_floors.where(~small, 1.0)
    height_missing = height.isna()
    h = height.fillna(levels * fh).fillna(default_floors * fh)
    floors_missing = levels.isna()
    floors = levels.fillna(np.maximum(np.floor(h / fh + 0.5), 1)).round().clip(lower=1)
    _fill(out, "height_m", h.round(2), height_missing, source)
    _fill(out, "floors", floors.astype("int64"), floors_missing, source)
    _fill(out, "footprint_m2", footprint.round(1), pd.Series(True, index=out.index), source)
    area = footprint * out["floors"]
    _fill(out, "floor_area_m2", area.round(1), pd.Series(True, index=out.index), source)
    res, jobs = jobs_residents(out["use"], out["floor_area_m2"])
    res = res.where(~small, 0)
    for col, val in (("residents", res), ("jobs", jobs)):
        given = pd.to_numeric(out[col], errors="coerce") if col in out else pd.Series(
            np.nan, index=out.index)
        missing = given.isna()
        _fill(out, col, given.fillna(val).round().astype("int64"), missing, source)
    return out.drop(columns=[c for c in ("height", "levels") if c in out.columns])


def assign_zones(buildings: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.Series:
    """The id of the zone containing each building's representative point (None if outside).

    Examples
    --------
    >>> import shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 2, 2), shapely.box(9, 9, 9.5, 9.5)],
    ...                      crs=3067)
    >>> z = gpd.GeoDataFrame({"id": ["z1"]}, geometry=[shapely.box(0, 0, 5, 5)], crs=3067)
    >>> assign_zones(b, z).tolist()
    ['z1', None]
    """
    pts = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point(),
                           crs=buildings.crs)
    if len(zones) == 0 or len(pts) == 0:
        return pd.Series([None] * len(buildings), index=buildings.index, dtype=object)
    joined = gpd.sjoin(pts, zones[["id", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    zid = joined["id"].reindex(buildings.index)
    return zid.astype(object).where(zid.notna(), None)


def zone_totals(zones: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *,
                source: str = "derived") -> gpd.GeoDataFrame:
    """Set each zone's population, jobs and area from its buildings and geometry.

    Examples
    --------
    >>> import shapely
    >>> z = gpd.GeoDataFrame({"id": ["z1"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=3067)
    >>> b = pd.DataFrame({"zone_id": ["z1", "z1"], "residents": [3, 4], "jobs": [1, 0]})
    >>> zone_totals(z, b)[["population", "jobs", "area_m2"]].to_dict("records")
    [{'population': 7, 'jobs': 1, 'area_m2': 10000.0}]
    """
    out = zones.copy()
    sums = buildings.groupby("zone_id")[["residents", "jobs"]].sum()
    ones = pd.Series(True, index=out.index)
    _fill(out, "population", out["id"].map(sums["residents"]).fillna(0).astype("int64"),
          ones, source)
    _fill(out, "jobs", out["id"].map(sums["jobs"]).fillna(0).astype("int64"), ones, source)
    _fill(out, "area_m2", out.geometry.area.round(1), ones, source)
    return out
