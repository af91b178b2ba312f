"""Day analyses: functions that look at a simulated day and add KPIs and result tables.

An analysis is ``func(twin, result, rng) -> (kpis, tables)``: it gets the (scenario's) twin,
the :class:`~twin.agents.simulate.DayResult` of the mobility day and its own numpy Generator,
and returns extra KPIs (name -> float) and result tables (name -> DataFrame).
:func:`register_day_analysis` adds one under a name; :func:`twin.agents.simulate.simulate`
calls every registered analysis after the mobility day, in registration order, each with
``numpy.random.default_rng([seed, crc32(name)])`` (the same draws whichever other analyses
run), merges the KPIs into ``result.kpis`` and keeps the tables in ``result.tables``;
:func:`twin.agents.simulate.write_day` writes each table as ``DIR/<table>.parquet``.

Units of an analysis' KPIs are registered with it (``units=``) and land in
:data:`twin.agents.kpis.KPI_UNITS`, so ``kpis.json`` and the CLI show them.

Examples
--------
>>> import pandas as pd
>>> def visits(twin, result, rng):
...     return {"example_visits": 3.0}, {"example_table": pd.DataFrame({"a": [1]})}
>>> register_day_analysis("example", visits, units={"example_visits": "visits/day"})
>>> "example" in day_analyses()
True
>>> unregister_day_analysis("example")
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twin._errors import SimulationError, TwinError
from twin.agents.kpis import KPI_UNITS
from twin.layers.store import Twin

if TYPE_CHECKING:
    from twin.agents.simulate import DayResult

__all__ = ["RESERVED_TABLES", "DayAnalysis", "analysis_rng", "day_analyses",
           "register_day_analysis", "run_analyses", "unregister_day_analysis"]

DayAnalysis = Callable[["Twin", "DayResult", np.random.Generator],
                       tuple[dict[str, float], dict[str, pd.DataFrame]]]

#: File stems ``write_day`` writes itself: no analysis table may take them.
RESERVED_TABLES = frozenset({"kpis", "trips", "links", "activities", "hourly", "run", "power",
                             "water", "utilities", "scenario", "variant", "summary"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# name -> function, in registration order (a dict keeps insertion order)
_ANALYSES: dict[str, DayAnalysis] = {}


def register_day_analysis(name: str, func: DayAnalysis, *,
                          units: Mapping[str, str] | None = None) -> None:
    """Register ``func(twin, result, rng) -> (kpis, tables)`` to run after every simulated day.

    Registering a name again replaces the function and keeps its place in the order.

    Parameters
    ----------
    name : str
        Lower-case identifier (``[a-z][a-z0-9_]*``); also seeds the analysis' Generator.
    func : callable
        ``func(twin, result: DayResult, rng: numpy.random.Generator)`` returning
        ``(dict[str, float], dict[str, pandas.DataFrame])``.
    units : mapping, optional
        KPI name -> unit of the KPIs ``func`` returns (added to
        :data:`twin.agents.kpis.KPI_UNITS`).

    Raises
    ------
    SimulationError
        A malformed name, or ``func`` not callable.

    Examples
    --------
    >>> register_day_analysis("Bad Name", lambda t, r, g: ({}, {}))
    Traceback (most recent call last):
    ...
    twin._errors.SimulationError: day analysis name 'Bad Name' must match [a-z][a-z0-9_]* ...
    """
    if not isinstance(name, str) or not _NAME.match(name):
        msg = (f"day analysis name {name!r} must match [a-z][a-z0-9_]* (lower-case letters, "
               "digits, underscores)")
        raise SimulationError(msg)
    if not callable(func):
        msg = f"day analysis {name!r}: {func!r} is not callable"
        raise SimulationError(msg)
    _ANALYSES[name] = func
    if units:
        KPI_UNITS.update({str(k): str(v) for k, v in units.items()})


def unregister_day_analysis(name: str) -> None:
    """Remove the analysis ``name`` (no error if it is not registered).

    Examples
    --------
    >>> unregister_day_analysis("not-there")
    """
    _ANALYSES.pop(name, None)


def day_analyses() -> list[str]:
    """Names of the registered analyses, in the order they run.

    Examples
    --------
    >>> isinstance(day_analyses(), list)
    True
    """
    return list(_ANALYSES)


def analysis_rng(seed: int, name: str) -> np.random.Generator:
    """The Generator analysis ``name`` gets in the day of ``seed``.

    Examples
    --------
    >>> float(analysis_rng(1, "x").random()) == float(analysis_rng(1, "x").random())
    True
    """
    return np.random.default_rng([int(seed) % 2**63, zlib.crc32(name.encode("utf-8"))])


def _check_output(name: str, out: Any, kpis: Mapping[str, float],
                  tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, float],
                                                               dict[str, pd.DataFrame]]:
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Mapping)
            and isinstance(out[1], Mapping)):
        msg = (f"day analysis {name!r} returned {type(out).__name__}; it must return "
               "(kpis: dict[str, float], tables: dict[str, DataFrame])")
        raise SimulationError(msg)
    new_k: dict[str, float] = {}
    for k, v in out[0].items():
        if k in kpis:
            msg = f"day analysis {name!r} returned the KPI {k!r}, which is already reported"
            raise SimulationError(msg)
        try:
            value = float(v)
        except (TypeError, ValueError) as err:
            msg = f"day analysis {name!r}: KPI {k!r} is {v!r}, not a number"
            raise SimulationError(msg) from err
        new_k[str(k)] = value
    new_t: dict[str, pd.DataFrame] = {}
    for t, frame in out[1].items():
        if not isinstance(t, str) or not _NAME.match(t) or t in RESERVED_TABLES:
            msg = (f"day analysis {name!r}: table name {t!r} must match [a-z][a-z0-9_]* and "
                   f"not be one of {', '.join(sorted(RESERVED_TABLES))}")
            raise SimulationError(msg)
        if t in tables or t in new_t:
            msg = f"day analysis {name!r}: another analysis already wrote the table {t!r}"
            raise SimulationError(msg)
        if not isinstance(frame, pd.DataFrame):
            msg = f"day analysis {name!r}: table {t!r} is {type(frame).__name__}, not a DataFrame"
            raise SimulationError(msg)
        new_t[t] = frame
    return new_k, new_t


def run_analyses(twin: Twin, result: DayResult, seed: int,
                 names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run the analyses ``names`` (default: all registered, in order) on ``result``.

    Merges their KPIs into ``result.kpis`` and their tables into ``result.tables``; returns,
    per analysis, the KPI and table names it added and its seconds.

    Raises
    ------
    SimulationError
        An unknown name, malformed output, a KPI or table reported twice, or an analysis
        that failed with a twin error (its message kept).

    Examples
    --------
    >>> # run_analyses(twin, day, seed=1)["services"]["kpis"][:2]
    """
    chosen = list(_ANALYSES) if names is None else list(names)
    unknown = [n for n in chosen if n not in _ANALYSES]
    if unknown:
        msg = (f"unknown day analysis {unknown}; registered: "
               f"{', '.join(_ANALYSES) or 'none'}")
        raise SimulationError(msg)
    record: dict[str, dict[str, Any]] = {}
    for name in chosen:
        t0 = time.perf_counter()
        try:
            out = _ANALYSES[name](twin, result, analysis_rng(seed, name))
        except TwinError as err:
            msg = f"day analysis {name!r} failed: {err}"
            raise SimulationError(msg) from err
        kpis, tables = _check_output(name, out, result.kpis, result.tables)
        result.kpis.update(kpis)
        result.tables.update(tables)
        record[name] = {"kpis": sorted(kpis), "tables": sorted(tables),
                        "seconds": round(time.perf_counter() - t0, 3)}
    return record
