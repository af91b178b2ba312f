"""Static user-equilibrium traffic assignment with BPR link costs.

Link travel time follows the BPR function ``t = fft * (1 + b * (v / c) ** power)``. The
equilibrium is found with the Frank-Wolfe method (``"fw"``), its conjugate (``"cfw"``) or
bi-conjugate (``"bfw"``, Mitradjieva & Lindberg 2013) variants, each with an exact line search
on the Beckmann objective. Convergence is measured by the relative gap
``(TSTT - SPTT) / TSTT``, where SPTT is the demand loaded on the current shortest paths.

All-or-nothing loading is vectorised: one :func:`scipy.sparse.csgraph.dijkstra` call builds every
origin's shortest-path tree, and the trees are accumulated level by level on flat arrays.
Zones numbered below ``first_thru_node`` are never passed through: their outgoing links are
attached to a separate source copy of the node, so only trips starting there may use them.

Examples
--------
>>> import numpy as np
>>> net = Network(n_nodes=2, from_node=[0, 0], to_node=[1, 1], capacity=[100.0, 400.0],
...               fft=[10.0, 20.0], b=[1.0, 1.0], power=[1.0, 1.0], length=[1.0, 1.0],
...               first_thru_node=0, zone_nodes=[0, 1])
>>> res = assign(net, np.array([[0.0, 300.0], [0.0, 0.0]]))
>>> np.round(res.flows, 2).tolist(), round(res.tstt, 1)
([166.67, 133.33], 8000.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import dijkstra

from twin._errors import AssignmentError

if TYPE_CHECKING:
    from twin.network.tntp import TNTPData

__all__ = ["AssignmentResult", "FlowComparison", "Network", "assign", "assign_tntp",
           "compare_flows"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Method = Literal["bfw", "cfw", "fw"]
_METHODS = ("bfw", "cfw", "fw")
#: Largest weight the conjugate direction may give the previous direction.
_MAX_CONJ = 0.99999


@dataclass
class Network:
    """A directed road network with BPR link parameters, nodes numbered ``0 .. n_nodes - 1``.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.
    from_node, to_node : array-like of int
        Tail and head node of each link (0-based).
    capacity : array-like of float
        Link capacity ``c`` (> 0 wherever ``b > 0``).
    fft : array-like of float
        Free-flow travel time (>= 0).
    b, power : array-like of float
        BPR parameters (>= 0); scalars are broadcast to every link.
    length : array-like of float
        Link length (informative only); a scalar is broadcast.
    first_thru_node : int
        Nodes with an index below it are zones that may start or end a trip but may not be
        passed through; 0 lets every node be passed through.
    zone_nodes : array-like of int
        Node of each zone: row/column ``i`` of a demand matrix is node ``zone_nodes[i]``.
    link_ids : array-like, optional
        A label per link, used in messages.

    Raises
    ------
    AssignmentError
        When arrays differ in length, a node is out of range or a parameter is invalid; the
        message names the link.

    Examples
    --------
    >>> net = Network(n_nodes=3, from_node=[0, 1], to_node=[1, 2], capacity=[10.0, 10.0],
    ...               fft=[1.0, 2.0], b=0.15, power=4, length=1.0, first_thru_node=0,
    ...               zone_nodes=[0, 2])
    >>> net.n_links, net.power.tolist()
    (2, [4.0, 4.0])
    """

    n_nodes: int
    from_node: IntArray
    to_node: IntArray
    capacity: FloatArray
    fft: FloatArray
    b: FloatArray
    power: FloatArray
    length: FloatArray
    first_thru_node: int
    zone_nodes: IntArray
    link_ids: NDArray[Any] | None = None

    def __post_init__(self) -> None:
        self.n_nodes = int(self.n_nodes)
        self.first_thru_node = int(self.first_thru_node)
        self.from_node = _as_int(self.from_node, "from_node")
        self.to_node = _as_int(self.to_node, "to_node")
        self.zone_nodes = _as_int(self.zone_nodes, "zone_nodes")
        m = self.from_node.shape[0]
        for name in ("capacity", "fft", "b", "power", "length"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.ndim == 0:
                arr = np.full(m, float(arr))
            setattr(self, name, arr)
        if self.link_ids is not None:
            self.link_ids = np.asarray(self.link_ids)
        self._validate()

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.from_node.shape[0])

    @property
    def n_zones(self) -> int:
        """Number of zones (rows of a demand matrix)."""
        return int(self.zone_nodes.shape[0])

    def link_label(self, i: int) -> str:
        """Describe link ``i`` for a message, e.g. ``"link 3 (node 1 -> 4)"``."""
        ident = self.link_ids[i] if self.link_ids is not None else i
        return f"link {ident} (node {self.from_node[i]} -> {self.to_node[i]})"

    def _validate(self) -> None:
        m = self.n_links
        for name in ("to_node", "capacity", "fft", "b", "power", "length"):
            if getattr(self, name).shape != (m,):
                msg = f"network: {name} has shape {getattr(self, name).shape}, expected ({m},)"
                raise AssignmentError(msg)
        if self.link_ids is not None and self.link_ids.shape != (m,):
            msg = f"network: link_ids has shape {self.link_ids.shape}, expected ({m},)"
            raise AssignmentError(msg)
        if self.n_nodes < 1:
            msg = f"network: n_nodes must be >= 1 (got {self.n_nodes})"
            raise AssignmentError(msg)
        if not 0 <= self.first_thru_node <= self.n_nodes:
            msg = (f"network: first_thru_node must be in 0..{self.n_nodes} "
                   f"(got {self.first_thru_node})")
            raise AssignmentError(msg)
        for name in ("from_node", "to_node", "zone_nodes"):
            arr = getattr(self, name)
            bad = np.flatnonzero((arr < 0) | (arr >= self.n_nodes))
            if bad.size:
                where = (self.link_label(int(bad[0])) if name != "zone_nodes"
                         else f"zone {int(bad[0])}")
                msg = (f"network: {where}: {name} {int(arr[bad[0]])} is not a node "
                       f"(0..{self.n_nodes - 1})")
                raise AssignmentError(msg)
        if np.unique(self.zone_nodes).size != self.n_zones:
            msg = "network: zone_nodes lists a node twice"
            raise AssignmentError(msg)
        checks = (
            ("fft", ~(self.fft >= 0) | ~np.isfinite(self.fft), "free-flow time must be >= 0"),
            ("capacity", ~(self.capacity >= 0) | np.isnan(self.capacity),
             "capacity must be >= 0"),
            ("capacity", (self.capacity == 0) & (self.b > 0),
             "capacity must be > 0 when b > 0"),
            ("b", ~(self.b >= 0) | ~np.isfinite(self.b), "b must be >= 0 and finite"),
            ("power", ~(self.power >= 0) | ~np.isfinite(self.power),
             "power must be >= 0 and finite"),
        )
        for name, bad_mask, what in checks:
            bad = np.flatnonzero(bad_mask)
            if bad.size:
                i = int(bad[0])
                more = f" ({bad.size - 1} more link(s) too)" if bad.size > 1 else ""
                msg = (f"network: {self.link_label(i)}: {what} "
                       f"(got {name} = {getattr(self, name)[i]}){more}")
                raise AssignmentError(msg)


@dataclass
class AssignmentResult:
    """The outcome of :func:`assign`.

    Attributes
    ----------
    flows : ndarray
        Link flows at the last iterate.
    times : ndarray
        Link travel times at those flows.
    iterations : int
        Number of iterations (all-or-nothing loads at iterates; the first is the free-flow load).
    relative_gap : float
        ``(tstt - sptt) / tstt`` of the returned flows.
    tstt, sptt : float
        Total system travel time, and the travel time of the demand on the shortest paths at
        the returned link times.
    beckmann : float
        The Beckmann objective (sum of the integrals of the link cost functions).
    gap_history : ndarray
        Relative gap at every iteration.
    converged : bool
        Whether ``relative_gap`` reached the target within ``max_iter`` iterations.
    method : str
        The algorithm used.
    """

    flows: FloatArray
    times: FloatArray
    iterations: int
    relative_gap: float
    tstt: float
    sptt: float
    beckmann: float
    gap_history: FloatArray
    converged: bool
    method: str


@dataclass(frozen=True)
class FlowComparison:
    """Link flows compared with reference (best-known) flows; see :func:`compare_flows`."""

    max_flow_diff_pct: float
    mean_flow_diff_pct: float
    worst_link: int
    n_compared: int


class _BPR:
    """BPR cost, derivative and integral for a set of links."""

    def __init__(self, net: Network) -> None:
        self.fft = net.fft
        self.fb = net.fft * net.b
        with np.errstate(divide="ignore"):
            self.inv_cap = np.where(net.capacity > 0, 1.0 / net.capacity, 0.0)
        self.power = net.power
        uniq = np.unique(net.power)
        self.p: float | FloatArray = float(uniq[0]) if uniq.size == 1 else net.power

    def _ratio_pow(self, v: FloatArray, sel: IntArray | None, extra: float) -> FloatArray:
        p = self.p if np.ndim(self.p) == 0 or sel is None else np.asarray(self.p)[sel]
        inv = self.inv_cap if sel is None else self.inv_cap[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.power(v * inv, np.asarray(p) + extra)

    def cost(self, v: FloatArray) -> FloatArray:
        return self.fft + self.fb * self._ratio_pow(v, None, 0.0)

    def sub_cost(self, v: FloatArray, sel: IntArray) -> FloatArray:
        return self.fft[sel] + self.fb[sel] * self._ratio_pow(v, sel, 0.0)

    def sub_deriv(self, v: FloatArray, sel: IntArray) -> FloatArray:
        p = np.asarray(self.p) if np.ndim(self.p) == 0 else self.power[sel]
        r = self._ratio_pow(v, sel, -1.0)
        d = self.fb[sel] * p * self.inv_cap[sel] * r
        return np.where(np.isfinite(d), d, 0.0)

    def deriv(self, v: FloatArray) -> FloatArray:
        return self.sub_deriv(v, np.arange(v.shape[0]))

    def integral(self, v: FloatArray) -> float:
        rp1 = self._ratio_pow(v, None, 1.0)
        cap = np.where(self.inv_cap > 0, 1.0 / np.where(self.inv_cap > 0, self.inv_cap, 1.0), 0.0)
        return float(np.sum(self.fft * v + self.fb * cap * rp1 / (self.power + 1.0)))


class _Loader:
    """All-or-nothing loading on one network, reused across iterations."""

    def __init__(self, net: Network, demand: sp.csr_matrix) -> None:
        n, ftn = net.n_nodes, net.first_thru_node
        self.n_graph = g = n + ftn
        tail = np.where(net.from_node < ftn, net.from_node + n, net.from_node)
        key = tail * g + net.to_node
        self.keys, inverse = np.unique(key, return_inverse=True)
        self.link_key_pos = inverse
        self.parallel = self.keys.size < net.n_links
        rows = self.keys // g
        self.indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=g))))
        self.indices = (self.keys % g).astype(np.int32)
        self.best_link = np.empty(self.keys.size, dtype=np.int64)
        self.best_link[inverse] = np.arange(net.n_links)
        self.n_links = net.n_links
        # origins with demand, their graph source node, and their destination loads
        demand = demand.tocsr()
        origins = np.flatnonzero(np.diff(demand.indptr))
        self.origins = origins
        zone_nodes = net.zone_nodes
        o_nodes = zone_nodes[origins]
        self.sources = np.where(o_nodes < ftn, o_nodes + n, o_nodes)
        sub = demand[origins].tocoo()
        self.dem_row = sub.row.astype(np.int64)
        self.dem_node = zone_nodes[sub.col]
        self.dem_val = sub.data.astype(np.float64)
        self.dem_flat = self.dem_row * g + self.dem_node
        self.zone_nodes = zone_nodes
        self.net = net

    def graph(self, cost: FloatArray) -> sp.csr_matrix:
        if self.parallel:
            data = np.full(self.keys.size, np.inf)
            np.minimum.at(data, self.link_key_pos, cost)
            order = np.lexsort((cost, self.link_key_pos))
            first = np.ones(order.size, dtype=bool)
            first[1:] = self.link_key_pos[order][1:] != self.link_key_pos[order][:-1]
            self.best_link = order[first]
        else:
            data = np.empty(self.keys.size)
            data[self.link_key_pos] = cost
        return sp.csr_matrix((data, self.indices, self.indptr),
                             shape=(self.n_graph, self.n_graph))

    def load(self, cost: FloatArray) -> tuple[FloatArray, float]:
        """Return AON link flows and the SPTT at link costs ``cost``."""
        if self.origins.size == 0:
            return np.zeros(self.n_links), 0.0
        g = self.n_graph
        dist, pred = dijkstra(self.graph(cost), directed=True, indices=self.sources,
                              return_predecessors=True)
        d_od = dist.ravel()[self.dem_flat]
        if not np.all(np.isfinite(d_od)):
            self._unreachable(d_od)
        sptt = float(d_od @ self.dem_val)
        k = self.sources.size
        size = k * g
        load = np.zeros(size)
        np.add.at(load, self.dem_flat, self.dem_val)
        pred_flat = pred.ravel().astype(np.int64)
        tree = np.flatnonzero(pred_flat >= 0)
        parent = np.full(size, -1, dtype=np.int64)
        parent[tree] = pred_flat[tree] + (tree // g) * g
        depth = self._depth(parent, tree)
        order = tree[np.argsort(depth[tree], kind="stable")]
        bounds = np.searchsorted(depth[order], np.arange(1, int(depth.max(initial=0)) + 2))
        for lev in range(bounds.size - 2, -1, -1):
            seg = order[bounds[lev]:bounds[lev + 1]]
            np.add.at(load, parent[seg], load[seg])
        used = tree[load[tree] > 0]
        pos = np.searchsorted(self.keys, pred_flat[used] * g + used % g)
        flows = np.bincount(self.best_link[pos], weights=load[used], minlength=self.n_links)
        return flows, sptt

    @staticmethod
    def _depth(parent: IntArray, tree: IntArray) -> IntArray:
        """Depth of every node in its tree by pointer jumping (log(depth) vector passes)."""
        depth = np.zeros(parent.size, dtype=np.int64)
        depth[tree] = 1
        nxt = parent.copy()
        active = tree[nxt[tree] >= 0]
        while active.size:
            up = nxt[active]
            depth[active] += depth[up]
            nxt[active] = nxt[up]
            active = active[nxt[active] >= 0]
        return depth

    def _unreachable(self, d_od: FloatArray) -> None:
        i = int(np.flatnonzero(~np.isfinite(d_od))[0])
        o = int(self.zone_nodes[self.origins[self.dem_row[i]]])
        msg = (f"no path from node {o} to node {int(self.dem_node[i])} "
               f"(demand {self.dem_val[i]:g}); {int(np.sum(~np.isfinite(d_od)))} OD pair(s) "
               "with demand are unreachable: check link directions and first_thru_node")
        raise AssignmentError(msg)


def _line_search(bpr: _BPR, x: FloatArray, d: FloatArray, start: float) -> float:
    """Exact minimiser in [0, 1] of the Beckmann objective along ``x + tau * d``."""
    sel = np.flatnonzero(d)
    if sel.size == 0:
        return 0.0
    xs, ds = x[sel], d[sel]

    def slope(tau: float) -> float:
        return float(bpr.sub_cost(np.maximum(xs + tau * ds, 0.0), sel) @ ds)

    g0 = slope(0.0)
    if g0 >= 0:
        return 0.0
    if slope(1.0) <= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    tau = min(max(start, 1e-6), 1 - 1e-6)
    tol = 1e-12 * abs(g0)
    for _ in range(100):
        v = np.maximum(xs + tau * ds, 0.0)
        g = float(bpr.sub_cost(v, sel) @ ds)
        if abs(g) <= tol:
            break
        if g > 0:
            hi = tau
        else:
            lo = tau
        if hi - lo <= 1e-15:
            break
        h = float(bpr.sub_deriv(v, sel) @ (ds * ds))
        step = tau - g / h if h > 0 else -1.0
        tau = step if lo < step < hi else 0.5 * (lo + hi)
    return tau


def _direction(method: str, x: FloatArray, y: FloatArray, hess: FloatArray,
               prev: list[FloatArray]) -> FloatArray:
    """Return the target point ``s`` (search direction ``s - x``) of one iteration."""
    if method == "fw" or not prev:
        return y
    g = y - x
    p = prev[0] - x
    hp = hess * p
    php, ghp = float(p @ hp), float(g @ hp)
    if method == "bfw" and len(prev) == 2:
        q = prev[1] - x
        hq = hess * q
        qhq, phq, ghq = float(q @ hq), float(p @ hq), float(g @ hq)
        det = php * qhq - phq * phq
        if det > 1e-12 * php * qhq:
            nu = (-ghp * qhq + ghq * phq) / det
            mu = (-ghq * php + ghp * phq) / det
            if nu >= 0 and mu >= 0:
                beta0 = 1.0 / (1.0 + nu + mu)
                return beta0 * (y + nu * prev[0] + mu * prev[1])
    denom = ghp - php
    alpha = ghp / denom if denom != 0 else 0.0
    alpha = min(max(alpha, 0.0), _MAX_CONJ)
    return alpha * prev[0] + (1 - alpha) * y


def _as_demand(demand: ArrayLike | sp.spmatrix | sp.sparray, n_zones: int) -> sp.csr_matrix:
    mat = sp.csr_matrix(demand) if sp.issparse(demand) else sp.csr_matrix(
        np.asarray(demand, dtype=np.float64))
    if mat.shape != (n_zones, n_zones):
        msg = f"demand has shape {mat.shape}, expected ({n_zones}, {n_zones}) (zones x zones)"
        raise AssignmentError(msg)
    mat = mat.astype(np.float64)
    if not np.all(np.isfinite(mat.data)) or np.any(mat.data < 0):
        msg = "demand must be finite and >= 0"
        raise AssignmentError(msg)
    mat.setdiag(0.0)
    mat.eliminate_zeros()
    return mat


def assign(network: Network, demand: ArrayLike | sp.spmatrix | sp.sparray, *,
           gap: float = 1e-5, max_iter: int = 2000, method: Method = "bfw",
           progress: Callable[[int, float], object] | None = None) -> AssignmentResult:
    """Find the static user equilibrium of ``demand`` on ``network``.

    Parameters
    ----------
    network : Network
        The links and their BPR parameters.
    demand : array-like or scipy sparse matrix
        Trips from zone ``i`` to zone ``j`` (``n_zones x n_zones``); the diagonal is ignored.
    gap : float
        Target relative gap ``(TSTT - SPTT) / TSTT``; stops the first time it is reached.
    max_iter : int
        Largest number of iterations; the result says whether it converged.
    method : {"bfw", "cfw", "fw"}
        Bi-conjugate, conjugate or plain Frank-Wolfe.
    progress : callable, optional
        Called as ``progress(iteration, relative_gap)`` after each iteration.

    Returns
    -------
    AssignmentResult

    Raises
    ------
    AssignmentError
        On a bad demand matrix, an unknown method, or an OD pair with demand but no path.

    Examples
    --------
    >>> import numpy as np
    >>> net = Network(n_nodes=2, from_node=[0, 0], to_node=[1, 1], capacity=[100.0, 200.0],
    ...               fft=[10.0, 10.0], b=0.15, power=4, length=1.0, first_thru_node=0,
    ...               zone_nodes=[0, 1])
    >>> res = assign(net, [[0, 300], [0, 0]], gap=1e-8)
    >>> np.round(res.flows, 3).tolist(), round(float(res.times[0]), 3), res.converged
    ([100.0, 200.0], 11.5, True)
    """
    if method not in _METHODS:
        msg = f"unknown method {method!r}; choose one of {', '.join(_METHODS)}"
        raise AssignmentError(msg)
    if not gap > 0 or max_iter < 1:
        msg = f"gap must be > 0 and max_iter >= 1 (got gap={gap}, max_iter={max_iter})"
        raise AssignmentError(msg)
    loader = _Loader(network, _as_demand(demand, network.n_zones))
    bpr = _BPR(network)
    x, _ = loader.load(network.fft)
    history: list[float] = []
    prev: list[FloatArray] = []
    tau = 0.5
    rgap = np.inf
    iteration = 0
    while True:
        iteration += 1
        t = bpr.cost(x)
        y, sptt = loader.load(t)
        tstt = float(t @ x)
        rgap = (tstt - sptt) / tstt if tstt > 0 else 0.0
        history.append(rgap)
        if progress is not None:
            progress(iteration, rgap)
        if rgap <= gap or iteration >= max_iter:
            break
        s = _direction(method, x, y, bpr.deriv(x) if prev else t, prev)
        d = s - x
        if float(t @ d) >= 0 and s is not y:  # not a descent direction: plain FW step
            s = y
            d = y - x
            prev = []
        tau = _line_search(bpr, x, d, tau)
        x = np.maximum(x + tau * d, 0.0)
        prev = [] if tau >= 1.0 - 1e-12 else [s, *prev][:2]
    return AssignmentResult(
        flows=x, times=t, iterations=iteration, relative_gap=float(rgap), tstt=tstt,
        sptt=sptt, beckmann=bpr.integral(x), gap_history=np.asarray(history),
        converged=bool(rgap <= gap), method=method)


def assign_tntp(path: str | Path, **kw: Any) -> tuple[AssignmentResult, TNTPData]:
    """Read a TNTP network and its trips, then :func:`assign` them.

    Parameters
    ----------
    path : str or Path
        A directory holding ``*_net.tntp`` and ``*_trips.tntp``, or the net file itself.
    **kw
        Passed to :func:`assign` (``gap``, ``max_iter``, ``method``, ``progress``).

    Returns
    -------
    (AssignmentResult, TNTPData)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "toy_net.tntp").write_text(
    ...     "<NUMBER OF ZONES> 2\\n<NUMBER OF NODES> 2\\n<FIRST THRU NODE> 1\\n"
    ...     "<NUMBER OF LINKS> 1\\n<END OF METADATA>\\n1 2 100 1 5 0.15 4 0 0 1 ;\\n")
    >>> _ = (d / "toy_trips.tntp").write_text("<NUMBER OF ZONES> 2\\nOrigin 1\\n2 : 100;\\n")
    >>> res, data = assign_tntp(d)
    >>> round(res.tstt, 2), data.name
    (575.0, 'toy')
    """
    from twin.network.tntp import read_tntp

    data = read_tntp(path)
    return assign(data.network, data.demand, **kw), data


def compare_flows(result: AssignmentResult | ArrayLike, best: ArrayLike) -> FlowComparison:
    """Compare link flows with reference flows, e.g. a TNTP best-known solution.

    Parameters
    ----------
    result : AssignmentResult or array-like
        The flows to check.
    best : array-like
        Reference flow per link; links where it is NaN or 0 are not compared.

    Returns
    -------
    FlowComparison
        ``max_flow_diff_pct`` is the largest ``|flow - best| / best`` in percent,
        ``mean_flow_diff_pct`` its mean, ``worst_link`` the index where it is largest.

    Examples
    --------
    >>> compare_flows([99.0, 50.0, 3.0], [100.0, 50.0, 0.0]).max_flow_diff_pct
    1.0
    """
    flows = result.flows if isinstance(result, AssignmentResult) else np.asarray(
        result, dtype=np.float64)
    ref = np.asarray(best, dtype=np.float64)
    if ref.shape != flows.shape:
        msg = f"compare_flows: {flows.shape[0]} flows but {ref.shape[0]} reference flows"
        raise AssignmentError(msg)
    mask = np.isfinite(ref) & (ref > 0)
    if not mask.any():
        return FlowComparison(0.0, 0.0, -1, 0)
    idx = np.flatnonzero(mask)
    pct = 100.0 * np.abs(flows[idx] - ref[idx]) / ref[idx]
    worst = int(np.argmax(pct))
    return FlowComparison(max_flow_diff_pct=float(pct[worst]),
                          mean_flow_diff_pct=float(pct.mean()),
                          worst_link=int(idx[worst]), n_compared=int(idx.size))


def _as_int(values: ArrayLike, name: str) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        as_float = arr.astype(np.float64)
        if not np.all(as_float == np.round(as_float)):
            msg = f"network: {name} must hold integer node indices"
            raise AssignmentError(msg)
    return arr.astype(np.int64)

