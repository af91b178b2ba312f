"""Camera coverage of the road network, its gaps, and where new cameras cover most.

- :func:`camera_coverage`: the share of road length within ``range_m`` of a camera (or of other
  sensor kinds), the length each camera sees, and the gaps (the road pieces none sees) as a
  layer.
- :func:`place_cameras`: a greedy placement of ``budget`` new cameras that maximises covered
  road length. Roads are cut into short pieces (``spacing_m``), candidate sites are the
  intersections (road nodes) and points along the roads; each step takes the site whose range
  holds the most still-uncovered length (a sparse matrix-vector product over all sites). Greedy
  maximum coverage is within ``1 - 1/e`` of the best placement, and in practice close to it.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import Twin, new_meta
>>> r = gpd.GeoDataFrame({"id": ["r1"]}, geometry=[shapely.LineString([(0, 0), (100, 0)])],
...                      crs=3067)
>>> s = gpd.GeoDataFrame({"id": ["s1"], "kind": ["camera"], "range_m": [25.0]},
...                      geometry=[shapely.Point(0, 0)], crs=3067)
>>> c = camera_coverage(Twin(layers={"roads": r, "sensors": s}, meta=new_meta("t", 3067)))
>>> round(c.share, 3), round(float(c.gaps["length_m"].sum()), 1)
(0.25, 75.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from twin._errors import LayerError
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin

__all__ = ["Coverage", "Placement", "camera_coverage", "default_range", "place_cameras"]


def default_range(kind: str) -> float:
    """The dictionary's default range of a sensor kind (``layers/sensors.yaml``).

    Raises
    ------
    LayerError
        The kind is not in the data dictionary.

    Examples
    --------
    >>> default_range("camera")
    40.0
    """
    spec = layer_spec("sensors")
    allowed = spec.fields["kind"].allowed or ()
    if kind not in allowed:
        msg = (f"sensor kind {kind!r} is not in the data dictionary (layers/sensors.yaml); "
               f"valid kinds: {', '.join(allowed)}")
        raise LayerError(msg)
    return float(spec.derive.get("range_by_kind", {}).get(kind, 40.0))


@dataclass
class Coverage:
    """What the sensors of some kinds see of the road network.

    Attributes
    ----------
    share : float
        Covered road length / total road length.
    road_m, covered_m : float
    per_sensor : DataFrame
        sensor_id, kind, range_m, covered_m (road length within its range, overlaps with
        other sensors included), unique_m (seen by no other sensor).
    gaps : GeoDataFrame
        road_id, length_m and the uncovered pieces of each road (lines).
    """

    share: float
    road_m: float
    covered_m: float
    per_sensor: pd.DataFrame
    gaps: gpd.GeoDataFrame


def _sensors(twin: Twin, kinds: Sequence[str]) -> gpd.GeoDataFrame:
    s = twin.layer("sensors")
    if len(s) == 0:
        return s
    return s[s["kind"].astype(str).isin(list(kinds))]


def _radius(frame: gpd.GeoDataFrame) -> np.ndarray:
    r = pd.to_numeric(frame["range_m"], errors="coerce")
    fill = frame["kind"].astype(str).map(lambda k: default_range(k)
                                         if k in (layer_spec("sensors").fields["kind"].allowed
                                                  or ()) else 40.0)
    return np.maximum(r.fillna(fill).to_numpy(float), 0.01)


def camera_coverage(twin: Twin, kinds: Sequence[str] = ("camera",), *,
                    per_sensor: bool = True) -> Coverage:
    """Share of the road length within range of a sensor of ``kinds``; the gaps as lines.

    ``per_sensor=False`` skips the per-sensor table (its ``unique_m`` takes one geometric
    difference per sensor: seconds on a city with hundreds of cameras).

    Raises
    ------
    LayerError
        A kind the data dictionary does not know.

    Examples
    --------
    >>> # camera_coverage(read_twin("demo.twin.gpkg")).share -> 0.62
    """
    for k in kinds:
        default_range(k)
    roads = twin.layer("roads")
    crs = roads.crs if len(roads) else twin.crs
    empty_gaps = gpd.GeoDataFrame({"road_id": [], "length_m": []},
                                  geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    if len(roads) == 0:
        return Coverage(0.0, 0.0, 0.0, pd.DataFrame(columns=["sensor_id", "kind", "range_m",
                                                             "covered_m", "unique_m"]),
                        empty_gaps)
    geoms = roads.geometry.to_numpy()
    total = float(shapely.length(geoms).sum())
    s = _sensors(twin, kinds)
    radius = _radius(s) if len(s) else np.zeros(0)
    discs = shapely.buffer(s.geometry.to_numpy(), radius) if len(s) else np.zeros(0, object)
    area = shapely.union_all(discs) if len(s) else shapely.Polygon()
    covered = shapely.length(shapely.intersection(geoms, area)).sum() if len(s) else 0.0
    rest = shapely.difference(geoms, area) if len(s) else geoms
    parts, idx = shapely.get_parts(rest, return_index=True)
    lengths = shapely.length(parts)
    keep = lengths > 1e-6
    gaps = gpd.GeoDataFrame({"road_id": roads["id"].astype(str).to_numpy()[idx[keep]],
                             "length_m": lengths[keep]}, geometry=parts[keep], crs=crs)
    per = _per_sensor(s if per_sensor else s.iloc[:0], radius, discs, geoms)
    return Coverage(float(covered / total) if total > 0 else 0.0, total, float(covered), per,
                    gaps.reset_index(drop=True))


def _per_sensor(s: gpd.GeoDataFrame, radius: np.ndarray, discs: np.ndarray,
                geoms: np.ndarray) -> pd.DataFrame:
    cols = ["sensor_id", "kind", "range_m", "covered_m", "unique_m"]
    if len(s) == 0:
        return pd.DataFrame(columns=cols)
    tree = shapely.STRtree(geoms)
    di, ri = tree.query(discs, predicate="intersects")
    seen = np.bincount(di, weights=shapely.length(shapely.intersection(geoms[ri], discs[di])),
                       minlength=len(s))
    unique = np.zeros(len(s))
    dtree = shapely.STRtree(discs)
    for i in range(len(s)):   # one pass per sensor: what only it sees
        others = [j for j in dtree.query(discs[i]) if j != i]
        own = discs[i] if not others else shapely.difference(discs[i],
                                                              shapely.union_all(discs[others]))
        near = tree.query(own, predicate="intersects")
        unique[i] = float(shapely.length(shapely.intersection(geoms[near], own)).sum())
    return pd.DataFrame({"sensor_id": s["id"].astype(str).to_numpy(),
                         "kind": s["kind"].astype(str).to_numpy(), "range_m": radius,
                         "covered_m": seen, "unique_m": unique}, columns=cols)


@dataclass
class Placement:
    """New sensor sites chosen by :func:`place_cameras`.

    Attributes
    ----------
    sites : DataFrame
        rank, x, y, site (road node id or ``road_id@metres``), gain_m (road length newly
        covered), share (coverage after adding it).
    share_before, share_after : float
        Coverage of the road length before and after (on the road pieces).
    kind : str
    range_m : float
    """

    sites: pd.DataFrame
    share_before: float
    share_after: float
    kind: str
    range_m: float


def _pieces(roads: gpd.GeoDataFrame, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints and lengths of the road pieces (each road cut into pieces <= spacing)."""
    geoms = roads.geometry.to_numpy()
    length = shapely.length(geoms)
    n = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    owner = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    frac = (k + 0.5) / n[owner]
    pts = shapely.line_interpolate_point(geoms[owner], frac, normalized=True)
    return shapely.get_coordinates(pts), (length / n)[owner]


