"""The power network: the twin's power layers to a pandapower net.

Layers to net (:func:`build_power_net`): every ``power_nodes`` row is a bus; a node with
``ext_grid: true`` holds pandapower's external grid (the slack); ``load_*`` and ``gen_*`` are
fixed loads and static generators. ``power_lines`` rows are lines and cables (per-km parameters,
or a pandapower standard type where those are empty), two-winding transformers (rated power and
short-circuit voltages, the ratio from the two nodes' voltages) and switches. Building loads are
added by :mod:`twin.network.utilities` at each building's ``power_node``.

Net to layers (:func:`power_layers_from_net`) and importing a pandapower net into a twin
(:func:`import_power`) live in :mod:`twin.network.power_io`; their names are importable from here
too. Fields win over ``params``: a node whose ``load_p_mw`` was edited has its loads scaled to
the new total.

Examples
--------
>>> import pandapower.networks as pn
>>> from twin.layers.store import new_meta
>>> nodes, lines, _ = power_layers_from_net(pn.example_simple(), "EPSG:3067", anchor=(0.0, 0.0))
>>> pnet = build_power_net(Twin({"power_nodes": nodes, "power_lines": lines},
...                             new_meta("t", "EPSG:3067")))
>>> len(pnet.bus_ids), len(pnet.line_ids), len(pnet.trafo_ids), len(pnet.switch_ids)
(7, 4, 1, 8)
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from twin._errors import UtilityError
from twin.layers.schemas import suggest
from twin.layers.store import Twin
from twin.network.power_io import (
    _BRANCHES,
    _LINE_FIELDS,
    _TRAFO_FIELDS,
    NODE_TABLES,
    bundled_networks,
    load_pandapower,
    place_coordinates,
    power_layers_from_net,
)

# re-exported for the modules that import them from here (twin.commands.utilities,
# twin.network.water)
from twin.network.power_io import _py as _py
from twin.network.power_io import import_power as import_power
from twin.network.power_io import merge_layers as merge_layers
from twin.network.power_io import reconnect as reconnect
from twin.network.power_io import twin_anchor as twin_anchor

__all__ = [
    "NODE_TABLES",
    "PowerNet",
    "build_power_net",
    "bundled_networks",
    "load_pandapower",
    "place_coordinates",
    "power_layers_from_net",
]

log = logging.getLogger(__name__)


@dataclass
class PowerNet:
    """A pandapower net built from a twin, with the twin ids of its elements.

    ``bus_ids[i]`` is the ``power_nodes`` id of bus ``i``; ``line_ids``, ``trafo_ids`` and
    ``switch_ids`` hold the ``power_lines`` ids of ``net.line``, ``net.trafo`` and ``net.switch``
    rows (in index order); ``other_ids`` those of the other branch tables.
    """

    net: Any
    bus_ids: pd.Index
    line_ids: pd.Index
    trafo_ids: pd.Index
    switch_ids: pd.Index
    other_ids: dict[str, pd.Index] = field(default_factory=dict)

    def bus_index(self, ids: Sequence[str]) -> np.ndarray:
        """Bus indices of ``power_nodes`` ids (-1 where unknown)."""
        return np.asarray(self.bus_ids.get_indexer(pd.Index(ids).astype(str)))


# --- helpers ------------------------------------------------------------------------------------

def _params(text: Any, layer: str, fid: str) -> dict[str, Any]:
    if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
        return {}
    try:
        out = json.loads(text)
    except (TypeError, ValueError) as err:
        msg = f"{layer}: feature {fid}, field params: not valid JSON ({err}); fix or clear it"
        raise UtilityError(msg) from err
    if not isinstance(out, dict):
        msg = f"{layer}: feature {fid}, field params: expected a JSON object, got {text!r}"
        raise UtilityError(msg)
    return out


def _num(frame: pd.DataFrame, col: str, default: float = np.nan) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), default)
    return pd.to_numeric(frame[col], errors="coerce").fillna(default).to_numpy(float)


def _flag(frame: pd.DataFrame, col: str, default: bool) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), default)
    return frame[col].astype("boolean").fillna(default).to_numpy(bool)


def _append_rows(net: Any, table: str, rows: list[dict[str, Any]]) -> np.ndarray:
    """Append element rows to ``net[table]``, cast to the table's dtypes; return the index."""
    if not rows:
        return np.array([], dtype=np.int64)
    base = net[table]
    start = int(base.index.max()) + 1 if len(base) else 0
    frame = pd.DataFrame(rows, index=pd.RangeIndex(start, start + len(rows)))
    out = pd.concat([base, frame]) if len(base) else frame.reindex(
        columns=list(dict.fromkeys([*base.columns, *frame.columns])))
    for col in base.columns:
        with contextlib.suppress(TypeError, ValueError):
            out[col] = out[col].astype(base[col].dtype)
    net[table] = out
    return frame.index.to_numpy()


