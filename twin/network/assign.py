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
See :func:`assign` for an example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import breadth_first_order, dijkstra

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


@dataclass(init=False, eq=False)
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

    def __init__(self, n_nodes: int, from_node: ArrayLike, to_node: ArrayLike,
                 capacity: ArrayLike, fft: ArrayLike, b: ArrayLike, power: ArrayLike,
                 length: ArrayLike, first_thru_node: int, zone_nodes: ArrayLike,
                 link_ids: ArrayLike | None = None) -> None:
        self.n_nodes, self.first_thru_node = int(n_nodes), int(first_thru_node)
        self.from_node = _as_int(from_node, "from_node")
        self.to_node = _as_int(to_node, "to_node")
        self.zone_nodes = _as_int(zone_nodes, "zone_nodes")
        m = self.from_node.shape[0]

        def floats(values: ArrayLike) -> FloatArray:
            arr = np.asarray(values, dtype=np.float64)
            return np.full(m, float(arr)) if arr.ndim == 0 else arr

        self.capacity, self.fft, self.b = floats(capacity), floats(fft), floats(b)
        self.power, self.length = floats(power), floats(length)
        self.link_ids = None if link_ids is None else np.asarray(link_ids)
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
        """Raise one AssignmentError listing every problem found."""
        m, n = self.n_links, self.n_nodes
        shapes = {k: getattr(self, k).shape
                  for k in ("to_node", "capacity", "fft", "b", "power", "length")}
        if self.link_ids is not None:
            shapes["link_ids"] = self.link_ids.shape
        problems = [f"{k} has shape {v}, expected ({m},)" for k, v in shapes.items() if v != (m,)]
        if n < 1 or not 0 <= self.first_thru_node <= n:
            problems.append(f"need n_nodes >= 1 and 0 <= first_thru_node <= n_nodes (got "
                            f"{n} and {self.first_thru_node})")
        if problems:
            raise AssignmentError("network: " + "; ".join(problems))
        bad_zone = np.flatnonzero((self.zone_nodes < 0) | (self.zone_nodes >= n))
        problems += [f"zone {i}: node {self.zone_nodes[i]} is not in 0..{n - 1}"
                     for i in bad_zone[:3]]
        if np.unique(self.zone_nodes).size != self.n_zones:
            problems.append("zone_nodes lists a node twice")
        finite = {k: np.isfinite(getattr(self, k)) for k in ("fft", "b", "power")}
        checks = (
            ("from_node", (self.from_node < 0) | (self.from_node >= n), f"not in 0..{n - 1}"),
            ("to_node", (self.to_node < 0) | (self.to_node >= n), f"not in 0..{n - 1}"),
            ("fft", ~(self.fft >= 0) | ~finite["fft"], "free-flow time must be >= 0"),
            ("capacity", ~(self.capacity >= 0), "capacity must be >= 0"),
            ("capacity", (self.capacity == 0) & (self.fft * self.b > 0),
             "capacity must be > 0 when fft and b are"),
            ("b", ~(self.b >= 0) | ~finite["b"], "b must be >= 0"),
            ("power", ~(self.power >= 0) | ~finite["power"], "power must be >= 0"),
        )
        for name, mask, what in checks:
            bad = np.flatnonzero(mask)
            more = f" ({bad.size - 1} more link(s) too)" if bad.size > 1 else ""
            problems += [f"{self.link_label(int(i))}: {what} (got {name} = "
                         f"{getattr(self, name)[i]}){more}" for i in bad[:1]]
        if problems:
            raise AssignmentError("network: " + "; ".join(problems))


