"""The stepping kernel compiled with numba: the same steps as :mod:`twin.agents._queue`.

:mod:`twin.agents._queue` is the reference: numpy over arrays of candidates per step. Its floor
is numpy's per-call overhead (~60 calls a step, ~0.15 ms): about 10 s CPU for a 19-hour day of
1 s steps even on a nearly empty network. This module applies the identical rules (same
candidate order, tie-breaks and floating-point formulas) in compiled loops, and finds the due
links with a calendar (one bucket per step; a link sits in the bucket of its wake-up time)
instead of comparing every link every step, so a day costs about what its moving vehicles
cost. The tests check that both kernels return identical arrays.

The clock loop runs inside numba in chunks that end at each progress call, so Python is
entered once per reported simulated minute.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from twin.agents._queue import (
    _CAP_EPS,
    _EPS,
    BoolArray,
    Changes,
    FloatArray,
    IntArray,
    KernelOutput,
)

# integer scalars kept between chunks
_K, _DP, _NW, _INNET, _SQZ, _STEPS, _DONE, _USED, _KB, _CI = range(10)
# float scalars
_T, _LAST_SAMPLE = range(2)


@njit(cache=True)
def _bucket(w, k, start, step, n_b):
    """Calendar bucket of wake-up time ``w`` seen at step ``k`` (-1: never, or past the end).

    The bucket is the first step whose clock ``start + b * step`` is >= ``w``, and at least
    the next step.
    """
    if not w < np.inf or (w - start) / step > n_b:
        return -1
    b = np.int64(np.ceil((w - start) / step))
    while start + b * step < w:
        b += 1
    while b - 1 > k and start + (b - 1) * step >= w:
        b -= 1
    b = max(b, k + 1)
    return b if b < n_b else -1


@njit(cache=True)
def _schedule(lk, w, k, wake, sched, lprev, lnext, bfirst, start, step):
    """Set link ``lk``'s wake-up time and move it to the matching calendar bucket."""
    wake[lk] = w
    b = _bucket(w, k, start, step, bfirst.size)
    old = sched[lk]
    if old == b:
        return
    if old >= 0:
        p = lprev[lk]
        nx = lnext[lk]
        if p >= 0:
            lnext[p] = nx
        else:
            bfirst[old] = nx
        if nx >= 0:
            lprev[nx] = p
    if b >= 0:
        nx = bfirst[b]
        lnext[lk] = nx
        lprev[lk] = -1
        if nx >= 0:
            lprev[nx] = lk
        bfirst[b] = lk
    sched[lk] = b


@njit(cache=True)
def _grow(qbuf, qoff, qcap, qhead, qsize, lk, need, si):
    """Room for ``need`` vehicles on ``lk``: a new ring at the end of the used buffer."""
    new_cap = max(2 * qcap[lk], need + 16)
    used = si[_USED]
    if used + new_cap > qbuf.size:
        bigger = np.zeros(max(2 * qbuf.size, used + new_cap), dtype=np.int64)
        bigger[:used] = qbuf[:used]
        qbuf = bigger
    for j in range(qsize[lk]):
        qbuf[used + j] = qbuf[qoff[lk] + (qhead[lk] + j) % qcap[lk]]
    qoff[lk] = used
    qcap[lk] = new_cap
    qhead[lk] = 0
    si[_USED] = used + new_cap
    return qbuf


@njit(cache=True)
def _head_wake(lk, qbuf, qoff, qhead, ready, tcap):
    return max(ready[qbuf[qoff[lk] + qhead[lk]]], tcap[lk])