def _set_extras(net: Any, table: str, index: np.ndarray, extras: list[dict[str, Any]]) -> None:
    """Write extra columns (from ``params``) onto freshly created rows."""
    cols = sorted({k for e in extras for k in e})
    frame = net[table]
    for col in cols:
        have = [(i, e[col]) for i, e in zip(index, extras, strict=True) if col in e]
        idx = [i for i, _ in have]
        vals = [np.nan if v is None else v for _, v in have]
        if col in frame.columns:
            dtype = frame[col].dtype
            try:
                frame.loc[idx, col] = pd.Series(vals, index=idx).astype(dtype)
            except (TypeError, ValueError):
                frame[col] = frame[col].astype(object)
                frame.loc[idx, col] = pd.Series(vals, index=idx, dtype=object)
        else:
            frame[col] = pd.Series(vals, index=idx).reindex(frame.index)


# --- layers -> net ------------------------------------------------------------------------------

def _reconcile(rows: list[dict[str, Any]], col: str, total: float) -> list[dict[str, Any]]:
    """Scale in-service rows so that sum(col x scaling) equals the node field ``total``."""
    live = [bool(r.get("in_service", True)) for r in rows]
    have = sum(float(r.get(col) or 0.0) * float(r.get("scaling", 1.0) or 0.0)
               for r, on in zip(rows, live, strict=True) if on)
    if math.isclose(have, total, rel_tol=1e-12, abs_tol=1e-12):
        return rows
    if abs(have) > 1e-12:
        factor = total / have
        return [{**r, col: float(r.get(col) or 0.0) * factor} if on else r
                for r, on in zip(rows, live, strict=True)]
    return [*rows, {col: total, "scaling": 1.0, "in_service": True, "name": "twin"}]


