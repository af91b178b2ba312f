"""The road graph on arrays: directed links from the ``roads`` layer, and the walk graph.

A two-way road becomes two directed links; a one-way road one. Link ``k`` of the graph keeps the
road's row and direction, so results map back to the layer by stable id. Routing uses a CSR
matrix holding, for every (from, to) node pair, the minimum cost over parallel links (scipy's
``to_scipy_sparse_array`` would sum them) and ``pair_link`` to map a pair back to that link.

Examples
--------
>>> import geopandas as gpd, shapely
>>> roads = gpd.GeoDataFrame({
...     "id": ["r1", "r2"], "u": ["a", "b"], "v": ["b", "c"], "oneway": [False, True],
...     "length_m": [100.0, 50.0], "speed_kph": [36.0, 18.0], "capacity_vph": [900.0, 600.0],
...     "lanes": [1, 1], "highway": ["primary", "residential"]},
...     geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(100, 0), (150, 0)])],
...     crs=3067)
>>> nodes = gpd.GeoDataFrame({"id": ["a", "b", "c"], "control": ["none", "signal", "none"]},
...     geometry=shapely.points([(0, 0), (100, 0), (150, 0)]), crs=3067)
>>> g = road_graph(roads, nodes)
>>> g.n_links, g.link_ids.tolist(), g.fft_s.tolist()
(3, ['r1', 'r2', 'r1:rev'], [10.0, 10.0, 10.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from twin._errors import SimulationError

__all__ = ["RoadGraph", "WalkGraph", "min_csr", "road_graph", "walk_graph"]

REVERSE_SUFFIX = ":rev"
_CONTROLS = ("none", "signal", "adaptive_signal", "roundabout")


def min_csr(n: int, frm: np.ndarray, to: np.ndarray, cost: np.ndarray
            ) -> tuple[sp.csr_matrix, np.ndarray]:
    """CSR matrix of the minimum ``cost`` per (frm, to) pair, and the link behind each entry.

    Returns
    -------
    (matrix, pair_link)
        ``pair_link[j]`` is the index of the link behind ``matrix.data[j]``.

    Examples
    --------
    >>> m, pl = min_csr(2, np.array([0, 0]), np.array([1, 1]), np.array([5.0, 3.0]))
    >>> m.toarray().tolist(), pl.tolist()
    ([[0.0, 3.0], [0.0, 0.0]], [1])
    """
    order = np.lexsort((cost, to, frm))
    f, t = frm[order], to[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (f[1:] != f[:-1]) | (t[1:] != t[:-1])
    keep = order[first]
    # csgraph treats explicit zeros as missing edges: keep a tiny positive cost instead
    data = np.maximum(cost[keep].astype(float), 1e-9)
    mat = sp.csr_matrix((data, (frm[keep], to[keep])), shape=(n, n))
    # csr_matrix sorts by (row, col): keep is already sorted that way, so entries align
    return mat, keep


@dataclass(frozen=True)
class RoadGraph:
    """Directed road links as arrays (index ``k`` = link ``k``).

    Attributes
    ----------
    node_ids : ndarray of str
        ``road_nodes`` ids; node ``i`` of the graph.
    xy : ndarray (n_nodes, 2)
        Node coordinates (twin CRS, metres).
    control : ndarray of str
        Node control (none, signal, adaptive_signal, roundabout).
    gateway : ndarray of bool
        Nodes where external traffic enters and leaves.
    link_ids : ndarray of str
        ``road id`` for the u->v direction, ``road id + ":rev"`` for v->u.
    road_index : ndarray of int
        Row of the road in the layer.
    reverse : ndarray of bool
        True for the v->u direction of a two-way road.
    from_node, to_node : ndarray of int
    length_m, speed_mps, fft_s, capacity_vph : ndarray of float
    lanes : ndarray of int
    highway : ndarray of str
    """

    node_ids: np.ndarray
    xy: np.ndarray
    control: np.ndarray
    gateway: np.ndarray
    link_ids: np.ndarray
    road_index: np.ndarray
    reverse: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    length_m: np.ndarray
    speed_mps: np.ndarray
    fft_s: np.ndarray
    capacity_vph: np.ndarray
    lanes: np.ndarray
    highway: np.ndarray
    _node_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_links(self) -> int:
        """Number of directed links."""
        return len(self.link_ids)

    def node_index(self, ids: list[str] | np.ndarray) -> np.ndarray:
        """Graph indices of node ids (-1 where unknown)."""
        return np.array([self._node_index.get(str(i), -1) for i in ids], dtype=np.int64)

    def csr(self, cost: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
        """Routing matrix of ``cost`` per link (default free-flow time) and its pair_link map."""
        c = self.fft_s if cost is None else np.asarray(cost, dtype=float)
        return min_csr(self.n_nodes, self.from_node, self.to_node, c)


def road_graph(roads: gpd.GeoDataFrame, road_nodes: gpd.GeoDataFrame) -> RoadGraph:
    """Build the directed road graph of a twin.

    Parameters
    ----------
    roads : GeoDataFrame
        The ``roads`` layer (id, u, v, oneway, length_m, speed_kph, capacity_vph, lanes).
    road_nodes : GeoDataFrame
        The ``road_nodes`` layer (id, control, gateway optional).

    Raises
    ------
    SimulationError
        No roads, or a road names a node that does not exist.
    """
    if len(roads) == 0:
        msg = "the twin has no roads; import a road layer (twin layers import FILE roads SRC)"
        raise SimulationError(msg)
    node_ids = road_nodes["id"].astype(str).to_numpy()
    index = {n: i for i, n in enumerate(node_ids)}
    u = roads["u"].astype(str).map(index)
    v = roads["v"].astype(str).map(index)
    bad = u.isna() | v.isna()
    if bad.any():
        ids = roads.loc[bad, "id"].head(5).tolist()
        msg = (f"roads {ids} name nodes missing from road_nodes; "
               "run `twin layers validate` and fix the u/v ids")
        raise SimulationError(msg)
    oneway = roads["oneway"].fillna(False).astype(bool).to_numpy()
    fwd = np.arange(len(roads))
    rev = fwd[~oneway]
    road_index = np.concatenate([fwd, rev])
    reverse = np.concatenate([np.zeros(len(fwd), bool), np.ones(len(rev), bool)])
    uu, vv = u.to_numpy(dtype=np.int64), v.to_numpy(dtype=np.int64)
    from_node = np.where(reverse, vv[road_index], uu[road_index])
    to_node = np.where(reverse, uu[road_index], vv[road_index])
    ids = roads["id"].astype(str).to_numpy()[road_index]
    link_ids = np.where(reverse, np.char.add(ids.astype(str), REVERSE_SUFFIX), ids)
    length = roads["length_m"].astype(float).to_numpy()[road_index]
    speed = roads["speed_kph"].astype(float).to_numpy()[road_index] / 3.6
    control = (road_nodes["control"].fillna("none").astype(str).to_numpy()
               if "control" in road_nodes else np.full(len(node_ids), "none"))
    gateway = (road_nodes["gateway"].fillna(False).astype(bool).to_numpy()
               if "gateway" in road_nodes else np.zeros(len(node_ids), bool))
    xy = np.column_stack([road_nodes.geometry.x.to_numpy(), road_nodes.geometry.y.to_numpy()])
    highway = (roads["highway"].astype(str).to_numpy()[road_index] if "highway" in roads
               else np.full(len(road_index), "road"))
    return RoadGraph(
        node_ids=node_ids, xy=xy, control=control, gateway=gateway,
        link_ids=link_ids, road_index=road_index, reverse=reverse,
        from_node=from_node, to_node=to_node, length_m=length, speed_mps=speed,
        fft_s=length / np.maximum(speed, 0.1),
        capacity_vph=roads["capacity_vph"].astype(float).to_numpy()[road_index],
        lanes=roads["lanes"].astype(int).to_numpy()[road_index], highway=highway,
        _node_index=index,
    )


@dataclass(frozen=True)
class WalkGraph:
    """Undirected walkable network (paths layer, or the roads when there is none)."""

    node_ids: np.ndarray
    xy: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    length_m: np.ndarray

    def csr(self) -> sp.csr_matrix:
        """Symmetric CSR matrix of link lengths (minimum over parallel links)."""
        f = np.concatenate([self.from_node, self.to_node])
        t = np.concatenate([self.to_node, self.from_node])
        c = np.concatenate([self.length_m, self.length_m])
        return min_csr(len(self.node_ids), f, t, c)[0]


def walk_graph(paths: gpd.GeoDataFrame | None, roads: gpd.GeoDataFrame,
               road_nodes: gpd.GeoDataFrame) -> WalkGraph:  # noqa: ARG001 (same call shape as road_graph)
    """The walk graph: the ``paths`` layer if the twin has one, else the roads both ways.

    Node coordinates come from the line ends (paths have no node layer).
    """
    src = paths if paths is not None and len(paths) else roads
    if len(src) == 0:
        msg = "the twin has neither paths nor roads to walk on"
        raise SimulationError(msg)
    from shapely import get_coordinates, get_num_points

    geoms = src.geometry.to_numpy()
    counts = get_num_points(geoms)
    coords = get_coordinates(geoms)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first = coords[starts]
    last = coords[starts + counts - 1]
    ends = pd.DataFrame({"id": np.concatenate([src["u"].astype(str), src["v"].astype(str)]),
                         "x": np.concatenate([first[:, 0], last[:, 0]]),
                         "y": np.concatenate([first[:, 1], last[:, 1]])})
    nodes = ends.drop_duplicates("id")
    index = pd.Series(np.arange(len(nodes)), index=nodes["id"].to_numpy())
    return WalkGraph(
        node_ids=nodes["id"].to_numpy(), xy=nodes[["x", "y"]].to_numpy(),
        from_node=index.loc[src["u"].astype(str)].to_numpy(),
        to_node=index.loc[src["v"].astype(str)].to_numpy(),
        length_m=src["length_m"].astype(float).to_numpy(),
    )