@njit(cache=True)
def _apply_changes(t, k, si, chg_t, chg_ptr, chg_link, chg_cap, chg_fft, chg_closed, fft,
                   cap_per_s, acc_max, acc, acc_t, tcap, closed, qbuf, qoff, qhead, qsize,
                   ready, wake, sched, lprev, lnext, bfirst, blocked_on, from_node, in_ptr,
                   in_links, start, step):
    """The changes due by clock ``t`` at the start of step ``k`` (see the numpy kernel)."""
    while si[_CI] < chg_t.size and chg_t[si[_CI]] <= t:
        c = si[_CI]
        si[_CI] = c + 1
        tb = chg_t[c]
        reopened = np.zeros(chg_ptr[c + 1] - chg_ptr[c], dtype=np.bool_)
        for e in range(chg_ptr[c], chg_ptr[c + 1]):
            lk = chg_link[e]
            if acc_t[lk] < tb:
                acc[lk] = min(acc[lk] + cap_per_s[lk] * (tb - acc_t[lk]), acc_max[lk])
                acc_t[lk] = tb
            reopened[e - chg_ptr[c]] = closed[lk] and not chg_closed[e]
            cap_per_s[lk] = chg_cap[e]
            acc_max[lk] = chg_cap[e] * step
            acc[lk] = min(acc[lk], acc_max[lk])
            if acc[lk] > _CAP_EPS:
                tcap[lk] = tb
            else:
                wait = np.floor((_CAP_EPS - acc[lk]) / max(acc_max[lk], 1e-300)) + 1.0
                tcap[lk] = tb + wait * step
            fft[lk] = chg_fft[e]
            closed[lk] = chg_closed[e]
            due = sched[lk] >= 0 and sched[lk] <= k
            if qsize[lk] > 0 and blocked_on[lk] < 0 and not due:
                _schedule(lk, _head_wake(lk, qbuf, qoff, qhead, ready, tcap), k, wake, sched,
                          lprev, lnext, bfirst, start, step)
        # then wake the links waiting for one that reopened
        for e in range(chg_ptr[c], chg_ptr[c + 1]):
            if not reopened[e - chg_ptr[c]]:
                continue
            lk = chg_link[e]
            node = from_node[lk]
            for j in range(in_ptr[node], in_ptr[node + 1]):
                u = in_links[j]
                if blocked_on[u] == lk and not (sched[u] >= 0 and sched[u] <= k):
                    w = min(wake[u], _head_wake(u, qbuf, qoff, qhead, ready, tcap))
                    _schedule(u, w, k, wake, sched, lprev, lnext, bfirst, start, step)
                    blocked_on[u] = -1


@njit(cache=True)
def _through_order(is_last, d, rc):
    """``np.lexsort((rc, d, is_last))`` restricted to the through candidates (not last)."""
    n = is_last.size
    thr = np.empty(n, dtype=np.int64)
    m = 0
    for x in range(n):
        if not is_last[x]:
            thr[m] = x
            m += 1
    thr = thr[:m]
    o = thr[np.argsort(d[thr], kind="mergesort")]
    _sort_runs(o, d, rc)
    return o


@njit(cache=True)
def _sort_runs(o, d, key):
    """Within each run of equal ``d[o]``, a stable insertion sort of ``o`` by ``key`` (in place)."""
    m = o.size
    i = 0
    while i < m:
        j = i + 1
        while j < m and d[o[j]] == d[o[i]]:
            j += 1
        for a in range(i + 1, j):
            x = o[a]
            b = a - 1
            while b >= i and key[o[b]] > key[x]:
                o[b + 1] = o[b]
                b -= 1
            o[b + 1] = x
        i = j


@njit(cache=True)
def _append_order(o, moved, d, te):
    """The moved through candidates of ``o`` (sorted by next link, exit time, ...): the order
    of ``np.lexsort((rc, te, d))`` over them, as ``o`` is already sorted by (d, rc, index)."""
    keep = np.empty(o.size, dtype=np.int64)
    m = 0
    for y in range(o.size):
        if moved[o[y]]:
            keep[m] = o[y]
            m += 1
    keep = keep[:m]
    _sort_runs(keep, d, te)
    return keep