def _node_elements(net: Any, nodes: pd.DataFrame, params: list[dict[str, Any]]) -> None:
    ids = nodes["id"].astype(str).to_numpy()
    ext = _flag(nodes, "ext_grid", False)
    vm = _num(nodes, "vm_pu")
    p_load, q_load = _num(nodes, "load_p_mw"), _num(nodes, "load_q_mvar")
    g_total = _num(nodes, "gen_p_mw")
    kind = nodes["kind"].astype(str).to_numpy() if "kind" in nodes else np.full(len(nodes), "")
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in NODE_TABLES}
    for i, p in enumerate(params):
        pp_ = p.get("pp", {}) if isinstance(p.get("pp"), dict) else {}
        stored = {t: [dict(r) for r in pp_.get(t, [])] for t in NODE_TABLES}
        if ext[i]:
            grids = stored["ext_grid"] or [{"vm_pu": 1.0, "va_degree": 0.0, "in_service": True,
                                            "name": ids[i]}]
            if not math.isnan(vm[i]) and grids[0].get("vm_pu") != vm[i]:
                grids = [{**g, "vm_pu": vm[i]} for g in grids]
            stored["ext_grid"] = grids
        else:
            stored["ext_grid"] = []
        if not math.isnan(p_load[i]):
            stored["load"] = _reconcile(stored["load"], "p_mw", p_load[i])
        if not math.isnan(q_load[i]):
            stored["load"] = _reconcile(stored["load"], "q_mvar", q_load[i])
        if not math.isnan(g_total[i]):
            gens = stored["sgen"] + stored["gen"]
            target = g_total[i]
            if not gens and target and kind[i] == "generator" and not math.isnan(vm[i]):
                stored["gen"] = [{"p_mw": target, "vm_pu": vm[i], "scaling": 1.0,
                                  "in_service": True, "name": ids[i]}]
            elif gens:
                both = _reconcile(gens, "p_mw", target)
                ns = len(stored["sgen"])
                stored["gen"] = both[ns:len(gens)]
                stored["sgen"] = both[:ns] + both[len(gens):]
            elif target:
                stored["sgen"] = [{"p_mw": target, "q_mvar": 0.0, "scaling": 1.0,
                                   "in_service": True, "name": ids[i]}]
        for t in NODE_TABLES:
            rows[t] += [{**r, "bus": i} for r in stored[t]]
    for t in NODE_TABLES:
        if rows[t]:
            if t not in net:
                msg = f"power_nodes: pandapower has no element table {t!r}; update pandapower"
                raise UtilityError(msg)
            defaults = {"load": {"q_mvar": 0.0, "scaling": 1.0, "in_service": True,
                                 "const_z_p_percent": 0.0, "const_i_p_percent": 0.0,
                                 "const_z_q_percent": 0.0, "const_i_q_percent": 0.0},
                        "sgen": {"q_mvar": 0.0, "scaling": 1.0, "in_service": True,
                                 "current_source": True},
                        "gen": {"scaling": 1.0, "in_service": True, "slack": False,
                                "slack_weight": 0.0},
                        "ext_grid": {"va_degree": 0.0, "slack_weight": 1.0,
                                     "in_service": True}}.get(t, {})
            _append_rows(net, t, [{**defaults, **r} for r in rows[t]])


def _branch_error(fid: str, what: str) -> UtilityError:
    return UtilityError(f"power_lines: feature {fid}: {what}")


def _std(net: Any, name: Any, element: str, fid: str) -> dict[str, Any]:
    import pandapower as pp

    if not isinstance(name, str) or not name:
        return {}
    try:
        return dict(pp.load_std_type(net, name, element=element))
    except Exception as err:
        known = list(net.std_types[element])
        msg = (f"std_type {name!r} is not a pandapower {element} standard type"
               f"{suggest(name, known)}; give the parameters instead")
        raise _branch_error(fid, msg) from err


def _fill(rows: pd.DataFrame, cols: tuple[str, ...], net: Any, element: str) -> pd.DataFrame:
    out = rows.copy()
    for col in cols:
        if col not in out:
            out[col] = np.nan
    need = out[[c for c in cols if c not in ("std_type", "length_km")]].isna().any(axis=1)
    for i, row in out[need].iterrows():
        std = _std(net, row.get("std_type"), element, str(row["id"]))
        for c in cols:
            value: Any = out.at[i, c]
            if c in std and pd.isna(value):
                out.at[i, c] = std[c]
    return out


def _lines(net: Any, rows: pd.DataFrame, ext: list[dict[str, Any]], fb: np.ndarray,
           tb: np.ndarray) -> np.ndarray:
    import pandapower as pp

    rows = _fill(rows, _LINE_FIELDS, net, "line")
    for col in ("length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"):
        bad = rows[col].isna().to_numpy()
        if bad.any():
            fid = rows["id"].to_numpy()[bad][0]
            raise _branch_error(fid, f"{col} is missing; give it, or a pandapower std_type")
    length = rows["length_km"].to_numpy(float)
    r, x = rows["r_ohm_per_km"].to_numpy(float), rows["x_ohm_per_km"].to_numpy(float)
    bad = length <= 0
    if bad.any():
        fid = rows["id"].to_numpy()[bad][0]
        raise _branch_error(fid, f"length_km must be > 0 (got {length[bad][0]}); measure the "
                            "line, or make it kind: switch if it joins two buses directly")
    bad = (r == 0) & (x == 0)
    if bad.any():
        fid = rows["id"].to_numpy()[bad][0]
        raise _branch_error(fid, "r_ohm_per_km and x_ohm_per_km are both 0 (zero impedance), "
                            "which the power flow cannot solve; give the line's per-km "
                            "impedance, or make it kind: switch if it is a bus tie")
    idx = pp.create_lines_from_parameters(
        net, fb, tb, length, r, x, rows["c_nf_per_km"].to_numpy(float),
        rows["max_i_ka"].to_numpy(float), name=rows["id"].tolist(),
        type=np.where(rows["kind"].to_numpy() == "cable", "cs", "ol").tolist(),
        in_service=_flag(rows, "in_service", True))
    net.line.loc[idx, "std_type"] = rows["std_type"].to_numpy(object)
    _set_extras(net, "line", np.asarray(idx), ext)
    return np.asarray(idx)


