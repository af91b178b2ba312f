"""Power and water for a simulated day: the agents' whereabouts drive the utility networks.

:func:`solve_utilities` turns the day's activities into each building's hourly power and water
demand (:func:`twin.network.utilities.hourly_demand`: smart meters, rooftop solar from
``twin.extras["params"]``) and solves the 24 hourly power flows and the extended-period water
simulation (:func:`twin.network.utilities.solve_day`: ``power_outage`` and ``water_outage``
events of ``twin.extras["events"]`` in their hours). :func:`twin.agents.simulate.simulate` calls
it after the mobility day when the twin has power and water layers, and
:func:`twin.agents.simulate.write_day` writes ``power.parquet``, ``water.parquet`` and
``utilities.gpkg``.

An hour that does not converge is a result (``power_unsolved_hours``, ``water_unsolved_hours``
and a note), never a crash; a network that cannot be built at all (no source, a pipe without
diameter, ...) is noted with the builder's message and the day keeps its other results.

Examples
--------
>>> from twin.layers.store import new_meta
>>> has_utilities(Twin(layers={}, meta=new_meta("t", 3067)))
False
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from twin._errors import UtilityError
from twin.agents.kpis import KPI_UNITS
from twin.layers.store import Twin

__all__ = ["UTILITY_LAYERS", "UtilityDay", "has_utilities", "solve_utilities"]

#: Layers a twin needs for the utilities to be solved in its day.
UTILITY_LAYERS = ("power_nodes", "power_lines", "water_nodes", "water_pipes")


def _register_units() -> None:
    from twin.network.utility_results import KPI_UNITS as UNITS

    for name, unit in UNITS.items():
        KPI_UNITS.setdefault(name, unit)


_register_units()


@dataclass
class UtilityDay:
    """What :func:`solve_utilities` returns.

    Attributes
    ----------
    result : UtilityResult or None
        The hourly power and water results (None when not solved).
    kpis : dict
        The utility KPIs (:func:`twin.network.utilities.utility_kpis`); empty when not solved.
    record : dict
        For ``run.json``: ``solved``, hours converged per sector, seconds, and the error when a
        network could not be built.
    notes : list of str
        Hours that did not converge, buildings without a connection, a network not built.
    """

    result: Any
    kpis: dict[str, float]
    record: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def has_utilities(twin: Twin) -> bool:
    """True when the twin has power and water networks (every layer of UTILITY_LAYERS).

    Examples
    --------
    >>> # has_utilities(read_twin("demo.twin.gpkg")) -> True
    """
    return all(name in twin.layers and len(twin.layers[name]) > 0 for name in UTILITY_LAYERS)


def solve_utilities(twin: Twin, activities: pd.DataFrame, *, sample: float = 1.0) -> UtilityDay:
    """Solve the twin's power and water networks for the day of ``activities``.

    Parameters
    ----------
    twin : Twin
        With the layers of UTILITY_LAYERS (else nothing is solved: ``record["solved"]`` is
        False and a note says which layers are missing).
    activities : DataFrame
        The day's ``agent, activity, place_kind, place_id, start_s, end_s``
        (:attr:`twin.agents.simulate.DayResult.activities`).
    sample : float
        Share of the population the activities stand for.

    Returns
    -------
    UtilityDay

    Examples
    --------
    >>> # solve_utilities(twin, day.activities).kpis["peak_line_loading_pct"] -> 45.0
    """
    t0 = time.perf_counter()
    missing = [n for n in UTILITY_LAYERS if n not in twin.layers or len(twin.layers[n]) == 0]
    if missing:
        note = (f"utilities not solved: the twin has no {', '.join(missing)} (import a "
                "network with `twin layers import ... --pandapower/--epanet`)")
        return UtilityDay(None, {}, {"solved": False, "missing_layers": missing}, [note])
    from twin.network.utilities import hourly_demand, solve_day, utility_kpis

    try:
        power_mw, water_lps = hourly_demand(twin, activities, sample=sample)
        result = solve_day(twin, power_mw, water_lps)
    except UtilityError as err:
        note = f"utilities not solved: {err} (check with `twin utilities check`)"
        return UtilityDay(None, {}, {"solved": False, "error": str(err),
                                     "seconds": round(time.perf_counter() - t0, 3)}, [note])
    kpis = {k: float(v) for k, v in utility_kpis(result).items()}
    record = {"solved": True, "power_hours_converged": int(result.power_ok.sum()),
              "water_hours_solved": int(result.water_ok.sum()),
              "seconds": round(time.perf_counter() - t0, 3)}
    return UtilityDay(result, kpis, record, list(result.notes))
