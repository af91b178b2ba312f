"""Land-use interventions: densify an old district, develop a new zone.

- ``densify``: more residents and/or jobs in the selected zones (default: the old districts),
  ``+%`` or absolute, spread over their buildings by floor area (residents over buildings that
  house people, jobs over buildings with jobs). With ``add_floors`` the buildings grow floors
  for the added people at the densities of ``agents/density.yaml``.
- ``new_zone``: a polygon (or the zones of kind ``new_zone``) gets a street grid aligned with
  its longest side, joined to the existing network at the nearest road nodes; a building on
  each block, mixed use, with residents and jobs at the target densities (per hectare of the
  polygon); and, where the twin has utility networks, buses, cables, junctions and pipes along
  the new streets joined to the nearest existing ones, each building supplied from its street.

Examples
--------
>>> street_grid(shapely.box(0, 0, 200, 100), 100.0)[0].round(0).tolist()
[[0.0, 0.0], [100.0, 0.0], [200.0, 0.0], [0.0, 100.0], [100.0, 100.0], [200.0, 100.0]]
"""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csgraph

from twin._errors import ScenarioError
from twin.layers.derive import assign_zones, density_table, zone_totals
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.scenarios.horizon import scale_counts
from twin.scenarios.interventions.roads import _frame_like, add_nodes, add_roads, new_ids
from twin.scenarios.registry import Param, highlight, intervention
from twin.scenarios.selectors import select, selector_geometry

__all__ = ["densify", "new_zone", "street_grid"]

_FLOOR_H = float(layer_spec("buildings").derive["floor_height_m"])