def _candidates(twin: Twin, roads: gpd.GeoDataFrame, spacing: float
                ) -> tuple[np.ndarray, np.ndarray]:
    nodes = twin.layer("road_nodes")
    xy, labels = [], []
    if len(nodes):
        xy.append(shapely.get_coordinates(nodes.geometry.to_numpy()))
        labels.append(nodes["id"].astype(str).to_numpy().astype(object))
    geoms = roads.geometry.to_numpy()
    length = shapely.length(geoms)
    n = np.maximum(1, np.floor(length / spacing)).astype(np.int64)
    owner = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    pos = (k + 0.5) * length[owner] / n[owner]
    xy.append(shapely.get_coordinates(shapely.line_interpolate_point(geoms[owner], pos)))
    ids = roads["id"].astype(str).to_numpy()
    labels.append(np.array([f"{ids[o]}@{p:.0f}m" for o, p in zip(owner, pos, strict=True)],
                           dtype=object))
    return np.vstack(xy), np.concatenate(labels)


def place_cameras(twin: Twin, budget: int, *, kind: str = "camera", range_m: float | None = None,
                  spacing_m: float = 10.0, site_spacing_m: float = 50.0,
                  count_kinds: Sequence[str] | None = None) -> Placement:
    """Choose ``budget`` new sensor sites that cover the most road length (greedy).

    Parameters
    ----------
    twin : Twin
    budget : int
        Number of new sensors (>= 1).
    kind : str
        Sensor kind placed (``camera`` by default).
    range_m : float, optional
        Range of the new sensors (default: the dictionary's for ``kind``).
    spacing_m : float
        Length of the road pieces coverage is counted on.
    site_spacing_m : float
        Candidate sites: the road nodes, and points this far apart along every road.
    count_kinds : sequence of str, optional
        Existing sensors that already cover (default: those of ``kind``).

    Raises
    ------
    LayerError
        ``budget`` below 1, an unknown kind, or no roads.

    Examples
    --------
    >>> # place_cameras(read_twin("demo.twin.gpkg"), 10).sites[["x", "y", "gain_m"]]
    """
    if int(budget) < 1:
        msg = f"--budget must be at least 1, got {budget}"
        raise LayerError(msg)
    radius = float(range_m) if range_m is not None else default_range(kind)
    if not radius > 0:
        msg = f"range must be > 0 m, got {radius}"
        raise LayerError(msg)
    roads = twin.layer("roads")
    if len(roads) == 0:
        msg = "the twin has no roads to cover; import a road layer first"
        raise LayerError(msg)
    mid, w = _pieces(roads, spacing_m)
    total = float(w.sum())
    covered = np.zeros(len(mid), bool)
    old = _sensors(twin, list(count_kinds) if count_kinds is not None else [kind])
    tree = cKDTree(mid)
    if len(old):
        for xy, r in zip(shapely.get_coordinates(old.geometry.to_numpy()), _radius(old),
                         strict=True):
            covered[tree.query_ball_point(xy, r)] = True
    before = float(w[covered].sum() / total)
    cand, labels = _candidates(twin, roads, site_spacing_m)
    hits = tree.query_ball_point(cand, radius)
    lens = np.fromiter((len(h) for h in hits), np.int64, len(hits))
    cols = np.fromiter((j for h in hits for j in h), np.int64, int(lens.sum()))
    a = sp.csr_matrix((np.ones(len(cols)), (np.repeat(np.arange(len(cand)), lens), cols)),
                      shape=(len(cand), len(mid)))
    rows = []
    for rank in range(1, int(budget) + 1):
        gain = a @ np.where(covered, 0.0, w)
        best = int(np.argmax(gain))
        if gain[best] <= 1e-9:
            break
        covered[a.indices[a.indptr[best]:a.indptr[best + 1]]] = True
        rows.append({"rank": rank, "x": float(cand[best, 0]), "y": float(cand[best, 1]),
                     "site": str(labels[best]), "gain_m": float(gain[best]),
                     "share": float(w[covered].sum() / total)})
    sites = pd.DataFrame(rows, columns=["rank", "x", "y", "site", "gain_m", "share"])
    return Placement(sites, before, float(w[covered].sum() / total), kind, radius)
