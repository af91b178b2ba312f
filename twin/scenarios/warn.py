"""Early warning: what each hazard of a scenario does before it happens (``twin warn``).

For every hazard of a scenario (``flood``, ``road_blockage``, ``substation_outage``: the types
in :data:`twin.scenarios.interventions.hazards.HAZARD_TYPES`) the twin is prepared twice: with
the scenario's other interventions (the reference) and with the hazard added. Compared at every
hour of the hazard:

- who is cut off from a hospital: residents whose building no ambulance can reach, or who can
  no longer reach a hospital by road (where the twin has no hospital, the ambulance bases: the
  fire stations, see :mod:`twin.agents.emergency`), and residents inside a flood;
- which facilities lose power or water: the power nodes out (and those they alone feed: no
  path left to a substation) and the water nodes out (and those cut off from every reservoir
  and tank); a facility takes the node of its nearest building (within 150 m), else the
  nearest node;
- how response times change: the share of residents within the target time of the nearest
  ambulance base, and the resident-weighted mean of that time, before and during the hazard.

Driving times are free-flow times on the road graph (a quick look, no simulation); with
``simulate=True`` they are the congested times of a simulated day of each twin, as the
emergency response of a run uses.

Examples
--------
>>> # report = warn_scenario("scenarios/flood-old-town.yaml"); print(format_warning(report))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from twin._errors import ScenarioError
from twin.layers.store import Twin
from twin.scenarios.spec import Intervention, Scenario

__all__ = ["HazardWarning", "WarnReport", "format_warning", "hazard_effects", "warn_scenario"]

_FACILITY_NODE_M = 150.0


@dataclass
class HazardWarning:
    """What one hazard does (see the module docs).

    Attributes
    ----------
    index : int
        Position of the hazard in the scenario's interventions (1-based).
    type, label : str
    hours : list of float
    roads_closed : list of str
    cut_off : DataFrame
        building_id, zone_id, residents, reason (``no ambulance can reach``, ``cannot reach a
        hospital``, ``flooded``).
    facilities_without_power, facilities_without_water : DataFrame
        facility_id, kind, name, node_id, hours.
    response : dict
        ``target_min``, ``base`` (what the targets are: hospital or ambulance base), and
        before / during: ``within_target_share``, ``mean_min``, ``residents_beyond_target``.
    """

    index: int
    type: str
    label: str
    hours: list[float]
    roads_closed: list[str]
    cut_off: pd.DataFrame
    facilities_without_power: pd.DataFrame
    facilities_without_water: pd.DataFrame
    response: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"index": self.index, "type": self.type, "label": self.label,
                "hours": self.hours, "roads_closed": self.roads_closed,
                "residents_cut_off": float(self.cut_off["residents"].sum()),
                "cut_off": self.cut_off.to_dict("records"),
                "facilities_without_power": self.facilities_without_power.to_dict("records"),
                "facilities_without_water": self.facilities_without_water.to_dict("records"),
                "response": self.response}


@dataclass
class WarnReport:
    """Every hazard of a scenario."""

    scenario: str
    hazards: list[HazardWarning]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"scenario": self.scenario, "hazards": [h.to_dict() for h in self.hazards],
                "notes": self.notes}


# --- power and water ---------------------------------------------------------------------------

def _water_dark(twin: Twin, out: list[str]) -> list[str]:
    """Water nodes out, plus those left without a path to a reservoir or tank."""
    nodes, pipes = twin.layer("water_nodes"), twin.layer("water_pipes")
    if len(nodes) == 0:
        return sorted(out)
    g = nx.Graph()
    g.add_nodes_from(nodes["id"].astype(str))
    if len(pipes):
        status = pipes["status"].astype(str).str.lower() if "status" in pipes else \
            pd.Series("open", index=pipes.index)
        for a, b, s in zip(pipes["from_node"].astype(str), pipes["to_node"].astype(str), status,
                           strict=True):
            if s != "closed":
                g.add_edge(a, b)
    src = set(nodes["id"].astype(str)[nodes["kind"].astype(str).isin(["reservoir", "tank"])])
    g.remove_nodes_from(out)
    dark = set(out)
    for comp in nx.connected_components(g):
        if not comp & (src - set(out)):
            dark |= comp
    return sorted(dark)


def _facility_nodes(twin: Twin, column: str, layer: str) -> pd.Series:
    """Utility node of every facility: its nearest building's, else the nearest node."""
    fac = twin.layer("facilities")
    nodes = twin.layer(layer)
    if len(fac) == 0 or len(nodes) == 0:
        return pd.Series(dtype=object)
    fxy = shapely.get_coordinates(fac.geometry.to_numpy())
    out = np.full(len(fac), None, dtype=object)
    b = twin.layer("buildings")
    if len(b) and column in b:
        has = b[column].notna().to_numpy()
        if has.any():
            bxy = shapely.get_coordinates(shapely.point_on_surface(b.geometry.to_numpy()[has]))
            dist, k = cKDTree(bxy).query(fxy)
            near = dist <= _FACILITY_NODE_M
            out[near] = b[column].astype(str).to_numpy()[has][k[near]]
    missing = np.array([o is None for o in out])
    if missing.any():
        nxy = shapely.get_coordinates(nodes.geometry.to_numpy())
        _, k = cKDTree(nxy).query(fxy[missing])
        out[missing] = nodes["id"].astype(str).to_numpy()[k]
    return pd.Series(out, index=fac["id"].astype(str).to_numpy())


