"""Scenarios: what-if files, interventions, runs with replications, comparison, costs.

A scenario file (``scenarios/*.yaml``) names a base, a horizon and interventions; the runner
applies them to a copy of the twin, simulates the scenario and its base with the same seeds,
and :func:`twin.scenarios.compare.compare` pairs the runs KPI by KPI with 95% confidence
intervals and a cost and financing table.

Examples
--------
>>> from twin.scenarios import load_scenario
>>> from twin.scenarios.registry import registry
>>> "adaptive_signals" in registry()
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_scenario", "run_demo", "run_scenarios"]


def __getattr__(name: str) -> Any:
    """Load the public functions lazily (the runner pulls in Dask only when used)."""
    if name == "load_scenario":
        from twin.scenarios.spec import load_scenario

        return load_scenario
    if name == "run_scenarios":
        from twin.scenarios.runner import run_scenarios

        return run_scenarios
    if name == "run_demo":
        from twin.scenarios.demo import run_demo

        return run_demo
    msg = f"module 'twin.scenarios' has no attribute {name!r}"
    raise AttributeError(msg)