def _trafos(net: Any, rows: pd.DataFrame, ext: list[dict[str, Any]], hb: np.ndarray,
            lb: np.ndarray) -> np.ndarray:
    import pandapower as pp

    rows = _fill(rows, _TRAFO_FIELDS, net, "trafo")
    vn = net.bus.vn_kv.to_numpy(float)
    std = [_std(net, s, "trafo", f) if isinstance(s, str) and s else {}
           for s, f in zip(rows["std_type"], rows["id"], strict=True)]
    for col in ("sn_mva", "vk_percent", "vkr_percent"):
        bad = rows[col].isna().to_numpy()
        if bad.any():
            fid = rows["id"].to_numpy()[bad][0]
            raise _branch_error(fid, f"{col} is missing; give the transformer's rating and "
                                "short-circuit voltages, or a pandapower std_type")
    vk = rows["vk_percent"].to_numpy(float)
    bad = (vk <= 0) | (rows["sn_mva"].to_numpy(float) <= 0)
    if bad.any():
        fid = rows["id"].to_numpy()[bad][0]
        raise _branch_error(fid, "sn_mva and vk_percent must be > 0 (a zero-impedance "
                            "transformer cannot be solved); typical: vk_percent 6-12")

    def pick(key: str, default: np.ndarray | float) -> np.ndarray:
        base = np.broadcast_to(np.asarray(default, dtype=float), (len(rows),)).copy()
        for i, (e, s) in enumerate(zip(ext, std, strict=True)):
            val = e.get(key, s.get(key))
            if val is not None:
                base[i] = float(val)
        return base

    idx = pp.create_transformers_from_parameters(
        net, hb, lb, rows["sn_mva"].to_numpy(float), pick("vn_hv_kv", vn[hb]),
        pick("vn_lv_kv", vn[lb]), rows["vkr_percent"].to_numpy(float), vk,
        pick("pfe_kw", 0.0), pick("i0_percent", 0.0), shift_degree=pick("shift_degree", 0.0),
        name=rows["id"].tolist(), in_service=_flag(rows, "in_service", True))
    net.trafo.loc[idx, "std_type"] = rows["std_type"].to_numpy(object)
    _set_extras(net, "trafo", np.asarray(idx), ext)
    return np.asarray(idx)


@lru_cache(maxsize=1)
def _empty_net() -> Any:
    """An empty pandapower net, made once (creating one costs ~0.2 s, copying it ~0.04 s)."""
    import pandapower as pp

    return pp.create_empty_network()