def _outages(twin: Twin, kind: str) -> list[tuple[list[str], list[float]]]:
    key = {"power": "power_outage", "water": "water_outage"}[kind]
    ids = {"power": "power_node_ids", "water": "water_node_ids"}[kind]
    return [([str(i) for i in e.get(ids, [])], list(e.get("hours") or [0, 24]))
            for e in twin.extras.get("events", []) or [] if e.get("type") == key]


def _facilities_out(twin: Twin, kind: str) -> pd.DataFrame:
    cols = ["facility_id", "kind", "name", "node_id", "hours"]
    events = _outages(twin, kind)
    if not events:
        return pd.DataFrame(columns=cols)
    from twin.scenarios.interventions.utilities import fed_by

    layer, column = (("power_nodes", "power_node") if kind == "power"
                     else ("water_nodes", "water_node"))
    at = _facility_nodes(twin, column, layer)
    fac = twin.layer("facilities").set_index(twin.layer("facilities")["id"].astype(str))
    rows = []
    for ids, hours in events:
        dark = set(fed_by(twin, ids) if kind == "power" else _water_dark(twin, ids))
        for fid, node in at.items():
            if node in dark and str(fac.loc[fid, "kind"]) != "bus_stop":
                rows.append({"facility_id": fid, "kind": str(fac.loc[fid, "kind"]),
                             "name": fac.loc[fid].get("name"), "node_id": node,
                             "hours": [float(h) for h in hours]})
    return pd.DataFrame(rows, columns=cols).drop_duplicates("facility_id")


# --- roads: access to hospitals and ambulance bases ----------------------------------------------

def _targets(twin: Twin) -> tuple[np.ndarray, str]:
    fac = twin.layer("facilities")
    kinds = fac["kind"].astype(str) if len(fac) else pd.Series(dtype=str)
    for kind, label in (("hospital", "hospital"), ("fire_station", "ambulance base "
                                                   "(fire station; the twin has no hospital)")):
        sel = fac[kinds == kind] if len(fac) else fac
        if len(sel):
            return shapely.get_coordinates(sel.geometry.to_numpy()), label
    return np.zeros((0, 2)), "none"


