"""A generated city of a given size, for scale tests and for laying out new zones.

The city is a street lattice of 50 m blocks. Every sixth line is an arterial (primary and
secondary alternate, 2 lanes per direction), the line midway between two arterials a tertiary
collector, the rest residential streets, so arterials bound 300 m superblocks, one zone each.
Blocks hold small buildings whose size is scaled so the residents (from floor area, as
:func:`twin.layers.derive.derive_buildings` derives them) match the request: housing dominates,
mixed use lines the arterials, offices and shops fill a centre, industry a corner once the city
is large enough, and schools, clinics, a hospital, service centres, fire and police stations
stand on blocks of their own. A column of superblocks on the east edge is left undeveloped
(a ``new_zone``; arterials only), the central zones form the ``old_district``. Bus lines run
along arterials with stops every 300 m; cameras watch signalised intersections and counters
count arterial links; power and water networks are laid along the streets
(:func:`twin.layers.utility_layout.lay_utilities`).

The size follows the request: about one block per 10 residents, so ~20,000 road links and
~20,000 buildings for 100,000 residents. Everything is drawn from ``seed``.

Examples
--------
>>> t = synthetic_twin(1000, seed=1)
>>> int(t.layers["buildings"]["residents"].sum())
1000
>>> sorted(t.layers["zones"]["kind"].unique())
['new_zone', 'old_district', 'other']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from twin._errors import LayerError
from twin.layers.derive import (
    assign_zones,
    derive_buildings,
    derive_roads,
    jobs_residents,
    zone_totals,
)
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin, new_meta
from twin.layers.utility_layout import lay_utilities, typed_layer

__all__ = ["MAX_RESIDENTS", "synthetic_twin"]

#: The largest city the generator makes.
MAX_RESIDENTS = 5_000_000
Progress = Callable[[str], None]

_B = 50.0            # block size (m)
_K = 6               # blocks per superblock side
_RES_PER_BLOCK = 10.0
_JOBS_PER_RESIDENT = 0.6
_FP_MIN = 30.0       # smallest footprint (m2)
_GAP = 3.0           # between two buildings of a block (m)
# line classes
_PRIMARY, _SECONDARY, _TERTIARY, _RESIDENTIAL = 0, 1, 2, 3
_HIGHWAY = np.array(["primary", "secondary", "tertiary", "residential"], dtype=object)
_SETBACK = np.array([10.0, 10.0, 6.0, 5.0])
# block types
_RES, _MIXED, _CBD, _INDUSTRY, _PARK, _FACILITY = range(6)
# facility kind -> (building use, width share, depth share, floors)
_FACILITY_BUILDING = {
    "school": ("education", 0.85, 0.55, 3), "clinic": ("health", 0.5, 0.5, 3),
    "hospital": ("health", 0.9, 0.8, 6), "service_centre": ("public", 0.55, 0.45, 3),
    "fire_station": ("public", 0.6, 0.5, 2), "police": ("public", 0.55, 0.45, 3),
}
_ZONE_LAND_USE = {
    "residential": "residential", "mixed": "mixed", "commercial": "commercial",
    "office": "commercial", "retail": "commercial", "hotel": "commercial",
    "industrial": "industrial", "utility": "industrial", "education": "public",
    "health": "public", "public": "public", "religious": "public", "parking": "transport",
    "other": "other",
}


@dataclass(frozen=True)
class _Plan:
    residents: int
    sx: int               # developed superblock columns (a new-zone column is added east)
    sy: int
    x0: float             # south-west corner (m)
    y0: float
    centre: tuple[float, float]

    @property
    def nx(self) -> int:
        return (self.sx + 1) * _K

    @property
    def ny(self) -> int:
        return self.sy * _K

    @property
    def dev_nx(self) -> int:
        return self.sx * _K


def _line_class(i: np.ndarray) -> np.ndarray:
    return np.where(i % (2 * _K) == 0, _PRIMARY, np.where(
        i % _K == 0, _SECONDARY, np.where(i % _K == _K // 2, _TERTIARY, _RESIDENTIAL)))


def _plan(residents: int, origin_xy: tuple[float, float]) -> _Plan:
    supers = residents / _RES_PER_BLOCK / _K**2
    sx = max(2, round(np.sqrt(supers)))
    sy = max(2, round(supers / sx))
    ox, oy = origin_xy
    return _Plan(residents, sx, sy, ox - sx * _K * _B / 2, oy - sy * _K * _B / 2, (ox, oy))


# --- streets ------------------------------------------------------------------------------------

def _streets(plan: _Plan, rng: np.random.Generator, crs: CRS
             ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    nxp = plan.nx + 1
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(nxp), np.arange(plan.ny + 1)))
    vcls, hcls = _line_class(ix), _line_class(iy)
    node = iy * nxp + ix
    horiz = ix < plan.nx
    vert = iy < plan.ny
    a = np.concatenate([node[horiz], node[vert]])
    b = np.concatenate([node[horiz] + 1, node[vert] + nxp])
    cls = np.concatenate([hcls[horiz], vcls[vert]])
    col = np.concatenate([ix[horiz], ix[vert]])
    is_h = np.concatenate([np.ones(horiz.sum(), bool), np.zeros(vert.sum(), bool)])
    undeveloped = np.where(is_h, col >= plan.dev_nx, col > plan.dev_nx) & (cls >= _TERTIARY)
    a, b, cls, is_h = a[~undeveloped], b[~undeveloped], cls[~undeveloped], is_h[~undeveloped]
    xy = np.column_stack([plan.x0 + ix * _B, plan.y0 + iy * _B])
    line_no = np.where(is_h, iy[a], ix[a]) // _K + 1
    name = np.where(is_h, "Road ", "Avenue ").astype(object) + line_no.astype(str)
    roads = gpd.GeoDataFrame({
        "id": np.char.add("r", np.arange(1, len(a) + 1).astype(str)).astype(object),
        "u": np.char.add("n", a.astype(str)).astype(object),
        "v": np.char.add("n", b.astype(str)).astype(object),
        "highway": _HIGHWAY[cls],
        "name": np.where(cls <= _SECONDARY, name, None),
        "lanes": np.where(cls <= _SECONDARY, 2, 1),
        "lanes_source": "synthetic",
        "speed_kph": np.nan,
        "oneway": False,
        "length_m": np.nan,
        "source": "synthetic",
    }, geometry=shapely.linestrings(np.stack([xy[a], xy[b]], axis=1)), crs=crs)
    roads = derive_roads(roads, source="synthetic")
    used = np.unique(np.concatenate([a, b]))
    degree = np.bincount(np.concatenate([a, b]), minlength=len(node))[used]
    vc, hc, u = vcls[used], hcls[used], rng.random(len(used))
    arterial = (vc <= _SECONDARY) & (hc <= _SECONDARY)
    primary = (vc == _PRIMARY) | (hc == _PRIMARY)
    collector = ((vc == _TERTIARY) & (hc <= _SECONDARY)) | ((hc == _TERTIARY) & (vc <= _SECONDARY))
    signal = (degree >= 3) & ((arterial & (primary | (u < 0.6))) | (collector & (u < 0.3)))
    ux, uy = ix[used], iy[used]
    gateway = ((((ux == 0) | (ux == plan.nx)) & (hc == _PRIMARY))
               | (((uy == 0) | (uy == plan.ny)) & (vc == _PRIMARY)))
    road_nodes = gpd.GeoDataFrame({
        "id": np.char.add("n", used.astype(str)).astype(object),
        "control": np.where(signal, "signal", "none").astype(object),
        "control_source": "synthetic",
        "gateway": gateway,
        "source": "synthetic",
    }, geometry=shapely.points(xy[used]), crs=crs)
    return roads, road_nodes


# --- blocks and buildings -----------------------------------------------------------------------

@dataclass
class _Blocks:
    rect: np.ndarray      # (n, 4) inner rectangle xmin, ymin, xmax, ymax
    kind: np.ndarray      # block type
    old: np.ndarray       # in the old district
    facility: np.ndarray  # facility kind or ""


def _zones_plan(plan: _Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zone columns, rows and kind (old_district / new_zone / other) per superblock."""
    zx, zy = (a.ravel() for a in np.meshgrid(np.arange(plan.sx + 1), np.arange(plan.sy)))
    cx = plan.x0 + (zx + 0.5) * _K * _B
    cy = plan.y0 + (zy + 0.5) * _K * _B
    dist = np.hypot(cx - plan.centre[0], cy - plan.centre[1])
    dist = np.where(zx < plan.sx, dist, np.inf)
    radius = min(plan.sx, plan.sy) * _K * _B / 2
    old = dist <= 0.3 * radius
    old[np.argmin(dist)] = True
    kind = np.where(zx == plan.sx, "new_zone", np.where(old, "old_district", "other"))
    return zx, zy, kind.astype(object)


