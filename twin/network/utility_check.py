"""``twin utilities check``: build both networks, solve one design-peak hour, say what is wrong.

:func:`check_utilities` reports networks that cannot be built, missing sources, islands,
buildings without a working connection, overloads, low voltages and pressures; a power flow that
does not converge is explained in plain words with twin ids (:func:`diagnose`, from pandapower's
diagnostic). :mod:`twin.network.utilities` re-exports these names.

Examples
--------
>>> UtilityReport([], {"power buildings supplied": "3 of 3"}).format().splitlines()[-1]
'utilities ok'
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin._errors import Finding, UtilityError
from twin.layers.store import Twin
from twin.network.power import PowerNet, build_power_net, unsupplied
from twin.network.utility_power import explain_overload
from twin.network.water import WaterNet, build_water_network, run_epanet, water_islands

# load_profiles comes from twin.network.utilities, which imports this module (to re-export
# check_utilities); it is imported inside the functions that use it.

__all__ = ["UtilityReport", "check_utilities", "diagnose"]


@dataclass
class UtilityReport:
    """What ``twin utilities check`` found: findings (errors and warnings), peak figures, and
    notes (where an imported model was placed, why a power flow does not converge)."""

    findings: list[Finding]
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error findings."""
        return not any(f.severity == "error" for f in self.findings)

    def format(self) -> str:
        """The report as text."""
        lines = [f"{k:28s} {v}" for k, v in self.summary.items()]
        lines += [f.format() for f in self.findings]
        lines += [f"note: {n}" for n in self.notes]
        n = sum(f.severity == "error" for f in self.findings)
        lines.append("utilities ok" if self.ok else f"utilities check failed: {n} error(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ok": self.ok, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings], "notes": list(self.notes)}


_DIAGNOSIS = {
    "disconnected_elements": "parts of the network are not connected to any external grid",
    "different_voltage_levels_connected": "lines or switches join buses of different voltages",
    "implausible_impedance_values": "lines or transformers have implausible impedances",
    "nominal_voltages_dont_match": "transformer voltages do not match the buses they join",
    "invalid_values": "some parameters are missing, zero or negative where they must not be",
    "overload": "the network cannot carry its load or generation: the power flow converges "
                "when they are scaled down",
    "wrong_switch_configuration": "the switch states are inconsistent (it converges with all "
                                  "switches closed)",
    "multiple_voltage_controlling_elements_per_bus": "several generators or grids set the "
                                                     "voltage of one bus",
    "no_ext_grid": "there is no external grid (no substation with ext_grid: true)",
    "wrong_reference_system": "loads or generators use the wrong sign convention",
    "wrong_line_capacitance": "line capacitances look wrong (check the units: nF per km)",
    "wrong_line_resistance": "line resistances look wrong (check the units: ohm per km)",
    "wrong_line_reactance": "line reactances look wrong (check the units: ohm per km)",
    "parallel_switches": "switches are in parallel",
}


def diagnose(pnet: PowerNet) -> list[str]:
    """pandapower's diagnostic of a net that does not converge, in plain words with twin ids."""
    import pandapower as pp

    quiet = logging.getLogger("pandapower")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            found = pp.diagnostic(copy.deepcopy(pnet.net), report_style=None) or {}
    except Exception as err:
        return [f"pandapower's diagnostic itself failed ({err})"]
    finally:
        quiet.setLevel(level)
    names = {"line": pnet.line_ids, "trafo": pnet.trafo_ids, "bus": pnet.bus_ids}
    out = []
    for key, detail in found.items():
        if not detail or key not in _DIAGNOSIS:
            continue
        ids: list[str] = []
        for item in detail if isinstance(detail, list) else [detail]:
            if isinstance(item, dict):
                for table, idx in item.items():
                    if table in names and isinstance(idx, list | tuple):
                        ids += [str(names[table][i]) for i in idx if 0 <= int(i) < len(
                            names[table])]
        out.append(_DIAGNOSIS[key] + (f" ({', '.join(ids[:5])})" if ids else ""))
    return out