def build_power_net(twin: Twin, *, check: bool = True) -> PowerNet:
    """Build a pandapower net from the twin's ``power_nodes`` and ``power_lines``.

    Parameters
    ----------
    twin : Twin
    check : bool
        Refuse a net without an external grid, or with loads (fixed, or buildings connected
        there) on buses that no source reaches. ``twin utilities check`` passes False and
        reports them instead.

    Raises
    ------
    UtilityError
        Naming the feature and field: a duplicate id, a line between nodes that do not exist,
        a zero or missing impedance or length, an unknown standard type, no source, islands.

    Examples
    --------
    >>> import pandapower.networks as pn, pandapower as pp
    >>> from twin.layers.store import new_meta
    >>> nodes, lines, _ = power_layers_from_net(pn.example_simple(), "EPSG:3067",
    ...                                         anchor=(0.0, 0.0))
    >>> t = Twin({"power_nodes": nodes, "power_lines": lines}, new_meta("t", "EPSG:3067"))
    >>> pnet = build_power_net(t)
    >>> pp.runpp(pnet.net, numba=False); round(float(pnet.net.res_bus.vm_pu.min()), 4)
    1.02
    """
    import pandapower as pp

    nodes = twin.layer("power_nodes").reset_index(drop=True)
    lines = twin.layer("power_lines").reset_index(drop=True)
    if len(nodes) == 0:
        msg = ("power_nodes: the twin has no power network; build the demo with `twin init`, "
               "or import one with `twin layers import FILE --pandapower NET.json`")
        raise UtilityError(msg)
    for name, frame in (("power_nodes", nodes), ("power_lines", lines)):
        dup = frame["id"].astype(str)
        if dup.duplicated().any():
            msg = (f"{name}: id {dup[dup.duplicated()].iloc[0]!r} is used by several features;"
                   " give each its own id")
            raise UtilityError(msg)
    vn = _num(nodes, "vn_kv")
    if (np.isnan(vn) | (vn <= 0)).any():
        fid = nodes["id"].astype(str).to_numpy()[np.isnan(vn) | (vn <= 0)][0]
        msg = f"power_nodes: feature {fid}, field vn_kv: must be a voltage > 0 kV"
        raise UtilityError(msg)
    ids = pd.Index(nodes["id"].astype(str))
    net = copy.deepcopy(_empty_net())
    net.name = str(twin.meta.get("name", "twin"))
    model = (twin.meta.get("utility_models") or {}).get("power") or {}
    for key in ("f_hz", "sn_mva"):
        if key in model:
            net[key] = float(model[key])
    nparams = [_params(t, "power_nodes", f) for t, f in zip(
        nodes.get("params", pd.Series([None] * len(nodes))), ids, strict=True)]
    pp.create_buses(net, len(nodes), vn, name=ids.tolist(),
                    in_service=_flag(nodes, "in_service", True))
    bus_extra = [p.get("pp", {}).get("bus", {}) if isinstance(p.get("pp"), dict) else {}
                 for p in nparams]
    _set_extras(net, "bus", np.arange(len(nodes)), bus_extra)
    _node_elements(net, nodes, nparams)
    lparams = [_params(t, "power_lines", f) for t, f in zip(
        lines.get("params", pd.Series([None] * len(lines))), lines["id"].astype(str),
        strict=True)]
    pp_ext = [dict(p.get("pp", {})) if isinstance(p.get("pp"), dict) else {} for p in lparams]
    element = np.array([e.pop("table", None) or "" for e in pp_ext], dtype=object)
    kind = lines["kind"].astype(str).to_numpy()
    fb = ids.get_indexer(lines["from_node"].astype(str))
    tb = ids.get_indexer(lines["to_node"].astype(str))
    for col, arr in (("from_node", fb), ("to_node", tb)):
        if (arr < 0).any():
            bad = lines.loc[arr < 0].iloc[0]
            raise _branch_error(str(bad["id"]), f"{col} {bad[col]!r} is not in power_nodes; "
                                "correct it or add the node")
    lid = lines["id"].astype(str).to_numpy()
    sel = {"line": np.isin(kind, ["line", "cable"]) & np.isin(element, ["", "line"]),
           "trafo": (kind == "transformer") & np.isin(element, ["", "trafo"])}
    out_idx: dict[str, np.ndarray] = {}
    m = sel["line"]
    out_idx["line"] = _lines(net, lines[m], [pp_ext[i] for i in np.flatnonzero(m)], fb[m], tb[m])
    m = sel["trafo"]
    out_idx["trafo"] = _trafos(net, lines[m], [pp_ext[i] for i in np.flatnonzero(m)], fb[m],
                               tb[m])
    other: dict[str, pd.Index] = {}
    for table in ("trafo3w", "impedance", "dcline"):
        m = element == table
        if not m.any():
            continue
        bus_cols = _BRANCHES[table][2]
        rows = []
        for i in np.flatnonzero(m):
            row = {**pp_ext[i], bus_cols[0]: fb[i], bus_cols[1]: tb[i], "name": lid[i],
                   "in_service": bool(_flag(lines.iloc[[i]], "in_service", True)[0])}
            if table == "trafo3w":
                mv = ids.get_indexer([str(row.get("mv_bus"))])[0]
                if mv < 0:
                    raise _branch_error(lid[i], f"params.pp.mv_bus {row.get('mv_bus')!r} is "
                                        "not in power_nodes")
                row["mv_bus"] = mv
            rows.append(row)
        _append_rows(net, table, rows)
        other[table] = pd.Index(lid[m])
    m = kind == "switch"
    line_ids, trafo_ids = pd.Index(lid[sel["line"]]), pd.Index(lid[sel["trafo"]])
    if m.any():
        et = np.array([pp_ext[i].get("et", "b") for i in np.flatnonzero(m)], dtype=object)
        elem = tb[m].astype(np.int64).copy()
        refs = {"l": line_ids, "t": trafo_ids, "t3": other.get("trafo3w", pd.Index([]))}
        for j, i in enumerate(np.flatnonzero(m)):
            if et[j] in refs:
                k = refs[et[j]].get_indexer([str(pp_ext[i].get("element"))])[0]
                if k < 0:
                    raise _branch_error(lid[i], f"params.pp.element {pp_ext[i].get('element')!r}"
                                        " names no line or transformer of power_lines")
                elem[j] = k
        closed = _flag(lines[m], "closed", True)
        ext = [{k: v for k, v in pp_ext[i].items() if k not in ("et", "element")}
               for i in np.flatnonzero(m)]
        sidx = pp.create_switches(net, fb[m], elem, et.tolist(), closed=closed,
                                  name=lid[m].tolist())
        _set_extras(net, "switch", np.atleast_1d(np.asarray(sidx)), ext)
    unknown = ~(sel["line"] | sel["trafo"] | m | np.isin(element, list(other)))
    if unknown.any():
        i = np.flatnonzero(unknown)[0]
        raise _branch_error(lid[i], f"kind {kind[i]!r} with params.pp.element {element[i]!r} "
                            "is not a line, cable, transformer or switch")
    pnet = PowerNet(net, ids, line_ids, trafo_ids, pd.Index(lid[m]), other)
    if check:
        _check_sources(pnet, twin)
    return pnet


