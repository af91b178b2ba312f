"""The water network: the twin's water layers to a WNTR model, and an EPANET file to layers.

Layers to model (:func:`build_water_network`): ``water_nodes`` rows are junctions (elevation,
fixed demand), reservoirs (total head) and tanks (levels, diameter); ``water_pipes`` rows are
pipes (length, diameter, Hazen-Williams roughness, minor loss, open / closed / check valve),
pumps (a head curve in ``params``) and valves (type and setting in ``params``). Building demand
is added by :mod:`twin.network.utilities` at each building's ``water_node``.

EPANET file to layers (:func:`water_layers_from_inp`): every junction, tank, reservoir, pipe,
pump and valve arrives, with WNTR's description of what the fields do not hold in ``params``
(``{"wntr": {...}}``); options, patterns, curves, controls and sources go to the twin's
``meta["utility_models"]["water"]``. An EPANET file has no CRS: the network is scaled so straight
distances match pipe lengths and centred on the twin (say so: the placement note).

Examples
--------
>>> from twin.layers.store import Twin, new_meta
>>> nodes, pipes, model, info = water_layers_from_inp(NET1, "EPSG:3067", anchor=(0.0, 0.0))
>>> info["elements"]
{'junction': 9, 'reservoir': 1, 'tank': 1, 'pipe': 12, 'pump': 1, 'valve': 0}
>>> t = Twin({"water_nodes": nodes, "water_pipes": pipes}, new_meta("t", "EPSG:3067"))
>>> t.meta["utility_models"] = {"water": model}
>>> len(build_water_network(t).wn.junction_name_list)
9
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from twin._errors import UtilityError
from twin.layers.store import Twin
from twin.layers.utility_layout import typed_layer
from twin.network.power import _params, _py, place_coordinates
from twin.network.water_inp import check_inp, epanet_errors, explain_wntr_error, inp_error

__all__ = ["NET1", "NET3", "WaterNet", "build_water_network", "read_inp", "run_epanet",
           "water_layers_from_inp"]


def _library(name: str) -> Path:
    import wntr

    return Path(wntr.__file__).parent / "library" / "networks" / name


#: EPANET example networks bundled with WNTR.
NET1 = _library("Net1.inp")
NET3 = _library("Net3.inp")
_NODE_KIND = {"Junction": "junction", "Reservoir": "reservoir", "Tank": "tank"}
_LINK_KIND = {"Pipe": "pipe", "Pump": "pump", "Valve": "valve"}
_STATUS = {"open": "Open", "closed": "Closed", "cv": "Open"}
_REEXPORT = "if the line looks right, export the model again from EPANET as .inp"


@dataclass
class WaterNet:
    """A WNTR model built from a twin, with the twin ids of its nodes and links (layer order)."""

    wn: Any
    node_ids: pd.Index
    link_ids: pd.Index
    junction_ids: pd.Index


def read_inp(path: str | Path) -> Any:
    """Read an EPANET ``.inp`` file with WNTR, after checking it line by line.

    The file is checked first (:func:`twin.network.water_inp.check_inp`: every bad value with
    its section, line, element and field), then read with WNTR (what it raises is placed on
    its line), then opened with EPANET (the errors of EPANET's report, e.g. an unconnected
    node), so a file that passes also runs.

    Raises
    ------
    UtilityError
        The file is missing or has problems: all of them are listed, each with the file, the
        section, the line number, the element id and field, what is wrong and how to fix it.

    Examples
    --------
    >>> len(read_inp(NET3).junction_name_list)
    92
    """
    import wntr

    p = Path(path)
    if not p.is_file():
        msg = f"{p}: no such file"
        raise UtilityError(msg)
    try:
        problems = check_inp(p)
    except OSError as err:
        msg = f"{p}: cannot be read ({err})"
        raise UtilityError(msg) from err
    if problems:
        raise inp_error(p, problems)
    try:
        wn = wntr.network.WaterNetworkModel(str(p))
    except Exception as err:
        # EPANET places most of what WNTR refuses on its line; else WNTR's own words
        found = [q for q in epanet_errors(p) if q.line is not None]
        if found:
            raise inp_error(p, found) from err
        raise inp_error(p, explain_wntr_error(p, err), note=_REEXPORT) from err
    problems = epanet_errors(p)
    if problems:
        raise inp_error(p, problems)
    return wn


# --- model -> layers ----------------------------------------------------------------------------

def _scale(d: dict[str, Any]) -> float:
    """Metres per coordinate unit: median pipe length over the straight distance of its ends."""
    xy = {n["name"]: n.get("coordinates") for n in d["nodes"]}
    ratios = []
    for link in d["links"]:
        if link["link_type"] != "Pipe":
            continue
        a, b = xy.get(link["start_node_name"]), xy.get(link["end_node_name"])
        if a and b:
            dist = math.hypot(a[0] - b[0], a[1] - b[1])
            if dist > 0 and link.get("length", 0) > 0:
                ratios.append(link["length"] / dist)
    return float(np.median(ratios)) if ratios else 1.0


def water_layers_from_inp(source: str | Path | Any, crs: Any, *,
                          anchor: tuple[float, float] | None = None, src_crs: Any = None
                          ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any],
                                     dict[str, Any]]:
    """Turn an EPANET file (or a WNTR model) into ``water_nodes`` and ``water_pipes`` layers.

    Ids are the EPANET names. Without ``src_crs`` the coordinates are scaled (straight
    distances match pipe lengths) and centred on ``anchor``; with it they are projected.

    Returns
    -------
    (water_nodes, water_pipes, model, info)
        ``model``: options, patterns, curves, controls and sources (for the twin's meta);
        ``info``: element counts and the placement note.
    """
    import wntr

    wn = read_inp(source) if isinstance(source, str | Path) else source
    d = json.loads(json.dumps(wntr.network.to_dict(wn), default=_py))
    hw = d["options"]["hydraulic"].get("headloss", "H-W") == "H-W"
    pts = [n.get("coordinates") or (0.0, 0.0) for n in d["nodes"]]
    verts = [v for link in d["links"] for v in link.get("vertices") or []]
    allxy = np.array([*pts, *verts], dtype=float).reshape(-1, 2)
    placed, note = place_coordinates(allxy, crs, src_crs=src_crs, anchor=anchor,
                                     scale=1.0 if src_crs else _scale(d))
    where = {n["name"]: placed[i] for i, n in enumerate(d["nodes"])}
    rows = []
    for n in d["nodes"]:
        kind = _NODE_KIND[n["node_type"]]
        rest = {k: v for k, v in n.items() if k not in ("name", "node_type", "coordinates")}
        row: dict[str, Any] = {"id": n["name"], "kind": kind, "elevation_m_source": "import"}
        if kind == "junction":
            dl = rest.get("demand_timeseries_list") or []
            row["elevation_m"] = rest.pop("elevation")
            row["base_demand_lps"] = sum(float(x.get("base_val") or 0.0) for x in dl) * 1000.0
            for k in ("base_demand", "demand_pattern", "demand_category"):
                rest.pop(k, None)
        elif kind == "reservoir":
            row["elevation_m"] = row["head_m"] = rest.pop("base_head")
        else:
            for f, k in (("elevation_m", "elevation"), ("init_level_m", "init_level"),
                         ("min_level_m", "min_level"), ("max_level_m", "max_level"),
                         ("diameter_m", "diameter")):
                row[f] = rest.pop(k)
        row["params"] = json.dumps({"wntr": rest})
        rows.append(row)
    nodes = typed_layer("water_nodes", pd.DataFrame(rows).assign(source="import"),
                        shapely.points([where[n["name"]] for n in d["nodes"]]), crs)
    links, geoms = [], []
    at = len(d["nodes"])
    for link in d["links"]:
        kind = _LINK_KIND[link["link_type"]]
        rest = {x: v for x, v in link.items() if x not in (
            "name", "link_type", "start_node_name", "end_node_name", "vertices")}
        row = {"id": link["name"], "from_node": link["start_node_name"],
               "to_node": link["end_node_name"], "kind": kind}
        status = str(rest.pop("initial_status", "Open") or "Open").lower()
        row["status"] = status if status in ("open", "closed") else None
        if kind == "pipe":
            row["length_m"], row["length_m_source"] = rest.pop("length"), "import"
            if rest.pop("check_valve", False):
                row["status"] = "cv"
            if hw:
                row["roughness"] = rest.pop("roughness")
        if kind in ("pipe", "valve"):
            row["diameter_mm"] = rest.pop("diameter") * 1000.0
            row["diameter_mm_source"] = "import"
            row["minor_loss"] = rest.pop("minor_loss")
        if status not in ("open", "closed"):
            rest["initial_status"] = link.get("initial_status")
        row["params"] = json.dumps({"wntr": rest})
        links.append(row)
        nv = len(link.get("vertices") or [])
        geoms.append(shapely.LineString([where[link["start_node_name"]], *placed[at:at + nv],
                                         where[link["end_node_name"]]]))
        at += nv
    frame = pd.DataFrame(links) if links else pd.DataFrame(columns=["id"])
    pipes = typed_layer("water_pipes", frame.assign(source="import"), geoms, crs)
    model = {key: d.get(key) for key in ("name", "comment", "options", "patterns", "curves",
                                         "controls", "sources")}
    counts = {k2: int((nodes["kind"] == k2).sum()) for k2 in ("junction", "reservoir", "tank")}
    counts |= {k2: int((pipes["kind"] == k2).sum()) for k2 in ("pipe", "pump", "valve")}
    return nodes, pipes, model, {"elements": counts, "placement": note}


# --- layers -> model ----------------------------------------------------------------------------

def _err(layer: str, fid: str, what: str) -> UtilityError:
    return UtilityError(f"{layer}: feature {fid}: {what}")


def _val(row: pd.Series, col: str) -> float | None:
    v = row.get(col)
    return None if v is None or pd.isna(v) else float(v)


def _node_dict(row: pd.Series, params: dict[str, Any]) -> dict[str, Any]:
    fid, kind = str(row["id"]), str(row["kind"])
    d = dict(params.get("wntr") or {})
    xy = shapely.get_coordinates(row.geometry)[0].tolist() if row.geometry is not None else [
        0.0, 0.0]
    d |= {"name": fid, "coordinates": tuple(xy)}
    elev = _val(row, "elevation_m")
    if kind == "junction":
        if elev is None:
            raise _err("water_nodes", fid, "elevation_m is missing; give the ground elevation")
        d |= {"node_type": "Junction", "elevation": elev}
        dl = [dict(x) for x in d.get("demand_timeseries_list") or []]
        want = _val(row, "base_demand_lps")
        have = sum(float(x.get("base_val") or 0.0) for x in dl) * 1000.0
        if want is not None and not math.isclose(want, have, rel_tol=1e-12, abs_tol=1e-15):
            if abs(have) > 0:
                dl = [{**x, "base_val": float(x.get("base_val") or 0.0) * want / have}
                      for x in dl]
            else:
                dl = [*dl, {"base_val": want / 1000.0, "pattern_name": None, "category": None}]
        d["demand_timeseries_list"] = dl
    elif kind == "reservoir":
        head = _val(row, "head_m")
        head = head if head is not None else elev
        if head is None:
            raise _err("water_nodes", fid, "a reservoir needs head_m (its total head, m)")
        d |= {"node_type": "Reservoir", "base_head": head}
    elif kind == "tank":
        d |= {"node_type": "Tank", "elevation": elev}
        for f, k in (("init_level_m", "init_level"), ("min_level_m", "min_level"),
                     ("max_level_m", "max_level"), ("diameter_m", "diameter")):
            v = _val(row, f)
            if v is None:
                raise _err("water_nodes", fid, f"a tank needs {f}")
            d[k] = v
        if elev is None or d["diameter"] <= 0:
            raise _err("water_nodes", fid, "a tank needs elevation_m and diameter_m > 0")
    else:
        raise _err("water_nodes", fid, f"kind {kind!r} is not junction, reservoir or tank")
    return d


def _link_dict(row: pd.Series, params: dict[str, Any], curves: list[dict[str, Any]]
               ) -> dict[str, Any]:
    fid, kind = str(row["id"]), str(row["kind"])
    d = dict(params.get("wntr") or {})
    d |= {"name": fid, "start_node_name": str(row["from_node"]),
          "end_node_name": str(row["to_node"])}
    geom = row.geometry
    coords = shapely.get_coordinates(geom).tolist() if geom is not None else []
    d["vertices"] = [tuple(c) for c in coords[1:-1]]
    status = row.get("status")
    if isinstance(status, str) and status:
        d["initial_status"] = _STATUS[status]
    dia = _val(row, "diameter_mm")
    if kind == "pipe":
        length = _val(row, "length_m") or (float(geom.length) if geom is not None else 0.0)
        if dia is None or dia <= 0:
            raise _err("water_pipes", fid, f"diameter_mm must be > 0 (got {dia}); give the "
                       "pipe's inner diameter in mm, or delete the pipe")
        if length <= 0:
            raise _err("water_pipes", fid, "length_m must be > 0; measure the pipe")
        rough = _val(row, "roughness")
        if rough is None and "roughness" not in d:
            raise _err("water_pipes", fid, "roughness is missing; give the Hazen-Williams C "
                       "(about 100-150; 120 for ageing mains)")
        d |= {"link_type": "Pipe", "length": length, "diameter": dia / 1000.0,
              "check_valve": status == "cv"}
        if rough is not None:
            d["roughness"] = rough
        d["minor_loss"] = _val(row, "minor_loss") or 0.0
    elif kind == "pump":
        d["link_type"] = "Pump"
        if "curve" in params:
            name = f"twin-pump-{fid}"
            pts = [(float(q) / 1000.0, float(h)) for q, h in params["curve"]]
            curves.append({"name": name, "curve_type": "HEAD", "points": pts})
            d |= {"pump_type": "HEAD", "pump_curve_name": name}
        elif "power_kw" in params:
            d |= {"pump_type": "POWER", "power": float(params["power_kw"]) * 1000.0}
        elif not d.get("pump_curve_name") and not d.get("power"):
            raise _err("water_pipes", fid, 'a pump needs params {"curve": [[flow_lps, head_m], '
                       '...]} or {"power_kw": P}')
    elif kind == "valve":
        if dia is None or dia <= 0:
            raise _err("water_pipes", fid, "diameter_mm must be > 0 for a valve")
        d |= {"link_type": "Valve", "diameter": dia / 1000.0,
              "minor_loss": _val(row, "minor_loss") or 0.0}
        d["valve_type"] = str(params.get("valve_type", d.get("valve_type", "")) or "").upper()
        if d["valve_type"] not in ("PRV", "PSV", "PBV", "FCV", "TCV", "GPV"):
            raise _err("water_pipes", fid, 'a valve needs params {"valve_type": "PRV|PSV|PBV|'
                       'FCV|TCV|GPV", "setting": S}')
        if "setting" in params:
            d["initial_setting"] = float(params["setting"])
        d.setdefault("initial_status", "Active")
    else:
        raise _err("water_pipes", fid, f"kind {kind!r} is not pipe, pump or valve")
    return d


def build_water_network(twin: Twin, *, check: bool = True) -> WaterNet:
    """Build a WNTR model from the twin's ``water_nodes`` and ``water_pipes``.

    Network-wide settings (options, patterns, curves, controls) come from
    ``twin.meta["utility_models"]["water"]`` when a model was imported.

    Raises
    ------
    UtilityError
        Naming the feature and field: duplicate ids, links to missing nodes, a pipe with zero
        diameter or length, a tank without levels, a pump without a curve, no reservoir or
        tank, or (with ``check``) junctions with demand that no source reaches.

    Examples
    --------
    >>> nodes, pipes, model, _ = water_layers_from_inp(NET3, "EPSG:3067", anchor=(0.0, 0.0))
    >>> from twin.layers.store import new_meta
    >>> t = Twin({"water_nodes": nodes, "water_pipes": pipes}, new_meta("t", "EPSG:3067"))
    >>> t.meta["utility_models"] = {"water": model}
    >>> len(build_water_network(t).wn.pump_name_list)
    2
    """
    import wntr

    nodes = twin.layer("water_nodes").reset_index(drop=True)
    pipes = twin.layer("water_pipes").reset_index(drop=True)
    if len(nodes) == 0:
        msg = ("water_nodes: the twin has no water network; build the demo with `twin init`, "
               "or import one with `twin layers import FILE --epanet NET.inp`")
        raise UtilityError(msg)
    for name, frame in (("water_nodes", nodes), ("water_pipes", pipes)):
        ids = frame["id"].astype(str)
        if ids.duplicated().any():
            msg = (f"{name}: id {ids[ids.duplicated()].iloc[0]!r} is used by several features;"
                   " give each its own id")
            raise UtilityError(msg)
    node_ids = pd.Index(nodes["id"].astype(str))
    for col in ("from_node", "to_node"):
        bad = ~pipes[col].astype(str).isin(node_ids)
        if bad.any():
            row = pipes[bad].iloc[0]
            raise _err("water_pipes", str(row["id"]), f"{col} {row[col]!r} is not in "
                       "water_nodes; correct it or add the node")
    if not nodes["kind"].isin(["reservoir", "tank"]).any():
        msg = ("water_nodes: no reservoir or tank, so the network has no source; add the "
               "reservoir (kind: reservoir, head_m) that feeds it")
        raise UtilityError(msg)
    model = (twin.meta.get("utility_models") or {}).get("water") or {}
    curves = [dict(c) for c in model.get("curves") or []]
    node_dicts = [_node_dict(r, _params(r.get("params"), "water_nodes", str(r["id"])))
                  for _, r in nodes.iterrows()]
    link_dicts = [_link_dict(r, _params(r.get("params"), "water_pipes", str(r["id"])), curves)
                  for _, r in pipes.iterrows()]
    d = {"version": "wntr-1.5", "comment": model.get("comment") or "",
         "name": twin.meta.get("name", "twin"), "references": [],
         "options": model.get("options") or {}, "curves": curves,
         "patterns": model.get("patterns") or [], "nodes": node_dicts, "links": link_dicts,
         "sources": model.get("sources") or [], "controls": model.get("controls") or []}
    try:
        wn = wntr.network.from_dict(json.loads(json.dumps(d, default=_py)))
    except Exception as err:
        msg = (f"water layers: WNTR cannot build the model ({type(err).__name__}: {err}); "
               "check the params of the feature named, and the imported model's patterns "
               "and curves")
        raise UtilityError(msg) from err
    juncs = pd.Index(node_ids[nodes["kind"].to_numpy() == "junction"])
    wnet = WaterNet(wn, node_ids, pd.Index(pipes["id"].astype(str)), juncs)
    if check:
        islands = water_islands(wnet)
        demand = pd.to_numeric(nodes.get("base_demand_lps"), errors="coerce").fillna(0.0)
        loaded = set(node_ids[demand.to_numpy() > 0])
        b = twin.layer("buildings")
        if "water_node" in b:
            loaded |= set(b["water_node"].dropna().astype(str))
        bad = [n for n in islands if n in loaded]
        if bad:
            msg = (f"water_nodes: {len(bad)} junction(s) with demand are not connected to any "
                   f"reservoir or tank (islands): {', '.join(bad[:5])}"
                   f"{' ...' if len(bad) > 5 else ''}; connect them with a pipe")
            raise UtilityError(msg)
    return wnet


def water_islands(wnet: WaterNet) -> list[str]:
    """Junctions that no reservoir or tank reaches over the network's links (any status).

    Examples
    --------
    >>> nodes, pipes, model, _ = water_layers_from_inp(NET1, "EPSG:3067", anchor=(0.0, 0.0))
    >>> from twin.layers.store import new_meta
    >>> t = Twin({"water_nodes": nodes, "water_pipes": pipes}, new_meta("t", "EPSG:3067"))
    >>> water_islands(build_water_network(t))
    []
    """
    wn = wnet.wn
    g = nx.Graph()
    g.add_nodes_from(wn.node_name_list)
    g.add_edges_from((lk.start_node_name, lk.end_node_name) for _, lk in wn.links())
    sources = set(wn.reservoir_name_list) | set(wn.tank_name_list)
    reached: set[str] = set()
    for comp in nx.connected_components(g):
        if comp & sources:
            reached |= comp
    return [j for j in wn.junction_name_list if j not in reached]


def run_epanet(wn: Any) -> Any:
    """Run EPANET (through WNTR) on ``wn`` in a temporary folder; return WNTR's results.

    Every EPANET run of twin goes through here: WNTR's ``EpanetSimulator.run_sim`` writes
    ``temp.inp``, ``temp.rpt`` and ``temp.bin`` into the current folder unless given a
    ``file_prefix``; here they go to a temporary folder that is removed afterwards.

    Raises
    ------
    UtilityError
        EPANET stops with an error (its code and message, e.g. a disconnected node).

    Examples
    --------
    >>> res = run_epanet(read_inp(NET1))
    >>> round(float(res.node["pressure"].loc[0, "10"]), 2)
    89.72
    """
    import wntr

    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
        prefix = Path(tmp) / "twin"
        try:
            return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(prefix))
        except Exception as err:
            inp = prefix.with_suffix(".inp")
            found = epanet_errors(inp) if inp.is_file() else []
            said = "; ".join(f"{p.message}" + (f" (feature {p.element})" if p.element and
                                                 p.element not in p.message else "")
                             for p in found[:5]) or f"{type(err).__name__}: {err}"
            msg = (f"EPANET could not solve the water network ({said}); run `twin utilities "
                   "check` to find islands, pipes without diameter, or pumps and valves with "
                   "bad settings")
            raise UtilityError(msg) from err


def import_water(twin: Twin, path: str | Path, *, replace: bool = False, crs: Any = None
                 ) -> tuple[Twin, dict[str, Any]]:
    """Bring an EPANET model into a copy of the twin (see :func:`water_layers_from_inp`).

    With ``replace`` the twin's water layers are swapped for it and every building is
    connected to the nearest junction a source reaches; without, the elements are added beside
    the twin's own (ids must not clash) and only unconnected buildings move. ``crs`` is the
    CRS of the file's coordinates, if known.

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> t, info = import_water(Twin({}, new_meta("t", "EPSG:3067")), NET1)
    >>> t.meta["utility_models"]["water"]["source"], info["elements"]["tank"]
    ('Net1.inp', 1)
    """
    from twin.network.power import merge_layers, reconnect, twin_anchor

    old_model = (twin.meta.get("utility_models") or {}).get("water")
    if old_model and not replace and len(twin.layer("water_nodes")):
        msg = (f"the twin already holds the imported water model {old_model.get('source')!r}; "
               "pass --replace to swap it (two EPANET models cannot share options)")
        raise UtilityError(msg)
    nodes, pipes, model, info = water_layers_from_inp(path, twin.crs, anchor=twin_anchor(twin),
                                                      src_crs=crs)
    out = merge_layers(twin, {"water_nodes": nodes, "water_pipes": pipes}, replace=replace,
                       what="water network")
    models = dict(out.meta.get("utility_models") or {})
    models["water"] = {**model, "source": Path(path).name, "placement": info["placement"]}
    out.meta["utility_models"] = models
    out.meta.setdefault("sources", []).append({"name": f"water network {Path(path).name}",
                                               "licence": "see the model's source",
                                               "note": info["placement"]})
    wnet = build_water_network(out, check=False)  # what cannot be built is refused here, named
    b = out.layers.get("buildings")
    if b is not None and len(b):
        dead = set(water_islands(wnet))
        alln = out.layers["water_nodes"]
        usable = ((alln["kind"] == "junction") & ~alln["id"].astype(str).isin(dead)).to_numpy()
        if replace:
            out.layers["buildings"], gap = reconnect(b, alln, usable, "water_node")
        else:
            have = b.get("water_node", pd.Series([None] * len(b))).astype(str).isin(
                alln["id"].astype(str)).to_numpy()
            fixed, gap = reconnect(b[~have], alln, usable, "water_node")
            out.layers["buildings"] = b.copy()
            if len(fixed):
                out.layers["buildings"].loc[fixed.index, "water_node"] = fixed["water_node"]
        info["buildings_connected_median_m"] = None if np.isnan(gap) else round(gap, 1)
    return out, info
