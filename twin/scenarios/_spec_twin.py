"""Checking a scenario against its twin: ids, selectors and a dry run of the interventions.

Private helpers of :mod:`twin.scenarios.spec` (which re-exports :func:`entry_file`):
:func:`_check_twin` applies the horizon to a copy of the twin, reports zone and feature ids the
twin does not have (with a "did you mean") and selectors that select nothing, then applies the
interventions in order and reports those that cannot be applied, each as
``FILE:LINE: interventions[K] (TYPE).param: what is wrong``.

Examples
--------
>>> from twin.scenarios.spec import scenario_from_dict
>>> s = scenario_from_dict({"name": "s", "twin": "demo", "file": "s.yaml",
...                         "interventions": [{"type": "t", "origin": "s"}]})
>>> entry_file(s, s.interventions[0])
's.yaml'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin._errors import ScenarioError, TwinError
from twin.layers.schemas import suggest
from twin.layers.store import Twin
from twin.scenarios.registry import registry
from twin.scenarios.selectors import select

if TYPE_CHECKING:
    from twin.scenarios.spec import Intervention, Scenario


def _check_twin(scenario: Scenario, twin: Twin) -> list[str]:
    """Ids, selectors and a dry run of the interventions against the twin."""
    import copy

    import numpy as np

    from twin.scenarios.horizon import apply_horizon

    out: list[str] = []
    types = registry()
    work = twin.copy()
    work.extras = copy.deepcopy(twin.extras)
    try:
        work = apply_horizon(work, scenario.horizon)
    except TwinError as err:
        out.append(f"{scenario.file}: horizon: {err}")
    position: dict[str, int] = {}
    for i, entry in enumerate(scenario.interventions):
        k = position[entry.origin] = position.get(entry.origin, -1) + 1
        where = (f"{entry_file(scenario, entry)}:{entry.line}: interventions[{k}] "
                 f"({entry.type})")
        found = False
        for name, spec in types[entry.type].params.items():
            value = entry.params.get(name)
            if value is None or spec.layer is None:
                continue
            try:
                if spec.type == "where":
                    if not len(select(work, spec.layer, value)):
                        out.append(f"{where}.{name}: selects no {spec.layer} features")
                        found = True
                elif spec.type in ("ids", "str"):
                    ids = value if isinstance(value, list) else [value]
                    have = set(work.layer(spec.layer)["id"].astype(str))
                    for v in ids:
                        if str(v) not in have:
                            out.append(f"{where}.{name}: {spec.layer} feature {str(v)!r} does "
                                       f"not exist in the twin{suggest(str(v), sorted(have))}")
                            found = True
            except ScenarioError as err:
                text = str(err)
                text = text[len(name) + 1:] if text.startswith((f"{name}.", f"{name}:")) \
                    else f" {text}"
                out.append(f"{where}.{name}{'' if text.startswith(' ') else '.'}"
                           f"{text}".replace(".:", ":"))
                found = True
        if found:
            continue
        try:
            work = types[entry.type].func(work, copy.deepcopy(entry.params),
                                          np.random.default_rng([int(scenario.runs["seed"]), i]))
        except TwinError as err:
            out.append(f"{where}: cannot be applied: {err}")
    return out


def entry_file(scenario: Scenario, entry: Intervention) -> str:
    """The file that declared an intervention (the scenario's or one of its bases')."""
    s: Scenario | None = scenario
    while s is not None:
        if s.name == entry.origin:
            return s.file
        s = s.base
    return scenario.file