@dataclass
class AssignmentResult:
    """The outcome of :func:`assign`.

    Attributes
    ----------
    flows, times : ndarray
        Link flows at the last iterate, and link travel times at those flows.
    iterations : int
        Number of iterates (the first is the all-or-nothing load at free-flow times).
    relative_gap : float
        ``(tstt - sptt) / tstt`` of the returned flows.
    tstt, sptt : float
        Total system travel time, and the demand's travel time on the shortest paths at
        ``times``.
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
    """BPR cost ``fft + fb * (v / c) ** p``, its derivative and integral, on a set of links."""

    def __init__(self, fft: FloatArray, fb: FloatArray, inv_cap: FloatArray,
                 power: FloatArray, scalar_power: bool | None = None) -> None:
        self.fft, self.fb, self.inv_cap, self.power = fft, fb, inv_cap, power
        # one exponent for all links (the usual case) is a scalar: faster np.power
        self.scalar_power = bool(np.all(power == power[:1])) if scalar_power is None else (
            scalar_power)
        self.p: float | FloatArray = float(power[0]) if self.scalar_power and power.size else power
        self.fbp = fb * power * inv_cap
        self.smooth = bool(np.all(power >= 1))

    @classmethod
    def of(cls, net: Network) -> _BPR:
        inv_cap = np.zeros(net.n_links)
        np.divide(1.0, net.capacity, out=inv_cap, where=net.capacity > 0)
        return cls(net.fft, net.fft * net.b, inv_cap, net.power)

    def subset(self, sel: IntArray) -> _BPR:
        return _BPR(self.fft[sel], self.fb[sel], self.inv_cap[sel], self.power[sel],
                    self.scalar_power)

    def cost(self, v: FloatArray) -> FloatArray:
        return self.fft + self.fb * np.power(v * self.inv_cap, self.p)

    def deriv(self, v: FloatArray) -> FloatArray:
        if self.smooth:
            return self.fbp * np.power(v * self.inv_cap, self.p - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.fbp * np.power(v * self.inv_cap, self.p - 1.0)
        return np.where(np.isfinite(out), out, 0.0)

    def integral(self, v: FloatArray) -> float:
        r = v * self.inv_cap
        # fb * c * r**(p + 1) / (p + 1) == fb * v * r**p / (p + 1)
        return float(np.sum(self.fft * v + self.fb * v * np.power(r, self.p) / (self.power + 1)))


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
        indptr = np.concatenate(([0], np.cumsum(np.bincount(self.keys // g, minlength=g))))
        self.best_link = np.empty(self.keys.size, dtype=np.int64)
        self.best_link[inverse] = np.arange(net.n_links)
        self.csr = sp.csr_matrix((np.ones(self.keys.size), self.keys % g, indptr), shape=(g, g))
        self.n_links = net.n_links
        # origins with demand, their graph source node, and their destination loads
        self.zone_nodes = zones = net.zone_nodes
        self.origins = np.flatnonzero(np.diff(demand.indptr))
        self.sources = np.where(zones[self.origins] < ftn, zones[self.origins] + n,
                                zones[self.origins])
        sub = demand[self.origins].tocoo()
        self.dem_row, self.dem_val = sub.row.astype(np.int64), sub.data.astype(np.float64)
        self.dem_node = zones[sub.col]
        self.dem_flat = self.dem_row * g + self.dem_node

    def graph(self, cost: FloatArray) -> sp.csr_matrix:
        """The shortest-path graph at link costs ``cost`` (cheapest of parallel links)."""
        if self.parallel:
            order = np.lexsort((cost, self.link_key_pos))
            first = np.ones(order.size, dtype=bool)
            first[1:] = self.link_key_pos[order[1:]] != self.link_key_pos[order[:-1]]
            self.best_link = order[first]
        self.csr.data[:] = cost[self.best_link]
        return self.csr

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
        k = self.sources.size
        load = np.zeros(k * g)
        np.add.at(load, self.dem_flat, self.dem_val)
        pred_flat = pred.ravel().astype(np.int64)
        tree = np.flatnonzero(pred_flat >= 0)
        parent = pred_flat[tree] + (tree // g) * g
        _accumulate(load, tree, parent, self.sources + np.arange(k) * g)
        used = tree[load[tree] > 0]
        pos = np.searchsorted(self.keys, pred_flat[used] * g + used % g)
        flows = np.bincount(self.best_link[pos], weights=load[used], minlength=self.n_links)
        return flows.astype(np.float64, copy=False), float(d_od @ self.dem_val)

    def _unreachable(self, d_od: FloatArray) -> None:
        i = int(np.flatnonzero(~np.isfinite(d_od))[0])
        o = int(self.zone_nodes[self.origins[self.dem_row[i]]])
        msg = (f"no path from node {o} to node {int(self.dem_node[i])} "
               f"(demand {self.dem_val[i]:g}); {int(np.sum(~np.isfinite(d_od)))} OD pair(s) "
               "with demand are unreachable: check link directions and first_thru_node")
        raise AssignmentError(msg)


#: Forests up to this many (origin, node) slots are accumulated by pointer jumping, larger ones
#: by one breadth-first search (less fixed cost vs. less work per node; crossover ~3,000).
_SMALL_FOREST = 3000


def _accumulate(load: FloatArray, tree: IntArray, parent: IntArray, roots: IntArray) -> None:
    """Add to every node of a forest the load of all its descendants, in place.

    ``tree`` are the non-root nodes and ``parent`` their parents. Nodes are grouped by depth,
    and levels are folded into their parents deepest first (``np.add.at`` per level).
    """
    size = load.size
    if size <= _SMALL_FOREST:
        order, ends, up = _levels_by_jumping(size, tree, parent)
    else:
        order, ends, up = _levels_by_bfs(size, tree, parent, roots)
    for lev in range(len(ends) - 1, 0, -1):
        seg = order[ends[lev - 1]:ends[lev]]
        np.add.at(load, up[seg], load[seg])


def _levels_by_jumping(size: int, tree: IntArray,
                       parent: IntArray) -> tuple[IntArray, list[int], IntArray]:
    """Non-root nodes sorted by depth, depth from pointer jumping (log(depth) passes)."""
    up, depth = np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64)
    up[tree], depth[tree] = parent, 1
    nxt = up.copy()
    active = tree[nxt[tree] >= 0]
    while active.size:
        jump = nxt[active]
        depth[active] += depth[jump]
        nxt[active] = nxt[jump]
        active = active[nxt[active] >= 0]
    order = tree[np.argsort(depth[tree], kind="stable")]
    ends = np.searchsorted(depth[order], np.arange(1, int(depth.max(initial=0)) + 2))
    return order, ends.tolist(), up


def _levels_by_bfs(size: int, tree: IntArray, parent: IntArray,
                   roots: IntArray) -> tuple[IntArray, list[int], IntArray]:
    """Nodes in breadth-first order from a super-root joined to ``roots``.

    In that order parents' positions never decrease, so each level's end is one binary search.
    """
    top = size  # the super-root
    rows, cols = np.concatenate((np.full(roots.size, top), parent)), np.concatenate((roots, tree))
    forest = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(size + 1, size + 1))
    order = breadth_first_order(forest, top, directed=True, return_predecessors=False)
    up = np.full(size + 1, top, dtype=np.int64)
    up[tree] = parent
    where = np.empty(size + 1, dtype=np.int64)
    where[order] = np.arange(order.size)
    parent_pos = where[up[order]]
    parent_pos[0] = -1
    ends = [1, 1 + roots.size]  # level 0: the super-root; level 1: the roots
    while ends[-1] < order.size:
        ends.append(int(np.searchsorted(parent_pos, ends[-1], side="left")))
    # keep levels >= 2 (nodes with a real parent)
    return order, ends[1:], up


def _line_search(bpr: _BPR, x: FloatArray, d: FloatArray, start: float) -> float:
    """Exact minimiser in [0, 1] of the Beckmann objective along ``x + tau * d``.

    Safeguarded Newton on the directional derivative, warm-started at ``start`` (the
    previous step), on the links where ``d`` is not zero.
    """
    sel = np.flatnonzero(d)
    sub, xs, ds = bpr.subset(sel), x[sel], d[sel]
    g0 = float(sub.cost(xs) @ ds)
    if sel.size == 0 or g0 >= 0:
        return 0.0
    if float(sub.cost(np.maximum(xs + ds, 0.0)) @ ds) <= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    tau = min(max(start, 1e-6), 1 - 1e-6)
    tol = 1e-12 * abs(g0)
    d2 = ds * ds
    for _ in range(100):
        v = np.maximum(xs + tau * ds, 0.0)
        g = float(sub.cost(v) @ ds)
        if abs(g) <= tol:
            break
        lo, hi = (lo, tau) if g > 0 else (tau, hi)
        if hi - lo <= 1e-15:
            break
        h = float(sub.deriv(v) @ d2)
        step = tau - g / h if h > 0 else -1.0
        tau = step if lo < step < hi else 0.5 * (lo + hi)
    return tau


def _conjugate(method: str, x: FloatArray, y: FloatArray, hess: FloatArray,
               prev: list[FloatArray]) -> FloatArray:
    """Return the target point ``s`` (search direction ``s - x``) of a (bi-)conjugate step.

    ``y`` is the all-or-nothing flow at ``x``, ``prev`` the previous targets (latest first) and
    ``hess`` the diagonal Hessian of the objective at ``x``. The direction is made conjugate
    (``d' H d_prev = 0``) to the one or two previous directions while ``s`` stays a convex
    combination of ``y`` and ``prev``; if the bi-conjugate weights are not all >= 0, the
    conjugate direction is used (weight on ``prev[0]`` clipped to ``[0, 0.99999]``).
    """
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
    if alpha > _MAX_CONJ:  # the previous direction would dominate: jamming, restart
        return y
    alpha = max(alpha, 0.0)
    return alpha * prev[0] + (1 - alpha) * y


def _as_demand(demand: ArrayLike | sp.spmatrix | sp.sparray, n_zones: int) -> sp.csr_matrix:
    coo = sp.coo_matrix(demand if sp.issparse(demand) else np.asarray(demand, dtype=float),
                        dtype=np.float64)
    if coo.shape != (n_zones, n_zones):
        msg = f"demand has shape {coo.shape}, expected ({n_zones}, {n_zones}) (zones x zones)"
        raise AssignmentError(msg)
    if not np.all(np.isfinite(coo.data)) or np.any(coo.data < 0):
        msg = "demand must be finite and >= 0"
        raise AssignmentError(msg)
    keep = (coo.row != coo.col) & (coo.data > 0)  # intrazonal trips use no link
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


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
    bpr = _BPR.of(network)
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
        s = y if method == "fw" or not prev else _conjugate(method, x, y, bpr.deriv(x), prev)
        d = s - x
        if s is not y and float(t @ d) >= 0:  # not a descent direction: plain FW step
            s, d, prev = y, y - x, []
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
    arr = np.asarray(values).reshape(-1)
    if not np.issubdtype(arr.dtype, np.integer) and np.any(arr != np.round(arr)):
        msg = f"network: {name} must hold integer node indices"
        raise AssignmentError(msg)
    return arr.astype(np.int64)

