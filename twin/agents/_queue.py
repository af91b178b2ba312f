"""The stepping kernel of the mobility engine: FIFO link queues on flat ring buffers.

Every link's queue is a slice of one flat array used as a ring buffer (``off``, ``cap``,
``head``, ``size`` per link). Each link has a wake-up time ``wake``: the earliest clock at which
its head may leave (its exit time and the flow capacity allow it), or, while the head waits for
a full next link, the time it may squeeze on (``stuck``); a vehicle leaving a link wakes the
links entering that link's start node. One step works on arrays of candidates only: the links
due (one comparison over all links), the vehicles at their heads, the vehicles waiting to
depart. There is no Python call per vehicle.

Times are continuous: a vehicle that is not held back leaves a link exactly at its earliest
exit time ``ready`` (enter + free-flow time); a vehicle held back (flow capacity used up, next
link full) leaves at the clock ``t`` of the step it moves in. The step at clock ``t`` handles
the events of ``(t - step, t]``. Space freed on a link during a step is offered from the next
step on, so the outcome does not depend on the order links are processed in.

Capacity, free-flow time and closures may change at given clocks (:class:`Changes`, hour
boundaries): a change at ``tb`` applies at the start of the first step whose clock is >= ``tb``
(the capacity accrued until ``tb`` at the old rate is kept, up to the new step's worth); a
vehicle takes the free-flow time of the link when it enters it. No vehicle enters a closed link
(nor squeezes onto it); a head waiting for a closed link sleeps until it reopens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_EPS = 1e-9
_CAP_EPS = 1e-6


class Changes(NamedTuple):
    """Changes of link parameters at given clocks (CSR by change time).

    Change ``c`` at clock ``t[c]`` sets, for the links ``link[ptr[c]:ptr[c + 1]]``, their flow
    capacity (``cap``, veh/s), free-flow time (``fft``) and closure (``closed``: no entry).
    """

    t: FloatArray
    ptr: IntArray
    link: IntArray
    cap: FloatArray
    fft: FloatArray
    closed: BoolArray

    @classmethod
    def none(cls) -> Changes:
        """No change."""
        return cls(np.zeros(0), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                   np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))


def _group_ranks(keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Rank of each element within its run of equal ``keys`` (keys sorted).

    Returns ranks, run starts and run lengths.
    """
    n = keys.size
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    if new.all():
        ar = np.arange(n)
        return np.zeros(n, dtype=np.int64), ar, np.ones(n, dtype=np.int64)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n))
    ranks = np.arange(n) - np.repeat(starts, counts)
    return ranks, starts, counts


def _allowed(acc: FloatArray) -> IntArray:
    """Vehicles a link may let out with accumulated capacity ``acc``: one more while > 0."""
    return np.where(acc > _CAP_EPS, np.ceil(acc - _CAP_EPS), 0.0).astype(np.int64)


def _capacity_back(left: FloatArray, per_step: FloatArray, t: float, step: float
                   ) -> FloatArray:
    """First clock at which capacity ``left`` (refilled ``per_step``) is positive again."""
    wait = np.floor((_CAP_EPS - left) / np.maximum(per_step, 1e-300)) + 1.0
    return np.where(left > _CAP_EPS, t, t + wait * step)


def _run_max(values: FloatArray, keys: IntArray, floor: FloatArray) -> FloatArray:
    """Running maximum of ``values`` within runs of equal ``keys``, from ``floor[key]``."""
    ranks, starts, _ = _group_ranks(keys)
    out = values.copy()
    out[starts] = np.maximum(out[starts], floor[keys[starts]])
    for r in range(1, int(ranks.max()) + 1):
        at = np.flatnonzero(ranks == r)
        out[at] = np.maximum(out[at], out[at - 1])
    return out


def _prefix(ok: BoolArray, g: IntArray, gstart: IntArray) -> BoolArray:
    """True where ``ok`` holds for this element and every earlier one of its group.

    ``g`` is the group of each element (groups contiguous, in order); ``gstart`` the index of
    each group's first element.
    """
    bad: IntArray = np.cumsum(~ok)
    before: IntArray = bad[gstart] - (~ok[gstart])
    return (bad - before[g]) == 0