def _peak_power(twin: Twin, pnet: PowerNet, findings: list[Finding], summary: dict[str, Any],
                notes: list[str]) -> None:
    import pandapower as pp

    from twin.layers.utility_layout import POWER_FACTOR, building_peak_demand
    from twin.network.utilities import load_profiles

    b = twin.layer("buildings")
    net = pnet.net
    fixed = PowerNet(copy.deepcopy(net), pnet.bus_ids, pnet.line_ids, pnet.trafo_ids,
                     pnet.switch_ids, dict(pnet.other_ids))
    load = np.zeros(len(net.bus))
    if len(b) and "power_node" in b:
        peak, _ = building_peak_demand(b)
        at = pnet.bus_index(b["power_node"].astype(str).where(b["power_node"].notna(), ""))
        np.add.at(load, at[at >= 0], peak[at >= 0])
        buses = np.flatnonzero(load > 0)
        summary["power nodes with buildings"] = f"{len(buses)} of {len(net.bus)}"
        pp.create_loads(net, buses, load[buses], load[buses] * math.tan(math.acos(POWER_FACTOR)),
                        name="buildings")
    live = net.load.in_service.to_numpy(bool)
    summary["power peak demand MW"] = round(float((net.load.p_mw * net.load.scaling)[live].sum()),
                                            2)
    lim = load_profiles()["limits"]
    try:
        pp.runpp(net, numba=False)
    except Exception as err:
        base = net.load.p_mw.to_numpy(float, copy=True)
        base_q = net.load.q_mvar.to_numpy(float, copy=True)
        hint = ""
        for scale in (0.75, 0.5, 0.25, 0.1, 0.03, 0.01):
            net.load["p_mw"], net.load["q_mvar"] = base * scale, base_q * scale
            try:
                pp.runpp(net, numba=False)
            except Exception:  # try the next, smaller load
                continue
            weak = pnet.bus_ids[int(np.nanargmin(net.res_bus.vm_pu.to_numpy(float)))]
            hint = (f"; at {scale:.0%} of the peak it converges, with the lowest voltage "
                    f"{float(net.res_bus.vm_pu.min()):.3f} p.u. at power node {weak}: check the "
                    f"lines and transformer on the way to {weak}, or the load there")
            break
        net.load["p_mw"], net.load["q_mvar"] = base, base_q
        words = diagnose(pnet)
        findings.append(Finding("error", "power_flow", f"the peak-hour power flow does not "
                                f"converge ({err}); {'; '.join(words) or 'no diagnosis'}{hint}",
                                layer="power_lines"))
        why = explain_overload(fixed, load, label="at the design peak",
                               q_per_p=math.tan(math.acos(POWER_FACTOR)))
        notes.append(f"why the power flow does not converge: {why}")
        return
    loading = pd.Series(net.res_line.loading_percent.to_numpy(float), index=pnet.line_ids)
    trafo = pd.Series(net.res_trafo.loading_percent.to_numpy(float), index=pnet.trafo_ids)
    both = pd.concat([loading, trafo])
    summary["power peak line loading %"] = round(float(loading.max()), 1) if len(loading) else 0
    summary["power peak transformer %"] = round(float(trafo.max()), 1) if len(trafo) else 0
    summary["power min voltage p.u."] = round(float(net.res_bus.vm_pu.min()), 4)
    for fid, val in both[both > lim["max_loading_pct"]].sort_values().tail(10).items():
        findings.append(Finding("warning", "overload", f"loaded {val:.0f}% at the design peak; "
                                "upgrade it (feeder_upgrade) or add a substation", "power_lines",
                                str(fid), "max_i_ka"))
    low = net.res_bus.vm_pu < lim["min_voltage_pu"]
    if low.any():
        ids = pnet.bus_ids[np.flatnonzero(low.to_numpy())]
        findings.append(Finding("warning", "voltage", f"{len(ids)} node(s) below "
                                f"{lim['min_voltage_pu']} p.u. at the design peak "
                                f"(e.g. {', '.join(ids[:5])})", "power_nodes"))


