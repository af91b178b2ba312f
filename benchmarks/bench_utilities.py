"""Utilities: one day of power and water on the demo twin, and twin's overhead over pandapower.

- ``day_s``: :func:`twin.network.utilities.solve_day` on the demo twin (Helsinki) with an hourly
  building demand: both networks built from the layers, 24 hourly pandapower power flows and
  one 24-hour EPANET run with pressure-dependent demand and leaks. Target: under 3 s.
- ``power_s`` vs a bare loop: twin's builder, the mapping of building demand to buses, the 24
  power flows and the result tables, against a bare loop on the same (pre-built) net that only
  sets the loads and calls ``pandapower.runpp`` with the same options (the first hour a full
  run, the others recycling pandapower's internal matrices). Target: at most 1.3x.

Imports and the first call (pandapower's, WNTR's) are warmed up outside the timing. The
demand comes from :func:`typical_activities` (the day simulation's activities where it has
run); computing it is timed apart (``demand_s``).
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, row


def _bare_setup(twin: Any, power_mw: Any) -> tuple[Any, np.ndarray, np.ndarray, float]:
    import pandapower as pp

    from twin.network.power import build_power_net
    from twin.network.utilities import load_profiles

    pnet = build_power_net(twin)
    b = twin.layer("buildings")
    at = pnet.bus_index(b["power_node"].astype(str))
    load = power_mw.reindex(b["id"].astype(str)).fillna(0.0).to_numpy(float)
    bus_load = np.zeros((len(pnet.net.bus), 24))
    np.add.at(bus_load, at[at >= 0], load[at >= 0])
    buses = np.flatnonzero(np.abs(bus_load).sum(axis=1) > 0)
    pp.create_loads(pnet.net, buses, p_mw=0.0, q_mvar=0.0)
    tan = math.tan(math.acos(float(load_profiles()["power"]["power_factor"])))
    return pnet.net, buses, bus_load[buses], tan


def _bare_loop(net: Any, p: np.ndarray, tan: float) -> np.ndarray:
    import pandapower as pp

    out = []
    for h in range(24):
        net.load["p_mw"] = p[:, h]
        net.load["q_mvar"] = p[:, h] * tan
        if h == 0:
            pp.runpp(net, init="auto", numba=False)
        else:
            pp.runpp(net, recycle={"trafo": False, "bus_pq": True, "bfsw": False},
                     numba=False)
        out.append(net.res_line.loading_percent.to_numpy(float, copy=True))
    return np.array(out)


def bench_utilities(quick: bool, repeat: int) -> list[dict[str, Any]]:  # noqa: ARG001
    """One day of power (24 pandapower runs) and water (EPANET) on the demo: < 3 s; overhead."""
    warnings.simplefilter("ignore")
    from twin.layers.osm import demo_twin
    from twin.network.power import build_power_net
    from twin.network.utilities import (
        hourly_demand,
        load_profiles,
        solve_day,
        typical_activities,
        utility_kpis,
    )
    from twin.network.utility_power import power_day

    twin = demo_twin()
    acts = typical_activities(twin, seed=1)
    demand_s, (power_mw, water_lps) = median_time(lambda: hourly_demand(twin, acts), repeat)
    solve_day(twin, power_mw, water_lps)  # warm-up: imports, first calls
    day_s, result = median_time(lambda: solve_day(twin, power_mw, water_lps), repeat)
    kpis = utility_kpis(result)

    def twin_power() -> Any:
        pnet = build_power_net(twin)
        return power_day(twin, pnet, power_mw, [], [], load_profiles()["power"])

    # interleaved, so both see the same machine load
    twin_times, bare_times = [], []
    for _ in range(max(3, repeat)):
        twin_times.append(median_time(twin_power, 1)[0])
        net, _, p, tan = _bare_setup(twin, power_mw)
        t, loads = median_time(lambda net=net, p=p, tan=tan: _bare_loop(net, p, tan), 1)
        bare_times.append(t)
    twin_s, bare_s = float(np.median(twin_times)), float(np.median(bare_times))
    mine = twin_power()["line"]
    same = float(np.nanmax(np.abs(mine - loads.T)))
    b = twin.layer("buildings")
    common = {"buses": len(twin.layer("power_nodes")),
              "lines": len(twin.layer("power_lines")),
              "junctions": int((twin.layer("water_nodes")["kind"] == "junction").sum()),
              "pipes": len(twin.layer("water_pipes")), "buildings": len(b)}
    return [
        row("utilities", "day_s", day_s, "target", 3.0, demand_s=round(demand_s, 3),
            peak_line_loading_pct=kpis["peak_line_loading_pct"],
            min_pressure_m=kpis["min_pressure_m"], **common),
        row("utilities", "power_s", twin_s, "bare pandapower runpp loop", bare_s,
            overhead_x=round(twin_s / bare_s, 3), target_overhead_x=1.3,
            max_loading_diff_pct=same, **common),
    ]


BENCHMARKS = {"utilities": bench_utilities}