class _Queues:
    """FIFO queues of vehicle ids, one per link, in one flat ring buffer."""

    def __init__(self, capacity: IntArray) -> None:
        self.cap = capacity.astype(np.int64)
        self.off = np.concatenate([[0], np.cumsum(self.cap)[:-1]]).astype(np.int64)
        self.buf = np.zeros(int(self.cap.sum()), dtype=np.int64)
        self.head = np.zeros(self.cap.size, dtype=np.int64)
        self.size = np.zeros(self.cap.size, dtype=np.int64)
        self.grown = 0

    def heads(self, links: IntArray) -> IntArray:
        """Vehicle at the head of each link (a stale but valid id where empty)."""
        return self.buf[self.off[links] + self.head[links]]

    def first(self, links: IntArray, n: IntArray) -> tuple[IntArray, IntArray]:
        """The first ``n[i]`` vehicles of each link: (vehicles, group index into ``links``)."""
        g = np.repeat(np.arange(links.size), n)
        j = np.arange(g.size) - np.repeat(np.cumsum(n) - n, n)
        lg = links[g]
        return self.buf[self.off[lg] + (self.head[lg] + j) % self.cap[lg]], g

    def pop(self, links: IntArray, n: IntArray) -> None:
        """Remove ``n`` vehicles from the head of each (distinct) link."""
        self.head[links] = (self.head[links] + n) % self.cap[links]
        self.size[links] -= n

    def append(self, links: IntArray, vehicles: IntArray) -> tuple[IntArray, BoolArray]:
        """Append ``vehicles`` to the tails of ``links`` (sorted by link; order kept within).

        Returns the distinct links appended to and whether each was empty before.
        """
        ranks, starts, counts = _group_ranks(links)
        ulinks = links[starts]
        before: IntArray = self.size[ulinks]
        if np.any(before + counts > self.cap[ulinks]):
            self._grow(ulinks, before + counts)
        pos = self.head[links] + self.size[links] + ranks
        self.buf[self.off[links] + pos % self.cap[links]] = vehicles
        self.size[ulinks] = before + counts
        return ulinks, before == 0

    def _grow(self, links: IntArray, need: IntArray) -> None:
        """Give ``links`` room for ``need`` vehicles: new rings at the end of the buffer."""
        short = need > self.cap[links]
        lk = links[short]
        new_cap = np.maximum(2 * self.cap[lk], need[short] + 16)
        new_off = self.buf.size + np.concatenate([[0], np.cumsum(new_cap)[:-1]])
        sizes = self.size[lk]
        g = np.repeat(np.arange(lk.size), sizes)
        j = np.arange(g.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        moved = self.buf[self.off[lk][g] + (self.head[lk][g] + j) % self.cap[lk][g]]
        self.buf = np.concatenate([self.buf, np.zeros(int(new_cap.sum()), dtype=np.int64)])
        self.buf[new_off[g] + j] = moved
        self.off[lk], self.cap[lk], self.head[lk] = new_off, new_cap, 0
        self.grown += 1


@dataclass
class KernelOutput:
    """Raw output of :func:`run`."""

    arrive: FloatArray
    enter: FloatArray
    spill: FloatArray
    squeezed: int
    steps: int


class _Sim:
    """State of one simulated period; :meth:`step` advances it by one step."""

    def __init__(self, fft: FloatArray, cap_per_s: FloatArray, storage: FloatArray,
                 from_node: IntArray, to_node: IntArray, depart: FloatArray, ptr: IntArray,
                 route: IntArray, *, step: float, start: float, stuck: float,
                 closed: BoolArray | None = None, changes: Changes | None = None) -> None:
        n_links = fft.size
        n = depart.size
        # copies: link parameters change in place at the change clocks
        self.fft, self.cap_per_s, self.storage = fft.copy(), cap_per_s.copy(), storage
        self.closed = np.zeros(n_links, dtype=bool) if closed is None else closed.copy()
        self.changes = changes if changes is not None else Changes.none()
        self.ci = 0
        self.from_node = from_node
        self.depart, self.ptr, self.route = depart, ptr, route
        self.step_s, self.start, self.stuck = step, start, stuck
        self.enter = np.full(route.size, np.nan)
        self.arrive = np.full(n, np.nan)
        empty = ptr[1:] == ptr[:-1]
        self.arrive[empty] = depart[empty]
        self.last = ptr[1:] - 1
        self.route_end = max(route.size - 1, 0)
        self.first_link = np.full(n, -1, dtype=np.int64)
        self.first_link[~empty] = route[ptr[:-1][~empty]]
        movers = np.flatnonzero(~empty)
        self.dep_ids = movers[np.argsort(depart[movers], kind="stable")]
        self.dep_t = depart[self.dep_ids]
        self.dp = 0
        # links entering each node (CSR), to wake them when space frees downstream
        order = np.argsort(to_node, kind="stable")
        self.in_links = order.astype(np.int64)
        self.in_ptr = np.concatenate([[0], np.cumsum(np.bincount(
            to_node, minlength=int(max(from_node.max(initial=0), to_node.max(initial=0))) + 1
        ))]).astype(np.int64)
        self.cur = ptr[:-1].copy()
        self.ready = np.full(n, np.inf)
        self.q = _Queues(2 * np.ceil(storage).astype(np.int64) + 4)
        self.wake = np.full(n_links, np.inf)
        self.blocked_on = np.full(n_links, -1, dtype=np.int64)
        self.acc_max = cap_per_s * step
        self.acc = self.acc_max.copy()
        self.tail_t = np.full(n_links, -np.inf)
        self.acc_t = np.full(n_links, start)
        self.tcap = np.full(n_links, start)
        self.exited = np.zeros(n_links, dtype=np.int64)
        self.spill = np.zeros(n_links)
        self.last_sample = start
        self.waiting = np.empty(0, dtype=np.int64)
        self.in_net = 0
        self.squeezed = 0
        self.steps = 0

    # ---------------------------------------------------------------- bookkeeping
    def _head_wake(self, links: IntArray) -> FloatArray:
        """When each (non-empty) link's head may leave: its exit time and capacity allowing."""
        return np.maximum(self.ready[self.q.heads(links)], self.tcap[links])

    def sample_full(self, t: float) -> None:
        """Credit the links full since the last sample with the time elapsed."""
        full = self.q.size >= self.storage - _EPS
        self.spill[full] += t - self.last_sample
        self.last_sample = t

    def _enqueue(self, links: IntArray, vehicles: IntArray) -> None:
        """Append vehicles (sorted by link) and wake the links that were empty."""
        ulinks, was_empty = self.q.append(links, vehicles)
        if was_empty.any():
            new = ulinks[was_empty]
            self.wake[new] = self._head_wake(new)

    # ---------------------------------------------------------------- phases
    def apply_changes(self, t: float, k: int) -> None:
        """Apply the changes due by clock ``t`` (at the start of step ``k``).

        Capacity accrued at the old rate is settled at the change clock; links that are not
        due in this step are rescheduled for their head's new wake-up time (from step
        ``k + 1`` on); links waiting for a link that reopens are woken.
        """
        ch = self.changes
        t_next = self.start + (k + 1) * self.step_s
        while self.ci < ch.t.size and ch.t[self.ci] <= t:
            tb = float(ch.t[self.ci])
            lk = ch.link[ch.ptr[self.ci]:ch.ptr[self.ci + 1]]
            self.ci += 1
            if lk.size == 0:
                continue
            sl = slice(ch.ptr[self.ci - 1], ch.ptr[self.ci])
            old = self.acc_t[lk] < tb
            lo = lk[old]
            self.acc[lo] = np.minimum(self.acc[lo] + self.cap_per_s[lo] * (tb - self.acc_t[lo]),
                                      self.acc_max[lo])
            self.acc_t[lo] = tb
            reopened = lk[self.closed[lk] & ~ch.closed[sl]]
            self.cap_per_s[lk] = ch.cap[sl]
            self.acc_max[lk] = ch.cap[sl] * self.step_s
            self.acc[lk] = np.minimum(self.acc[lk], self.acc_max[lk])
            self.tcap[lk] = _capacity_back(self.acc[lk], self.acc_max[lk], tb, self.step_s)
            self.fft[lk] = ch.fft[sl]
            self.closed[lk] = ch.closed[sl]
            busy = lk[(self.q.size[lk] > 0) & (self.blocked_on[lk] < 0) & (self.wake[lk] > t)]
            if busy.size:
                self.wake[busy] = np.maximum(self._head_wake(busy), t_next)
            if reopened.size:
                self._wake_waiting(reopened, t, t_next)

    def _wake_waiting(self, links: IntArray, t: float, t_next: float) -> None:
        """Wake (from ``t_next``) the links whose head sleeps waiting for one of ``links``."""
        nodes = self.from_node[links]
        lo, hi = self.in_ptr[nodes], self.in_ptr[nodes + 1]
        n = hi - lo
        idx = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        up = self.in_links[idx]
        up = up[(self.blocked_on[up] == np.repeat(links, n)) & (self.wake[up] > t)]
        if up.size:
            self.wake[up] = np.maximum(np.minimum(self.wake[up], self._head_wake(up)), t_next)
            self.blocked_on[up] = -1

    def _depart(self, t: float) -> None:
        """Trips departing by ``t`` join the waiting buffer of their first link."""
        if self.dp < self.dep_t.size and self.dep_t[self.dp] <= t:
            j = int(np.searchsorted(self.dep_t, t, side="right"))
            new = self.dep_ids[self.dp:j]
            self.dp = j
            self.waiting = new if self.waiting.size == 0 else np.concatenate((self.waiting, new))

    def _move(self, t: float) -> IntArray:
        """Due link heads leave within flow capacity and the next link's free storage.

        Returns the links that let vehicles leave.
        """
        act = np.flatnonzero(self.wake <= t)
        if act.size == 0:
            return act
        q, ready, step = self.q, self.ready, self.step_s
        a_acc = np.minimum(self.acc[act] + self.cap_per_s[act] * (t - self.acc_t[act]),
                           self.acc_max[act])
        self.acc[act] = a_acc
        self.acc_t[act] = t
        nmax = np.minimum(q.size[act], _allowed(a_acc))
        zero = nmax == 0
        if zero.any():  # capacity not quite there (rounding): look again next step
            self.wake[act[zero]] = t + step
            self.blocked_on[act[zero]] = -1
            act, a_acc, nmax = act[~zero], a_acc[~zero], nmax[~zero]
            if act.size == 0:
                return act
        if int(nmax.max()) <= 1:
            cand = q.heads(act)
            single = True
            g = gstart = np.arange(act.size)
        else:
            cand, g = q.first(act, nmax)
            gstart = np.cumsum(nmax) - nmax
            single = False
            ok_r = ready[cand] <= t
            if not ok_r.all():
                keep = _prefix(ok_r, g, gstart)
                cand, g = cand[keep], g[keep]
                counts = np.bincount(g, minlength=act.size)
                gstart = np.cumsum(counts) - counts
                single = bool(counts.max() <= 1)
        c = self.cur[cand]
        is_last = c == self.last[cand]
        d = self.route[np.minimum(c + 1, self.route_end)]
        rc = ready[cand]
        # free storage of the next links, first come first served (earliest exit first)
        o = np.lexsort((rc, d, is_last))
        n_thr = cand.size - int(np.count_nonzero(is_last))
        o = o[:n_thr]
        ds = d[o]
        ok = is_last.copy()
        squeeze = None
        if n_thr:
            ranks, _, _ = _group_ranks(ds)
            fits = (ranks < np.ceil(self.storage[ds] - q.size[ds] - _EPS)) & ~self.closed[ds]
            if not fits.all():
                squeeze = ~fits & (t - rc[o] >= self.stuck) & ~self.closed[ds]
                fits |= squeeze
            ok[o] = fits
        moved = ok if single or ok.all() else _prefix(ok, g, gstart)
        if squeeze is not None:
            self.squeezed += int(np.count_nonzero(squeeze & moved[o]))
        npop = np.bincount(g[moved], minlength=act.size) if not single \
            else moved.astype(np.int64)
        if not moved.any():
            self._sleep(act, cand[gstart], t)
            return act[:0]
        # exit times: exact if the link's head was not held, else the clock (keeps FIFO order)
        te = np.where(rc[gstart][g] > t - step, rc, t)
        # leaving links: capacity used, heads advance
        popped = npop > 0
        pl, npl = act[popped], npop[popped]
        q.pop(pl, npl)
        acc_left = a_acc[popped] - npl
        self.acc[pl] = acc_left
        self.tcap[pl] = _capacity_back(acc_left, self.cap_per_s[pl] * step, t, step)
        self.exited[pl] = npl
        # arrivals
        arr = moved & is_last
        if arr.any():
            self.arrive[cand[arr]] = te[arr]
            self.in_net -= int(np.count_nonzero(arr))
        # onto the next link, appended in (next link, exit time) order
        if n_thr:
            s2 = o[moved[o]]
            if s2.size:
                s2 = s2[np.lexsort((rc[s2], te[s2], d[s2]))]
                v2 = cand[s2]
                c2 = c[s2] + 1
                self.cur[v2] = c2
                te2 = te[s2]
                self.enter[c2] = te2
                d2 = d[s2]
                ready[v2] = te2 + self.fft[d2]
                self._enqueue(d2, v2)
                _, st, cn = _group_ranks(d2)
                self.tail_t[d2[st]] = te2[st + cn - 1]
        # new heads of the links left; links entering their start node may now find space
        nonempty = q.size[pl] > 0
        self.wake[pl] = np.inf
        self.wake[pl[nonempty]] = self._head_wake(pl[nonempty])
        self.blocked_on[pl] = -1
        self._wake_upstream(pl)
        if not popped.all():
            self._sleep(act[~popped], cand[gstart[~popped]], t)
        return pl

    def _sleep(self, links: IntArray, heads: IntArray, t: float) -> None:
        """Links whose head could not move on: wait for space downstream, or the stuck time.

        A head whose next link still has room (it lost the space to others, or to FIFO) looks
        again next step; otherwise the link sleeps until a vehicle leaves a link starting at
        its end node (:meth:`_wake_upstream`) or the head may squeeze on.
        """
        nxt = self.route[self.cur[heads] + 1]
        shut = self.closed[nxt]
        room = (self.q.size[nxt] < self.storage[nxt] - _EPS) & ~shut
        self.wake[links] = np.where(room, t + self.step_s,
                                    np.where(shut, np.inf, self.ready[heads] + self.stuck))
        self.blocked_on[links] = np.where(room, -1, nxt)

    def _wake_upstream(self, links: IntArray) -> None:
        """Wake the links entering the start nodes of ``links`` that sleep waiting for them."""
        nodes = self.from_node[links]
        lo, hi = self.in_ptr[nodes], self.in_ptr[nodes + 1]
        n = hi - lo
        idx = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        up = self.in_links[idx]
        up = up[self.blocked_on[up] == np.repeat(links, n)]
        if up.size:
            self.wake[up] = np.minimum(self.wake[up], self._head_wake(up))
            self.blocked_on[up] = -1

    def _admit(self, t: float) -> int:
        """Waiting vehicles enter their first link where it has free storage."""
        w = self.waiting
        fl = self.first_link[w]
        shut = self.closed[fl]
        free = np.where(shut, 0.0,
                        np.ceil(self.storage[fl] - self.q.size[fl] - self.exited[fl] - _EPS))
        dv = self.depart[w]
        stuck = (t - np.maximum(dv, self.start) >= self.stuck) & ~shut
        may = (free > 0) | stuck
        if not may.any():
            return 0
        sub = np.flatnonzero(may)
        o = sub[np.argsort(fl[sub], kind="stable")]
        fls = fl[o]
        ranks, _, _ = _group_ranks(fls)
        adm = ranks < free[o]
        squeeze = ~adm & stuck[o]
        if squeeze.any():
            self.squeezed += int(np.count_nonzero(squeeze))
            adm |= squeeze
        idx = o[adm]
        v = w[idx]
        lk = fls[adm]
        dvv = dv[idx]
        te = np.maximum(dvv, self.start) if self.steps == 1 else \
            np.where(dvv > t - self.step_s, dvv, t)
        te = _run_max(te, lk, self.tail_t)
        _, st, cn = _group_ranks(lk)
        self.tail_t[lk[st]] = te[st + cn - 1]
        self.enter[self.ptr[v]] = te
        self.ready[v] = te + self.fft[lk]
        self._enqueue(lk, v)
        self.in_net += v.size
        keep = np.ones(w.size, dtype=bool)
        keep[idx] = False
        self.waiting = w[keep]
        return int(v.size)

    def step(self, t: float, k: int) -> bool:
        """Advance to clock ``t`` (step ``k``); return whether anything moved or waits."""
        self.steps += 1
        if self.ci < self.changes.t.size:
            self.apply_changes(t, k)
        self._depart(t)
        pl = self._move(t)
        n_adm = self._admit(t) if self.waiting.size else 0
        if pl.size:
            self.exited[pl] = 0
        return bool(pl.size or n_adm or self.waiting.size)

    def next_event(self, k: int, end: float) -> float:
        """Clock of the next departure, or of the first step a link is due after step ``k``.

        inf when there is neither (wake-ups past ``end`` do not count).
        """
        nxt = float(self.dep_t[self.dp]) if self.dp < self.dep_t.size else np.inf
        if self.in_net:
            w = float(self.wake.min())
            n_b = int(np.floor((end - self.start) / self.step_s)) + 2
            b = _first_step(w, k, self.start, self.step_s, n_b)
            if b >= 0:
                nxt = min(nxt, self.start + b * self.step_s)
            if self.ci < self.changes.t.size:   # a reopening may free waiting vehicles
                nxt = min(nxt, float(self.changes.t[self.ci]))
        return nxt


def _first_step(w: float, k: int, start: float, step: float, n_b: int) -> int:
    """First step after ``k`` whose clock ``start + b * step`` is >= ``w`` (-1: none < n_b)."""
    if not w < np.inf or (w - start) / step > n_b:
        return -1
    b = int(np.ceil((w - start) / step))
    while start + b * step < w:
        b += 1
    while b - 1 > k and start + (b - 1) * step >= w:
        b -= 1
    b = max(b, k + 1)
    return b if b < n_b else -1


def run(fft: FloatArray, cap_per_s: FloatArray, storage: FloatArray, from_node: IntArray,
        to_node: IntArray, depart: FloatArray, ptr: IntArray, route: IntArray, *,
        step: float, start: float, end: float, stuck: float,
        progress: Callable[[float], None] | None = None,
        progress_every: float = 60.0, spill_every: float = 10.0,
        closed: BoolArray | None = None, changes: Changes | None = None) -> KernelOutput:
    """Move every trip along its route from ``start`` to ``end``; see the module docstring.

    ``fft``, ``cap_per_s`` and ``closed`` hold the values at ``start``; ``changes`` the later
    ones (the arrays given are not modified).
    """
    sim = _Sim(fft, cap_per_s, storage, from_node, to_node, depart, ptr, route, step=step,
               start=start, stuck=stuck, closed=closed, changes=changes)
    t = start
    next_progress = start + progress_every
    k = 0
    while True:
        k += 1
        t = start + k * step
        if t > end + _EPS:
            t = start + (k - 1) * step
            break
        if t >= sim.last_sample + spill_every:
            sim.sample_full(t)
        busy = sim.step(t, k)
        if progress is not None and t >= next_progress:
            progress(t)
            next_progress = t + progress_every
        if not busy:  # nothing can happen before the next event: jump the clock
            nxt = sim.next_event(k, end)
            if not np.isfinite(nxt):
                break
            k = max(k, int(np.floor((nxt - start) / step - _EPS)))
    sim.sample_full(end)
    return KernelOutput(arrive=sim.arrive, enter=sim.enter, spill=sim.spill,
                        squeezed=sim.squeezed, steps=sim.steps)
