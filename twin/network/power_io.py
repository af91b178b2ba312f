"""A pandapower net to the twin's power layers, and pandapower networks into a twin.

Net to layers (:func:`power_layers_from_net`): every bus, line, transformer (two- and
three-winding), impedance, DC line, switch, external grid, load, static generator, generator,
shunt, storage and ward arrives. What the dictionary's fields do not hold goes into ``params``
as ``{"pp": {...}}`` (the element's other columns, or the node's elements as lists), so a net
exported and rebuilt (:func:`twin.network.power.build_power_net`) gives the same power flow.

Into a twin (:func:`import_power`): a JSON file or a network bundled with pandapower
(:func:`load_pandapower`, :func:`bundled_networks`), placed on the twin
(:func:`place_coordinates`), its layers merged with the twin's and the buildings connected.

The tables below say how pandapower elements map to the layers; the builder in
:mod:`twin.network.power` reads them the other way (and re-exports this module's public names).

Examples
--------
>>> import pandapower.networks as pn
>>> nodes, lines, info = power_layers_from_net(pn.example_simple(), "EPSG:3067",
...                                            anchor=(385000.0, 6672000.0))
>>> sorted(lines["kind"].unique()), info["elements"]["ext_grid"]
(['cable', 'line', 'switch', 'transformer'], 1)
"""

from __future__ import annotations

import json
import math
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
    "bundled_networks",
    "check_power_model",
    "import_power",
    "load_pandapower",
    "merge_layers",
    "place_coordinates",
    "power_layers_from_net",
    "reconnect",
    "twin_anchor",
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


_TABLE_OF = (("t3w", "trafo3w"), ("dc", "dcline"), ("l", "line"), ("t", "trafo"),
             ("z", "impedance"), ("s", "switch"))


def _origin(fid: str, params: Any) -> str:
    """`` (pandapower line 3 'Line 4')`` for the twin id ``l3`` of an imported branch."""
    found = next(((t, fid[len(p):]) for p, t in _TABLE_OF if fid.startswith(p)
                  and fid[len(p):].isdigit()), None)
    if found is None:
        return ""
    try:
        name = json.loads(params).get("pp", {}).get("name") if isinstance(params, str) else None
    except (ValueError, AttributeError):
        name = None
    return f" (pandapower {found[0]} {found[1]}" + (f" {name!r})" if name else ")")


def check_power_model(lines: gpd.GeoDataFrame, label: str) -> None:
    """Refuse an imported model with branches the power flow cannot solve, naming them all.

    Zero-impedance lines and cables (``r`` and ``x`` both 0, or length 0) and transformers
    rated 0 MVA or with ``vk_percent`` 0 (:func:`twin.layers.utility_rules.check_utility_values`).

    Raises
    ------
    UtilityError
        Listing every such branch: its twin id, the pandapower element, the field, what to do.

    Examples
    --------
    >>> import pandapower.networks as pn
    >>> net = pn.example_simple()
    >>> net.line.loc[1, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    >>> _, lines, _ = power_layers_from_net(net, "EPSG:3067", anchor=(0.0, 0.0))
    >>> try:
    ...     check_power_model(lines, "simple.json")
    ... except UtilityError as err:
    ...     print(str(err)[:80])
    simple.json: power_lines / feature l1 (pandapower line 1 'Line 2'): r_ohm_per_km
    """
    from twin.layers.schemas import layer_spec
    from twin.layers.utility_rules import check_utility_values

    found = check_utility_values(lines, layer_spec("power_lines"))
    if not found:
        return
    params = dict(zip(lines["id"].astype(str), lines.get("params", pd.Series(
        [None] * len(lines), index=lines.index)), strict=True))
    rows = []
    for f in found:
        where = "" if f.feature is None else f" / feature {f.feature}" + _origin(
            str(f.feature), params.get(str(f.feature)))
        rows.append(f"power_lines{where}" + (f" / field {f.field}" if f.field else "")
                    + f": {f.message}")
    if len(rows) == 1:
        msg = f"{label}: {rows[0]}"
    else:
        msg = "\n".join([f"{label}: {len(rows)} branches the power flow cannot solve; fix them "
                         "in the model and import it again:", *(f"  {r}" for r in rows)])
    raise UtilityError(msg)


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
    from twin.network.power import build_power_net, unsupplied  # power imports this module

    net = load_pandapower(spec) if isinstance(spec, str | Path) else spec
    label = str(spec) if isinstance(spec, str | Path) else str(getattr(net, "name", "")
                                                              or "pandapower net")
    nodes, lines, info = power_layers_from_net(net, twin.crs, anchor=twin_anchor(twin))
    check_power_model(lines, Path(label).name)
    out = merge_layers(twin, {"power_nodes": nodes, "power_lines": lines}, replace=replace,
                       what="power network")
    pnet = build_power_net(out, check=False)  # what cannot be built is refused here, named
    models = dict(out.meta.get("utility_models") or {})
    models["power"] = {"source": Path(label).name, "f_hz": float(net.f_hz),
                       "sn_mva": float(net.sn_mva), "placement": info["placement"]}
    out.meta["utility_models"] = models
    out.meta.setdefault("sources", []).append({"name": f"power network {Path(label).name}",
                                               "licence": "see the model's source",
                                               "note": info["placement"]})
    b = out.layers.get("buildings")
    if b is not None and len(b):
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
