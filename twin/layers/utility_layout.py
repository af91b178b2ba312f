"""Synthetic power and water networks laid along the streets, for cities without utility data.

OpenStreetMap rarely maps distribution networks, so a twin gets a plausible one: one substation
and one reservoir near the load-weighted centre, and a radial network that follows the streets
(a shortest-path tree on the road graph) out to the road node nearest each building. Cables and
pipes are sized to the peak demand they carry downstream, with the headroom of the data
dictionary (``layers/power_lines.yaml`` and ``layers/water_pipes.yaml``, ``derive``):

- power: a 110 kV substation (external grid), a 110/10 kV transformer to the MV busbar and 10 kV
  cables. A cable's ``max_i_ka`` is the smallest size of ``derive.cable.max_i_ka`` carrying the
  peak current x headroom; where even the largest is too small, several cables run in parallel
  in the same street and the branch holds their equivalent parameters (``r`` and ``x`` divided,
  ``c`` and ``max_i_ka`` multiplied by their number); ``params`` records ``{"feeder": "F<k>",
  "cables": n}``, feeders being the tree's branches leaving the substation. Where the voltage
  at the far end would drop under 0.95 p.u. at peak, the trunks get more parallel cables.
- water: a reservoir (head = ground + ``reservoir_head_above_ground_m``; on the highest road
  node instead where the ground rises too much for that head to serve), junctions at the road
  nodes, Hazen-Williams pipes whose diameter keeps the peak velocity x headroom under
  ``max_velocity_mps`` (mains wider than the largest listed size round up to 100 mm steps),
  plus a few loop-closing pipes for resilience. Pipes are widened until every junction keeps
  25 m of pressure at peak.

Peak demand per building: ``peak_power_w_per_m2`` x floor area (power factor 0.95), and
residents x ``peak_water_l_per_day_per_resident`` + jobs x ``peak_water_l_per_day_per_job``,
x ``water_peak_factor`` (``agents/density.yaml``). Building loads are not written to the nodes:
the simulation adds them at each building's ``power_node`` / ``water_node``.

Examples
--------
>>> import geopandas as gpd, shapely
>>> nodes = gpd.GeoDataFrame({"id": ["a", "b", "c"]},
...     geometry=shapely.points([(0, 0), (100, 0), (200, 0)]), crs=3067)
>>> roads = gpd.GeoDataFrame({"id": ["r1", "r2"], "u": ["a", "b"], "v": ["b", "c"]},
...     geometry=[shapely.LineString([(0, 0), (100, 0)]),
...               shapely.LineString([(100, 0), (200, 0)])], crs=3067)
>>> b = gpd.GeoDataFrame({"id": ["h1"], "use": ["residential"], "floor_area_m2": [800.0],
...     "residents": [20], "jobs": [0]}, geometry=[shapely.box(190, 10, 210, 30)], crs=3067)
>>> layers, b2 = lay_utilities(roads, nodes, b, crs=3067)
>>> sorted(layers["power_nodes"]["id"]), b2.loc[0, "power_node"], b2.loc[0, "water_node"]
(['pbb', 'pbc', 'ps1'], 'pbc', 'wjc')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from twin._errors import LayerError, UtilityError
from twin.layers.derive import density_table
from twin.layers.schemas import coerce_fields, conform, layer_spec

__all__ = ["POWER_FACTOR", "building_peak_demand", "lay_utilities", "typed_layer"]

#: Power factor of building loads at peak.
POWER_FACTOR = 0.95
#: Lowest voltage (p.u.) and pressure (m) the layout keeps at peak, with a margin.
_V_MIN = 0.96
_P_MIN_M = 25.0
#: Transformer short-circuit voltages (%), a typical 110/10 kV unit.
_VK, _VKR = 12.0, 0.4
#: Standard transformer ratings (MVA); larger substations use several 63 MVA units.
_TRAFO_MVA = (6.3, 8.0, 10.0, 12.5, 16.0, 20.0, 25.0, 31.5, 40.0, 50.0, 63.0)
#: Where the substation and the reservoir stand, relative to their road node (m).
_SUB_OFFSET = (15.0, 15.0)
_RES_OFFSET = (-15.0, -15.0)
_HW_K = 10.67  # Hazen-Williams constant (SI)


def typed_layer(name: str, frame: pd.DataFrame | Mapping[str, Any], geometry: Any = None,
                crs: Any = None) -> gpd.GeoDataFrame:
    """A layer of kind ``name`` with every dictionary column present and typed.

    Columns the dictionary lists but ``frame`` lacks are added empty; values are cast as
    :func:`twin.layers.schemas.coerce_fields` does and the columns ordered by ``conform``.
    ``geometry`` and ``crs`` default to those of ``frame`` when it is a GeoDataFrame.

    Raises
    ------
    LayerError
        A value does not fit its field's type, or a required field is missing.

    Examples
    --------
    >>> import shapely
    >>> g = typed_layer("sensors", {"id": ["s1"], "kind": ["camera"], "range_m": [40],
    ...                 "source": ["synthetic"]}, [shapely.Point(0, 0)], 3067)
    >>> list(g.columns[:4]), str(g["range_m"].dtype)
    (['id', 'kind', 'range_m', 'range_m_source'], 'float64')
    """
    if isinstance(frame, gpd.GeoDataFrame) and geometry is None:
        gdf = frame.reset_index(drop=True)
        crs = frame.crs if crs is None else crs
        if gdf.geometry.name != "geometry":
            gdf = gdf.rename_geometry("geometry")
    else:
        gdf = gpd.GeoDataFrame(pd.DataFrame(frame), geometry=geometry, crs=crs)
        gdf = gdf.reset_index(drop=True)
    out, findings = coerce_fields(gdf, layer_spec(name))
    errors = [f.format() for f in findings if f.severity == "error"]
    if errors:
        msg = f"layer {name}: generated values do not fit the dictionary: " + "; ".join(
            errors[:5])
        raise LayerError(msg)
    return conform(gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=crs), name)


def building_peak_demand(buildings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Peak power (MW) and peak water (L/s) of each building, from ``agents/density.yaml``.

    Examples
    --------
    >>> b = pd.DataFrame({"use": ["residential", "office"], "floor_area_m2": [1000.0, 2000.0],
    ...                   "residents": [25, 0], "jobs": [0, 80]})
    >>> p, w = building_peak_demand(b)
    >>> p.round(3).tolist(), w.round(3).tolist()
    ([0.012, 0.06], [0.109, 0.116])
    """
    table = density_table()
    w_m2 = table["peak_power_w_per_m2"]
    use = buildings["use"].astype(object).where(buildings["use"].notna(), "other")
    per_m2 = use.map(w_m2).fillna(w_m2.get("other", 5)).to_numpy(float)
    area = pd.to_numeric(buildings["floor_area_m2"], errors="coerce").fillna(0.0).to_numpy(float)
    power_mw = per_m2 * np.clip(area, 0.0, None) / 1e6
    res = pd.to_numeric(buildings["residents"], errors="coerce").fillna(0).to_numpy(float)
    jobs = pd.to_numeric(buildings["jobs"], errors="coerce").fillna(0).to_numpy(float)
    litres = (res * float(table["peak_water_l_per_day_per_resident"])
              + jobs * float(table["peak_water_l_per_day_per_job"]))
    water_lps = litres * float(table["water_peak_factor"]) / 86400.0
    return power_mw, water_lps


