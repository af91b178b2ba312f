"""The power network: the twin's power layers to a pandapower net, and a pandapower net to layers.

Layers to net (:func:`build_power_net`): every ``power_nodes`` row is a bus; a node with
``ext_grid: true`` holds pandapower's external grid (the slack); ``load_*`` and ``gen_*`` are
fixed loads and static generators. ``power_lines`` rows are lines and cables (per-km parameters,
or a pandapower standard type where those are empty), two-winding transformers (rated power and
short-circuit voltages, the ratio from the two nodes' voltages) and switches. Building loads are
added by :mod:`twin.network.utilities` at each building's ``power_node``.

Net to layers (:func:`power_layers_from_net`): every bus, line, transformer (two- and
three-winding), impedance, DC line, switch, external grid, load, static generator, generator,
shunt, storage and ward arrives. What the dictionary's fields do not hold goes into ``params``
as ``{"pp": {...}}`` (the element's other columns, or the node's elements as lists), so a net
exported and rebuilt gives the same power flow. Fields win over ``params``: a node whose
``load_p_mw`` was edited has its loads scaled to the new total.

Examples
--------
>>> import pandapower.networks as pn
>>> nodes, lines, info = power_layers_from_net(pn.example_simple(), "EPSG:3067",
...                                            anchor=(385000.0, 6672000.0))
>>> sorted(lines["kind"].unique()), info["elements"]["ext_grid"]
(['cable', 'line', 'switch', 'transformer'], 1)
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
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from twin._errors import UtilityError
from twin.layers.schemas import suggest
from twin.layers.store import Twin
from twin.layers.utility_layout import typed_layer

__all__ = [
    "NODE_TABLES",
    "PowerNet",
    "build_power_net",
    "bundled_networks",
    "load_pandapower",
    "place_coordinates",
    "power_layers_from_net",
]

#: pandapower tables of elements attached to one bus; kept in the node's ``params``.
NODE_TABLES = ("ext_grid", "load", "sgen", "gen", "shunt", "storage", "ward", "xward", "motor",
               "asymmetric_load", "asymmetric_sgen")
#: Branch tables: (id prefix, twin kind, bus columns).
_BRANCHES = {"line": ("l", None, ("from_bus", "to_bus")),
             "trafo": ("t", "transformer", ("hv_bus", "lv_bus")),
             "trafo3w": ("t3w", "transformer", ("hv_bus", "lv_bus")),
             "impedance": ("z", "line", ("from_bus", "to_bus")),
             "dcline": ("dc", "line", ("from_bus", "to_bus"))}
_LINE_FIELDS = ("length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka",
                "std_type")
_TRAFO_FIELDS = ("sn_mva", "vk_percent", "vkr_percent", "std_type")
_SKIP = {"geo"}
_FAR_KM = 20.0
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

def _py(value: Any) -> Any:
    """A JSON-ready Python value (NaN and NA become None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_py(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _py(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


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


# --- net -> layers ------------------------------------------------------------------------------

def bundled_networks() -> list[str]:
    """Names of the networks bundled with pandapower (``pandapower.networks``).

    Examples
    --------
    >>> "mv_oberrhein" in bundled_networks()
    True
    """
    import pandapower.networks as pn

    return sorted(n for n in dir(pn) if not n.startswith("_") and callable(getattr(pn, n))
                  and getattr(getattr(pn, n), "__module__", "").startswith("pandapower.networks")
                  and not n.startswith(("create_empty", "convert")))


def load_pandapower(spec: str | Path) -> Any:
    """A pandapower net from a JSON file (``pandapower.to_json``) or a bundled network name.

    Raises
    ------
    UtilityError
        The file does not parse, or the name is not a bundled network.

    Examples
    --------
    >>> len(load_pandapower("example_simple").bus)
    7
    """
    import pandapower as pp
    import pandapower.networks as pn

    path = Path(str(spec))
    if path.suffix.lower() == ".json" or path.exists():
        if not path.exists():
            msg = f"{path}: no such file"
            raise UtilityError(msg)
        try:
            net = pp.from_json(str(path))
        except Exception as err:
            msg = (f"{path}: not a pandapower network ({type(err).__name__}: {err}); export "
                   "one with pandapower.to_json(net, path), or give a bundled name such as "
                   "mv_oberrhein")
            raise UtilityError(msg) from err
        if not hasattr(net, "bus") or not len(net.bus):
            msg = f"{path}: the pandapower network has no buses"
            raise UtilityError(msg)
        return net
    names = bundled_networks()
    if str(spec) not in names:
        msg = (f"{spec!r} is neither a file nor a network bundled with pandapower"
               f"{suggest(str(spec), names)}; bundled: {', '.join(names[:12])}, ...")
        raise UtilityError(msg)
    try:
        return getattr(pn, str(spec))()
    except Exception as err:
        msg = f"pandapower network {spec!r} cannot be created without arguments ({err})"
        raise UtilityError(msg) from err


def _geo_xy(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        c = json.loads(value)["coordinates"]
        return float(c[0]), float(c[1])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _layout(net: Any) -> np.ndarray:
    """Coordinates (m) for buses without geodata: a spring layout of the bus graph."""
    g = nx.Graph()
    g.add_nodes_from(net.bus.index)
    for table, (_, _, cols) in _BRANCHES.items():
        if table in net and len(net[table]):
            g.add_edges_from(zip(net[table][cols[0]], net[table][cols[1]], strict=True))
    n = len(net.bus)
    if n > 2000:
        side = math.ceil(math.sqrt(n))
        pos = {b: (i % side, i // side) for i, b in enumerate(nx.dfs_preorder_nodes(g))}
        pos.update({b: (i % side, i // side) for i, b in enumerate(net.bus.index)
                    if b not in pos})
    else:
        pos = nx.spring_layout(g, seed=0)
    xy = np.array([pos[b] for b in net.bus.index], dtype=float)
    span = max(float(np.ptp(xy, axis=0).max()), 1e-9)
    return xy / span * 100.0 * math.sqrt(n)


def place_coordinates(xy: np.ndarray, crs: Any, *, src_crs: Any = None,
                      anchor: tuple[float, float] | None = None, scale: float = 1.0,
                      far_km: float = _FAR_KM) -> tuple[np.ndarray, str]:
    """Put a model's coordinates into the twin's CRS; return them and a note saying how.

    With ``src_crs`` (e.g. EPSG:4326) the points are projected; if they land more than
    ``far_km`` from ``anchor`` they are moved there, shape kept (a local azimuthal projection).
    Without a CRS (an EPANET file has none) the points are taken as metres x ``scale`` and
    centred on ``anchor``.

    Examples
    --------
    >>> xy, note = place_coordinates(np.array([[0.0, 0.0], [10.0, 0.0]]), "EPSG:3067",
    ...                              anchor=(100.0, 100.0))
    >>> xy.tolist(), note.split(";")[0]
    ([[95.0, 100.0], [105.0, 100.0]], 'no CRS in the model')
    """
    target = CRS.from_user_input(crs)
    xy = np.asarray(xy, dtype=float)
    if not len(xy):
        return xy, "no coordinates"
    centre = (np.nanmin(xy, axis=0) + np.nanmax(xy, axis=0)) / 2.0
    if src_crs is not None:
        tr = Transformer.from_crs(CRS.from_user_input(src_crs), target, always_xy=True)
        out = np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        mid = np.column_stack(tr.transform([centre[0]], [centre[1]]))[0]
        if anchor is None or np.hypot(*(mid - np.asarray(anchor))) <= far_km * 1000.0:
            return out, f"coordinates projected from {CRS.from_user_input(src_crs).to_string()}"
        src = CRS.from_user_input(src_crs)
        if src.is_geographic:
            aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={centre[1]} +lon_0={centre[0]} "
                                  "+datum=WGS84 +units=m")
            local = np.column_stack(Transformer.from_crs(src, aeqd, always_xy=True).transform(
                xy[:, 0], xy[:, 1]))
        else:
            local = xy - centre
        dist = np.hypot(*(mid - np.asarray(anchor))) / 1000.0
        return local + np.asarray(anchor), (
            f"the model lies {dist:,.0f} km from the twin; moved to the twin's centre with its "
            "shape kept (import)")
    ref = np.asarray(anchor if anchor is not None else (0.0, 0.0), dtype=float)
    return (xy - centre) * scale + ref, (
        f"no CRS in the model; coordinates taken as local units x {scale:.4g} m and centred on "
        "the twin's centre (import)")


def _rows(frame: pd.DataFrame, drop: set[str]) -> list[dict[str, Any]]:
    cols = [c for c in frame.columns if c not in drop and c not in _SKIP
            and not c.startswith("res_")]
    return [{c: _py(v) for c, v in zip(cols, vals, strict=True)}
            for vals in frame[cols].itertuples(index=False, name=None)]


def _bus_points(net: Any, crs: Any, anchor: tuple[float, float] | None) -> tuple[np.ndarray, str]:
    xy = np.array([_geo_xy(g) or (np.nan, np.nan) for g in net.bus.get(
        "geo", pd.Series([None] * len(net.bus), index=net.bus.index))], dtype=float)
    if "bus_geodata" in net and len(net.bus_geodata):
        gd = net.bus_geodata.reindex(net.bus.index)
        miss = np.isnan(xy[:, 0])
        xy[miss] = gd[["x", "y"]].to_numpy(float)[miss]
    if np.isnan(xy).all():
        return place_coordinates(_layout(net), crs, anchor=anchor)[0], (
            "no coordinates in the model; buses laid out by their connections around the "
            "twin's centre (import)")
    miss = np.isnan(xy).any(axis=1)
    if miss.any():
        xy[miss] = np.nanmean(xy, axis=0)
    geographic = bool((np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all())
    return place_coordinates(xy, crs, src_crs="EPSG:4326" if geographic else None,
                             anchor=anchor)


def power_layers_from_net(net: Any, crs: Any, *, anchor: tuple[float, float] | None = None
                          ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Turn a pandapower net into ``power_nodes`` and ``power_lines`` layers (source import).

    Ids: buses ``b<index>``, lines ``l<i>``, transformers ``t<i>`` (three-winding ``t3w<i>``),
    impedances ``z<i>``, DC lines ``dc<i>``, switches ``s<i>``.

    Returns
    -------
    (power_nodes, power_lines, info)
        ``info``: element counts, the placement note and tables not imported.
    """
    bus_id = pd.Series([f"b{i}" for i in net.bus.index], index=net.bus.index)
    pts, note = _bus_points(net, crs, anchor)
    pos = pd.DataFrame(pts, index=net.bus.index, columns=["x", "y"])
    params: dict[int, dict[str, Any]] = {int(b): {} for b in net.bus.index}
    for b, row in zip(net.bus.index, _rows(net.bus, {"vn_kv", "name", "in_service"}),
                      strict=True):
        params[int(b)]["bus"] = {**row, "name": _py(net.bus.at[b, "name"])}
    counts: dict[str, int] = {"bus": len(net.bus)}
    for t in NODE_TABLES:
        if t in net and len(net[t]):
            counts[t] = len(net[t])
            for b, row in zip(net[t]["bus"], _rows(net[t], {"bus"}), strict=True):
                params[int(b)].setdefault(t, []).append(row)

    def total(t: str, col: str, b: int) -> float:
        rows = [r for r in params[b].get(t, []) if r.get("in_service", True)]
        return sum(float(r.get(col) or 0.0) * float(r.get("scaling", 1.0) or 0.0) for r in rows)

    kinds, load_p, load_q, gen_p, vm, ext = [], [], [], [], [], []
    for b in net.bus.index:
        p = params[int(b)]
        grids = p.get("ext_grid", [])
        ext.append(bool(grids))
        kinds.append("substation" if grids else "generator" if p.get("gen") else "bus")
        has = p.get("load")
        load_p.append(total("load", "p_mw", b) if has else np.nan)
        load_q.append(total("load", "q_mvar", b) if has else np.nan)
        g = total("sgen", "p_mw", b) + total("gen", "p_mw", b)
        gen_p.append(g if (p.get("sgen") or p.get("gen")) and g >= 0 else np.nan)
        vm.append(grids[0].get("vm_pu") if grids else p["gen"][0].get("vm_pu")
                  if p.get("gen") else np.nan)
    nodes = typed_layer("power_nodes", {
        "id": bus_id.tolist(), "kind": kinds, "vn_kv": net.bus.vn_kv.to_numpy(float),
        "ext_grid": ext, "vm_pu": vm, "load_p_mw": load_p, "load_q_mvar": load_q,
        "gen_p_mw": gen_p, "in_service": net.bus.in_service.to_numpy(bool),
        "params": [json.dumps({"pp": params[int(b)]}) for b in net.bus.index],
        "source": "import",
    }, shapely.points(pts), crs)
    lines: list[dict[str, Any]] = []
    geoms: list[shapely.Geometry] = []
    for table, (prefix, kind, (c0, c1)) in _BRANCHES.items():
        if table not in net or not len(net[table]):
            continue
        counts[table] = len(net[table])
        frame = net[table]
        keep = set(_LINE_FIELDS) if table == "line" else set(_TRAFO_FIELDS) if table == "trafo" \
            else set()
        drop = {c0, c1, "name", "in_service", *keep}
        for i, row in zip(frame.index, _rows(frame, drop), strict=True):
            a, b = int(frame.at[i, c0]), int(frame.at[i, c1])
            extra = {**row, "name": _py(frame.at[i, "name"]) if "name" in frame else None}
            if table != "line" and table != "trafo":
                extra["table"] = table
            if table == "trafo3w":
                extra["mv_bus"] = bus_id[int(frame.at[i, "mv_bus"])]
            rec = {"id": f"{prefix}{i}", "from_node": bus_id[a], "to_node": bus_id[b],
                   "kind": kind or ("cable" if frame.at[i, "type"] == "cs" else "line"),
                   "vn_kv": float(net.bus.at[a, "vn_kv"]),
                   "in_service": bool(frame.at[i, "in_service"]),
                   "params": json.dumps({"pp": extra})}
            for c in keep:
                rec[c] = _py(frame.at[i, c])
            if table == "line":
                rec["length_km_source"] = rec["max_i_ka_source"] = "import"
            lines.append(rec)
            geo = _line_geo(frame.at[i, "geo"] if "geo" in frame else None, crs, note)
            p0, p1 = pos.loc[a].to_numpy(), pos.loc[b].to_numpy()
            if np.allclose(p0, p1):  # e.g. a transformer's two buses in one substation
                p1 = p0 + np.array([5.0, 5.0])
            geoms.append(geo if geo is not None else shapely.LineString([p0, p1]))
    if "switch" in net and len(net.switch):
        counts["switch"] = len(net.switch)
        other = {"l": ("line", "l"), "t": ("trafo", "t"), "t3": ("trafo3w", "t3w")}
        for i, row in zip(net.switch.index, _rows(net.switch, {"bus", "element", "closed"}),
                          strict=True):
            a, e, et = int(net.switch.at[i, "bus"]), int(net.switch.at[i, "element"]), str(
                net.switch.at[i, "et"])
            if et == "b":
                b = e
            else:
                table, prefix = other[et]
                ends = net[table].loc[e, list(_BRANCHES[table][2])].astype(int).tolist()
                b = ends[1] if ends[0] == a else ends[0]
                row = {**row, "element": f"{prefix}{e}"}
            lines.append({"id": f"s{i}", "from_node": bus_id[a], "to_node": bus_id[b],
                          "kind": "switch", "vn_kv": float(net.bus.at[a, "vn_kv"]),
                          "closed": bool(net.switch.at[i, "closed"]),
                          "params": json.dumps({"pp": row})})
            p0, p1 = pos.loc[a].to_numpy(), pos.loc[b].to_numpy()
            end = p1 if et == "b" else p0 + (p1 - p0) * 0.1
            if np.allclose(end, p0):
                end = p0 + np.array([1.0, 0.0])
            geoms.append(shapely.LineString([p0, end]))
    frame = pd.DataFrame(lines) if lines else pd.DataFrame(columns=["id"])
    frame["source"] = "import"
    out_lines = typed_layer("power_lines", frame, geoms, crs)
    skipped = {t: len(net[t]) for t in ("measurement", "controller", "poly_cost", "pwl_cost",
                                         "characteristic", "svc", "tcsc", "ssc", "vsc")
               if t in net and hasattr(net[t], "__len__") and len(net[t])}
    info = {"elements": counts, "placement": note, "not_imported": skipped}
    return nodes, out_lines, info


def _line_geo(value: Any, crs: Any, note: str) -> shapely.Geometry | None:
    """A line's own geodata, only when the buses kept their projected coordinates."""
    if not isinstance(value, str) or not value or not note.startswith("coordinates projected"):
        return None
    try:
        coords = np.asarray(json.loads(value)["coordinates"], dtype=float)
    except (ValueError, KeyError, TypeError):
        return None
    if coords.ndim != 2 or len(coords) < 2:
        return None
    tr = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
    return shapely.LineString(np.column_stack(tr.transform(coords[:, 0], coords[:, 1])))


# --- into a twin --------------------------------------------------------------------------------

def twin_anchor(twin: Twin) -> tuple[float, float]:
    """The centre of the twin's extent (buildings, else roads, else any layer)."""
    for name in ("buildings", "roads", *twin.layers):
        layer = twin.layers.get(name)
        if layer is not None and len(layer):
            x0, y0, x1, y1 = layer.total_bounds
            return (float(x0 + x1) / 2.0, float(y0 + y1) / 2.0)
    return (0.0, 0.0)


def reconnect(buildings: gpd.GeoDataFrame, nodes: gpd.GeoDataFrame, usable: np.ndarray,
              column: str) -> tuple[gpd.GeoDataFrame, float]:
    """Point each building's ``column`` at the nearest ``usable`` node; return the median gap."""
    from scipy.spatial import cKDTree

    out = buildings.copy()
    if not len(out) or not usable.any():
        return out, float("nan")
    xy = shapely.get_coordinates(nodes.geometry.to_numpy()[usable])
    pts = shapely.get_coordinates(shapely.point_on_surface(out.geometry.to_numpy()))
    dist, near = cKDTree(xy).query(pts)
    out[column] = nodes["id"].astype(str).to_numpy()[usable][near]
    return out, float(np.median(dist))


def merge_layers(twin: Twin, new: dict[str, gpd.GeoDataFrame], *, replace: bool,
                 what: str) -> Twin:
    """A copy of ``twin`` with ``new`` layers replacing (or appended to) its own."""
    out = twin.copy()
    for name, frame in new.items():
        old = twin.layers.get(name)
        if replace or old is None or not len(old):
            out.layers[name] = frame
            continue
        clash = sorted(set(old["id"].astype(str)) & set(frame["id"].astype(str)))
        if clash:
            msg = (f"{name}: the imported {what} uses ids the twin already has ({clash[:5]}); "
                   "pass --replace to swap the twin's network for it")
            raise UtilityError(msg)
        merged = pd.concat([old, frame.to_crs(old.crs)], ignore_index=True)
        out.layers[name] = gpd.GeoDataFrame(merged, geometry=old.geometry.name, crs=old.crs)
    return out


def import_power(twin: Twin, spec: str | Path | Any, *, replace: bool = False
                 ) -> tuple[Twin, dict[str, Any]]:
    """Bring a pandapower net (file, bundled name or net) into a copy of the twin.

    With ``replace`` the twin's power layers are swapped for it and every building is
    connected to the nearest supplied bus of the lowest voltage; without, the elements are
    added beside the twin's own (ids must not clash) and only unconnected buildings move.

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> t, info = import_power(Twin({}, new_meta("t", "EPSG:3067")), "example_simple")
    >>> len(t.layers["power_nodes"]), info["elements"]["line"]
    (7, 4)
    """
    net = load_pandapower(spec) if isinstance(spec, str | Path) else spec
    nodes, lines, info = power_layers_from_net(net, twin.crs, anchor=twin_anchor(twin))
    out = merge_layers(twin, {"power_nodes": nodes, "power_lines": lines}, replace=replace,
                       what="power network")
    label = str(spec) if isinstance(spec, str | Path) else str(getattr(net, "name", "net"))
    models = dict(out.meta.get("utility_models") or {})
    models["power"] = {"source": Path(label).name, "f_hz": float(net.f_hz),
                       "sn_mva": float(net.sn_mva), "placement": info["placement"]}
    out.meta["utility_models"] = models
    out.meta.setdefault("sources", []).append({"name": f"power network {Path(label).name}",
                                               "licence": "see the model's source",
                                               "note": info["placement"]})
    b = out.layers.get("buildings")
    if b is not None and len(b):
        pnet = build_power_net(out, check=False)
        dead = set(unsupplied(pnet))
        allnodes = out.layers["power_nodes"]
        vn = allnodes["vn_kv"].to_numpy(float)
        ok = np.array([i not in dead for i in range(len(allnodes))])
        ok &= allnodes["in_service"].astype("boolean").fillna(True).to_numpy(bool)
        usable = ok & (vn == vn[ok].min()) if ok.any() else ok
        if replace:
            out.layers["buildings"], gap = reconnect(b, allnodes, usable, "power_node")
        else:
            have = b.get("power_node", pd.Series([None] * len(b))).astype(str).isin(
                allnodes["id"].astype(str))
            fixed, gap = reconnect(b[~have.to_numpy()], allnodes, usable, "power_node")
            out.layers["buildings"] = b.copy()
            if len(fixed):
                out.layers["buildings"].loc[fixed.index, "power_node"] = fixed["power_node"]
        info["buildings_connected_median_m"] = None if np.isnan(gap) else round(gap, 1)
    info["fixed_load_mw"] = round(float(np.nansum(nodes["load_p_mw"])), 3)
    return out, info