def _blocks(plan: _Plan, zone_kind: np.ndarray, rng: np.random.Generator) -> _Blocks:
    bx, by = (a.ravel() for a in np.meshgrid(np.arange(plan.dev_nx), np.arange(plan.ny)))
    n = len(bx)
    sb = _SETBACK
    xa, ya = plan.x0 + bx * _B, plan.y0 + by * _B
    rect = np.column_stack([xa + sb[_line_class(bx)], ya + sb[_line_class(by)],
                            xa + _B - sb[_line_class(bx + 1)], ya + _B - sb[_line_class(by + 1)]])
    cx, cy = xa + _B / 2, ya + _B / 2
    dist = np.hypot(cx - plan.centre[0], cy - plan.centre[1])
    radius = min(plan.dev_nx, plan.ny) * _B / 2
    zone = (by // _K) * (plan.sx + 1) + bx // _K
    kind = np.full(n, _RES)
    facing = ((_line_class(bx) <= _SECONDARY) | (_line_class(bx + 1) <= _SECONDARY)
              | (_line_class(by) <= _SECONDARY) | (_line_class(by + 1) <= _SECONDARY))
    kind[facing & (rng.random(n) < 0.3)] = _MIXED
    kind[rng.random(n) < 0.04] = _PARK
    if n >= 400:
        corner = ((cx - plan.x0 < 0.22 * plan.dev_nx * _B)
                  & (cy - plan.y0 < 0.22 * plan.ny * _B))
        kind[corner] = _INDUSTRY
    kind[dist <= max(0.12 * radius, 0.75 * _B)] = _CBD
    facility = np.full(n, "", dtype=object)
    counts = {
        "hospital": 1 + plan.residents // 200_000,
        "school": max(1, round(plan.residents * 0.12 / 600)),
        "clinic": max(1, round(plan.residents / 10_000)),
        "service_centre": max(1, round(plan.residents / 25_000)),
        "fire_station": max(1, round(plan.residents / 60_000)),
        "police": max(1, round(plan.residents / 60_000)),
    }
    free = np.flatnonzero((kind == _RES) | (kind == _MIXED))
    near = free[np.argsort(dist[free], kind="stable")][: counts["hospital"]]
    rest = np.setdiff1d(free, near)
    total = sum(counts.values()) - counts["hospital"]
    picks = rng.choice(rest, size=min(total, len(rest)), replace=False)
    labels = np.repeat([k for k in counts if k != "hospital"],
                       [counts[k] for k in counts if k != "hospital"])[: len(picks)]
    facility[near] = "hospital"
    facility[picks] = labels
    kind[facility != ""] = _FACILITY
    old = zone_kind[zone] == "old_district"
    return _Blocks(rect, kind, old, facility)


def _rates(use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residents and jobs per m2 of floor area, by use (agents/density.yaml)."""
    res, jobs = jobs_residents(pd.Series(use), pd.Series(np.full(len(use), 1e6)))
    return res.to_numpy(float) / 1e6, jobs.to_numpy(float) / 1e6


def _rescale(w: np.ndarray, h: np.ndarray, floors: np.ndarray, factor: float,
             wmax: np.ndarray, hmax: np.ndarray, max_floors: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale floor areas by ``factor``: floors and footprint each take part of it."""
    area = w * h * floors * factor
    fp_max = w * h * np.minimum(wmax / w, hmax / h) ** 2
    fl = np.clip(np.round(floors * np.sqrt(factor)), 1, max_floors)
    fp = np.clip(area / fl, _FP_MIN, fp_max)
    fl = np.clip(np.round(area / fp), 1, max_floors)
    fp = np.clip(area / fl, _FP_MIN, fp_max)
    if (fp * fl).sum() > 0:
        fp = np.clip(fp * area.sum() / (fp * fl).sum(), _FP_MIN, fp_max)
    s = np.sqrt(fp / (w * h))
    return w * s, h * s, fl


def _draw_buildings(blocks: _Blocks, rng: np.random.Generator) -> pd.DataFrame:
    """Nominal buildings: one per occupied quarter of a block, or one per special block."""
    n = len(blocks.kind)
    slot = np.tile(np.arange(4), n)
    blk = np.repeat(np.arange(n), 4)
    kind, old = blocks.kind[blk], blocks.old[blk]
    r = blocks.rect[blk]
    single = np.isin(kind, [_INDUSTRY, _FACILITY])
    p = np.select([kind == _RES, kind == _MIXED, kind == _CBD, single],
                  [np.where(old, 0.8, 0.5), 0.65, 0.55, (slot == 0).astype(float)], 0.0)
    draws = rng.random((len(slot), 6))
    keep = draws[:, 0] < p
    blk, slot, kind, old, r, single, draws = (a[keep] for a in (blk, slot, kind, old, r,
                                                                 single, draws))
    midx, midy = (r[:, 0] + r[:, 2]) / 2, (r[:, 1] + r[:, 3]) / 2
    qx, qy = slot % 2, slot // 2
    sx0 = np.where(single, r[:, 0], np.where(qx == 0, r[:, 0], midx + _GAP / 2))
    sx1 = np.where(single, r[:, 2], np.where(qx == 0, midx - _GAP / 2, r[:, 2]))
    sy0 = np.where(single, r[:, 1], np.where(qy == 0, r[:, 1], midy + _GAP / 2))
    sy1 = np.where(single, r[:, 3], np.where(qy == 0, midy - _GAP / 2, r[:, 3]))
    lo = np.select([kind == _RES, kind == _MIXED, kind == _CBD, kind == _INDUSTRY],
                   [np.where(old, 0.55, 0.45), 0.6, 0.65, 0.6], 0.5)
    hi = np.select([kind == _RES, kind == _MIXED, kind == _CBD, kind == _INDUSTRY],
                   [np.where(old, 0.9, 0.8), 0.95, 0.95, 0.9], 0.5)
    fw = lo + (hi - lo) * draws[:, 1]
    fh = lo + (hi - lo) * draws[:, 2]
    fl_lo = np.select([kind == _RES, kind == _MIXED, kind == _CBD, kind == _INDUSTRY],
                      [2, 3, 6, 1], 3)
    fl_hi = np.select([kind == _RES, kind == _MIXED, kind == _CBD, kind == _INDUSTRY],
                      [np.where(old, 4, 5), 7, 20, 2], 3)
    floors = np.floor(fl_lo + (fl_hi - fl_lo + 1) * draws[:, 3]).astype(float)
    use = np.full(len(blk), "residential", dtype=object)
    u = draws[:, 4]
    use[kind == _MIXED] = np.where(u < 0.7, "mixed", np.where(u < 0.9, "retail",
                                                              "commercial"))[kind == _MIXED]
    use[kind == _CBD] = np.select([u < 0.55, u < 0.7, u < 0.85, u < 0.95],
                                  ["office", "retail", "commercial", "hotel"],
                                  "mixed")[kind == _CBD]
    use[kind == _INDUSTRY] = "industrial"
    fac = blocks.facility[blk]
    for name, (fuse, sw, sd, ffl) in _FACILITY_BUILDING.items():
        m = fac == name
        use[m], fw[m], fh[m], floors[m] = fuse, sw, sd, ffl
    return pd.DataFrame({
        "block": blk, "kind": kind, "use": use, "facility": fac, "floors": floors,
        "w": fw * (sx1 - sx0), "h": fh * (sy1 - sy0), "sx0": sx0, "sx1": sx1, "sy0": sy0,
        "sy1": sy1, "jitter_x": draws[:, 5], "jitter_y": rng.random(len(blk)),
        "max_floors": np.where(kind == _CBD, 40.0, np.where(old, 6.0, 12.0)),
    })


def _thin(b: pd.DataFrame, group: np.ndarray, factor: float, rng: np.random.Generator
          ) -> pd.DataFrame | None:
    """Drop buildings of ``group`` so the rest shrink by ~0.5 rather than by ``factor``.

    Returns None when nothing needs dropping (the factor is not small, or one is left).
    """
    idx = np.flatnonzero(group)
    keep_n = max(1, round(len(idx) * factor / 0.5))
    if factor >= 0.3 or keep_n >= len(idx):
        return None
    drop = rng.choice(idx, size=len(idx) - keep_n, replace=False)
    return b.drop(index=b.index[drop]).reset_index(drop=True)


def _fit_residents(b: pd.DataFrame, residents: int, rng: np.random.Generator) -> pd.DataFrame:
    """Scale the buildings so residents match the request and jobs come to ~0.6 per resident.

    Houses and workplaces scale separately; facility buildings shrink in towns under 20,000
    residents. Where the scale would be very small (a tiny city), some buildings are dropped.
    """
    res_rate, job_rate = _rates(b["use"].to_numpy())
    facility = (b["facility"] != "").to_numpy()
    housing = (res_rate > 0) & ~facility
    work = ~housing & ~facility & (job_rate > 0)
    w, h, fl = b["w"].to_numpy(), b["h"].to_numpy(), b["floors"].to_numpy()
    wmax, hmax = (b["sx1"] - b["sx0"]).to_numpy(), (b["sy1"] - b["sy0"]).to_numpy()
    mf = b["max_floors"].to_numpy()
    out_w, out_h, out_fl = w.copy(), h.copy(), fl.copy()

    def scale(mask: np.ndarray, factor: float) -> None:
        out_w[mask], out_h[mask], out_fl[mask] = _rescale(
            w[mask], h[mask], fl[mask], factor, wmax[mask], hmax[mask], mf[mask])

    factor = residents / max((w * h * fl * res_rate)[housing].sum(), 1e-9)
    thinned = _thin(b, housing, factor, rng)
    if thinned is not None:
        return _fit_residents(thinned, residents, rng)
    scale(housing, factor)
    scale(facility, min(1.0, residents / 20_000))
    want = _JOBS_PER_RESIDENT * residents
    fixed = (out_w * out_h * out_fl * job_rate)[housing | facility].sum()
    nominal = (w * h * fl * job_rate)[work].sum()
    if nominal > 0:
        g = max(want - fixed, 0.15 * want) / nominal
        thinned = _thin(b, work, g, rng)
        if thinned is not None:
            return _fit_residents(thinned, residents, rng)
        scale(work, g)
    b = b.assign(w=out_w, h=out_h, floors=out_fl)
    return _exact_residents(b, residents, res_rate, rng)


def _exact_residents(b: pd.DataFrame, residents: int, res_rate: np.ndarray,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Move the last few residents by widening or narrowing some houses (one resident each)."""
    area = np.round((b["w"] * b["h"] * b["floors"]).to_numpy(), 1)
    got = np.floor(area * res_rate + 0.5).sum()
    diff = int(residents - got)
    houses = np.flatnonzero((b["use"] == "residential").to_numpy())
    per = 1.0 / res_rate[houses[0]] if len(houses) else 0.0
    if diff == 0 or len(houses) == 0:
        return b
    fl = b["floors"].to_numpy()
    fp = (b["w"] * b["h"]).to_numpy()
    if diff < 0:
        houses = houses[fp[houses] - per / fl[houses] * np.ceil(-diff / len(houses)) > _FP_MIN]
    if len(houses) == 0:
        return b
    order = rng.permutation(houses)
    steps = np.bincount(np.arange(abs(diff)) % len(order), minlength=len(order))
    delta = np.zeros(len(b))
    delta[order] = np.sign(diff) * steps * per / fl[order]
    w = b["w"].to_numpy() + delta / b["h"].to_numpy()
    return b.assign(w=w)


def _buildings(plan: _Plan, blocks: _Blocks, rng: np.random.Generator, crs: CRS
               ) -> gpd.GeoDataFrame:
    b = _fit_residents(_draw_buildings(blocks, rng), plan.residents, rng)
    wmax, hmax = (b["sx1"] - b["sx0"]).to_numpy(), (b["sy1"] - b["sy0"]).to_numpy()
    w, h = b["w"].to_numpy(), b["h"].to_numpy()
    x = b["sx0"].to_numpy() + np.clip(wmax - w, 0, None) * b["jitter_x"].to_numpy()
    y = b["sy0"].to_numpy() + np.clip(hmax - h, 0, None) * b["jitter_y"].to_numpy()
    frame = gpd.GeoDataFrame({
        "id": np.char.add("b", np.arange(1, len(b) + 1).astype(str)).astype(object),
        "use": b["use"].to_numpy(), "levels": b["floors"].to_numpy(), "height": np.nan,
        "source": "synthetic", "facility": b["facility"].to_numpy(),
    }, geometry=shapely.box(x, y, x + w, y + h), crs=crs)
    return derive_buildings(frame, source="synthetic")


# --- zones, facilities, sensors, transit --------------------------------------------------------

def _zones(plan: _Plan, zx: np.ndarray, zy: np.ndarray, kind: np.ndarray,
           buildings: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    x = plan.x0 + zx * _K * _B
    y = plan.y0 + zy * _K * _B
    num = np.arange(1, len(zx) + 1)
    label = np.select([kind == "old_district", kind == "new_zone"], ["Old town", "New zone"],
                      "District").astype(object)
    zones = gpd.GeoDataFrame({
        "id": np.char.add("z", num.astype(str)).astype(object),
        "name": label + " " + num.astype(str),
        "kind": kind, "kind_source": "synthetic", "source": "synthetic",
    }, geometry=shapely.box(x, y, x + _K * _B, y + _K * _B), crs=crs)
    zone_id = assign_zones(buildings, zones)
    by_use = pd.DataFrame({"zone": zone_id.to_numpy(), "use": buildings["use"].to_numpy(),
                           "area": buildings["floor_area_m2"].to_numpy()})
    area = by_use.groupby(["zone", "use"])["area"].sum().reset_index()
    top = area.sort_values(["zone", "area", "use"], ascending=[True, False, True])
    dominant = top.drop_duplicates("zone").set_index("zone")["use"].map(_ZONE_LAND_USE)
    empty = np.where(kind == "new_zone", "brownfield", "green")
    zones["land_use"] = zones["id"].map(dominant).fillna(pd.Series(empty, index=zones.index))
    zones["land_use_source"] = "derived"
    buildings["zone_id"] = zone_id
    return zone_totals(zones, buildings, source="derived")


def _transit(plan: _Plan, crs: CRS) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Bus lines along interior arterials, stops every 300 m; (stops, routes)."""
    per_dir = int(np.clip(round(plan.residents / 40_000) + 1, 1, 4))
    lines = []
    for horizontal, count in ((True, plan.ny), (False, plan.dev_nx)):
        idx = np.arange(1, count)
        idx = idx[_line_class(idx) <= _SECONDARY]
        if len(idx) == 0:
            continue
        chosen = idx[np.unique(np.linspace(0, len(idx) - 1, per_dir + 2)[1:-1].round()
                               .astype(int))]
        lines += [(horizontal, int(i)) for i in chosen]
    stops: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    for k, (horizontal, i) in enumerate(lines, start=1):
        along = np.arange(plan.dev_nx + 1 if horizontal else plan.ny + 1) * _B
        fixed = (plan.y0 if horizontal else plan.x0) + i * _B
        start = plan.x0 if horizontal else plan.y0
        pts = (np.column_stack([start + along, np.full(len(along), fixed)]) if horizontal
               else np.column_stack([np.full(len(along), fixed), start + along]))
        at = np.arange(_K // 2, len(along), _K)
        offset = np.array([0.0, -8.0]) if horizontal else np.array([8.0, 0.0])
        ids = [f"bs{len(stops) + j + 1}" for j in range(len(at))]
        stops += [{"id": s, "kind": "bus_stop", "name": f"Bus {k} stop {j + 1}", "x": p[0],
                   "y": p[1]} for j, (s, p) in enumerate(zip(ids, pts[at] + offset,
                                                             strict=True))]
        routes.append({"id": f"bus{k}", "name": f"Bus {k}", "mode": "bus", "headway_min": 10.0,
                       "speed_kph": 20.0, "speed_kph_source": "synthetic", "start_hour": 6.0,
                       "end_hour": 23.0, "stop_ids": ",".join(ids), "source": "synthetic",
                       "geometry": shapely.LineString(pts)})
    route_frame = gpd.GeoDataFrame(routes, geometry="geometry", crs=crs) if routes else (
        gpd.GeoDataFrame({"id": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs))
    return pd.DataFrame(stops, columns=["id", "kind", "name", "x", "y"]), route_frame


def _facilities(buildings: gpd.GeoDataFrame, stops: pd.DataFrame, crs: CRS
                ) -> gpd.GeoDataFrame:
    derive = layer_spec("facilities").derive
    fb = buildings[buildings["facility"] != ""]
    kinds = fb["facility"].to_numpy()
    number = pd.Series(kinds).groupby(kinds).cumcount().to_numpy() + 1
    names = pd.Series(kinds).str.replace("_", " ").str.capitalize().to_numpy() + " " + (
        number.astype(str))
    pts = shapely.centroid(fb.geometry.to_numpy())
    ids = np.char.add("f", np.arange(1, len(fb) + 1).astype(str)).astype(object)
    kind = np.concatenate([kinds, stops["kind"].to_numpy()]).astype(object)
    frame = pd.DataFrame({
        "id": np.concatenate([ids, stops["id"].to_numpy()]),
        "kind": kind,
        "name": np.concatenate([names, stops["name"].to_numpy()]),
        "capacity": pd.Series(kind).map(derive["capacity_by_kind"]).to_numpy(float),
        "capacity_source": "derived",
        "units": pd.Series(kind).map(derive["units_by_kind"]).astype("Int64").to_numpy(),
        "source": "synthetic",
    })
    geom = np.concatenate([pts, shapely.points(stops[["x", "y"]].to_numpy(float))])
    return typed_layer("facilities", frame, geom, crs)


def _sensors(roads: gpd.GeoDataFrame, road_nodes: gpd.GeoDataFrame, zones: gpd.GeoDataFrame,
             rng: np.random.Generator, crs: CRS) -> gpd.GeoDataFrame:
    ranges = layer_spec("sensors").derive["range_by_kind"]
    signals = np.flatnonzero((road_nodes["control"] == "signal").to_numpy())
    cams = signals[rng.random(len(signals)) < 0.5] if len(signals) else signals
    if len(signals) and not len(cams):
        cams = signals[:1]
    arterial = np.flatnonzero(roads["highway"].isin(["primary", "secondary"]).to_numpy())
    counted = arterial[rng.random(len(arterial)) < 0.06]
    if len(counted) < 2:
        counted = arterial[:2]
    air = np.flatnonzero(rng.random(len(zones)) < 0.25)
    if len(air) == 0:
        air = np.array([0])
    geom = np.concatenate([
        shapely.get_coordinates(road_nodes.geometry.to_numpy()[cams]) + 4.0,
        shapely.get_coordinates(shapely.line_interpolate_point(
            roads.geometry.to_numpy()[counted], 0.5, normalized=True)),
        shapely.get_coordinates(shapely.centroid(zones.geometry.to_numpy()[air])),
    ])
    kind = np.repeat(["camera", "traffic_counter", "air_quality"],
                     [len(cams), len(counted), len(air)]).astype(object)
    road_id = np.concatenate([np.full(len(cams), None, dtype=object),
                              roads["id"].to_numpy()[counted],
                              np.full(len(air), None, dtype=object)])
    frame = pd.DataFrame({
        "id": np.char.add("s", np.arange(1, len(kind) + 1).astype(str)).astype(object),
        "kind": kind, "range_m": pd.Series(kind).map(ranges).to_numpy(float),
        "range_m_source": "derived", "road_id": road_id, "source": "synthetic",
    })
    return typed_layer("sensors", frame, shapely.points(geom), crs)


# --- the public function ------------------------------------------------------------------------

def synthetic_twin(residents: int, *, seed: int = 0, crs: Any = "EPSG:32651",
                   origin: tuple[float, float] = (120.65, 28.0),
                   progress: Progress | None = None) -> Twin:
    """Generate a city of ``residents`` people with every layer of a twin.

    Parameters
    ----------
    residents : int
        Residents to house (1 to 5,000,000); the buildings' residents sum to this within 2%
        (exactly, unless the city is tiny).
    seed : int
        Seed of every random draw: the same seed gives identical layers.
    crs : CRS-like
        Projected metric CRS of the twin (default UTM 51N, Wenzhou's zone).
    origin : (lon, lat)
        Centre of the city in WGS84 degrees (default: Wenzhou, 120.65 E 28.0 N).
    progress : callable, optional
        Called with the name of each step.

    Returns
    -------
    Twin
        Layers zones, roads, road_nodes, buildings, facilities, sensors, transit_routes,
        power_nodes, power_lines, water_nodes and water_pipes; every feature's source is
        ``synthetic``.

    Raises
    ------
    LayerError
        ``residents`` is out of range, or ``crs`` is not a projected CRS.

    Examples
    --------
    >>> t = synthetic_twin(1000, seed=3)
    >>> len(t.layers["roads"]) > 300, t.meta["name"]
    (True, 'synthetic-1000')
    """
    if not isinstance(residents, int | np.integer) or not 1 <= residents <= MAX_RESIDENTS:
        msg = f"residents must be a whole number from 1 to {MAX_RESIDENTS:,} (got {residents!r})"
        raise LayerError(msg)
    try:
        target = CRS.from_user_input(crs)
    except Exception as err:
        msg = f"crs {crs!r} is not a CRS pyproj knows; use a projected one such as EPSG:32651"
        raise LayerError(msg) from err
    if not target.is_projected:
        msg = f"crs {target.name}: a twin needs a projected metric CRS (e.g. EPSG:32651)"
        raise LayerError(msg)
    step = progress or (lambda _s: None)
    rng = np.random.default_rng(seed)
    lon, lat = origin
    ox, oy = Transformer.from_crs("EPSG:4326", target, always_xy=True).transform(lon, lat)
    if not (np.isfinite(ox) and np.isfinite(oy)):
        msg = f"origin {origin} cannot be placed in {target.name}; give (lon, lat) inside it"
        raise LayerError(msg)
    plan = _plan(int(residents), (float(ox), float(oy)))
    step("streets")
    roads, road_nodes = _streets(plan, rng, target)
    step("buildings")
    zx, zy, zone_kind = _zones_plan(plan)
    blocks = _blocks(plan, zone_kind, rng)
    buildings = _buildings(plan, blocks, rng, target)
    step("zones")
    zones = _zones(plan, zx, zy, zone_kind, buildings, target)
    step("facilities")
    stops, routes = _transit(plan, target)
    facilities = _facilities(buildings, stops, target)
    sensors = _sensors(roads, road_nodes, zones, rng, target)
    step("utilities")
    buildings = buildings.drop(columns="facility")
    utilities, buildings = lay_utilities(roads, road_nodes, buildings, crs=target)
    layers = {"zones": zones, "roads": roads, "road_nodes": road_nodes,
              "buildings": buildings, "facilities": facilities, "sensors": sensors,
              "transit_routes": routes}
    layers = {name: typed_layer(name, frame) for name, frame in layers.items()}
    layers.update(utilities)
    meta = new_meta(f"synthetic-{residents}", target, sources=[
        {"name": "twin synthetic generator", "licence": "generated", "seed": seed}],
        description=f"A generated city of {residents:,} residents (seed {seed})")
    return Twin(layers=layers, meta=meta)