@njit(cache=True)
def _chunk(fft, cap_per_s, storage, from_node, in_ptr, in_links, depart, ptr, route,
           last, first_link, dep_ids, dep_t, acc_max, cur, nxt, ready, enter, arrive, wake, acc,
           acc_t, tcap, tail_t, exited, spill, blocked_on, sched, lprev, lnext, bfirst, qbuf,
           qoff, qcap, qhead, qsize, waiting, act_buf, si, sf, step, start, end, stuck,
           spill_every, t_stop, closed, chg_t, chg_ptr, chg_link, chg_cap, chg_fft, chg_closed):
    """Run steps until the clock reaches ``t_stop`` (or the end); state in the arrays."""
    n_links = fft.size
    n_b = bfirst.size
    k = si[_K]
    while True:
        k += 1
        t = start + k * step
        if t > end + _EPS:
            si[_DONE] = 1
            break
        if t >= sf[_LAST_SAMPLE] + spill_every:
            for i in range(n_links):
                if qsize[i] >= storage[i] - _EPS:
                    spill[i] += t - sf[_LAST_SAMPLE]
            sf[_LAST_SAMPLE] = t
        si[_STEPS] += 1
        if si[_CI] < chg_t.size:
            _apply_changes(t, k, si, chg_t, chg_ptr, chg_link, chg_cap, chg_fft, chg_closed,
                           fft, cap_per_s, acc_max, acc, acc_t, tcap, closed, qbuf, qoff, qhead,
                           qsize, ready, wake, sched, lprev, lnext, bfirst, blocked_on,
                           from_node, in_ptr, in_links, start, step)
        # 1. departures
        dp = si[_DP]
        nw = si[_NW]
        while dp < dep_t.size and dep_t[dp] <= t:
            waiting[nw] = dep_ids[dp]
            nw += 1
            dp += 1
        si[_DP] = dp
        # 2. moves: the links due are those in the calendar's buckets up to this step
        n_act = 0
        kb = si[_KB]
        while kb <= k and kb < n_b:
            lk = bfirst[kb]
            while lk >= 0:
                nx = lnext[lk]
                sched[lk] = -1
                act_buf[n_act] = lk
                n_act += 1
                lk = nx
            bfirst[kb] = -1
            kb += 1
        si[_KB] = kb
        act = np.sort(act_buf[:n_act])
        a_acc = np.empty(n_act, dtype=np.float64)
        nmax = np.empty(n_act, dtype=np.int64)
        n_keep = 0
        for j in range(n_act):
            lk = act[j]
            a = min(acc[lk] + cap_per_s[lk] * (t - acc_t[lk]), acc_max[lk])
            acc[lk] = a
            acc_t[lk] = t
            m = min(qsize[lk], np.int64(np.ceil(a - _CAP_EPS)) if a > _CAP_EPS else 0)
            if m == 0:
                _schedule(lk, t + step, k, wake, sched, lprev, lnext, bfirst, start, step)
                blocked_on[lk] = -1
            else:
                act[n_keep] = lk
                a_acc[n_keep] = a
                nmax[n_keep] = m
                n_keep += 1
        n_pl = 0
        pl = np.empty(n_keep, dtype=np.int64)
        if n_keep:
            total = 0
            for j in range(n_keep):
                total += nmax[j]
            cand = np.empty(total, dtype=np.int64)
            g = np.empty(total, dtype=np.int64)
            gstart = np.empty(n_keep, dtype=np.int64)
            nc = 0
            for j in range(n_keep):
                lk = act[j]
                gstart[j] = nc
                for r in range(nmax[j]):
                    v = qbuf[qoff[lk] + (qhead[lk] + r) % qcap[lk]]
                    if r > 0 and not ready[v] <= t:
                        break
                    cand[nc] = v
                    g[nc] = j
                    nc += 1
            c = np.empty(nc, dtype=np.int64)
            is_last = np.empty(nc, dtype=np.bool_)
            d = np.empty(nc, dtype=np.int64)
            rc = np.empty(nc, dtype=np.float64)
            for x in range(nc):
                v = cand[x]
                c[x] = cur[v]
                d[x] = nxt[v]
                is_last[x] = d[x] < 0
                rc[x] = ready[v]
            o = _through_order(is_last, d, rc)
            n_thr = o.size
            ok = is_last.copy()
            squeeze = np.zeros(nc, dtype=np.bool_)
            rank = 0
            for y in range(n_thr):
                x = o[y]
                if y > 0 and d[x] == d[o[y - 1]]:
                    rank += 1
                else:
                    rank = 0
                dl = d[x]
                fits = rank < np.ceil(storage[dl] - qsize[dl] - _EPS) and not closed[dl]
                if not fits and t - rc[x] >= stuck and not closed[dl]:
                    squeeze[x] = True
                    fits = True
                ok[x] = fits
            # FIFO: a vehicle moves only if every one ahead of it on its link moves
            moved = np.zeros(nc, dtype=np.bool_)
            npop = np.zeros(n_keep, dtype=np.int64)
            blocked = np.zeros(n_keep, dtype=np.bool_)
            any_moved = False
            for x in range(nc):
                if blocked[g[x]] or not ok[x]:
                    blocked[g[x]] = True
                else:
                    moved[x] = True
                    any_moved = True
                    npop[g[x]] += 1
                    if squeeze[x]:
                        si[_SQZ] += 1
            if any_moved:
                for j in range(n_keep):
                    if npop[j] > 0:
                        lk = act[j]
                        pl[n_pl] = lk
                        n_pl += 1
                        qhead[lk] = (qhead[lk] + npop[j]) % qcap[lk]
                        qsize[lk] -= npop[j]
                        left = a_acc[j] - npop[j]
                        acc[lk] = left
                        if left > _CAP_EPS:
                            tcap[lk] = t
                        else:
                            wait = np.floor((_CAP_EPS - left) / max(cap_per_s[lk] * step, 1e-300))
                            tcap[lk] = t + (wait + 1.0) * step
                        exited[lk] = npop[j]
                te = np.empty(nc, dtype=np.float64)
                for x in range(nc):  # exact unless the link's head was held (keeps FIFO)
                    te[x] = rc[x] if rc[gstart[g[x]]] > t - step else t
                    if moved[x] and is_last[x]:
                        arrive[cand[x]] = te[x]
                        si[_INNET] -= 1
                # onto the next links, in (next link, exit time) order
                for x in _append_order(o, moved, d, te):
                    v = cand[x]
                    c2 = c[x] + 1
                    cur[v] = c2
                    nxt[v] = route[c2 + 1] if c2 < last[v] else -1
                    enter[c2] = te[x]
                    dl = d[x]
                    ready[v] = te[x] + fft[dl]
                    tail_t[dl] = te[x]
                    if qsize[dl] + 1 > qcap[dl]:
                        qbuf = _grow(qbuf, qoff, qcap, qhead, qsize, dl, qsize[dl] + 1, si)
                    qbuf[qoff[dl] + (qhead[dl] + qsize[dl]) % qcap[dl]] = v
                    qsize[dl] += 1
                    if qsize[dl] == 1:
                        _schedule(dl, _head_wake(dl, qbuf, qoff, qhead, ready, tcap), k,
                                  wake, sched, lprev, lnext, bfirst, start, step)
                for j in range(n_pl):
                    lk = pl[j]
                    w = np.inf
                    if qsize[lk] > 0:
                        w = _head_wake(lk, qbuf, qoff, qhead, ready, tcap)
                    _schedule(lk, w, k, wake, sched, lprev, lnext, bfirst, start, step)
                    blocked_on[lk] = -1
                for j in range(n_pl):
                    node = from_node[pl[j]]
                    for e in range(in_ptr[node], in_ptr[node + 1]):
                        u = in_links[e]
                        if blocked_on[u] == pl[j]:
                            w = min(wake[u], _head_wake(u, qbuf, qoff, qhead, ready, tcap))
                            _schedule(u, w, k, wake, sched, lprev, lnext, bfirst, start, step)
                            blocked_on[u] = -1
            # links whose head could not move: look again next step, or sleep
            for j in range(n_keep):
                if npop[j] == 0:
                    lk = act[j]
                    h = cand[gstart[j]]
                    dn = nxt[h]
                    if qsize[dn] < storage[dn] - _EPS and not closed[dn]:
                        w = t + step
                        blocked_on[lk] = -1
                    else:
                        w = np.inf if closed[dn] else ready[h] + stuck
                        blocked_on[lk] = dn
                    _schedule(lk, w, k, wake, sched, lprev, lnext, bfirst, start, step)
        # 3. admissions
        n_adm = 0
        if nw:
            fl = np.empty(nw, dtype=np.int64)
            free = np.empty(nw, dtype=np.float64)
            stk = np.empty(nw, dtype=np.bool_)
            n_may = 0
            for x in range(nw):
                v = waiting[x]
                fl[x] = first_link[v]
                if closed[fl[x]]:
                    free[x] = 0.0
                    stk[x] = False
                else:
                    free[x] = np.ceil(storage[fl[x]] - qsize[fl[x]] - exited[fl[x]] - _EPS)
                    stk[x] = t - max(depart[v], start) >= stuck
                if free[x] > 0 or stk[x]:
                    n_may += 1
            if n_may:
                sub = np.empty(n_may, dtype=np.int64)
                y = 0
                for x in range(nw):
                    if free[x] > 0 or stk[x]:
                        sub[y] = x
                        y += 1
                o = sub[np.argsort(fl[sub], kind="mergesort")]
                gone = np.zeros(nw, dtype=np.bool_)
                rank = 0
                for y in range(n_may):
                    x = o[y]
                    if y > 0 and fl[x] == fl[o[y - 1]]:
                        rank += 1
                    else:
                        rank = 0
                    adm = rank < free[x]
                    if not adm and stk[x]:
                        si[_SQZ] += 1
                        adm = True
                    if not adm:
                        continue
                    v = waiting[x]
                    lk = fl[x]
                    dv = depart[v]
                    te1 = max(dv, start) if si[_STEPS] == 1 else (dv if dv > t - step else t)
                    te1 = max(te1, tail_t[lk])
                    tail_t[lk] = te1
                    enter[ptr[v]] = te1
                    nxt[v] = route[ptr[v] + 1] if ptr[v] < last[v] else -1
                    ready[v] = te1 + fft[lk]
                    if qsize[lk] + 1 > qcap[lk]:
                        qbuf = _grow(qbuf, qoff, qcap, qhead, qsize, lk, qsize[lk] + 1, si)
                    qbuf[qoff[lk] + (qhead[lk] + qsize[lk]) % qcap[lk]] = v
                    qsize[lk] += 1
                    if qsize[lk] == 1:
                        _schedule(lk, _head_wake(lk, qbuf, qoff, qhead, ready, tcap), k,
                                  wake, sched, lprev, lnext, bfirst, start, step)
                    gone[x] = True
                    n_adm += 1
                    si[_INNET] += 1
                if n_adm:
                    y = 0
                    for x in range(nw):
                        if not gone[x]:
                            waiting[y] = waiting[x]
                            y += 1
                    nw = y
        si[_NW] = nw
        for j in range(n_pl):
            exited[pl[j]] = 0
        if not (n_pl > 0 or n_adm > 0 or nw > 0):  # idle: jump to the next event
            nxt_t = dep_t[dp] if dp < dep_t.size else np.inf
            b = k + 1
            while b < n_b and bfirst[b] < 0:
                b += 1
            if b < n_b:
                nxt_t = min(nxt_t, start + b * step)
            if si[_INNET] > 0 and si[_CI] < chg_t.size:  # a reopening may free vehicles
                nxt_t = min(nxt_t, chg_t[si[_CI]])
            if not nxt_t < np.inf:
                si[_DONE] = 1
                break
            k = max(k, np.int64(np.floor((nxt_t - start) / step - _EPS)))
        if t >= t_stop:
            break
    si[_K] = k
    sf[_T] = t
    return qbuf