def _times(twin: Twin, hour: int, link_time: np.ndarray | None, speed_kph: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Per building: time (s) from the nearest ambulance base, to the nearest hospital (or
    base), and the walk at both ends; the label of the targets."""
    from scipy.sparse.csgraph import dijkstra

    from twin.agents.emergency import attach, closed_links, emergency_units
    from twin.network.roads import min_csr, road_graph

    g = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    b = twin.layer("buildings")
    bxy = shapely.get_coordinates(shapely.point_on_surface(b.geometry.to_numpy()))
    b_node, b_snap = attach(g, bxy)
    cost = g.fft_s if link_time is None else link_time[:, hour]
    closed = closed_links(twin, g)[:, hour]
    ok = ~closed & np.isfinite(cost)
    mat = min_csr(g.n_nodes, g.from_node[ok], g.to_node[ok], cost[ok])[0]
    units = emergency_units(twin)
    amb = units[units["unit"] == "ambulance"] if len(units) else units
    access = b_snap / (speed_kph / 3.6)
    if len(amb):
        src = np.unique(attach(g, amb[["x", "y"]].to_numpy(float))[0])
        from_base = dijkstra(mat, directed=True, indices=src, min_only=True)[b_node]
    else:
        from_base = np.full(len(b), np.inf)
    txy, label = _targets(twin)
    if len(txy):
        dst = np.unique(attach(g, txy)[0])
        to_target = dijkstra(mat.T.tocsr(), directed=True, indices=dst, min_only=True)[b_node]
    else:
        to_target = np.full(len(b), np.inf)
    return from_base, to_target, access, label


def hazard_effects(reference: Twin, hazard: Twin, hours: list[float], *,
                   link_times: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Residents cut off and the change in response times between two twins, over ``hours``.

    Returns
    -------
    (cut_off, response)
        See :class:`HazardWarning`.

    Examples
    --------
    >>> # cut, resp = hazard_effects(before, after, [7, 10])
    """
    from twin.agents.services import load_services_config

    cfg = load_services_config().emergency
    speed = float(cfg["access_speed_kph"])
    target = float(cfg["target_min"])
    disp = float(cfg["dispatch_min"])
    b = hazard.layer("buildings")
    res = pd.to_numeric(b["residents"], errors="coerce").fillna(0).to_numpy(float)
    zone = (b["zone_id"].astype(object).where(b["zone_id"].notna(), "").astype(str).to_numpy()
            if "zone_id" in b else np.full(len(b), ""))
    h0, h1 = int(np.floor(hours[0])), int(np.ceil(hours[1]))
    span = list(range(max(h0, 0), min(h1, 24))) or [8]
    worst: dict[str, Any] = {}
    no_amb = np.zeros(len(b), bool)
    no_hosp = np.zeros(len(b), bool)
    label = "none"
    for h in span:
        lt_ref = link_times[0] if link_times else None
        lt_haz = link_times[1] if link_times else None
        fb0, th0, acc, label = _times(reference, h, lt_ref, speed)
        fb1, th1, _, _ = _times(hazard, h, lt_haz, speed)
        no_amb |= np.isfinite(fb0) & ~np.isfinite(fb1)
        no_hosp |= np.isfinite(th0) & ~np.isfinite(th1)
        r0 = (fb0 + acc) / 60.0 + disp
        r1 = (fb1 + acc) / 60.0 + disp
        stats = {}
        for key, r in (("before", r0), ("during", r1)):
            fin = np.isfinite(r)
            stats[key] = {
                "within_target_share": float(res[fin & (r <= target)].sum() / res.sum())
                if res.sum() else 0.0,
                "mean_min": float((res[fin] * r[fin]).sum() / res[fin].sum())
                if res[fin].sum() else float("nan"),
                "residents_beyond_target": float(res[~fin | (r > target)].sum())}
        if not worst or stats["during"]["within_target_share"] < worst["during"][
                "within_target_share"]:
            worst = {**stats, "hour": h}
    flooded = np.zeros(len(b), bool)
    for ev in hazard.extras.get("events", []) or []:
        if ev.get("type") == "flood":
            flooded |= b["id"].astype(str).isin(ev.get("building_ids", [])).to_numpy()
    reason = np.select([flooded, no_amb, no_hosp],
                       ["flooded", "no ambulance can reach", "cannot reach a hospital"
                        if label.startswith("hospital") or label == "none"
                        else "cannot reach the ambulance base"], "")
    cut = pd.DataFrame({"building_id": b["id"].astype(str).to_numpy(), "zone_id": zone,
                        "residents": res, "reason": reason})
    cut = cut[(cut["reason"] != "") & (cut["residents"] > 0)].reset_index(drop=True)
    response = {"target_min": target, "base": label, **worst}
    return cut, response


# --- the scenario ---------------------------------------------------------------------------------

def _apply(twin: Twin, entries: list[tuple[int, Intervention]], seed: int) -> Twin:
    from twin.scenarios.registry import get

    work = twin.copy()
    for i, entry in entries:
        rng = np.random.default_rng([seed, i])
        work = get(entry.type).func(work, copy.deepcopy(entry.params), rng)
    return work


def _day_link_times(twin: Twin, seed: int, sample: float) -> np.ndarray:
    import inspect

    from twin.agents.emergency import hourly_link_times
    from twin.agents.simulate import simulate
    from twin.network.roads import road_graph

    extra: dict[str, Any] = ({"analyses": ()} if "analyses" in inspect.signature(simulate)
                             .parameters else {})
    day = simulate(twin.copy(), seed=seed, iterations=2, sample=sample, **extra)
    g = road_graph(twin.layer("roads"), twin.layer("road_nodes"))
    return hourly_link_times(g, day.link_hours)


def warn_scenario(path: str | Path | Scenario, *, base: Twin | None = None,
                  simulate: bool = False, seed: int | None = None,
                  sample: float = 1.0) -> WarnReport:
    """Early warning for every hazard of a scenario file.

    Parameters
    ----------
    path : path-like or Scenario
        The scenario (validated against its twin first).
    base : Twin, optional
        The twin (default: the one the scenario names).
    simulate : bool
        Use the congested link times of a simulated day (slower) instead of free flow.
    seed, sample : optional
        Of the simulated days (default: the scenario's seed; the whole population).

    Raises
    ------
    ScenarioError
        The scenario is invalid or has no hazard.

    Examples
    --------
    >>> # print(format_warning(warn_scenario("scenarios/flood-old-town.yaml")))
    """
    from twin.scenarios.horizon import apply_horizon
    from twin.scenarios.interventions.hazards import HAZARD_TYPES
    from twin.scenarios.runner import load_base_twin
    from twin.scenarios.spec import load_scenario

    scenario = path if isinstance(path, Scenario) else load_scenario(Path(path))
    twin = base if base is not None else load_base_twin(scenario.twin)
    run_seed = int(scenario.runs.get("seed", 0) if seed is None else seed)
    entries = list(enumerate(scenario.interventions))
    hazards = [(i, e) for i, e in entries if e.type in HAZARD_TYPES]
    if not hazards:
        msg = (f"{scenario.name}: the scenario has no hazard to warn about; add one of "
               f"{', '.join(HAZARD_TYPES)}")
        raise ScenarioError(msg)
    start = apply_horizon(twin.copy(), scenario.horizon)
    reference = _apply(start, [(i, e) for i, e in entries if e.type not in HAZARD_TYPES],
                       run_seed)
    notes = ["driving times: congested, from a simulated day of each twin" if simulate else
             "driving times: free flow on the road graph (use --simulate for congested times)"]
    ref_lt = _day_link_times(reference, run_seed, sample) if simulate else None
    out = []
    for i, entry in hazards:
        hz = _apply(reference, [(i, entry)], run_seed)
        hours = list(entry.params.get("hours") or [0, 24])
        closed = sorted({str(r) for e in hz.extras.get("events", []) or []
                         if e.get("type") == "close_roads" for r in e.get("road_ids", [])}
                        - {str(r) for e in reference.extras.get("events", []) or []
                           if e.get("type") == "close_roads" for r in e.get("road_ids", [])})
        lts = (ref_lt, _day_link_times(hz, run_seed, sample)) if simulate and ref_lt is not None \
            else None
        cut, response = hazard_effects(reference, hz, hours, link_times=lts)
        new_only = hz.copy()
        new_only.extras["events"] = [e for e in hz.extras.get("events", []) or []
                                     if e not in (reference.extras.get("events", []) or [])]
        out.append(HazardWarning(
            index=i + 1, type=entry.type, label=entry.label or entry.type,
            hours=[float(h) for h in hours], roads_closed=closed, cut_off=cut,
            facilities_without_power=_facilities_out(new_only, "power"),
            facilities_without_water=_facilities_out(new_only, "water"), response=response))
    return WarnReport(scenario=scenario.name, hazards=out, notes=notes)


def format_warning(report: WarnReport) -> str:
    """The report as text for the terminal.

    Examples
    --------
    >>> format_warning(WarnReport("x", []))
    'Early warning: x\\n(no hazards)'
    """
    lines = [f"Early warning: {report.scenario}"]
    if not report.hazards:
        return "\n".join([*lines, "(no hazards)"])
    for h in report.hazards:
        a, b = h.hours
        lines.append(f"\n[{h.index}] {h.label} ({h.type}), {a:02.0f}:00-{b:02.0f}:00")
        more = ", ..." if len(h.roads_closed) > 8 else ""
        lines.append(f"  roads closed: {len(h.roads_closed)}"
                     + (f" ({', '.join(h.roads_closed[:8])}{more})" if h.roads_closed else ""))
        res = float(h.cut_off["residents"].sum())
        lines.append(f"  residents cut off: {res:,.0f} in {len(h.cut_off)} buildings")
        for reason, part in h.cut_off.groupby("reason"):
            zones = ", ".join(sorted(set(part["zone_id"]) - {""})[:8])
            lines.append(f"    {reason}: {part['residents'].sum():,.0f} residents"
                         + (f" (zones {zones})" if zones else ""))
        for what, frame in (("power", h.facilities_without_power),
                            ("water", h.facilities_without_water)):
            if len(frame):
                names = "; ".join(f"{r['facility_id']} {r['kind']}"
                                  + (f" {r['name']}" if r["name"] else "")
                                  for r in frame.to_dict("records"))
                lines.append(f"  facilities without {what}: {len(frame)} ({names})")
            else:
                lines.append(f"  facilities without {what}: none")
        r = h.response
        if "before" in r:
            bf, du = r["before"], r["during"]
            lines.append(f"  emergency response from the nearest {r['base']} (worst hour "
                         f"{r['hour']:02d}:00, target {r['target_min']:g} min):")
            lines.append(f"    residents within target: {100 * bf['within_target_share']:.1f}% "
                         f"-> {100 * du['within_target_share']:.1f}%")
            lines.append(f"    mean response: {bf['mean_min']:.1f} -> {du['mean_min']:.1f} min; "
                         f"beyond target: {bf['residents_beyond_target']:,.0f} -> "
                         f"{du['residents_beyond_target']:,.0f} residents")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