def _check_sources(pnet: PowerNet, twin: Twin) -> None:
    net = pnet.net
    if not (len(net.ext_grid) and net.ext_grid.in_service.any()) and not (
            len(net.gen) and "slack" in net.gen and net.gen.slack.any()):
        msg = ("power_nodes: no node has ext_grid true, so the network has no source; mark "
               "the substation that connects to the wider grid with ext_grid: true")
        raise UtilityError(msg)
    dead = unsupplied(pnet)
    if not len(dead):
        return
    loaded = set(net.load.bus[net.load.p_mw.abs() > 0])
    b = twin.layer("buildings")
    if "power_node" in b:
        loaded |= set(pnet.bus_index(b["power_node"].dropna().astype(str)).tolist())
    bad = sorted(set(dead) & loaded)
    if bad:
        names = ", ".join(pnet.bus_ids[bad[:5]])
        msg = (f"power_nodes: {len(bad)} node(s) with load are not connected to any source "
               f"(islands): {names}{' ...' if len(bad) > 5 else ''}; connect them with a "
               "line, close a switch, or mark a substation there with ext_grid: true")
        raise UtilityError(msg)


def unsupplied(pnet: PowerNet) -> list[int]:
    """Bus indices no in-service source reaches (pandapower topology, switches respected)."""
    import pandapower.topology as top

    return sorted(int(b) for b in top.unsupplied_buses(pnet.net))
