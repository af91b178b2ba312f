"""Where activities happen: the twin's buildings, facilities and gateways as arrays.

:func:`build_places` attaches every place to a road node (the nearest one in the largest
strongly connected part of the road graph, unless that is much further than the nearest node)
and to a walk-graph node. :mod:`twin.agents.model` re-exports :class:`Places` and
:func:`build_places`.

Examples
--------
>>> SNAP_SLACK_M
150.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin._errors import SimulationError
from twin.agents.population import PopulationConfig
from twin.layers.store import Twin
from twin.network.roads import RoadGraph, WalkGraph
from twin.network.routing import largest_component, nearest_nodes

__all__ = ["SNAP_SLACK_M", "Places", "build_places"]


#: Attach a place to the main road network unless it is this much further than the nearest node.
SNAP_SLACK_M = 150.0


@dataclass(frozen=True)
class Places:
    """Where activities happen: buildings, facilities and gateways, as arrays.

    Attributes
    ----------
    kind : ndarray of str
        ``building``, ``facility`` or ``gateway``.
    ids : ndarray of str
        Building id, facility id or gateway road-node id.
    use : ndarray of str
        Building use, facility kind, or ``gateway``.
    xy : ndarray (n, 2)
    node : ndarray of int
        Road-graph node the place is reached from.
    walk_node : ndarray of int
        Walk-graph node, and ``walk_snap_m`` the distance to it.
    residents, jobs : ndarray of int
        Of buildings (0 elsewhere).
    pupils : ndarray of int
        School places (facilities of kind school, or education buildings).
    """

    kind: np.ndarray
    ids: np.ndarray
    use: np.ndarray
    xy: np.ndarray
    node: np.ndarray
    walk_node: np.ndarray
    walk_snap_m: np.ndarray
    residents: np.ndarray
    jobs: np.ndarray
    pupils: np.ndarray
    capacity: np.ndarray

    @property
    def n(self) -> int:
        """Number of places."""
        return len(self.ids)

    def of_kind(self, kind: str) -> np.ndarray:
        """Indices of the places of ``kind``."""
        return np.flatnonzero(self.kind == kind)


def build_places(twin: Twin, graph: RoadGraph, walk: WalkGraph,
                 config: PopulationConfig) -> Places:
    """The places of a twin, attached to the road and walk graphs.

    Raises
    ------
    SimulationError
        The twin has no buildings or no residents.

    Examples
    --------
    >>> # build_places(twin, road_graph(roads, nodes), walk_graph(None, roads, nodes), cfg)
    """
    b = twin.layer("buildings")
    if len(b) == 0 or int(b["residents"].fillna(0).sum()) <= 0:
        msg = ("the twin has no residents (buildings.residents sums to 0); import buildings "
               "with residents, or derive them: `twin layers import FILE buildings SRC`")
        raise SimulationError(msg)
    f = twin.layer("facilities")
    f = f[f["kind"].astype(str) != "bus_stop"] if len(f) else f
    gw = np.flatnonzero(graph.gateway)
    bxy = np.column_stack([b.geometry.centroid.x, b.geometry.centroid.y]) if len(b) else \
        np.zeros((0, 2))
    fxy = np.column_stack([f.geometry.x, f.geometry.y]) if len(f) else np.zeros((0, 2))
    xy = np.vstack([bxy, fxy, graph.xy[gw]])
    nb, nf, ng = len(b), len(f), len(gw)
    kind = np.array(["building"] * nb + ["facility"] * nf + ["gateway"] * ng, dtype=object)
    ids = np.concatenate([b["id"].astype(str).to_numpy(),
                          f["id"].astype(str).to_numpy() if nf else np.zeros(0, object),
                          graph.node_ids[gw].astype(str)]).astype(object)
    use = np.concatenate([b["use"].astype(str).to_numpy(),
                          f["kind"].astype(str).to_numpy() if nf else np.zeros(0, object),
                          np.full(ng, "gateway", dtype=object)]).astype(object)
    residents = np.concatenate([b["residents"].fillna(0).astype(int).to_numpy(),
                                np.zeros(nf + ng, int)])
    jobs = np.concatenate([b["jobs"].fillna(0).astype(int).to_numpy(), np.zeros(nf + ng, int)])
    capacity = np.concatenate([np.zeros(nb), f["capacity"].fillna(0).astype(float).to_numpy()
                               if nf else np.zeros(0), np.zeros(ng)])
    pupils = np.where((kind == "facility") & (use == "school"), capacity, 0).astype(int)
    if pupils.sum() == 0:
        area = np.concatenate([b["floor_area_m2"].fillna(0).astype(float).to_numpy(),
                               np.zeros(nf + ng)])
        per = float(config.destinations["school_m2_per_pupil"])
        pupils = np.where(use == "education", np.floor(area / per), 0).astype(int)
    node = _attach(graph, xy)
    node[kind == "gateway"] = gw
    wnode, wdist = _attach_walk(walk, xy)
    return Places(kind=kind, ids=ids, use=use, xy=xy, node=node, walk_node=wnode,
                  walk_snap_m=wdist, residents=residents, jobs=jobs, pupils=pupils,
                  capacity=capacity)


def _attach(graph: RoadGraph, xy: np.ndarray) -> np.ndarray:
    """Nearest node of the main (largest strongly connected) network, else the nearest node."""
    main = largest_component(graph)
    near, d_near = nearest_nodes(graph.xy, xy)
    best, d_best = nearest_nodes(graph.xy, xy, candidates=main)
    return np.where(d_best <= d_near + SNAP_SLACK_M, best, near)


def _attach_walk(walk: WalkGraph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest walk node of the largest connected part, unless much further than the nearest."""
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(walk.csr(), directed=False)
    main = labels == np.argmax(np.bincount(labels))
    near, d_near = nearest_nodes(walk.xy, xy)
    best, d_best = nearest_nodes(walk.xy, xy, candidates=main)
    use = d_best <= d_near + SNAP_SLACK_M
    return np.where(use, best, near), np.where(use, d_best, d_near)
