"""Twin-level validation rules: references between layers, the road graph, utility supply,
buildings against zones. Each rule takes a Twin and returns findings."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twin._errors import Finding
from twin.layers._vbase import (
    EDGE_TOLERANCE_M,
    MIN_STRONG_SHARE,
    ZONE_OVERLAP_SHARE,
    _geoms,
    _ids,
    _listed,
    _usable,
)
from twin.layers.schemas import load_dictionary
from twin.layers.store import Twin


def check_refs(twin: Twin) -> list[Finding]:
    """Fields with ``ref: layer.field`` point to existing features (e.g. roads.u -> road_nodes).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> s = gpd.GeoDataFrame({"id": ["s1"], "road_id": ["r9"]},
    ...                      geometry=[shapely.Point(0, 0)], crs=3067)
    >>> print(check_refs(Twin({"sensors": s}, new_meta("t", 3067)))[0].message[:60])
    road_id 'r9' is not the id of a feature in roads (the twin h
    """
    out: list[Finding] = []
    for name, gdf in twin.layers.items():
        specs = load_dictionary()
        if name not in specs:
            continue
        for f in specs[name].fields.values():
            if not f.ref or f.name not in gdf.columns:
                continue
            target, _, tfield = f.ref.partition(".")
            tgt = twin.layers.get(target)
            has = tgt is not None and tfield in tgt.columns
            known = (tgt[tfield].dropna().astype(str).unique() if has and tgt is not None
                     else np.array([], dtype=object))
            col = gdf[f.name]
            bad = (col.notna() & ~col.astype(str).isin(known)).to_numpy()
            if not bad.any():
                continue
            note = "" if has else f" (the twin has no {target} layer)"
            msgs = col[bad].map(lambda v, t=target, tf=tfield, fn=f.name, nt=note:
                                f"{fn} {v!r} is not the {tf} of a feature in {t}{nt}; "
                                "correct it or clear it" if tf != "id" else
                                f"{fn} {v!r} is not the id of a feature in {t}{nt}; "
                                "correct it or clear it")
            out += _listed("error", "ref", name, f.name, _ids(gdf)[bad], msgs, None,
                           summary=f"pointing to missing {target}")
    return out


def check_transit_stops(twin: Twin) -> list[Finding]:
    """``transit_routes.stop_ids`` name existing facilities.

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> t = gpd.GeoDataFrame({"id": ["t1"], "stop_ids": ["f1, f2"]},
    ...                      geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=3067)
    >>> check_transit_stops(Twin({"transit_routes": t}, new_meta("t", 3067)))[0].message[:35]
    'stop ids f1, f2 are not facilities;'
    """
    routes = twin.layers.get("transit_routes")
    if routes is None or "stop_ids" not in routes.columns or len(routes) == 0:
        return []
    fac = twin.layers.get("facilities")
    known = set() if fac is None or "id" not in fac else set(fac["id"].dropna().astype(str))
    out: list[Finding] = []
    for fid, stops in zip(_ids(routes), routes["stop_ids"], strict=True):
        if not isinstance(stops, str) or not stops.strip():
            continue
        missing = [s.strip() for s in stops.split(",") if s.strip() and s.strip() not in known]
        if missing:
            out.append(Finding("error", "ref", f"stop ids {', '.join(missing)} are not "
                               "facilities; add bus_stop facilities with these ids or correct "
                               "stop_ids", "transit_routes", fid, "stop_ids"))
    return out


def _road_graph(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 pd.Index]:
    """(u codes, v codes, two-way mask, node ids) of the roads with both ends given."""
    ok = (roads["u"].notna() & roads["v"].notna()).to_numpy()
    u = roads["u"].astype(str).to_numpy()[ok]
    v = roads["v"].astype(str).to_numpy()[ok]
    codes, nodes = pd.factorize(np.concatenate([u, v]))
    one = roads["oneway"].to_numpy()[ok] if "oneway" in roads else np.zeros(len(u), bool)
    two_way = ~pd.Series(one).fillna(False).astype(bool).to_numpy()
    return codes[:len(u)], codes[len(u):], two_way, pd.Index(nodes)


def _components(n: int, src: np.ndarray, dst: np.ndarray, connection: str
                ) -> tuple[int, np.ndarray]:
    mat = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
    k, labels = connected_components(mat, directed=True, connection=connection)
    return int(k), labels


def check_road_graph(twin: Twin) -> list[Finding]:
    """Road connectivity (weak and strong) and dead ends.

    The largest strongly connected part holding under 100% of the nodes is a warning, under
    50% an error (most trips could not be routed). Dead ends are a warning; those at the edge
    of the extract are expected (roads are clipped there).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> r = gpd.GeoDataFrame({"id": ["a", "b"], "u": ["1", "2"], "v": ["2", "3"],
    ...                       "oneway": [False, True]},
    ...                      geometry=[shapely.LineString([(0, 0), (100, 0)]),
    ...                                shapely.LineString([(100, 0), (200, 0)])], crs=3067)
    >>> [f.rule for f in check_road_graph(Twin({"roads": r}, new_meta("t", 3067)))]
    ['strong_connectivity', 'dead_end']
    """
    roads = twin.layers.get("roads")
    if roads is None or len(roads) == 0 or not {"u", "v"} <= set(roads.columns):
        return []
    u, v, two, nodes = _road_graph(roads)
    n = len(nodes)
    if n == 0:
        return []
    out: list[Finding] = []
    src = np.concatenate([u, v[two]])
    dst = np.concatenate([v, u[two]])
    kw, weak = _components(n, src, dst, "weak")
    if kw > 1:
        sizes = np.bincount(weak)
        share = sizes.max() / n
        rest = nodes[weak != sizes.argmax()]
        sev = "error" if share < MIN_STRONG_SHARE else "warning"
        out.append(Finding(sev, "connectivity", f"the road network falls into {kw} separate "
                           f"parts; the largest holds {share:.1%} of {n} nodes. Nodes outside "
                           f"it (e.g. {', '.join(rest[:10])}) cannot be reached by car: connect "
                           "them with a road or delete them", "roads"))
    ks, strong = _components(n, src, dst, "strong")
    if ks > 1:
        sizes = np.bincount(strong)
        share = sizes.max() / n
        rest = nodes[strong != sizes.argmax()]
        sev = "error" if share < MIN_STRONG_SHARE else "warning"
        out.append(Finding(sev, "strong_connectivity", f"{share:.1%} of {n} road nodes are "
                           f"mutually reachable; {len(rest)} nodes (e.g. "
                           f"{', '.join(rest[:10])}) can be entered but not left, or left but "
                           "not entered (one-way roads, roads clipped at the edge): check "
                           "oneway and connect them", "roads"))
    out += _dead_ends(roads, u, v, nodes)
    return out


def _endpoints(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geoms = _geoms(roads)
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    first = np.full(len(geoms), None, dtype=object)
    last = np.full(len(geoms), None, dtype=object)
    first[ok] = shapely.get_point(shapely.get_geometry(geoms[ok], 0), 0)
    last[ok] = shapely.get_point(shapely.get_geometry(geoms[ok], -1), -1)
    return first, last


def _dead_ends(roads: gpd.GeoDataFrame, u: np.ndarray, v: np.ndarray, nodes: pd.Index
               ) -> list[Finding]:
    loops = u == v
    a = np.minimum(u[~loops], v[~loops])
    b = np.maximum(u[~loops], v[~loops])
    pairs = np.unique(np.column_stack([a, b]), axis=0) if len(a) else np.empty((0, 2), int)
    degree = np.bincount(pairs.ravel(), minlength=len(nodes))
    dead = np.flatnonzero(degree == 1)
    if len(dead) == 0:
        return []
    ok = (roads["u"].notna() & roads["v"].notna()).to_numpy()
    first, last = _endpoints(roads)
    pos = pd.Series(np.concatenate([first[ok], last[ok]]),
                    index=np.concatenate([u, v]))
    pos = pos[~pos.index.duplicated()]
    pts = pos.reindex(dead).to_numpy()
    known = ~shapely.is_missing(pts)
    all_pts = np.concatenate([first[~shapely.is_missing(first)],
                              last[~shapely.is_missing(last)]])
    at_edge = np.zeros(len(dead), dtype=bool)
    if len(all_pts) and known.any():
        hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(all_pts)))
        at_edge[known] = shapely.distance(pts[known], hull.boundary) <= EDGE_TOLERANCE_M
    inner = nodes[dead[~at_edge]]
    return [Finding("warning", "dead_end", f"{len(dead)} dead-end road nodes: "
                    f"{int(at_edge.sum())} at the edge of the extract (expected: roads are "
                    f"clipped there), {len(inner)} inside (cul-de-sacs or missing links"
                    + (f", e.g. {', '.join(inner[:10])}" if len(inner) else "")
                    + "); connect the ones that should not be dead ends", "roads")]


def _supply(twin: Twin, kind: str) -> list[Finding]:
    nodes_name, links_name = (("power_nodes", "power_lines") if kind == "power"
                              else ("water_nodes", "water_pipes"))
    nodes = twin.layers.get(nodes_name)
    if nodes is None or len(nodes) == 0 or "id" not in nodes.columns:
        return []
    links = twin.layers.get(links_name)
    ids = nodes["id"].astype(str)
    index = pd.Index(ids.unique())
    if kind == "power":
        is_src = nodes["ext_grid"].fillna(False).astype(bool) if "ext_grid" in nodes else (
            pd.Series(False, index=nodes.index))
        what, how = "an external grid (a power node with ext_grid: true)", "power"
    else:
        is_src = nodes["kind"].isin(["reservoir", "tank"]) if "kind" in nodes else (
            pd.Series(False, index=nodes.index))
        what, how = "a reservoir or tank", "water"
    building_node = f"{kind}_node"
    buildings = twin.layers.get("buildings")
    if not is_src.any():
        return [Finding("warning", "supply", f"the {how} network has no source: add {what}",
                        nodes_name)]
    src_codes = index.get_indexer(ids[is_src.to_numpy()])
    a = np.array([], dtype=int)
    b = np.array([], dtype=int)
    if links is not None and len(links) and {"from_node", "to_node"} <= set(links.columns):
        live = links["from_node"].notna() & links["to_node"].notna()
        if "in_service" in links:
            live &= links["in_service"].fillna(True).astype(bool)
        if kind == "power" and "closed" in links:
            live &= links["closed"].fillna(True).astype(bool)
        if kind == "water" and "status" in links:
            live &= links["status"].fillna("open").astype(str) != "closed"
        a = index.get_indexer(links.loc[live, "from_node"].astype(str))
        b = index.get_indexer(links.loc[live, "to_node"].astype(str))
        keep = (a >= 0) & (b >= 0)
        a, b = a[keep], b[keep]
    _, labels = _components(len(index), a, b, "weak")
    supplied = np.isin(labels, labels[src_codes])
    cut = index[~supplied]
    if len(cut) == 0:
        return []
    n_b = 0
    if buildings is not None and building_node in buildings.columns:
        n_b = int(buildings[building_node].astype(str).isin(cut).sum())
    return [Finding("warning", "supply", f"{len(cut)} of {len(index)} {how} nodes are not "
                    f"connected to {what} (e.g. {', '.join(cut[:10])}); {n_b} buildings are "
                    f"supplied from them and would get no {how}: connect them", nodes_name)]


def check_power_supply(twin: Twin) -> list[Finding]:
    """Power nodes not connected to an external grid (warning, with the buildings affected)."""
    return _supply(twin, "power")


def check_water_supply(twin: Twin) -> list[Finding]:
    """Water nodes not connected to a reservoir or tank (warning, with the buildings affected)."""
    return _supply(twin, "water")


def check_buildings_in_zones(twin: Twin) -> list[Finding]:
    """Buildings whose representative point lies in no zone (a warning with count and ids).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> b = gpd.GeoDataFrame({"id": ["in", "out"]}, geometry=[shapely.box(1, 1, 2, 2),
    ...                      shapely.box(50, 50, 60, 60)], crs=3067)
    >>> z = gpd.GeoDataFrame({"id": ["z"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=3067)
    >>> t = Twin({"buildings": b, "zones": z}, new_meta("t", 3067))
    >>> print(check_buildings_in_zones(t)[0].message[:50])
    1 of 2 buildings lie outside every zone (out); the
    """
    b = twin.layers.get("buildings")
    z = twin.layers.get("zones")
    if b is None or z is None or len(b) == 0 or len(z) == 0:
        return []
    bg = _geoms(b)
    zg = _geoms(z)
    ok = _usable(bg)
    zok = _usable(zg)
    if not zok.any():
        return []
    pts = shapely.point_on_surface(bg[ok])
    hit = shapely.STRtree(zg[zok]).query(pts, predicate="within")
    inside = np.zeros(len(pts), dtype=bool)
    inside[hit[0]] = True
    out_ids = _ids(b)[ok][~inside]
    if len(out_ids) == 0:
        return []
    shown = ", ".join(out_ids.iloc[:20])
    more = f" and {len(out_ids) - 20} more" if len(out_ids) > 20 else ""
    return [Finding("warning", "outside_zones", f"{len(out_ids)} of {len(b)} buildings lie "
                    f"outside every zone ({shown}{more}); their people and jobs count in no "
                    "zone: extend a zone or add one", "buildings")]


def check_zone_overlaps(twin: Twin) -> list[Finding]:
    """Zones overlapping by more than 1% of the smaller one (a warning per pair).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> z = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[shapely.box(0, 0, 10, 10),
    ...                      shapely.box(5, 0, 15, 10)], crs=3067)
    >>> check_zone_overlaps(Twin({"zones": z}, new_meta("t", 3067)))[0].message[:40]
    'overlaps zone b by 50 m2 (50.0% of the s'
    """
    z = twin.layers.get("zones")
    if z is None or len(z) < 2:
        return []
    zg = _geoms(z)
    ok = np.flatnonzero(_usable(zg))
    g = zg[ok]
    pairs = shapely.STRtree(g).query(g, predicate="intersects")
    i, j = pairs[0], pairs[1]
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return []
    area = shapely.area(shapely.intersection(g[i], g[j]))
    smaller = np.minimum(shapely.area(g[i]), shapely.area(g[j]))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = area / smaller
    big = share > ZONE_OVERLAP_SHARE
    ids = _ids(z).to_numpy()[ok]
    msgs = pd.Series([f"overlaps zone {ids[b]} by {a:.0f} m2 ({s:.1%} of the smaller zone); "
                      "buildings there count in one of them only: make the zones adjoin"
                      for b, a, s in zip(j[big], area[big], share[big], strict=True)])
    return _listed("warning", "zone_overlap", "zones", None, pd.Series(ids[i[big]]), msgs,
                   None, summary="overlapping another zone")


