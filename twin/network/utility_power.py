"""One day of power flows, and why an hour does not converge, in plain words.

:func:`power_day` solves the 24 hourly pandapower power flows of
:func:`twin.network.utilities.solve_day` (building loads at their ``power_node``, outages in
their hours). An hour that does not converge is a result, not a crash: its voltages,
loadings and unserved energy are unknown (NaN, never "all served"), its demand is counted
apart, and one note says which hours failed and what that means for the KPIs.

Why it failed (:func:`explain_overload`): the demand of the worst hour against what the
network can take in at its source (:func:`source_capacity`: the rating of the transformers
and lines that leave the external grid), where the buildings' demand lands, and the share of
it at which the power flow still converges ("demand 1.4x the 50 MVA the network's source is
rated for ... it converges up to 40% of the buildings' demand"). ``twin utilities check``
explains a design peak that does not converge the same way.

Examples
--------
>>> import pandapower.networks as pn
>>> from twin.layers.store import Twin, new_meta
>>> from twin.network.power import build_power_net, power_layers_from_net
>>> nodes, lines, _ = power_layers_from_net(pn.example_simple(), "EPSG:3067", anchor=(0, 0))
>>> pnet = build_power_net(Twin({"power_nodes": nodes, "power_lines": lines},
...                             new_meta("t", "EPSG:3067")))
>>> source_capacity(pnet)
(112.029, ['l0'])
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from twin._errors import UtilityError
from twin.layers.store import Twin
from twin.network.power import PowerNet

__all__ = ["HOURS", "event_hours", "explain_overload", "power_day", "source_capacity",
           "span"]

HOURS = np.arange(24)
_RECYCLE = {"trafo": False, "bus_pq": True, "bfsw": False}


def event_hours(event: dict[str, Any]) -> np.ndarray:
    """The hours (bool mask over 0..23) of an event's ``hours: [from, to)`` (all day if absent).

    Examples
    --------
    >>> np.flatnonzero(event_hours({"hours": [17, 20]})).tolist()
    [17, 18, 19]
    """
    a, b = (event.get("hours") or [0, 24])[:2]
    return (HOURS >= int(a)) & (HOURS < int(b))


def span(hours: np.ndarray) -> str:
    """Hours as readable ranges: ``06:00-09:00, 12:00``.

    Examples
    --------
    >>> span(np.array([6, 7, 8, 9, 12]))
    '06:00-09:00, 12:00'
    """
    hs = sorted(int(h) for h in hours)
    runs: list[list[int]] = []
    for h in hs:
        if runs and h == runs[-1][-1] + 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return ", ".join(f"{r[0]:02d}:00" if len(r) == 1 else f"{r[0]:02d}:00-{r[-1]:02d}:00"
                     for r in runs)


def _runpp(net: Any, **kwargs: Any) -> bool:
    """True if the power flow converges (pandapower's log and warnings kept quiet)."""
    import pandapower as pp

    quiet = logging.getLogger("pandapower")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            pp.runpp(net, **kwargs)
    except Exception:  # pandapower raises several kinds; all mean "no solution"
        return False
    finally:
        quiet.setLevel(level)
    return True


def source_capacity(pnet: PowerNet) -> tuple[float, list[str]]:
    """MVA the network can take in from its external grid(s), and the branches that carry it.

    The source is every in-service external-grid bus with the buses joined to it by closed
    bus-bus switches; its capacity is the rating of the transformers (``sn_mva``) and lines
    (sqrt(3) x kV x ``max_i_ka``) that leave it. 0 when nothing leaves it with a rating.
    """
    net = pnet.net
    src = set(net.ext_grid.bus[net.ext_grid.in_service.astype(bool)].astype(int))
    if len(net.switch):
        sw = net.switch[(net.switch.et == "b") & net.switch.closed.astype(bool)]
        pairs = list(zip(sw.bus.astype(int), sw.element.astype(int), strict=True))
        grown = True
        while grown:
            grown = False
            for a, b in pairs:
                if (a in src) != (b in src):
                    src |= {a, b}
                    grown = True
    total, ids = 0.0, []
    on = net.trafo.in_service.astype(bool).to_numpy()
    for k, (hv, lv) in enumerate(zip(net.trafo.hv_bus.astype(int), net.trafo.lv_bus.astype(int),
                                     strict=True)):
        if on[k] and (hv in src) != (lv in src):
            total += float(net.trafo.sn_mva.iat[k]) * float(net.trafo.parallel.iat[k])
            ids.append(str(pnet.trafo_ids[k]))
    vn = net.bus.vn_kv.to_numpy(float)
    on = net.line.in_service.astype(bool).to_numpy()
    for k, (a, b) in enumerate(zip(net.line.from_bus.astype(int), net.line.to_bus.astype(int),
                                   strict=True)):
        if on[k] and (a in src) != (b in src):
            total += (math.sqrt(3.0) * vn[a] * float(net.line.max_i_ka.iat[k])
                      * float(net.line.parallel.iat[k]))
            ids.append(str(pnet.line_ids[k]))
    return round(float(total), 3), ids


def explain_overload(pnet: PowerNet, building_mw: np.ndarray, *, label: str = "",
                     q_per_p: float = 0.3287) -> str:
    """Why a power flow with ``building_mw`` (per bus) on top of the net's loads fails.

    Compares the demand with :func:`source_capacity`, says where the buildings' demand lands,
    and finds (bisection) the share of the buildings' demand at which it still converges
    (reactive power ``q_per_p`` x active: power factor 0.95). ``pnet.net`` must hold the
    fixed loads only; it is left as it was.

    Examples
    --------
    >>> # explain_overload(pnet, bus_mw, label="at 12:00") -> "at 12:00 the demand is 70.1 MW
    >>> # (33.0 MW of buildings on top of 37.1 MW of the model's fixed loads), 1.4x ..."
    """
    import pandapower as pp

    net = pnet.net
    live = net.load.in_service.astype(bool).to_numpy()
    fixed = float((net.load.p_mw * net.load.scaling).to_numpy(float)[live].sum())
    load = np.clip(np.asarray(building_mw, dtype=float), 0.0, None)
    build = float(load.sum())
    total = build + fixed
    cap, via = source_capacity(pnet)
    head = f"{label} the demand is " if label else "the demand is "
    text = (f"{head}{total:,.1f} MW ({build:,.1f} MW of buildings on top of {fixed:,.1f} MW of "
            "the network's fixed loads)" if fixed > 0 else f"{head}{total:,.1f} MW")
    if cap > 0:
        shown = ", ".join(via[:4]) + (" ..." if len(via) > 4 else "")
        text += (f", {total / cap:.1f}x the {cap:,.1f} MVA the network's source is rated for "
                 f"({shown})" if total >= cap else
                 f", {total / cap:.0%} of the {cap:,.1f} MVA the network's source is rated for "
                 f"({shown}), so the limit is in the lines on the way to the loads")
    buses = np.flatnonzero(load > 0)
    if len(buses):
        top = int(buses[np.argmax(load[buses])])
        text += (f"; the buildings' demand lands on {len(buses)} of {len(net.bus)} power nodes, "
                 f"the most ({load[top]:,.1f} MW) on {pnet.bus_ids[top]}")
    base = len(net.load)
    idx = np.asarray(pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0, name="twin-probe")
                     ) if len(buses) else np.array([], dtype=np.int64)
    try:
        def works(scale: float) -> bool:
            net.load.loc[idx, "p_mw"] = load[buses] * scale
            net.load.loc[idx, "q_mvar"] = load[buses] * scale * q_per_p
            return _runpp(net, numba=False, init="auto")

        if not works(0.0):
            return (text + "; it does not converge even without the buildings' demand, so the "
                    "network itself does not solve: run `twin utilities check`")
        lo, hi = 0.0, 1.0
        for _ in range(7):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if works(mid) else (lo, mid)
    finally:
        net.load = net.load.iloc[:base]
    return (text + f"; it converges up to {lo:.0%} of the buildings' demand: the network "
            "cannot carry more (its voltages collapse)")