def _peak_water(twin: Twin, wnet: WaterNet, findings: list[Finding], summary: dict[str, Any]
                ) -> None:
    from twin.layers.utility_layout import building_peak_demand
    from twin.network.utilities import load_profiles

    wn, cfg = wnet.wn, load_profiles()["water"]
    b = twin.layer("buildings")
    if len(b) and "water_node" in b:
        _, peak = building_peak_demand(b)
        at = wnet.junction_ids.get_indexer(b["water_node"].astype(str).where(
            b["water_node"].notna(), ""))
        dem = np.zeros(len(wnet.junction_ids))
        np.add.at(dem, at[at >= 0], peak[at >= 0])
        for k in np.flatnonzero(dem > 0):
            wn.get_node(str(wnet.junction_ids[int(k)])).add_demand(dem[k] / 1000.0, None,
                                                                   "buildings")
        summary["water peak demand L/s"] = round(float(dem.sum()), 1)
    wn.options.time.duration = 0
    wn.options.hydraulic.demand_model = "PDD"
    wn.options.hydraulic.required_pressure = float(cfg["required_pressure_m"])
    wn.options.hydraulic.minimum_pressure = float(cfg["minimum_pressure_m"])
    wn.options.quality.parameter = "NONE"
    try:
        res = run_epanet(wn)
    except UtilityError as err:
        findings.append(Finding("error", "hydraulics", str(err), layer="water_pipes"))
        return
    p = res.node["pressure"].iloc[0].reindex(wnet.junction_ids)
    summary["water min pressure m"] = round(float(p.min()), 2) if len(p) else None
    low = p[p < float(cfg["min_service_pressure_m"])]
    if len(low):
        findings.append(Finding("warning", "pressure", f"{len(low)} junction(s) below "
                                f"{cfg['min_service_pressure_m']} m at the design peak "
                                f"(lowest {low.min():.1f} m at {low.idxmin()}); widen the pipes "
                                "feeding them (pipe_upgrade)", "water_nodes"))


def check_utilities(twin: Twin) -> UtilityReport:
    """Build both networks, solve one design-peak hour, and report what is wrong.

    Reports (errors): networks that cannot be built, no source, islands with load, buildings
    without a working connection, a peak-hour power flow that does not converge (with
    pandapower's diagnostic in plain words), EPANET failures; (warnings) islands without load,
    overloads, low voltages and pressures at the design peak (``agents/density.yaml``). Every
    zero-impedance branch is listed (:func:`twin.layers.utility_rules.check_utility_values`).
    Notes: where an imported model was placed, and why a peak that does not converge fails
    (the demand against the rating of the network's source, in plain words).

    Examples
    --------
    >>> # print(check_utilities(read_twin("demo.twin.gpkg")).format())
    """
    from twin.layers.schemas import layer_spec
    from twin.layers.utility_rules import check_utility_values

    findings: list[Finding] = []
    summary: dict[str, Any] = {}
    notes: list[str] = []
    for sector, model in sorted((twin.meta.get("utility_models") or {}).items()):
        if isinstance(model, dict) and model.get("placement"):
            notes.append(f"{sector} model {model.get('source', '')}: {model['placement']}")
    b = twin.layer("buildings")
    for sector, builder, col, layer in (("power", build_power_net, "power_node", "power_nodes"),
                                        ("water", build_water_network, "water_node",
                                         "water_nodes")):
        if not len(twin.layer(layer)):
            findings.append(Finding("warning", "missing", f"the twin has no {sector} network",
                                    layer))
            continue
        if sector == "power":
            zero = check_utility_values(twin.layer("power_lines"), layer_spec("power_lines"))
            if zero:
                findings += zero
                continue
        try:
            net: Any = builder(twin, check=False)
        except UtilityError as err:
            findings.append(Finding("error", "build", str(err), layer))
            continue
        if sector == "power":
            dead = [str(net.bus_ids[i]) for i in unsupplied(net)]
            ids = net.bus_ids
        else:
            dead = water_islands(net)
            ids = net.junction_ids
        if not (twin.layer(layer)["ext_grid"].fillna(False).any() if sector == "power" else
                twin.layer(layer)["kind"].isin(["reservoir", "tank"]).any()):
            findings.append(Finding("error", "no_source", f"the {sector} network has no source",
                                    layer))
        refs = b[col].astype(str).where(b[col].notna(), "") if col in b else pd.Series(
            [""] * len(b), index=b.index)
        loaded = set(refs[refs != ""])
        if dead:
            sev = "error" if loaded & set(dead) else "warning"
            more = " ..." if len(dead) > 8 else ""
            findings.append(Finding(sev, "island", f"{len(dead)} node(s) not connected to any "
                                    f"source: {', '.join(dead[:8])}{more}; connect them or "
                                    "delete them", layer))
        bad = b["id"].astype(str)[(refs == "") | ~refs.isin(ids) | refs.isin(dead)].tolist()
        summary[f"{sector} buildings supplied"] = f"{len(b) - len(bad)} of {len(b)}"
        if bad:
            findings.append(Finding("error", "unsupplied", f"{len(bad)} building(s) without a "
                                    f"working {sector} connection (e.g. {', '.join(bad[:5])}); "
                                    f"set their {col} to a connected node", "buildings",
                                    field=col))
        if sector == "power":
            _peak_power(twin, net, findings, summary, notes)
        else:
            _peak_water(twin, net, findings, summary)
    return UtilityReport(findings, summary, notes)