# --- the road graph and its trees ---------------------------------------------------------------

@dataclass
class _Graph:
    ids: np.ndarray        # road node ids (str), index = graph node
    xy: np.ndarray         # (n, 2) coordinates
    matrix: sparse.csr_matrix  # upper-triangular, min length per node pair
    keys: np.ndarray       # sorted pair keys a * n + b (a < b) of the matrix entries
    length: np.ndarray     # length (m) per key
    road_row: np.ndarray   # row of the roads layer behind each key
    road_u: np.ndarray     # graph node of that road's u


def _require(frame: pd.DataFrame, name: str, cols: tuple[str, ...]) -> None:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.active_geometry_name is None:
        msg = f"{name}: expected a GeoDataFrame with a geometry column"
        raise UtilityError(msg)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        msg = (f"{name}: missing column(s) {missing}; lay_utilities needs {list(cols)} "
               "(derive them first, e.g. with twin.layers.derive)")
        raise UtilityError(msg)


def _road_graph(roads: gpd.GeoDataFrame, road_nodes: gpd.GeoDataFrame) -> _Graph:
    ids = road_nodes["id"].astype(str).to_numpy()
    index = pd.Index(ids)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        msg = f"road_nodes: ids {dup} are used by several nodes; give each node its own id"
        raise UtilityError(msg)
    u = index.get_indexer(roads["u"].astype(str))
    v = index.get_indexer(roads["v"].astype(str))
    bad = (u < 0) | (v < 0)
    if bad.any():
        rid = roads["id"].astype(str).to_numpy()[bad][:5].tolist()
        msg = (f"roads: features {rid} name u/v nodes that are not in road_nodes; "
               "add the nodes or correct u and v")
        raise UtilityError(msg)
    n = len(ids)
    geom = roads.geometry.to_numpy()
    length = np.nan_to_num(shapely.length(geom).astype(float), nan=0.0)
    if "length_m" in roads:
        given = pd.to_numeric(roads["length_m"], errors="coerce").to_numpy(float)
        length = np.where(length > 0, length, np.nan_to_num(given, nan=0.0))
    length = np.clip(length, 0.1, None)
    keep = np.flatnonzero(u != v)
    a = np.minimum(u[keep], v[keep]).astype(np.int64)
    b = np.maximum(u[keep], v[keep]).astype(np.int64)
    key = a * n + b
    order = np.lexsort((length[keep], key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    sel = order[first]
    matrix = sparse.csr_matrix((length[keep][sel], (a[sel], b[sel])), shape=(n, n))
    xy = shapely.get_coordinates(road_nodes.geometry.to_numpy())
    if len(xy) != n:
        msg = "road_nodes: every node needs a point geometry; fix or delete empty ones"
        raise UtilityError(msg)
    return _Graph(ids=ids, xy=xy, matrix=matrix, keys=key[sel], length=length[keep][sel],
                  road_row=keep[sel], road_u=u[keep][sel])


@dataclass
class _Tree:
    root: int
    nodes: np.ndarray      # used graph nodes, root first
    parent: np.ndarray     # parent graph node of nodes[1:]
    levels: list[np.ndarray]  # children (graph nodes) grouped by hop depth, shallow first
    down: np.ndarray       # (n, k) demand downstream of each graph node (incl. its own)


def _tree(graph: _Graph, root: int, at: np.ndarray, demand: np.ndarray) -> tuple[_Tree,
                                                                                 np.ndarray]:
    """Shortest-path tree from ``root`` to the nodes ``at`` holding ``demand`` (rows)."""
    n = len(graph.ids)
    dist, pred = csgraph.dijkstra(graph.matrix, directed=False, indices=root,
                                  return_predecessors=True)
    kids = np.flatnonzero(np.isfinite(dist) & (pred >= 0))
    tree = sparse.csr_matrix((np.ones(len(kids)), (pred[kids], kids)), shape=(n, n))
    hops = csgraph.shortest_path(tree, directed=True, unweighted=True, indices=root)
    depth = hops[kids].astype(np.int64)
    order = np.argsort(depth, kind="stable")
    kids_sorted = kids[order]
    cuts = np.flatnonzero(np.diff(depth[order])) + 1
    levels = np.split(kids_sorted, cuts) if len(kids_sorted) else []
    acc = np.zeros((n, demand.shape[1] + 1))
    np.add.at(acc, at, np.column_stack([demand, np.ones(len(at))]))
    for group in reversed(levels):
        np.add.at(acc, pred[group], acc[group])
    used = acc[:, -1] > 0
    used[root] = True
    levels = [g[used[g]] for g in levels]
    levels = [g for g in levels if len(g)]
    nodes = np.concatenate([[root], *levels]).astype(np.int64)
    return _Tree(root=root, nodes=nodes, parent=pred[nodes[1:]], levels=levels,
                 down=acc[:, :-1]), pred


def _top_down(tree: _Tree, pred: np.ndarray, edge_value: np.ndarray, n: int) -> np.ndarray:
    """Sum of ``edge_value`` (indexed by child graph node) from the root to every node."""
    total = np.zeros(n)
    for group in tree.levels:
        total[group] = total[pred[group]] + edge_value[group]
    return total


def _edge_rows(graph: _Graph, parent: np.ndarray, child: np.ndarray) -> np.ndarray:
    n = len(graph.ids)
    key = np.minimum(parent, child) * n + np.maximum(parent, child)
    return np.searchsorted(graph.keys, key)


def _edge_geometry(graph: _Graph, roads: gpd.GeoDataFrame, parent: np.ndarray,
                   child: np.ndarray, rows: np.ndarray) -> np.ndarray:
    geom = roads.geometry.to_numpy()[graph.road_row[rows]]
    straight = shapely.linestrings(np.stack([graph.xy[parent], graph.xy[child]], axis=1))
    broken = shapely.is_missing(geom) | shapely.is_empty(geom) | (
        shapely.get_type_id(geom) != 1)
    geom = np.where(broken, straight, geom)
    flip = (graph.road_u[rows] != parent) & ~broken
    geom[flip] = shapely.reverse(geom[flip])
    return geom


# --- the centre ---------------------------------------------------------------------------------

def _root(graph: _Graph, candidates: np.ndarray, weights: np.ndarray,
          points: np.ndarray) -> int:
    """A well-connected road node of ``candidates`` near the demand-weighted centre."""
    w = weights if weights.sum() > 0 else np.ones(len(weights))
    centre = (points * w[:, None]).sum(axis=0) / w.sum()
    k = min(10, len(candidates))
    dist, idx = cKDTree(graph.xy[candidates]).query(centre, k=k)
    dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
    degree = np.diff(graph.matrix.indptr) + np.bincount(graph.matrix.indices,
                                                        minlength=len(graph.ids))
    deg = degree[candidates[idx]]
    best = np.lexsort((dist, -np.minimum(deg, 4)))[0]
    return int(candidates[idx[best]])


# --- power --------------------------------------------------------------------------------------

def _trafo_mva(need: float) -> float:
    for size in _TRAFO_MVA:
        if need <= size:
            return size
    return float(np.ceil(need / _TRAFO_MVA[-1]) * _TRAFO_MVA[-1])


def _size_cables(p_mw: np.ndarray, length_km: np.ndarray, tree: _Tree, pred: np.ndarray,
                 n: int, rules: Mapping[str, Any], trafo_drop: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Cable size index and number of parallel cables per child node.

    Trunks get more parallel cables (a lower design loading) until the estimated voltage at
    the far end of every feeder stays above 0.96 p.u. at peak (estimated).
    """
    vn = float(rules["mv_kv"])
    headroom = float(rules["headroom"])
    cable = rules["cable"]
    sizes = np.sort(np.asarray(cable["max_i_ka"], dtype=float))
    r0, x0 = float(cable["r_ohm_per_km"]), float(cable["x_ohm_per_km"])
    q_mvar = p_mw * np.tan(np.arccos(POWER_FACTOR))
    i_ka = p_mw / POWER_FACTOR / (np.sqrt(3.0) * vn)
    budget = 1.0 - _V_MIN - trafo_drop
    factor = 1.0
    for _ in range(40):
        need = i_ka * headroom * factor
        size = np.minimum(np.searchsorted(sizes, need), len(sizes) - 1)
        count = np.maximum(np.ceil(need / sizes[-1] - 1e-9), 1).astype(np.int64)
        count = np.where(need <= sizes[-1], 1, count)
        drop = (p_mw * r0 + q_mvar * x0) * length_km / count / vn**2
        worst = _top_down(tree, pred, drop, n).max(initial=0.0)
        if worst <= budget:
            break
        factor *= 1.25
    return size, count


def _power(graph: _Graph, roads: gpd.GeoDataFrame, tree: _Tree, pred: np.ndarray,
           crs: Any) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rules = layer_spec("power_lines").derive
    hv, mv = float(rules["hv_kv"]), float(rules["mv_kv"])
    headroom = float(rules["headroom"])
    n = len(graph.ids)
    peak_mw = float(tree.down[tree.root, 0])
    sn = _trafo_mva(max(peak_mw / POWER_FACTOR * headroom, 1.0))
    load = peak_mw / POWER_FACTOR / sn
    sin = np.sqrt(1 - POWER_FACTOR**2)
    trafo_drop = load * (_VKR * POWER_FACTOR + np.sqrt(_VK**2 - _VKR**2) * sin) / 100.0
    child, parent = tree.nodes[1:], tree.parent
    rows = _edge_rows(graph, parent, child)
    length_km = np.zeros(n)
    length_km[child] = graph.length[rows] / 1000.0
    size, count = _size_cables(tree.down[:, 0], length_km, tree, pred, n, rules, trafo_drop)
    # feeders: the branches leaving the substation, numbered by load
    first = child[parent == tree.root]
    rank = np.argsort(-tree.down[first, 0], kind="stable")
    feeder = np.zeros(n, dtype=np.int64)
    feeder[first[rank]] = np.arange(1, len(first) + 1)
    for group in tree.levels:
        feeder[group] = np.where(feeder[group] > 0, feeder[group], feeder[pred[group]])
    cable = rules["cable"]
    sizes = np.sort(np.asarray(cable["max_i_ka"], dtype=float))
    sub_xy = graph.xy[tree.root] + np.asarray(_SUB_OFFSET)
    bus_ids = np.char.add("pb", graph.ids[tree.nodes].astype(str)).astype(object)
    nodes = typed_layer("power_nodes", {
        "id": ["ps1", *bus_ids],
        "kind": ["substation", *(["bus"] * len(bus_ids))],
        "vn_kv": [hv, *([mv] * len(bus_ids))],
        "ext_grid": [True, *([False] * len(bus_ids))],
        "vm_pu": [1.0, *([np.nan] * len(bus_ids))],
        "capacity_mva": [sn, *([np.nan] * len(bus_ids))],
        "capacity_mva_source": ["synthetic", *([None] * len(bus_ids))],
        "in_service": True,
        "source": "synthetic",
    }, shapely.points(np.vstack([sub_xy, graph.xy[tree.nodes]])), crs)
    c = count[child]
    params = pd.Series(feeder[child]).astype(str)
    params = ('{"feeder": "F' + params + '", "cables": ' + pd.Series(c).astype(str) + "}")
    trafo_params = json.dumps({"units": int(np.ceil(sn / _TRAFO_MVA[-1]))})
    m = len(child)
    lines = typed_layer("power_lines", {
        "id": ["pt1", *[f"pc{i + 1}" for i in range(m)]],
        "from_node": ["ps1", *np.char.add("pb", graph.ids[parent].astype(str)).tolist()],
        "to_node": [bus_ids[0], *np.char.add("pb", graph.ids[child].astype(str)).tolist()],
        "kind": ["transformer", *(["cable"] * m)],
        "vn_kv": [hv, *([mv] * m)],
        "length_km": [np.nan, *np.round(length_km[child], 4)],
        "length_km_source": [None, *(["derived"] * m)],
        "r_ohm_per_km": [np.nan, *(float(cable["r_ohm_per_km"]) / c)],
        "x_ohm_per_km": [np.nan, *(float(cable["x_ohm_per_km"]) / c)],
        "c_nf_per_km": [np.nan, *(float(cable["c_nf_per_km"]) * c)],
        "max_i_ka": [np.nan, *np.round(sizes[size[child]] * c, 4)],
        "max_i_ka_source": [None, *(["synthetic"] * m)],
        "sn_mva": [sn, *([np.nan] * m)],
        "vk_percent": [_VK, *([np.nan] * m)],
        "vkr_percent": [_VKR, *([np.nan] * m)],
        "in_service": True,
        "params": [trafo_params, *params.tolist()],
        "source": "synthetic",
    }, [shapely.LineString([sub_xy, graph.xy[tree.root]]),
        *_edge_geometry(graph, roads, parent, child, rows)], crs)
    return nodes, lines


# --- water --------------------------------------------------------------------------------------

def _hw_loss(flow_m3s: np.ndarray, diameter_m: np.ndarray, length_m: np.ndarray,
             roughness: float) -> np.ndarray:
    return (_HW_K * length_m * np.abs(flow_m3s) ** 1.852
            / (roughness**1.852 * diameter_m**4.87))


def _diameter(q_lps: np.ndarray, factor: float, rules: Mapping[str, Any]) -> np.ndarray:
    """Smallest listed diameter (mm) keeping velocity x headroom x factor under the limit."""
    listed = np.sort(np.asarray(rules["diameters_mm"], dtype=float))
    area = q_lps / 1000.0 * float(rules["headroom"]) * factor / float(rules["max_velocity_mps"])
    need = np.sqrt(4.0 * area / np.pi) * 1000.0
    pick = listed[np.minimum(np.searchsorted(listed, need), len(listed) - 1)]
    return np.where(need <= listed[-1], pick, np.ceil(need / 100.0) * 100.0)


def _size_pipes(q_lps: np.ndarray, length_m: np.ndarray, tree: _Tree, pred: np.ndarray,
                n: int, elevation: np.ndarray, head: float, main_m: float,
                rules: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    """Pipe diameters (mm) per child node and of the reservoir main.

    Pipes widen (a lower design velocity) until every junction keeps 25 m of pressure at peak.
    """
    c = float(rules["roughness"])
    q_root = q_lps[tree.root : tree.root + 1]
    factor = 1.0
    static = (head - elevation[tree.nodes]).min()
    for _ in range(40 if static >= _P_MIN_M + 1.0 else 1):  # wider pipes cannot lift water
        diameter = _diameter(q_lps, factor, rules)
        main_d = max(float(_diameter(q_root, factor, rules)[0]),
                     float(diameter[tree.nodes].max()))
        main_loss = _hw_loss(q_root / 1000.0, np.array([main_d / 1000.0]),
                             np.array([main_m]), c)[0]
        loss = _hw_loss(q_lps / 1000.0, diameter / 1000.0, length_m, c)
        pressure = head - main_loss - elevation - _top_down(tree, pred, loss, n)
        if pressure[tree.nodes].min() >= _P_MIN_M:
            break
        factor *= 1.25
    return diameter, main_d


def _water_root(root: int, candidates: np.ndarray, at: np.ndarray, elevation: np.ndarray
                ) -> int:
    """The substation's node, unless the ground rises too much: then the highest node."""
    above = float(layer_spec("water_pipes").derive["reservoir_head_above_ground_m"])
    if elevation[root] + above - elevation[at].max() >= _P_MIN_M + 5.0:
        return root
    return int(candidates[np.argmax(elevation[candidates])])


def _elevation(road_nodes: gpd.GeoDataFrame) -> tuple[np.ndarray, str]:
    for col in ("elevation_m", "elevation"):
        if col in road_nodes:
            z = pd.to_numeric(road_nodes[col], errors="coerce")
            if z.notna().any():
                return z.fillna(z.median()).to_numpy(float), "derived"
    return np.zeros(len(road_nodes)), "synthetic"


def _water(graph: _Graph, roads: gpd.GeoDataFrame, tree: _Tree, pred: np.ndarray,
           elevation: np.ndarray, elev_source: str, loops: float, crs: Any
           ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rules = layer_spec("water_pipes").derive
    n = len(graph.ids)
    ground = float(elevation[tree.root])
    head = ground + float(rules["reservoir_head_above_ground_m"])
    child, parent = tree.nodes[1:], tree.parent
    rows = _edge_rows(graph, parent, child)
    length = np.zeros(n)
    length[child] = graph.length[rows]
    res_xy = graph.xy[tree.root] + np.asarray(_RES_OFFSET)
    main_len = float(np.hypot(*_RES_OFFSET))
    diameter, main_d = _size_pipes(tree.down[:, 1], length, tree, pred, n, elevation, head,
                                   main_len, rules)
    diameter[tree.root] = main_d
    # loop-closing pipes: street links between two used junctions that the tree does not use
    used = np.zeros(n, dtype=bool)
    used[tree.nodes] = True
    a, b = np.divmod(graph.keys, n)
    tree_keys = np.minimum(parent, child) * n + np.maximum(parent, child)
    cand = np.flatnonzero(used[a] & used[b] & ~np.isin(graph.keys, tree_keys))
    k = round(loops * len(child))
    pick = cand[np.linspace(0, len(cand) - 1, k).round().astype(int)] if k and len(cand) else (
        np.array([], dtype=np.int64))
    pick = np.unique(pick)
    la, lb = a[pick], b[pick]
    loop_d = np.minimum(diameter[la], diameter[lb])
    junction_ids = np.char.add("wj", graph.ids[tree.nodes].astype(str)).astype(object)
    nodes = typed_layer("water_nodes", {
        "id": ["wr1", *junction_ids],
        "kind": ["reservoir", *(["junction"] * len(junction_ids))],
        "elevation_m": [ground, *elevation[tree.nodes]],
        "elevation_m_source": elev_source,
        "head_m": [head, *([np.nan] * len(junction_ids))],
        "source": "synthetic",
    }, shapely.points(np.vstack([res_xy, graph.xy[tree.nodes]])), crs)
    m, nl = len(child), len(pick)
    frm = np.concatenate([parent, la]).astype(np.int64)
    to = np.concatenate([child, lb]).astype(np.int64)
    all_rows = np.concatenate([rows, pick])
    pipes = typed_layer("water_pipes", {
        "id": ["wm1", *[f"wp{i + 1}" for i in range(m + nl)]],
        "from_node": ["wr1", *np.char.add("wj", graph.ids[frm].astype(str)).tolist()],
        "to_node": [junction_ids[0], *np.char.add("wj", graph.ids[to].astype(str)).tolist()],
        "kind": "pipe",
        "length_m": [round(main_len, 2), *np.round(graph.length[all_rows], 2)],
        "length_m_source": "derived",
        "diameter_mm": [main_d, *diameter[child], *loop_d],
        "diameter_mm_source": "synthetic",
        "roughness": float(rules["roughness"]),
        "minor_loss": 0.0,
        "status": "open",
        "source": "synthetic",
    }, [shapely.LineString([res_xy, graph.xy[tree.root]]),
        *_edge_geometry(graph, roads, frm, to, all_rows)], crs)
    return nodes, pipes


# --- the public function ------------------------------------------------------------------------

def _check_crs(crs: Any, frames: Mapping[str, gpd.GeoDataFrame]) -> CRS:
    try:
        target = CRS.from_user_input(crs)
    except Exception as err:
        msg = f"crs {crs!r} is not a CRS pyproj knows; use a projected one such as EPSG:32651"
        raise UtilityError(msg) from err
    if not target.is_projected:
        msg = f"crs {target.name}: utilities are laid in a projected metric CRS, not degrees"
        raise UtilityError(msg)
    for name, frame in frames.items():
        if frame.crs is not None and not CRS.from_user_input(frame.crs).equals(target):
            msg = (f"{name}: CRS {CRS.from_user_input(frame.crs).name} differs from "
                   f"{target.name}; reproject it with to_crs({target.to_string()!r})")
            raise UtilityError(msg)
    return target


def lay_utilities(roads: gpd.GeoDataFrame, road_nodes: gpd.GeoDataFrame,
                  buildings: gpd.GeoDataFrame, *, crs: Any, loops: float = 0.05
                  ) -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Lay a power and a water network along the streets to every building.

    Parameters
    ----------
    roads : GeoDataFrame
        ``id``, ``u``, ``v`` (road node ids) and LineString geometry (``length_m`` is used where
        a geometry is missing). Direction and one-way flags are ignored: networks follow streets.
    road_nodes : GeoDataFrame
        ``id`` and Point geometry; an ``elevation_m`` (or ``elevation``) column, if present,
        gives ground elevations.
    buildings : GeoDataFrame
        ``id``, ``use``, ``floor_area_m2``, ``residents``, ``jobs`` and geometry.
    crs : CRS-like
        The projected CRS of the inputs and of the returned layers.
    loops : float
        Loop-closing water pipes to add, as a share of the tree's pipes (0 for a pure tree).

    Returns
    -------
    (layers, buildings)
        ``layers`` has ``power_nodes``, ``power_lines``, ``water_nodes`` and ``water_pipes``,
        typed as the data dictionary defines them; ``buildings`` is a copy with ``power_node``
        and ``water_node`` set to the ids of the buses and junctions they hang off.

    Raises
    ------
    UtilityError
        A column is missing, the CRS is not projected or differs between inputs, roads name
        nodes that do not exist, or there are no roads or no buildings.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> nodes = gpd.GeoDataFrame({"id": ["a", "b", "c"]},
    ...                          geometry=shapely.points([(0, 0), (80, 0), (160, 0)]), crs=3067)
    >>> roads = gpd.GeoDataFrame({"id": ["r1", "r2"], "u": ["a", "b"], "v": ["b", "c"]},
    ...     geometry=[shapely.LineString([(0, 0), (80, 0)]),
    ...               shapely.LineString([(80, 0), (160, 0)])], crs=3067)
    >>> b = gpd.GeoDataFrame({"id": ["s", "t"], "use": ["retail", "office"],
    ...     "floor_area_m2": [500.0, 900.0], "residents": [0, 0], "jobs": [12, 36]},
    ...     geometry=[shapely.box(-10, 5, 10, 25), shapely.box(150, 5, 170, 25)], crs=3067)
    >>> layers, _ = lay_utilities(roads, nodes, b, crs=3067)
    >>> layers["power_lines"][["id", "from_node", "to_node"]].values.tolist()
    [['pt1', 'ps1', 'pbb'], ['pc1', 'pbb', 'pba'], ['pc2', 'pbb', 'pbc']]
    """
    _require(roads, "roads", ("id", "u", "v"))
    _require(road_nodes, "road_nodes", ("id",))
    _require(buildings, "buildings", ("id", "use", "floor_area_m2", "residents", "jobs"))
    target = _check_crs(crs, {"roads": roads, "road_nodes": road_nodes,
                              "buildings": buildings})
    if len(roads) == 0 or len(road_nodes) == 0:
        msg = "roads: the layer is empty; utilities are laid along streets, so add roads first"
        raise UtilityError(msg)
    if len(buildings) == 0:
        msg = "buildings: the layer is empty; there is nothing to supply"
        raise UtilityError(msg)
    if not 0.0 <= loops <= 1.0:
        msg = f"loops must be between 0 and 1 (got {loops})"
        raise UtilityError(msg)
    graph = _road_graph(roads, road_nodes)
    n = len(graph.ids)
    linked = np.zeros(n, dtype=bool)
    linked[graph.matrix.nonzero()[0]] = True
    linked[graph.matrix.nonzero()[1]] = True
    if not linked.any():
        msg = "roads: no link joins two different nodes; utilities need a street network"
        raise UtilityError(msg)
    pts = shapely.get_coordinates(shapely.point_on_surface(buildings.geometry.to_numpy()))
    if len(pts) != len(buildings):
        msg = "buildings: every building needs a geometry; fix or delete empty ones"
        raise UtilityError(msg)
    power_mw, water_lps = building_peak_demand(buildings)
    # the networks cover the street component nearest most buildings
    _, comp = csgraph.connected_components(graph.matrix, directed=False)
    cand = np.flatnonzero(linked)
    _, near = cKDTree(graph.xy[cand]).query(pts)
    main = np.bincount(comp[cand[near]]).argmax()
    cand = cand[comp[cand] == main]
    _, near = cKDTree(graph.xy[cand]).query(pts)
    at = cand[near]
    root = _root(graph, cand, power_mw + 1e-9, pts)
    demand = np.column_stack([power_mw, water_lps])
    tree, pred = _tree(graph, root, at, demand)
    elevation, elev_source = _elevation(road_nodes)
    water_root = _water_root(root, cand, at, elevation)
    wtree, wpred = (tree, pred) if water_root == root else _tree(graph, water_root, at, demand)
    power_nodes, power_lines = _power(graph, roads, tree, pred, target)
    water_nodes, water_pipes = _water(graph, roads, wtree, wpred, elevation, elev_source, loops,
                                      target)
    out = buildings.copy()
    out["power_node"] = np.char.add("pb", graph.ids[at].astype(str)).astype(object)
    out["water_node"] = np.char.add("wj", graph.ids[at].astype(str)).astype(object)
    layers = {"power_nodes": power_nodes, "power_lines": power_lines,
              "water_nodes": water_nodes, "water_pipes": water_pipes}
    return layers, out