def power_day(twin: Twin, pnet: PowerNet, power_mw: pd.DataFrame, events: list[dict[str, Any]],
              notes: list[str], cfg: dict[str, Any]) -> dict[str, Any]:
    """Solve the 24 hourly power flows; unsolved hours are NaN and explained in ``notes``.

    ``cfg`` is the ``power`` section of ``agents/utility.yaml``. Returns arrays by bus / branch
    and hour: ``vm``, ``line``, ``trafo``, ``unserved`` (NaN in unsolved hours), ``grid``,
    ``ok``, ``demand`` (MW per hour: buildings and fixed loads), ``loose`` (buildings without a
    power node) and ``unsupplied`` (their ids).
    """
    import pandapower as pp

    net = pnet.net
    b = twin.layer("buildings")
    nb = len(net.bus)
    at = pnet.bus_index(b["power_node"].astype(str).where(b["power_node"].notna(), "")
                        if "power_node" in b else [""] * len(b))
    load = power_mw.reindex(b["id"].astype(str)).fillna(0.0).to_numpy(float)
    bus_load = np.zeros((nb, 24))
    np.add.at(bus_load, at[at >= 0], load[at >= 0])
    loose = np.clip(load[at < 0], 0.0, None).sum(axis=0)
    fixed_net = _fixed_copy(pnet)
    buses = np.flatnonzero(np.abs(bus_load).sum(axis=1) > 0)
    lidx = np.asarray(pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0, name="buildings")
                      ) if len(buses) else np.array([], dtype=np.int64)
    fixed = net.load.index.difference(lidx)
    fixed_p = np.zeros(nb)
    np.add.at(fixed_p, net.load.bus[fixed].to_numpy(int),
              (net.load.p_mw[fixed] * net.load.scaling[fixed]).to_numpy(float)
              * net.load.in_service[fixed].to_numpy(bool))
    tan = math.tan(math.acos(float(cfg["power_factor"])))
    numba = bool(cfg.get("numba", False))
    out_mask = np.zeros((24, nb), dtype=bool)
    for ev in events:
        if ev.get("type") == "power_outage":
            idx = pnet.bus_index([str(i) for i in ev.get("power_node_ids", [])])
            if (idx < 0).any():
                bad = [i for i, k in zip(ev["power_node_ids"], idx, strict=True) if k < 0][:3]
                msg = f"power_outage event: power_nodes {bad} do not exist in the twin"
                raise UtilityError(msg)
            out_mask[np.ix_(event_hours(ev), idx)] = True
    in_service = net.bus.in_service.to_numpy(bool).copy()
    vm, bl, tl = np.full((24, nb), np.nan), [], []
    grid, ok = np.full(24, np.nan), np.zeros(24, dtype=bool)
    failed: dict[int, str] = {}
    state: bytes | None = None
    pos = net.load.index.get_indexer(lidx)
    p_col = net.load.p_mw.to_numpy(float, copy=True)
    q_col = net.load.q_mvar.to_numpy(float, copy=True)
    for h in HOURS:
        p_col[pos] = bus_load[buses, h]
        q_col[pos] = bus_load[buses, h] * tan
        net.load["p_mw"] = p_col
        net.load["q_mvar"] = q_col
        key = out_mask[h].tobytes()
        full = key != state
        if full:
            net.bus["in_service"] = in_service & ~out_mask[h]
        live = net.bus.in_service.to_numpy(bool)
        if not live[net.ext_grid.bus.to_numpy(int)[net.ext_grid.in_service.to_numpy(bool)]
                    ].any():  # a blackout: nothing to solve, nothing supplied
            ok[h], state = True, None
            bl.append(np.full(len(net.line), np.nan))
            tl.append(np.full(len(net.trafo), np.nan))
            grid[h] = 0.0
            continue
        try:
            if full:
                pp.runpp(net, init="auto", numba=numba)
            else:
                pp.runpp(net, recycle=_RECYCLE, numba=numba)
            state = key
            ok[h] = True
            vm[h] = net.res_bus.vm_pu.to_numpy(float, copy=True)
            bl.append(net.res_line.loading_percent.to_numpy(float, copy=True))
            tl.append(net.res_trafo.loading_percent.to_numpy(float, copy=True))
            grid[h] = float(net.res_ext_grid.p_mw.sum())
        except Exception as err:  # one hour failing is a result, not a crash
            state = None
            bl.append(np.full(len(net.line), np.nan))
            tl.append(np.full(len(net.trafo), np.nan))
            failed[int(h)] = f"{type(err).__name__}: {err}"
    dark = np.isnan(vm) & ok[:, None]  # a bus without voltage in a solved hour: not supplied
    demand_bus = np.clip(bus_load, 0, None) + fixed_p[:, None]
    unserved = np.where(dark.T, demand_bus, 0.0)
    unserved[:, ~ok] = np.nan  # unknown, not "all served"
    demand = demand_bus.sum(axis=0) + loose
    if failed:
        notes += _unsolved_notes(fixed_net, failed, demand, bus_load, out_mask, in_service, tan)
    return {"vm": vm.T, "line": np.array(bl).T, "trafo": np.array(tl).T, "grid": grid,
            "ok": ok, "unserved": unserved, "loose": loose, "demand": demand,
            "unsupplied": b["id"].astype(str).to_numpy()[(at < 0) & (load.max(axis=1) > 0)]}


