"""Power and water interventions, and the substation-outage hazard.

- ``substation_add``: a new substation (external grid + transformer) feeding an MV bus;
- ``feeder_upgrade``: more parallel cables (or a bigger transformer) on the selected branches;
- ``smart_meters``: peak shaving / shifting of power and water demand in the selected buildings;
- ``rooftop_solar``: panels on the selected roofs, generating by hour;
- ``pipe_upgrade``: wider, smoother pipes;
- ``leak_reduction``: less leakage (pressure management, repairs);
- ``substation_outage`` (hazard): for some hours the substation and every node it alone feeds
  lose power (``power_outage`` event), and the signals there go dark (``signals_dark`` event,
  for the mobility engine).

Importing this module also registers the utility KPIs with :mod:`twin.scenarios.kpis`.
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from twin._errors import ScenarioError
from twin.layers.store import Twin
from twin.scenarios.registry import (
    Param,
    add_event,
    highlight,
    intervention,
    set_param,
)
from twin.scenarios.selectors import select

__all__ = ["fed_by", "feeder_upgrade", "leak_reduction", "pipe_upgrade", "rooftop_solar",
           "smart_meters", "substation_add", "substation_outage"]

_SIGNALS = ("signal", "adaptive_signal")
_DARK_REACH_M = 300.0


def _register_kpis() -> None:
    from twin.scenarios.kpis import KPIS, register_kpi

    info = {
        "peak_transformer_loading_pct": ("%", "government_safety", "lower",
                                         "Highest transformer loading of the day"),
        "overloaded_line_hours": ("line-h", "government_safety", "lower",
                                  "Line, cable and transformer hours above 100% loading"),
        "min_voltage_pu": ("p.u.", "government_safety", "higher", "Lowest bus voltage"),
        "grid_energy_mwh": ("MWh", "economy", "lower", "Energy drawn from the external grid"),
        "power_unsolved_hours": ("h", "government_safety", "lower",
                                 "Hours the power flow did not converge"),
        "power_unsolved_demand_mwh": ("MWh", "government_safety", "lower",
                                      "Demand of the hours the power flow did not converge "
                                      "(served or not: unknown)"),
        "unmet_water_m3": ("m3", "livelihood", "lower", "Water demand not delivered"),
        "water_leakage_m3": ("m3", "economy", "lower", "Water lost to leaks"),
        "water_supplied_m3": ("m3", "livelihood", None, "Water delivered to consumers"),
        "water_unsolved_hours": ("h", "government_safety", "lower",
                                 "Hours without a valid hydraulic solution"),
    }
    for name, (unit, group, better, desc) in info.items():
        if name not in KPIS:
            register_kpi(name, unit, group, better, desc, "utilities")


_register_kpis()


def _get(params: dict[str, Any], key: str, default: Any) -> Any:
    """A parameter, or ``default`` when absent or None (the loader fills absent ones with None)."""
    value = params.get(key)
    return default if value is None else value


def _params_json(text: Any) -> dict[str, Any]:
    try:
        out = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def _next_id(existing: pd.Series, prefix: str) -> str:
    taken = set(existing.astype(str))
    k = 1
    while f"{prefix}{k}" in taken:
        k += 1
    return f"{prefix}{k}"


def _append(frame: pd.DataFrame, row: dict[str, Any], geometry: shapely.Geometry) -> Any:
    import geopandas as gpd

    new = gpd.GeoDataFrame([row], geometry=[geometry], crs=frame.crs)
    out = pd.concat([frame, new], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=frame.geometry.name, crs=frame.crs)


# --- power --------------------------------------------------------------------------------------

def _power_graph(twin: Twin) -> nx.Graph:
    """Power nodes joined by in-service lines, transformers and closed bus-bus switches."""
    nodes, lines = twin.layer("power_nodes"), twin.layer("power_lines")
    g = nx.Graph()
    live = nodes["in_service"].astype("boolean").fillna(True) if "in_service" in nodes else None
    g.add_nodes_from(nodes["id"].astype(str)[live.to_numpy(bool)] if live is not None
                     else nodes["id"].astype(str))
    cut: set[str] = set()
    for _, r in lines[lines["kind"] == "switch"].iterrows():
        pp_ = _params_json(r.get("params")).get("pp", {})
        closed = r.get("closed")
        if closed is not None and not pd.isna(closed) and not bool(closed):
            if pp_.get("et", "b") == "b":
                continue
            cut.add(str(pp_.get("element")))
        elif pp_.get("et", "b") == "b":
            g.add_edge(str(r["from_node"]), str(r["to_node"]))
    for _, r in lines[lines["kind"] != "switch"].iterrows():
        ok = r.get("in_service")
        if (ok is None or pd.isna(ok) or bool(ok)) and str(r["id"]) not in cut:
            g.add_edge(str(r["from_node"]), str(r["to_node"]))
    return g


def fed_by(twin: Twin, substations: list[str]) -> list[str]:
    """Power nodes that lose supply when ``substations`` fail (themselves included).

    A node is fed by them when no path reaches another node with ``ext_grid`` once they are
    removed (lines, transformers and closed switches; open switches cut).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> n = gpd.GeoDataFrame({"id": ["s", "a", "b"], "ext_grid": [True, False, False]},
    ...                      geometry=shapely.points([(0, 0), (1, 0), (2, 0)]), crs=3067)
    >>> ln = gpd.GeoDataFrame({"id": ["t", "c"], "from_node": ["s", "a"], "to_node": ["a", "b"],
    ...     "kind": ["transformer", "cable"]}, geometry=[shapely.LineString([(0, 0), (1, 0)]),
    ...     shapely.LineString([(1, 0), (2, 0)])], crs=3067)
    >>> fed_by(Twin({"power_nodes": n, "power_lines": ln}, new_meta("t", 3067)), ["s"])
    ['a', 'b', 's']
    """
    nodes = twin.layer("power_nodes")
    ext = set(nodes["id"].astype(str)[nodes["ext_grid"].astype("boolean").fillna(False)
                                      .to_numpy(bool)]) - set(substations)
    g = _power_graph(twin)
    g.remove_nodes_from(substations)
    dark = set(substations)
    for comp in nx.connected_components(g):
        if not comp & ext:
            dark |= comp
    return sorted(dark)


def _far_bus(twin: Twin) -> str:
    """Where a new substation helps most: the electrically farthest node (sum of r x length
    from the existing substations) among those on strong cables (at least half the largest
    rating), i.e. the far end of a trunk, not a thin branch that could not carry its output."""
    nodes, lines = twin.layer("power_nodes"), twin.layer("power_lines")
    g = nx.Graph()
    strong: dict[str, float] = {}
    for _, r in lines.iterrows():
        w = float(r["r_ohm_per_km"] if pd.notna(r.get("r_ohm_per_km")) else 0.1) * float(
            r["length_km"] if pd.notna(r.get("length_km")) else 0.0)
        a, b = str(r["from_node"]), str(r["to_node"])
        g.add_edge(a, b, weight=w)
        cap = float(r["max_i_ka"]) if pd.notna(r.get("max_i_ka")) else 0.0
        for n in (a, b):
            strong[n] = max(strong.get(n, 0.0), cap)
    src = nodes["id"].astype(str)[nodes["ext_grid"].astype("boolean").fillna(False)
                                  .to_numpy(bool)].tolist()
    if not [s for s in src if s in g]:
        msg = ("substation_add: the twin's power network has no substation to start from; "
               "give `at`, the node the new substation feeds")
        raise ScenarioError(msg)
    dist = nx.multi_source_dijkstra_path_length(g, [s for s in src if s in g])
    mv = nodes[nodes["vn_kv"] < nodes["vn_kv"].max()]["id"].astype(str)
    top = max((strong.get(n, 0.0) for n in mv), default=0.0)
    best = max((dist.get(n, -1.0), n) for n in mv if strong.get(n, 0.0) >= 0.5 * top)
    return best[1]


@intervention("substation_add", family="power", params={
    "at": Param("ids", layer="power_nodes", description="the medium-voltage node it feeds "
                "(default: the electrically farthest node from the existing substations)"),
    "capacity_mva": Param("float", default=40.0, min=1, max=2000, description="rating"),
    "vn_hv_kv": Param("float", min=1, max=1000, description="grid side voltage (default: that "
                      "of the existing substations)"),
    "vk_percent": Param("float", default=12.0, min=1, max=30),
    "vkr_percent": Param("float", default=0.4, min=0, max=5),
})
def substation_add(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Add a substation: an external-grid node and a transformer to a medium-voltage node."""
    nodes, lines = twin.layer("power_nodes"), twin.layer("power_lines")
    at = params.get("at")
    target = str(at[0] if isinstance(at, list | tuple) else at) if at else _far_bus(twin)
    row = nodes[nodes["id"].astype(str) == target]
    if row.empty:
        msg = f"substation_add: at {target!r} is not a power node"
        raise ScenarioError(msg)
    ext = nodes["ext_grid"].astype("boolean").fillna(False).to_numpy(bool)
    hv = float(params.get("vn_hv_kv") or (nodes.loc[ext, "vn_kv"].max() if ext.any() else 110))
    sid, tid = _next_id(nodes["id"], "ps"), _next_id(lines["id"], "pt")
    p = row.geometry.iloc[0]
    site = shapely.Point(p.x + 20.0, p.y + 20.0)
    cap = float(_get(params, "capacity_mva", 40.0))
    twin.layers["power_nodes"] = _append(nodes, {
        "id": sid, "kind": "substation", "vn_kv": hv, "ext_grid": True, "vm_pu": 1.0,
        "capacity_mva": cap, "capacity_mva_source": "user", "in_service": True,
        "source": "user"}, site)
    twin.layers["power_lines"] = _append(lines, {
        "id": tid, "from_node": sid, "to_node": target, "kind": "transformer", "vn_kv": hv,
        "sn_mva": cap, "vk_percent": float(_get(params, "vk_percent", 12.0)),
        "vkr_percent": float(_get(params, "vkr_percent", 0.4)), "in_service": True,
        "source": "user"}, shapely.LineString([site, p]))
    highlight(twin, "power_nodes", [sid])
    highlight(twin, "power_lines", [tid])
    return twin