def _per_m2(use: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floor area (m2) per resident and per job by use (fallback: residential 40, office 25)."""
    by_use = density_table()["by_use"]
    res = use.map({k: v.get("floor_area_per_resident_m2", 0) for k, v in by_use.items()})
    job = use.map({k: v.get("floor_area_per_job_m2", 0) for k, v in by_use.items()})
    res = res.where(res > 0, by_use["residential"]["floor_area_per_resident_m2"])
    job = job.where(job > 0, by_use["office"]["floor_area_per_job_m2"])
    return res.fillna(40).to_numpy(float), job.fillna(25).to_numpy(float)


def _spread(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole counts summing to ``total`` (>= 0), proportional to ``weights``."""
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    return scale_counts(w / w.sum() * 1e6, total / 1e6)


def _change(current: np.ndarray, eligible: np.ndarray, area: np.ndarray, pct: float | None,
            absolute: float | None, what: str) -> np.ndarray:
    """New counts after adding ``pct`` % or ``absolute`` to the eligible buildings."""
    now = int(current[eligible].sum())
    delta = round(now * pct / 100.0) if pct is not None else int(absolute or 0)
    out = current.copy()
    if delta >= 0:
        out[eligible] += _spread(delta, area[eligible])
    else:
        if now + delta < 0:
            msg = f"densify: cannot remove {-delta} {what}; the selection has {now}"
            raise ScenarioError(msg)
        out[eligible] = scale_counts(current[eligible], (now + delta) / max(now, 1))
    return out


@intervention("densify", family="land_use", params={
    "where": Param("where", layer="zones", default={"zone_kind": ["old_district"]},
                   description="Selector of the zones (default: the old districts)"),
    "residents_pct": Param("float", min=-90, max=500, description="residents added, %"),
    "residents": Param("int", min=-1_000_000, max=1_000_000, description="residents added"),
    "jobs_pct": Param("float", min=-90, max=500, description="jobs added, %"),
    "jobs": Param("int", min=-1_000_000, max=1_000_000, description="jobs added"),
    "add_floors": Param("bool", default=False,
                        description="grow floors for the added residents and jobs"),
})
def densify(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """More residents and jobs in existing buildings of the selected zones.

    Examples
    --------
    >>> # {type: densify, where: {zone_kind: old_district}, residents_pct: 20, add_floors: true}
    """
    if params.get("residents_pct") is not None and params.get("residents") is not None:
        msg = "densify: give `residents_pct` or `residents`, not both"
        raise ScenarioError(msg)
    if params.get("jobs_pct") is not None and params.get("jobs") is not None:
        msg = "densify: give `jobs_pct` or `jobs`, not both"
        raise ScenarioError(msg)
    if all(params.get(k) is None for k in ("residents_pct", "residents", "jobs_pct", "jobs")):
        msg = "densify needs one of `residents_pct`, `residents`, `jobs_pct`, `jobs`"
        raise ScenarioError(msg)
    zones = select(twin, "zones", params.get("where")).tolist()
    b = twin.layer("buildings").copy()
    if "zone_id" not in b or b["zone_id"].isna().all():
        b["zone_id"] = assign_zones(b, twin.layer("zones"))
    inside = b["zone_id"].astype(str).isin(zones).to_numpy()
    if not inside.any():
        msg = f"densify: zones {', '.join(zones)} have no buildings"
        raise ScenarioError(msg)
    area = pd.to_numeric(b["floor_area_m2"], errors="coerce").fillna(0).to_numpy(float)
    res = pd.to_numeric(b["residents"], errors="coerce").fillna(0).to_numpy(np.int64)
    jobs = pd.to_numeric(b["jobs"], errors="coerce").fillna(0).to_numpy(np.int64)
    new_res, new_jobs = res, jobs
    if params.get("residents_pct") is not None or params.get("residents") is not None:
        homes = inside & (res > 0)
        if not homes.any():
            homes = inside & b["use"].isin(["residential", "mixed"]).to_numpy()
        if not homes.any():
            msg = f"densify: zones {', '.join(zones)} have no housing to add residents to"
            raise ScenarioError(msg)
        new_res = _change(res, homes, area, params.get("residents_pct"),
                          params.get("residents"), "residents")
    if params.get("jobs_pct") is not None or params.get("jobs") is not None:
        work = inside & (jobs > 0)
        if not work.any():
            work = inside & (area > 0)
        new_jobs = _change(jobs, work, area, params.get("jobs_pct"), params.get("jobs"), "jobs")
    changed = (new_res != res) | (new_jobs != jobs)
    b["residents"] = new_res
    b["jobs"] = new_jobs
    for col in ("residents", "jobs"):
        if f"{col}_source" in b:
            b.loc[changed, f"{col}_source"] = "user"
    if params.get("add_floors"):
        per_res, per_job = _per_m2(b["use"].astype(object))
        extra = (np.maximum(new_res - res, 0) * per_res + np.maximum(new_jobs - jobs, 0) * per_job)
        fp = pd.to_numeric(b["footprint_m2"], errors="coerce").fillna(0).to_numpy(float)
        fp = np.where(fp > 0, fp, b.geometry.area.to_numpy(float))
        add = np.where(extra > 0, np.ceil(extra / np.maximum(fp, 1.0)), 0).astype(np.int64)
        floors = pd.to_numeric(b["floors"], errors="coerce").fillna(1).to_numpy(np.int64) + add
        b["floors"] = np.clip(floors, 1, 200)
        b["floor_area_m2"] = np.where(add > 0, fp * b["floors"], area)
        h = pd.to_numeric(b["height_m"], errors="coerce").fillna(0).to_numpy(float)
        b["height_m"] = np.clip(h + add * _FLOOR_H, 1, 800)
        for col in ("floors", "floor_area_m2", "height_m"):
            if f"{col}_source" in b:
                b.loc[add > 0, f"{col}_source"] = "user"
    twin.layers["buildings"] = b
    if "zones" in twin.layers and len(twin.layers["zones"]):
        twin.layers["zones"] = zone_totals(twin.layers["zones"], b)
    highlight(twin, "buildings", b.loc[changed, "id"].astype(str).tolist())
    return twin


def street_grid(area: shapely.Geometry, block_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (n, 2) and edges (m, 2) of a street grid in ``area``, aligned with its long side.

    Lattice points inside the area are joined to their neighbours along the two axes when the
    street between them stays inside; only the largest connected piece is kept.
    """
    rect = shapely.oriented_envelope(area)
    ring = np.asarray(rect.exterior.coords) if rect.geom_type == "Polygon" else np.zeros((1, 2))
    sides = np.diff(ring, axis=0)
    if len(sides) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2), np.int64)
    longest = sides[np.argmax(np.hypot(sides[:, 0], sides[:, 1]))]
    angle = math.atan2(longest[1], longest[0])
    c, s = math.cos(angle), math.sin(angle)
    centre = np.asarray(area.centroid.coords[0])

    def to_local(xy: np.ndarray) -> np.ndarray:
        d = xy - centre
        return np.column_stack([d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c])

    def to_world(uv: np.ndarray) -> np.ndarray:
        return np.column_stack([uv[:, 0] * c - uv[:, 1] * s, uv[:, 0] * s + uv[:, 1] * c]) + centre

    local = shapely.transform(area, to_local)
    minx, miny, maxx, maxy = local.bounds
    nx, ny = int((maxx - minx) // block_m), int((maxy - miny) // block_m)
    xs = minx + ((maxx - minx) - nx * block_m) / 2 + np.arange(nx + 1) * block_m
    ys = miny + ((maxy - miny) - ny * block_m) / 2 + np.arange(ny + 1) * block_m
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    inside_area = local.buffer(1.0)
    keep = shapely.contains_xy(inside_area, pts[:, 0], pts[:, 1])
    index = -np.ones(len(pts), np.int64)
    index[keep] = np.arange(keep.sum())
    edges = []
    for i in range(len(ys)):
        for j in range(len(xs)):
            k = i * len(xs) + j
            for nb in ((k + 1) if j + 1 < len(xs) else -1, (k + len(xs)) if i + 1 < len(ys)
                       else -1):
                if nb >= 0 and keep[k] and keep[nb]:
                    seg = shapely.LineString([pts[k], pts[nb]])
                    if inside_area.contains(seg):
                        edges.append((index[k], index[nb]))
    nodes = pts[keep]
    if not edges:
        return to_world(nodes[:0]), np.zeros((0, 2), np.int64)
    e = np.asarray(edges, np.int64)
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(nodes), len(nodes)))
    _, label = csgraph.connected_components(g, directed=False)
    main = np.bincount(label).argmax()
    used = np.flatnonzero(label == main)
    remap = -np.ones(len(nodes), np.int64)
    remap[used] = np.arange(len(used))
    e = e[(label[e[:, 0]] == main)]
    return to_world(nodes[used]), remap[e]


def _blocks(nodes: np.ndarray, edges: np.ndarray, area: shapely.Geometry, block_m: float,
            setback: float) -> list[shapely.Polygon]:
    """One building footprint per grid cell whose four sides are streets."""
    key = {tuple(np.round(p, 3)): i for i, p in enumerate(nodes)}
    edge_set = {tuple(sorted(map(int, x))) for x in edges}
    out = []
    for a, b in edge_set:
        d = nodes[b] - nodes[a]
        perp = np.array([-d[1], d[0]])
        for sign in (1.0, -1.0):
            c = nodes[a] + sign * perp
            dd = nodes[b] + sign * perp
            ic, idd = key.get(tuple(np.round(c, 3))), key.get(tuple(np.round(dd, 3)))
            if ic is None or idd is None:
                continue
            sides = {tuple(sorted((a, ic))), tuple(sorted((b, idd))), tuple(sorted((ic, idd)))}
            if not sides <= edge_set:
                continue
            cell = shapely.Polygon([nodes[a], nodes[b], nodes[idd], nodes[ic]])
            out.append(cell)
    uniq = {tuple(np.round(p.centroid.coords[0], 2)): p for p in out}
    foot = [shapely.buffer(p, -setback, join_style="mitre") for p in uniq.values()]
    return [f for f in foot if not f.is_empty and f.area > 0.1 * block_m**2
            and area.buffer(1.0).contains(f)]


def _connect(nodes: np.ndarray, edges: np.ndarray, twin: Twin, n_conn: int, max_m: float,
             spacing: float) -> list[tuple[int, str]]:
    """(grid node, existing road node id) pairs to join the grid to the network."""
    road_nodes = twin.layer("road_nodes")
    if len(road_nodes) == 0:
        msg = "new_zone: the twin has no road nodes to connect the new streets to"
        raise ScenarioError(msg)
    deg = np.bincount(edges.ravel(), minlength=len(nodes))
    edge_nodes = np.flatnonzero(deg < 4)
    ex = shapely.get_coordinates(road_nodes.geometry.to_numpy())
    d = np.hypot(nodes[edge_nodes, None, 0] - ex[None, :, 0],
                 nodes[edge_nodes, None, 1] - ex[None, :, 1])
    order = np.argsort(d, axis=None, kind="stable")
    chosen: list[tuple[int, str]] = []
    used_ex: set[int] = set()
    for flat in order:
        i, j = divmod(int(flat), d.shape[1])
        if d[i, j] > max_m or len(chosen) >= n_conn:
            break
        g = int(edge_nodes[i])
        if j in used_ex or any(np.hypot(*(nodes[g] - nodes[c])) < 1.5 * spacing
                               for c, _ in chosen):
            continue
        chosen.append((g, str(road_nodes["id"].iloc[j])))
        used_ex.add(j)
    if not chosen:
        msg = (f"new_zone: no existing road node within {max_m:g} m of the new streets; "
               "raise `max_connect_m` or move the polygon")
        raise ScenarioError(msg)
    return chosen


def _nearest(frame: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    pts = shapely.get_coordinates(frame.geometry.to_numpy())
    d = np.hypot(xy[:, None, 0] - pts[None, :, 0], xy[:, None, 1] - pts[None, :, 1])
    return np.argmin(d, axis=1)


def _utilities(twin: Twin, node_xy: np.ndarray, edges: np.ndarray, anchor: int,
               anchor_xy: np.ndarray, b_node: np.ndarray) -> tuple[list[str], list[str]]:
    """Buses / junctions at the new street nodes, a radial cable tree, looped pipes."""
    power_ids: list[str] = []
    water_ids: list[str] = []
    pn, pl = twin.layers.get("power_nodes"), twin.layers.get("power_lines")
    if pn is not None and pl is not None and len(pn) and len(pl):
        buses = pn[pn["kind"].astype(str) == "bus"]
        cables = pl[pl["kind"].astype(str).isin(["cable", "line"])]
        if len(buses) and len(cables):
            tpl = cables.iloc[int(np.argmax(pd.to_numeric(cables["max_i_ka"],
                                                          errors="coerce").fillna(0)))]
            hub = buses.iloc[int(_nearest(buses, anchor_xy[None])[0])]
            power_ids = new_ids(pn["id"], "pbz", len(node_xy))
            rows = pd.DataFrame({"id": power_ids, "kind": "bus", "vn_kv": float(hub["vn_kv"]),
                                 "in_service": True, "source": "user"})
            twin.layers["power_nodes"] = _frame_like(pn, rows, list(shapely.points(node_xy)))
            g = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                           shape=(len(node_xy),) * 2)
            order, pred = csgraph.breadth_first_order(g, anchor, directed=False)
            child = order[1:]
            frm = [str(hub["id"]), *[power_ids[p] for p in pred[child]]]
            to = [power_ids[anchor], *[power_ids[c] for c in child]]
            pts = [np.asarray(shapely.get_coordinates(hub.geometry))[0], *node_xy[pred[child]]]
            lines = [shapely.LineString([a, node_xy[power_ids.index(t)]])
                     for a, t in zip(pts, to, strict=True)]
            feeder = json.loads(str(tpl.get("params") or "{}") or "{}").get("feeder")
            lids = new_ids(pl["id"], "pcz", len(lines))
            rows = pd.DataFrame({
                "id": lids, "from_node": frm, "to_node": to, "kind": "cable",
                "vn_kv": float(hub["vn_kv"]),
                "length_km": [max(ln.length, 1.0) / 1000 for ln in lines],
                "length_km_source": "user", **{c: tpl.get(c) for c in (
                    "std_type", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka")},
                "max_i_ka_source": "user", "in_service": True,
                "params": json.dumps({"feeder": feeder, "cables": 1, "new_zone": True}),
                "source": "user"})
            twin.layers["power_lines"] = _frame_like(pl, rows, lines)
    wn, wp = twin.layers.get("water_nodes"), twin.layers.get("water_pipes")
    if wn is not None and wp is not None and len(wn) and len(wp):
        junc = wn[wn["kind"].astype(str) == "junction"]
        if len(junc):
            near = _nearest(junc, node_xy)
            hub = junc.iloc[int(_nearest(junc, anchor_xy[None])[0])]
            water_ids = new_ids(wn["id"], "wjz", len(node_xy))
            rows = pd.DataFrame({"id": water_ids, "kind": "junction",
                                 "elevation_m": junc["elevation_m"].to_numpy(float)[near],
                                 "elevation_m_source": "user", "source": "user"})
            twin.layers["water_nodes"] = _frame_like(wn, rows, list(shapely.points(node_xy)))
            hub_xy = np.asarray(shapely.get_coordinates(hub.geometry))[0]
            lines = [shapely.LineString([hub_xy, node_xy[anchor]]),
                     *[shapely.LineString([node_xy[a], node_xy[b]]) for a, b in edges]]
            rough = float(layer_spec("water_pipes").derive["roughness"])
            rows = pd.DataFrame({
                "id": new_ids(wp["id"], "wpz", len(lines)),
                "from_node": [str(hub["id"]), *[water_ids[a] for a, _ in edges]],
                "to_node": [water_ids[anchor], *[water_ids[b] for _, b in edges]],
                "kind": "pipe", "length_m": [max(ln.length, 1.0) for ln in lines],
                "length_m_source": "user", "diameter_mm": [200.0] + [150.0] * len(edges),
                "diameter_mm_source": "user", "roughness": rough, "minor_loss": 0.0,
                "status": "open", "source": "user"})
            twin.layers["water_pipes"] = _frame_like(wp, rows, lines)
    b = twin.layers["buildings"]
    new = b["source"].eq("user") & b["id"].astype(str).str.startswith("bz")
    if power_ids:
        b.loc[new, "power_node"] = [power_ids[i] for i in b_node]
    if water_ids:
        b.loc[new, "water_node"] = [water_ids[i] for i in b_node]
    return power_ids, water_ids


@intervention("new_zone", family="land_use", params={
    "polygon": Param("polygon", description="[[x, y], ...] or WKT of the area (or `where`)"),
    "where": Param("where", layer="zones", description="the zones to develop (default: the "
                   "zones of kind new_zone)"),
    "block_m": Param("float", default=100.0, min=40, max=400, description="street spacing"),
    "residents_per_ha": Param("float", default=150.0, min=0, max=2000,
                              description="residents per hectare of the area"),
    "jobs_per_ha": Param("float", default=100.0, min=0, max=5000,
                         description="jobs per hectare of the area"),
    "max_floors": Param("int", default=12, min=1, max=100, description="tallest building"),
    "connections": Param("int", default=4, min=1, max=20,
                         description="streets joining the grid to the existing network"),
    "max_connect_m": Param("float", default=300.0, min=10, max=5000,
                           description="longest connecting street"),
    "replace_existing": Param("bool", default=False,
                              description="demolish the buildings standing in the area"),
    "utilities": Param("bool", default=True, description="extend power and water networks"),
})
def new_zone(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Develop an area: street grid, buildings, residents, jobs and utility connections.

    Examples
    --------
    >>> # {type: new_zone, where: {zone_kind: new_zone}, residents_per_ha: 200, block_m: 80}
    """
    if params.get("polygon") is not None:
        area = selector_geometry(params["polygon"], twin, "polygon")
    else:
        where = params.get("where") or {"zone_kind": ["new_zone"]}
        zones = twin.layer("zones")
        ids = select(twin, "zones", where)
        chosen = zones[zones["id"].astype(str).isin(ids)]
        if len(chosen) == 0:
            msg = "new_zone: no zone selected; give `polygon` or a `where` selecting zones"
            raise ScenarioError(msg)
        area = shapely.union_all(chosen.geometry.to_numpy())
    area = shapely.make_valid(area)
    block = float(params.get("block_m") or 100.0)
    nodes, edges = street_grid(area, block)
    foot = _blocks(nodes, edges, area, block, setback=max(8.0, 0.15 * block)) if len(
        edges) else []
    if not foot:
        msg = (f"new_zone: the area ({area.area / 1e4:.1f} ha) is too small or narrow for "
               f"blocks between streets {block:g} m apart; lower `block_m`")
        raise ScenarioError(msg)
    b = twin.layer("buildings")
    if params.get("replace_existing") and len(b):
        inside = shapely.within(shapely.point_on_surface(b.geometry.to_numpy()), area)
        twin.extras.setdefault("removed", {}).setdefault("buildings", []).extend(
            b.loc[inside, "id"].astype(str).tolist())
        b = b[~inside].reset_index(drop=True)
    if len(b):
        hit = np.array([shapely.intersects(f, b.geometry.to_numpy()).any() for f in foot])
        foot = [f for f, h in zip(foot, hit, strict=True) if not h]
    if not foot:
        msg = ("new_zone: no block is free to build on (existing buildings stand on every "
               "block); set `replace_existing: true` or lower `block_m`")
        raise ScenarioError(msg)
    conns = _connect(nodes, edges, twin, int(params.get("connections") or 4),
                     float(params.get("max_connect_m") or 300.0), block)
    node_ids = add_nodes(twin, nodes, prefix="nz")
    pos = twin.layer("road_nodes").set_index(twin.layer("road_nodes")["id"].astype(str))
    grid_lines = [shapely.LineString([nodes[a], nodes[c]]) for a, c in edges]
    road_ids = add_roads(twin, grid_lines, [node_ids[a] for a, _ in edges],
                         [node_ids[c] for _, c in edges], highway="residential",
                         prefix="rz")
    conn_lines = [shapely.LineString([nodes[g], pos.geometry[e]]) for g, e in conns]
    road_ids += add_roads(twin, conn_lines, [node_ids[g] for g, _ in conns],
                          [e for _, e in conns], highway="tertiary", prefix="rz")
    ha = area.area / 1e4
    fp = np.array([f.area for f in foot])
    res = _spread(round(float(params.get("residents_per_ha") or 0) * ha), fp)
    jobs = _spread(round(float(params.get("jobs_per_ha") or 0) * ha), fp)
    use = np.where((res > 0) & (jobs > 0), "mixed", np.where(jobs > 0, "office", "residential"))
    per_res, per_job = _per_m2(pd.Series(["residential"] * len(fp)))
    _, per_off = _per_m2(pd.Series(["office"] * len(fp)))
    need = res * per_res + jobs * np.where(use == "office", per_off, per_job)
    floors = np.clip(np.ceil(need / fp), 1, int(params.get("max_floors") or 12)).astype(int)
    bids = new_ids(b["id"] if len(b) else [], "bz", len(foot))
    centres = shapely.get_coordinates(shapely.centroid(np.asarray(foot, dtype=object)))
    rows = pd.DataFrame({
        "id": bids, "use": use, "height_m": floors * _FLOOR_H, "floors": floors,
        "footprint_m2": fp.round(1), "floor_area_m2": (fp * floors).round(1),
        "residents": res, "jobs": jobs, "source": "user",
        **{f"{c}_source": "user" for c in ("use", "height_m", "floors", "footprint_m2",
                                           "floor_area_m2", "residents", "jobs")}})
    nb = _frame_like(b, rows, foot)
    zones = twin.layer("zones")
    if len(zones):
        zid = assign_zones(nb.iloc[len(b):], zones)
        nb.loc[nb.index[len(b):], "zone_id"] = zid.to_numpy()
        twin.layers["zones"] = zone_totals(zones, nb)
    twin.layers["buildings"] = nb
    b_node = _nearest(gpd.GeoDataFrame(geometry=shapely.points(nodes)), centres)
    if params.get("utilities", True):
        anchor = conns[0][0]
        _utilities(twin, nodes, edges, anchor, np.asarray(pos.geometry[conns[0][1]].coords[0]),
                   b_node)
    highlight(twin, "buildings", bids)
    twin.extras.setdefault("new_zone", []).append({
        "area_ha": round(ha, 2), "roads": len(road_ids), "buildings": len(bids),
        "residents": int(res.sum()), "jobs": int(jobs.sum())})
    return twin
