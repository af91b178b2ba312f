"""Results of one day of power and water: the hourly tables, the KPIs, the files.

:class:`UtilityResult` holds what :func:`twin.network.utilities.solve_day` computed (frames
indexed by layer id, one column per hour); :func:`utility_kpis` reduces it to the KPIs of
DESIGN.md (units in :data:`KPI_UNITS`); :func:`write_utility_results` writes the long tables
(Parquet) and the map layers (GeoPackage). :mod:`twin.network.utilities` re-exports these names.

Examples
--------
>>> KPI_UNITS["power_unserved_mwh"], KPI_UNITS["min_pressure_m"]
('MWh', 'm')
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["KPI_UNITS", "UtilityResult", "utility_kpis", "write_utility_results"]

#: Units of :func:`utility_kpis`.
KPI_UNITS = {
    "peak_line_loading_pct": "%", "peak_transformer_loading_pct": "%",
    "overloaded_line_hours": "line-h", "min_voltage_pu": "p.u.", "power_unserved_mwh": "MWh",
    "grid_energy_mwh": "MWh", "power_unsolved_hours": "h", "power_unsolved_demand_mwh": "MWh",
    "min_pressure_m": "m",
    "water_pressure_deficit_node_h": "node-h", "unmet_water_m3": "m3",
    "water_leakage_m3": "m3", "water_supplied_m3": "m3", "water_unsolved_hours": "h",
}


@dataclass
class UtilityResult:
    """Hourly results of :func:`twin.network.utilities.solve_day`; frames indexed by layer id,
    columns hours 0..23."""

    branch_loading: pd.DataFrame      # power_lines (lines, cables, transformers): loading %
    branch_kind: pd.Series
    bus_vm: pd.DataFrame              # power_nodes: voltage p.u. (NaN: not supplied / solved)
    bus_unserved_mw: pd.DataFrame     # power_nodes: demand not supplied (NaN: hour not solved)
    grid_mw: pd.Series                # power drawn from the external grid(s) (NaN: not solved)
    power_ok: np.ndarray              # the power flow converged in that hour
    node_pressure: pd.DataFrame       # water_nodes: pressure, m
    node_expected_lps: pd.DataFrame   # junctions: demand asked for (buildings and fixed)
    node_delivered_lps: pd.DataFrame  # junctions: demand delivered (pressure-dependent)
    node_leak_lps: pd.DataFrame       # junctions: leakage
    pipe_flow_lps: pd.DataFrame       # water_pipes: flow
    pipe_velocity_mps: pd.DataFrame
    water_ok: np.ndarray
    notes: list[str] = field(default_factory=list)
    unsupplied_buildings: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    power_demand_mw: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    """Demand per hour (buildings, with or without a connection, and fixed loads), MW."""


# --- KPIs, files --------------------------------------------------------------------------------

def utility_kpis(result: UtilityResult) -> dict[str, float]:
    """The utility KPIs of DESIGN.md (units in :data:`KPI_UNITS`).

    Lines, cables and transformers count for overloaded line-hours; pressure and deficits are
    over junction-hours with demand; unmet water and unserved energy include buildings
    without a connection.

    An hour whose power flow did not converge is not "all served": while there is one,
    ``power_unserved_mwh`` and ``grid_energy_mwh`` are NaN (unknown) and
    ``power_unsolved_demand_mwh`` is the demand of those hours; peak loadings and the lowest
    voltage are of the solved hours.

    Examples
    --------
    >>> # utility_kpis(solve_day(twin, p, w))["power_unserved_mwh"] -> 0.0
    """
    s = result.settings
    bl = result.branch_loading
    kind = result.branch_kind.reindex(bl.index).astype(str).to_numpy()
    lines = bl.to_numpy(float)[np.isin(kind, ["line", "cable"])]
    trafos = bl.to_numpy(float)[kind == "transformer"]

    def nanmax(a: np.ndarray) -> float:
        return float(np.nanmax(a)) if a.size and np.isfinite(a).any() else float("nan")

    expected = result.node_expected_lps.to_numpy(float)
    delivered = result.node_delivered_lps.to_numpy(float)
    juncs = result.node_expected_lps.index
    press = result.node_pressure.reindex(juncs).to_numpy(float)
    served = (expected > 1e-9) & np.isfinite(press)
    unmet = np.clip(np.nan_to_num(expected - delivered), 0.0, None)
    vm = result.bus_vm.to_numpy(float)
    solved = bool(np.asarray(result.power_ok).all())
    return {
        "peak_line_loading_pct": round(nanmax(lines), 3),
        "peak_transformer_loading_pct": round(nanmax(trafos), 3),
        "overloaded_line_hours": int((np.nan_to_num(bl.to_numpy(float))
                                      > s["max_loading_pct"]).sum()),
        "min_voltage_pu": round(float(np.nanmin(vm)) if np.isfinite(vm).any() else float("nan"),
                                5),
        "power_unserved_mwh": round(float(result.bus_unserved_mw.to_numpy(float).sum()), 6)
        if solved else float("nan"),
        "grid_energy_mwh": round(float(np.nansum(result.grid_mw.to_numpy(float))), 4)
        if solved else float("nan"),
        "power_unsolved_hours": int((~result.power_ok).sum()),
        "power_unsolved_demand_mwh": round(float(result.power_demand_mw.reindex(
            np.flatnonzero(~result.power_ok)).fillna(0.0).sum()), 4),
        "min_pressure_m": round(float(press[served].min()) if served.any() else float("nan"), 3),
        "water_pressure_deficit_node_h": int((served & (press < s["min_service_pressure_m"])
                                              ).sum()),
        "unmet_water_m3": round(float(unmet.sum()) * 3.6, 3),
        "water_leakage_m3": round(float(np.nansum(result.node_leak_lps.to_numpy(float))) * 3.6,
                                  3),
        "water_supplied_m3": round(float(np.nansum(delivered)) * 3.6, 3),
        "water_unsolved_hours": int((~result.water_ok).sum()),
    }


def _long(frame: pd.DataFrame, kind: str, value: str) -> pd.DataFrame:
    out = frame.rename_axis("id").reset_index().melt(id_vars="id", var_name="hour",
                                                      value_name=value)
    out.insert(0, "kind", kind)
    out["hour"] = out["hour"].astype(int)
    return out


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    Path(tmp).unlink()
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_utility_results(result: UtilityResult, out_dir: str | os.PathLike[str]
                          ) -> dict[str, Path]:
    """Write ``power.parquet``, ``water.parquet`` and ``utilities.gpkg`` into ``out_dir``.

    The tables are long (``kind, id, hour, ...``); the GeoPackage has the four utility layers
    with each feature's peak figures and hourly columns (``h00`` ... ``h23``) for the maps.

    Examples
    --------
    >>> # write_utility_results(result, "runs/baseline")["map"].name -> 'utilities.gpkg'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = result
    kinds = r.branch_kind.reindex(r.branch_loading.index).fillna("line")
    bl = _long(r.branch_loading, "branch", "loading_pct")
    bl["kind"] = bl["id"].map(kinds).astype(str)
    vm = _long(r.bus_vm, "bus", "vm_pu").merge(
        _long(r.bus_unserved_mw, "bus", "unserved_mw"), on=["kind", "id", "hour"], how="outer")
    power = pd.concat([bl, vm], ignore_index=True)
    power["converged"] = r.power_ok[power["hour"].to_numpy()]
    nodes = _long(r.node_pressure, "node", "pressure_m")
    for frame, col in ((r.node_expected_lps, "demand_lps"), (r.node_delivered_lps,
                                                             "delivered_lps"),
                       (r.node_leak_lps, "leak_lps")):
        nodes = nodes.merge(_long(frame, "node", col), on=["kind", "id", "hour"], how="outer")
    nodes["unmet_lps"] = (nodes["demand_lps"] - nodes["delivered_lps"]).clip(lower=0)
    pipes = _long(r.pipe_flow_lps, "pipe", "flow_lps").merge(
        _long(r.pipe_velocity_mps, "pipe", "velocity_mps"), on=["kind", "id", "hour"])
    water = pd.concat([nodes, pipes], ignore_index=True)
    paths = {"power": out / "power.parquet", "water": out / "water.parquet",
             "map": out / "utilities.gpkg"}
    _atomic(paths["power"], lambda p: power.to_parquet(p, index=False))
    _atomic(paths["water"], lambda p: water.to_parquet(p, index=False))

    def hourly(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
        return frame.set_axis([f"{prefix}{h:02d}" for h in frame.columns], axis=1)

    s = r.settings
    lay = r.layers
    maps: dict[str, gpd.GeoDataFrame] = {}
    if "power_lines" in lay and len(lay["power_lines"]):
        g = lay["power_lines"][["id", "kind", "geometry"]].set_index("id")
        load = r.branch_loading
        stats = pd.DataFrame({"peak_loading_pct": load.max(axis=1),
                              "overloaded_hours": (load > s["max_loading_pct"]).sum(axis=1)})
        maps["power_lines"] = g.join(stats).join(hourly(load, "h"))
    if "power_nodes" in lay and len(lay["power_nodes"]):
        g = lay["power_nodes"][["id", "kind", "geometry"]].set_index("id")
        stats = pd.DataFrame({"min_vm_pu": r.bus_vm.min(axis=1),
                              "unserved_mwh": r.bus_unserved_mw.sum(axis=1, skipna=False)})
        maps["power_nodes"] = g.join(stats).join(hourly(r.bus_vm, "h"))
    if "water_nodes" in lay and len(lay["water_nodes"]):
        g = lay["water_nodes"][["id", "kind", "geometry"]].set_index("id")
        p = r.node_pressure
        unmet = (r.node_expected_lps - r.node_delivered_lps).clip(lower=0)
        stats = pd.DataFrame({"min_pressure_m": p.min(axis=1),
                              "deficit_hours": ((p < s["min_service_pressure_m"])
                                                & (r.node_expected_lps.reindex(p.index) > 0)
                                                ).sum(axis=1),
                              "unmet_m3": unmet.sum(axis=1) * 3.6})
        maps["water_nodes"] = g.join(stats).join(hourly(p, "h"))
    if "water_pipes" in lay and len(lay["water_pipes"]):
        g = lay["water_pipes"][["id", "kind", "geometry"]].set_index("id")
        v = r.pipe_velocity_mps
        stats = pd.DataFrame({"max_velocity_mps": v.abs().max(axis=1),
                              "max_flow_lps": r.pipe_flow_lps.abs().max(axis=1)})
        maps["water_pipes"] = g.join(stats).join(hourly(r.pipe_flow_lps, "h"))

    def write_map(path: Path) -> None:
        for name, frame in maps.items():
            gdf = gpd.GeoDataFrame(frame.reset_index(), geometry="geometry", crs=frame.crs)
            gdf.to_file(path, layer=name, driver="GPKG")

    if maps:
        _atomic(paths["map"], write_map)
    return paths