def run(fft: FloatArray, cap_per_s: FloatArray, storage: FloatArray, from_node: IntArray,
        to_node: IntArray, depart: FloatArray, ptr: IntArray, route: IntArray, *,
        step: float, start: float, end: float, stuck: float,
        progress: Callable[[float], None] | None = None,
        progress_every: float = 60.0, spill_every: float = 10.0,
        closed: BoolArray | None = None, changes: Changes | None = None) -> KernelOutput:
    """Same contract as :func:`twin.agents._queue.run`."""
    n_links = fft.size
    fft, cap_per_s = fft.copy(), cap_per_s.copy()   # changed in place at the change clocks
    closed = np.zeros(n_links, dtype=np.bool_) if closed is None else closed.copy()
    ch = changes if changes is not None else Changes.none()
    n = depart.size
    enter = np.full(route.size, np.nan)
    arrive = np.full(n, np.nan)
    empty = ptr[1:] == ptr[:-1]
    arrive[empty] = depart[empty]
    last = ptr[1:] - 1
    first_link = np.full(n, -1, dtype=np.int64)
    first_link[~empty] = route[ptr[:-1][~empty]]
    movers = np.flatnonzero(~empty)
    dep_ids = movers[np.argsort(depart[movers], kind="stable")].astype(np.int64)
    dep_t = depart[dep_ids]
    n_nodes = int(max(from_node.max(initial=0), to_node.max(initial=0))) + 1
    in_links = np.argsort(to_node, kind="stable").astype(np.int64)
    in_ptr = np.concatenate([[0], np.cumsum(np.bincount(to_node, minlength=n_nodes))]
                            ).astype(np.int64)
    qcap = 2 * np.ceil(storage).astype(np.int64) + 4
    qoff = np.concatenate([[0], np.cumsum(qcap)[:-1]]).astype(np.int64)
    qbuf = np.zeros(int(qcap.sum()), dtype=np.int64)
    qhead = np.zeros(n_links, dtype=np.int64)
    qsize = np.zeros(n_links, dtype=np.int64)
    acc_max = cap_per_s * step
    n_b = int(np.floor((end - start) / step)) + 2
    cur, ready = ptr[:-1].copy(), np.full(n, np.inf)
    nxt = np.full(n, -1, dtype=np.int64)
    wake, acc = np.full(n_links, np.inf), acc_max.copy()
    acc_t, tcap = np.full(n_links, start), np.full(n_links, start)
    exited, spill = np.zeros(n_links, dtype=np.int64), np.zeros(n_links)
    tail_t = np.full(n_links, -np.inf)
    sched = np.full(n_links, -1, dtype=np.int64)
    blocked_on = np.full(n_links, -1, dtype=np.int64)
    lprev = np.full(n_links, -1, dtype=np.int64)
    lnext = np.full(n_links, -1, dtype=np.int64)
    bfirst = np.full(n_b, -1, dtype=np.int64)
    waiting = np.zeros(max(n, 1), dtype=np.int64)
    act_buf = np.zeros(n_links, dtype=np.int64)
    si = np.zeros(10, dtype=np.int64)
    si[_USED] = qbuf.size
    si[_KB] = 1
    sf = np.array([start, start])
    t_stop = start + progress_every
    while True:
        qbuf = _chunk(fft, cap_per_s, storage, from_node, in_ptr, in_links, depart, ptr, route,
                      last, first_link, dep_ids, dep_t, acc_max, cur, nxt, ready, enter, arrive,
                      wake, acc, acc_t, tcap, tail_t, exited, spill, blocked_on, sched, lprev,
                      lnext, bfirst, qbuf, qoff, qcap, qhead, qsize, waiting, act_buf, si, sf,
                      float(step), float(start), float(end), float(stuck),
                      float(spill_every), float(t_stop), closed,
                      np.asarray(ch.t, dtype=np.float64), np.asarray(ch.ptr, dtype=np.int64),
                      np.asarray(ch.link, dtype=np.int64), np.asarray(ch.cap, dtype=np.float64),
                      np.asarray(ch.fft, dtype=np.float64),
                      np.asarray(ch.closed, dtype=np.bool_))
        if si[_DONE]:
            break
        if progress is not None:
            progress(float(sf[_T]))
        t_stop = float(sf[_T]) + progress_every
    full = qsize >= storage - _EPS
    spill[full] += end - sf[_LAST_SAMPLE]
    return KernelOutput(arrive=arrive, enter=enter, spill=spill, squeezed=int(si[_SQZ]),
                        steps=int(si[_STEPS]))