@intervention("feeder_upgrade", family="power", params={
    "where": Param("where", layer="power_lines",
                   description="the lines, cables and transformers (default: all)"),
    "feeder": Param("str", description="a feeder name of the synthetic network (F1, F2, ...)"),
    "factor": Param("float", default=2.0, min=1.0, max=10.0, description="capacity multiplier:"
                    " 2 = a second cable beside each (r and x halve, c and max_i double); "
                    "transformers get sn_mva x factor"),
})
def feeder_upgrade(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Reinforce lines and cables (and transformers) with parallel circuits."""
    lines = twin.layer("power_lines").copy()
    ids = set(select(twin, "power_lines", params.get("where")).tolist())
    feeder = params.get("feeder")
    if feeder:
        names = lines["params"].map(lambda t: _params_json(t).get("feeder"))
        if not (names == feeder).any():
            known = sorted(n for n in names.dropna().unique())
            msg = f"feeder_upgrade: feeder {feeder!r} does not exist; feeders: {known}"
            raise ScenarioError(msg)
        ids &= set(lines["id"].astype(str)[names == feeder])
    k = float(_get(params, "factor", 2.0))
    sel = lines["id"].astype(str).isin(ids)
    cab = sel & lines["kind"].isin(["line", "cable"])
    for col, f in (("r_ohm_per_km", 1 / k), ("x_ohm_per_km", 1 / k), ("c_nf_per_km", k),
                   ("max_i_ka", k)):
        lines.loc[cab, col] = lines.loc[cab, col] * f
    lines.loc[cab, "max_i_ka_source"] = "user"
    tr = sel & (lines["kind"] == "transformer")
    lines.loc[tr, "sn_mva"] = lines.loc[tr, "sn_mva"] * k

    def more(text: Any) -> Any:
        d = _params_json(text)
        if "cables" in d:
            d["cables"] = round(float(d["cables"]) * k, 3)
            return json.dumps(d)
        return text

    lines.loc[cab, "params"] = lines.loc[cab, "params"].map(more)
    twin.layers["power_lines"] = lines
    highlight(twin, "power_lines", sorted(lines["id"].astype(str)[cab | tr]))
    return twin


@intervention("smart_meters", family="power", params={
    "where": Param("where", layer="buildings",
                   description="the buildings with meters (default: all)"),
    "power_peak_shave_pct": Param("float", default=10.0, min=0, max=50,
                                  description="cut of each building's peak (energy saved)"),
    "power_peak_shift_pct": Param("float", default=0.0, min=0, max=50,
                                  description="peak moved to off-peak hours (energy kept)"),
    "water_peak_shave_pct": Param("float", default=0.0, min=0, max=50),
    "water_peak_shift_pct": Param("float", default=0.0, min=0, max=50),
})
def smart_meters(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Smart meters with demand response in the selected buildings (all by default)."""
    ids = select(twin, "buildings", params.get("where")).tolist()
    prev = (twin.extras.get("params") or {}).get("smart_meter_buildings")
    set_param(twin, "smart_meter_buildings", sorted(set(ids) | set(prev or [])))
    for key in ("power_peak_shave_pct", "power_peak_shift_pct", "water_peak_shave_pct",
                "water_peak_shift_pct"):
        set_param(twin, key, float(_get(params, key, 10.0 if key == "power_peak_shave_pct"
                                             else 0.0)))
    highlight(twin, "buildings", ids)
    return twin


@intervention("rooftop_solar", family="power", params={
    "where": Param("where", layer="buildings", description="the roofs (default: all buildings)"),
    "roof_share": Param("float", min=0.05, max=1.0, description="share of the footprint with "
                        "panels (default agents/utility.yaml solar.roof_share)"),
    "kwp_per_m2": Param("float", min=0.05, max=0.4, description="panel peak power per m2"),
})
def rooftop_solar(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Solar panels on the roofs of the selected buildings; output follows the sun by hour."""
    from twin.network.utilities import load_profiles

    cfg = load_profiles()["solar"]
    b = twin.layer("buildings")
    ids = select(twin, "buildings", params.get("where"))
    roof = b.set_index(b["id"].astype(str))["footprint_m2"].reindex(ids).fillna(0.0)
    kwp = roof * float(params.get("roof_share") or cfg["roof_share"]) * float(
        params.get("kwp_per_m2") or cfg["kwp_per_m2"])
    have = dict((twin.extras.get("params") or {}).get("rooftop_solar_kwp") or {})
    for k, v in kwp.items():
        have[str(k)] = round(float(v), 3)
    set_param(twin, "rooftop_solar_kwp", have)
    highlight(twin, "buildings", ids.tolist())
    return twin


@intervention("substation_outage", family="hazards", params={
    "where": Param("where", layer="power_nodes", description="the substations that fail "
                   "(default: all nodes with ext_grid)"),
    "hours": Param("hours", description="[start, end) hours of the outage; all day if absent"),
})
def substation_outage(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Substations fail for some hours: the buildings they feed lose power, signals go dark."""
    nodes = twin.layer("power_nodes")
    ids = select(twin, "power_nodes", params.get("where")).tolist()
    ext = set(nodes["id"].astype(str)[nodes["ext_grid"].astype("boolean").fillna(False)
                                      .to_numpy(bool)])
    subs = [i for i in ids if i in ext] if params.get("where") else sorted(ext)
    if not subs:
        msg = ("substation_outage: the selection holds no substation (a power node with "
               f"ext_grid true); substations: {sorted(ext)}")
        raise ScenarioError(msg)
    hours = list(params.get("hours") or [0, 24])
    dark = fed_by(twin, subs)
    add_event(twin, {"type": "power_outage", "power_node_ids": dark, "hours": hours})
    rn = twin.layer("road_nodes")
    signals: list[str] = []
    if len(rn) and len(nodes):
        sig = rn[rn["control"].isin(_SIGNALS)]
        if len(sig):
            dist, near = cKDTree(shapely.get_coordinates(nodes.geometry.to_numpy())).query(
                shapely.get_coordinates(sig.geometry.to_numpy()))
            near_ids = nodes["id"].astype(str).to_numpy()[near]
            hit = (dist <= _DARK_REACH_M) & np.isin(near_ids, dark)
            signals = sorted(sig["id"].astype(str)[hit].tolist())
    add_event(twin, {"type": "signals_dark", "road_node_ids": signals, "hours": hours})
    highlight(twin, "power_nodes", dark)
    highlight(twin, "road_nodes", signals)
    return twin


# --- water --------------------------------------------------------------------------------------

@intervention("pipe_upgrade", family="water", params={
    "where": Param("where", layer="water_pipes", description="the pipes (default: all)"),
    "diameter_factor": Param("float", default=1.5, min=1.0, max=5.0,
                             description="new diameter over the old"),
    "min_diameter_mm": Param("float", min=50, max=3000, description="no pipe narrower"),
    "roughness": Param("float", default=140.0, min=60, max=160,
                       description="Hazen-Williams C of the new pipes"),
})
def pipe_upgrade(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Replace the selected pipes (all by default) with wider, smoother ones."""
    pipes = twin.layer("water_pipes").copy()
    ids = select(twin, "water_pipes", params.get("where"))
    sel = pipes["id"].astype(str).isin(ids) & (pipes["kind"] == "pipe")
    d = pipes.loc[sel, "diameter_mm"] * float(_get(params, "diameter_factor", 1.5))
    if params.get("min_diameter_mm"):
        d = d.clip(lower=float(params["min_diameter_mm"]))
    pipes.loc[sel, "diameter_mm"] = d
    pipes.loc[sel, "diameter_mm_source"] = "user"
    pipes.loc[sel, "roughness"] = float(_get(params, "roughness", 140.0))
    twin.layers["water_pipes"] = pipes
    highlight(twin, "water_pipes", sorted(pipes["id"].astype(str)[sel]))
    return twin


@intervention("leak_reduction", family="water", params={
    "pct": Param("float", default=30.0, min=0, max=100, description="leakage cut, %"),
})
def leak_reduction(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Cut leakage across the water network (repairs, pressure management), in %."""
    before = float((twin.extras.get("params") or {}).get("leak_reduction_pct", 0.0) or 0.0)
    cut = float(_get(params, "pct", 30.0))
    set_param(twin, "leak_reduction_pct", 100.0 * (1 - (1 - before / 100) * (1 - cut / 100)))
    return twin