def _fixed_copy(pnet: PowerNet) -> PowerNet:
    """A copy of the net before the buildings' loads are added (for the explanation)."""
    import copy

    return PowerNet(copy.deepcopy(pnet.net), pnet.bus_ids, pnet.line_ids, pnet.trafo_ids,
                    pnet.switch_ids, dict(pnet.other_ids))


def _unsolved_notes(pnet: PowerNet, failed: dict[int, str], demand: np.ndarray,
                    bus_load: np.ndarray, out_mask: np.ndarray, in_service: np.ndarray,
                    tan: float) -> list[str]:
    hours = np.array(sorted(failed))
    n = len(hours)
    first = failed[int(hours[0])]
    when = (f"hour {span(hours)}" if n == 1 else f"hours {span(hours)} ({n} of 24)")
    lost = float(demand[hours].sum())
    notes = [f"power flow {when} did not converge ({first}): the supply of {lost:,.1f} MWh of "
             "demand in those hours is unknown (power_unsolved_demand_mwh), so "
             "power_unserved_mwh and grid_energy_mwh are not given (NaN), and the peak "
             "loadings and the lowest voltage are of the solved hours only"]
    worst = int(hours[np.argmax(demand[hours])])
    pnet.net.bus["in_service"] = in_service & ~out_mask[worst]
    why = explain_overload(pnet, bus_load[:, worst], label=f"at {worst:02d}:00", q_per_p=tan)
    notes.append(f"why: {why}. Reinforce the network (substation_add, feeder_upgrade), connect "
                 "the buildings to more nodes, or check the demand; `twin utilities check` "
                 "diagnoses the design peak")
    return notes
