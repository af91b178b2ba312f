"""Scenario files: load, inherit from ``base``, and validate before anything runs.

A scenario file is YAML (DESIGN.md, "Scenarios")::

    name: adaptive-signals-old-town
    title: {en: Adaptive signals in the old town, zh: 老城区自适应信号灯}
    base: baseline.yaml            # inherits twin, population, run settings (and interventions)
    horizon: {year: 2030, population_growth_pct_per_year: 1.2}
    interventions:
      - type: adaptive_signals
        where: {zone_kind: old_district}
        capacity_gain_pct: 15
        cost: {capex: 2.4e6, opex_per_year: 1.5e5, life_years: 15, financing: PPP}
    runs: {replications: 10, seed: 2026, days: 1}

Every problem is collected and raised once as a :class:`~twin._errors.ScenarioError` whose
lines read ``FILE:LINE: key.path: what is wrong`` with the valid choices and a "did you mean":
unknown keys, unknown intervention types, values of the wrong type or out of range, a ``base``
that cycles, and — when the twin is checked — zone and feature ids the twin does not have,
selectors that select nothing, and interventions that cannot be applied. Paths (``base``,
``twin``) are relative to the scenario file; ``twin: demo`` is the embedded demo twin.

This module holds the :class:`Scenario` and :class:`Intervention` dataclasses, the keys and
ranges of a scenario file, :func:`load_scenario` (a file and its bases, entry by entry) and
:func:`scenario_from_dict`. The checks live beside it: ``_spec_values`` (YAML with line
numbers, collected problems with a "did you mean", numbers, keys and intervention parameters)
and ``_spec_twin`` (ids, selectors and a dry run against the twin; :func:`entry_file` is
re-exported here).

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "s.yaml").write_text("name: s\\ntwin: demo\\nrunz: {}\\n")
>>> load_scenario(d / "s.yaml", check_twin=False)
Traceback (most recent call last):
...
twin._errors.ScenarioError: .../s.yaml: 1 problem(s):
  .../s.yaml:3: runz: unknown key (did you mean 'runs'?); valid keys: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin._errors import ScenarioError
from twin.layers.schemas import suggest
from twin.layers.store import Twin
from twin.scenarios._spec_twin import _check_twin
from twin.scenarios._spec_twin import entry_file as entry_file
from twin.scenarios._spec_values import (
    _INT_KEYS,
    Key,
    _fmt,
    _keys,
    _message,
    _number,
    _numbers,
    _param,
    _parse,
    _Problems,
    _str_list,
    _text,
)
from twin.scenarios.registry import InterventionType, registry

__all__ = [
    "COST_KEYS",
    "DEMO",
    "FINANCING_MODELS",
    "TOP_KEYS",
    "Intervention",
    "Scenario",
    "is_economics_file",
    "load_scenario",
    "scenario_from_dict",
]

DEMO = "demo"
TOP_KEYS = ("name", "title", "description", "base", "twin", "population", "horizon",
            "interventions", "runs", "kpis", "economics")
RUN_KEYS = {"replications": (1, 1000), "seed": (0, 2**32 - 1), "days": (1, 1),
            "iterations": (1, 50), "start_hour": (0, 23), "end_hour": (1, 24)}
RUN_DEFAULTS = {"replications": 5, "seed": 2026, "days": 1, "iterations": 5, "start_hour": 5,
                "end_hour": 24}
POPULATION_KEYS = {"sample": (1e-4, 1.0)}
HORIZON_KEYS = {"year": (1990, 2200), "base_year": (1990, 2200),
                "population_growth_pct_per_year": (-20.0, 20.0),
                "jobs_growth_pct_per_year": (-20.0, 20.0)}
HORIZON_BASE_YEAR = 2025
COST_KEYS = {"capex": (0.0, 1e13), "opex_per_year": (0.0, 1e12), "life_years": (1, 200),
             "residual_value": (0.0, 1e13), "construction_years": (1, 20)}
FINANCING_MODELS = ("public", "BT", "BOT", "PPP")
FINANCING_KEYS = {"model": None, "concession_years": (1, 99), "user_fees_per_year": (0.0, 1e12),
                  "availability_payment_per_year": (0.0, 1e12), "private_rate": (0.0, 0.5)}
ENTRY_KEYS = ("type", "cost", "financing", "label")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

TwinProvider = Callable[[str], Twin]


@dataclass(frozen=True)
class Intervention:
    """One validated intervention entry.

    ``params`` has every declared parameter (defaults filled); ``origin`` is the name of the
    scenario that declared it (a base's entries come first and keep their origin). The file's
    ``label`` is text or ``{en: ..., zh: ...}``: ``labels`` holds it by language and ``label``
    is the English text (else the first given), what cost tables and warnings print.
    """

    type: str
    params: dict[str, Any]
    cost: dict[str, Any] | None = None
    financing: dict[str, Any] | None = None
    label: str = ""
    origin: str = ""
    line: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the resolved scenario)."""
        return {"type": self.type, "params": self.params, "cost": self.cost,
                "financing": self.financing, "label": self.label,
                "labels": dict(self.labels or ({"en": self.label} if self.label else {})),
                "origin": self.origin, "line": self.line}


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario with its base resolved.

    Attributes
    ----------
    name, title, description : str, dict, str
    file : str
        The scenario file ("" when built from a dict).
    twin : str
        Absolute path of the twin file, or ``"demo"``.
    base : Scenario or None
        The resolved base scenario.
    population, horizon, runs, economics : dict
        Inherited from the base, key by key, then this file's values.
    interventions : tuple of Intervention
        The base's (inherited) first, then this file's own.
    kpis : tuple of str
        KPIs to show first (empty: all).
    """

    name: str
    title: dict[str, str]
    description: str
    file: str
    twin: str
    base: Scenario | None
    population: dict[str, Any] = field(default_factory=dict)
    horizon: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=lambda: dict(RUN_DEFAULTS))
    economics: dict[str, Any] = field(default_factory=dict)
    interventions: tuple[Intervention, ...] = ()
    kpis: tuple[str, ...] = ()

    @property
    def own_interventions(self) -> tuple[Intervention, ...]:
        """The interventions this scenario adds to its base (what a comparison measures)."""
        return tuple(i for i in self.interventions if i.origin == self.name)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario, JSON-ready (written beside every run).

        Examples
        --------
        >>> s = scenario_from_dict({"name": "b", "twin": "demo"})
        >>> s.to_dict()["runs"]["replications"]
        5
        """
        return {
            "name": self.name, "title": self.title, "description": self.description,
            "file": self.file, "twin": self.twin,
            "base": None if self.base is None else self.base.to_dict(),
            "population": self.population, "horizon": self.horizon, "runs": self.runs,
            "economics": self.economics, "kpis": list(self.kpis),
            "interventions": [i.to_dict() for i in self.interventions],
        }


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Rebuild a :class:`Scenario` from its :meth:`Scenario.to_dict` form (no validation).

    Examples
    --------
    >>> scenario_from_dict({"name": "x", "twin": "demo"}).twin
    'demo'
    """
    base = data.get("base")
    return Scenario(
        name=str(data["name"]), title=dict(data.get("title") or {}),
        description=str(data.get("description") or ""), file=str(data.get("file") or ""),
        twin=str(data.get("twin") or DEMO),
        base=scenario_from_dict(base) if isinstance(base, Mapping) else None,
        population=dict(data.get("population") or {}), horizon=dict(data.get("horizon") or {}),
        runs={**RUN_DEFAULTS, **dict(data.get("runs") or {})},
        economics=dict(data.get("economics") or {}),
        interventions=tuple(Intervention(
            type=str(i["type"]), params=dict(i.get("params") or {}), cost=i.get("cost"),
            financing=i.get("financing"), label=str(i.get("label") or ""),
            origin=str(i.get("origin") or ""), line=int(i.get("line") or 0),
            labels=dict(i.get("labels") or {}))
            for i in data.get("interventions") or []),
        kpis=tuple(data.get("kpis") or ()),
    )


# --- interventions and their costs -----------------------------------------------------------

def _financing(value: Any, path: Key, probs: _Problems) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = {"model": value}
    data = _keys(value, path, tuple(FINANCING_KEYS), probs)
    if not isinstance(value, Mapping):
        return None
    model = data.get("model", "public")
    if model not in FINANCING_MODELS:
        probs.add((*path, "model"), f"{_fmt(model)} is not a financing model"
                  f"{suggest(str(model), FINANCING_MODELS)}; valid: "
                  f"{', '.join(FINANCING_MODELS)}")
        return None
    out: dict[str, Any] = {"model": "public" if model == "BT" else model}
    for k, v in data.items():
        if k == "model":
            continue
        val = _number(v, (*path, k), FINANCING_KEYS[k], probs, integer=k in _INT_KEYS)
        if val is not None:
            out[k] = val
    return out


def _entry(raw: Any, path: Key, types: dict[str, InterventionType], origin: str,
           probs: _Problems) -> Intervention | None:
    if not isinstance(raw, Mapping):
        probs.add(path, f"must be a mapping with a `type`, got {_fmt(raw)}")
        return None
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in types:
        probs.add((*path, "type"), "missing `type`" if kind is None else
                  f"unknown intervention type {_fmt(kind)}{suggest(str(kind), list(types))}; "
                  f"valid types: {', '.join(types)}")
        return None
    itype = types[kind]
    valid = (*ENTRY_KEYS, *itype.params)
    data = _keys(raw, path, valid, probs)
    params: dict[str, Any] = {}
    for name, spec in itype.params.items():
        if name not in data:
            if spec.required:
                probs.add((*path, name), f"missing (required by {kind}: {spec.description})")
            params[name] = spec.default
            continue
        params[name] = _param(spec, data[name], (*path, name), probs)
    cost = None
    financing = None
    if "cost" in data:
        c = data["cost"]
        fin = c.get("financing") if isinstance(c, Mapping) else None
        cost = _numbers({k: v for k, v in c.items() if k != "financing"}
                        if isinstance(c, Mapping) else c, (*path, "cost"),
                        {**COST_KEYS}, probs)
        if fin is not None:
            financing = _financing(fin, (*path, "cost", "financing"), probs)
    if "financing" in data:
        financing = _financing(data["financing"], (*path, "financing"), probs)
    labels = _text(data.get("label", ""), (*path, "label"), probs)
    label = labels.get("en") or next(iter(labels.values()), "")
    return Intervention(kind, params, cost, financing, label, origin, probs.line(path),
                        labels)


# --- the file --------------------------------------------------------------------------------

def _load(path: Path, stack: tuple[Path, ...]) -> tuple[Scenario, list[str]]:
    """Load one file and its bases; return the scenario and the problems found."""
    file = str(path)
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack[stack.index(path):], path))
        msg = f"{stack[-1]}: base cycle: {chain}; a scenario cannot be its own base"
        raise ScenarioError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{file}: cannot read the scenario file ({err})"
        raise ScenarioError(msg) from err
    data, lines = _parse(text, file)
    probs = _Problems(file, lines)
    if not isinstance(data, Mapping):
        probs.add((), f"a scenario file is a mapping with keys {', '.join(TOP_KEYS)}; "
                  f"got {type(data).__name__}")
        raise ScenarioError(_message(file, probs.formatted()))
    top = _keys(data, (), TOP_KEYS, probs)
    name = top.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        probs.add(("name",), "missing: every scenario needs a `name`" if name is None else
                  f"must be letters, digits, '.', '_' or '-' (it names the results folder), "
                  f"got {_fmt(name)}")
        name = path.stem if _NAME_RE.match(path.stem) else "scenario"
    base: Scenario | None = None
    if "base" in top:
        b = top["base"]
        if not isinstance(b, str) or not b:
            probs.add(("base",), f"must be the path of another scenario file, got {_fmt(b)}")
        else:
            bpath = (path.parent / b).resolve()
            if not bpath.is_file():
                probs.add(("base",), f"no such scenario file: {bpath}")
            else:
                base, base_problems = _load(bpath, (*stack, path))
                probs.extend(base_problems)
    twin = base.twin if base is not None else ""
    if "twin" in top:
        t = top["twin"]
        if not isinstance(t, str) or not t:
            probs.add(("twin",), f"must be a twin file path or 'demo', got {_fmt(t)}")
        elif t == DEMO:
            twin = DEMO
        else:
            tpath = (path.parent / t).resolve()
            if not tpath.is_file():
                probs.add(("twin",), f"no such twin file: {tpath} (build one with `twin init`,"
                          " or use `twin: demo`)")
            twin = str(tpath)
    elif base is None:
        probs.add(("twin",), "missing: give `twin: FILE.twin.gpkg` (or `twin: demo`) or a "
                  "`base` scenario to inherit it from")
    population = {**(base.population if base else {}),
                  **_numbers(top.get("population", {}), ("population",), POPULATION_KEYS,
                             probs)}
    horizon = {**(base.horizon if base else {}),
               **_numbers(top.get("horizon", {}), ("horizon",), HORIZON_KEYS, probs)}
    if horizon and "year" not in horizon:
        probs.add(("horizon",), "needs a target `year`")
    if horizon.get("year", 9999) < horizon.get("base_year", HORIZON_BASE_YEAR):
        probs.add(("horizon", "year"), f"target year {horizon['year']} is before the base year "
                  f"{horizon.get('base_year', HORIZON_BASE_YEAR)}")
    runs = {**(base.runs if base else RUN_DEFAULTS),
            **_numbers(top.get("runs", {}), ("runs",), RUN_KEYS, probs)}
    if runs["start_hour"] >= runs["end_hour"]:
        probs.add(("runs",), f"start_hour ({runs['start_hour']}) must be before end_hour "
                  f"({runs['end_hour']})")
    from twin.scenarios.finance import check_economics

    econ_raw = top.get("economics", {})
    econ_probs = check_economics(econ_raw if isinstance(econ_raw, Mapping) else {})
    if not isinstance(econ_raw, Mapping):
        probs.add(("economics",), f"must be a mapping of economics.yaml keys, got "
                  f"{_fmt(econ_raw)}")
    for key, message in econ_probs:
        probs.add(("economics", key), message)
    economics = {**(base.economics if base else {}),
                 **({k: v for k, v in econ_raw.items()
                     if k not in {p[0] for p in econ_probs}}
                    if isinstance(econ_raw, Mapping) else {})}
    kpis = _kpis(top.get("kpis"), probs) if "kpis" in top else (base.kpis if base else ())
    own = []
    raw_list = top.get("interventions", [])
    if raw_list is None:
        raw_list = []
    if not isinstance(raw_list, list):
        probs.add(("interventions",), f"must be a list of entries with a `type`, got "
                  f"{_fmt(raw_list)}")
        raw_list = []
    types = registry()
    for i, raw in enumerate(raw_list):
        entry = _entry(raw, ("interventions", i), types, name, probs)
        if entry is not None:
            own.append(entry)
    description = top.get("description", "")
    if not isinstance(description, str):
        probs.add(("description",), f"must be text, got {_fmt(description)}")
        description = ""
    scenario = Scenario(
        name=name, title=_text(top.get("title", {}), ("title",), probs) or {"en": name},
        description=description, file=file, twin=twin, base=base, population=population,
        horizon=horizon, runs=runs, economics=economics,
        interventions=(*(base.interventions if base else ()), *own), kpis=kpis)
    return scenario, probs.formatted()


def _kpis(value: Any, probs: _Problems) -> tuple[str, ...]:
    from twin.scenarios.kpis import KPI_UNITS, KPIS

    names = _str_list(value) if isinstance(value, list) else None
    if names is None:
        probs.add(("kpis",), f"must be a list of KPI names, got {_fmt(value)}")
        return ()
    known = sorted(set(KPIS) | set(KPI_UNITS))
    out = []
    for i, n in enumerate(names):
        if n not in known:
            probs.add(("kpis", i), f"unknown KPI {n!r}{suggest(n, known)}; "
                      f"known KPIs: {', '.join(known)}")
        else:
            out.append(n)
    return tuple(out)


def is_economics_file(path: str | Path) -> bool:
    """Whether ``path`` is the economics settings file, not a scenario.

    That is ``scenarios/economics.yaml``, the defaults :func:`twin.scenarios.finance.economics`
    loads, or a copy of it: a file named ``economics.yaml`` holding a mapping with no ``name``
    whose keys are all economics settings. ``twin run scenarios/*.yaml`` skips it.

    Examples
    --------
    >>> from twin._resources import data_dir
    >>> is_economics_file(data_dir("scenarios") / "economics.yaml")
    True
    >>> is_economics_file(data_dir("scenarios") / "bus-line.yaml")
    False
    """
    from twin._resources import data_dir
    from twin.scenarios.finance import ECONOMICS_RANGES

    p = Path(path)
    if p.name != "economics.yaml" or not p.is_file():
        return False
    if p.resolve() == (data_dir("scenarios") / "economics.yaml").resolve():
        return True
    try:
        data, _ = _parse(p.read_text(encoding="utf-8"), str(p))
    except (OSError, UnicodeDecodeError, ScenarioError):
        return False
    return (isinstance(data, Mapping) and "name" not in data
            and all(str(k) in ECONOMICS_RANGES for k in data))


def load_scenario(path: str | Path, *, twin: Twin | None = None,
                  twin_provider: TwinProvider | None = None,
                  check_twin: bool = True) -> Scenario:
    """Load and validate a scenario file (and its bases).

    Parameters
    ----------
    path : path-like
        The scenario YAML.
    twin : Twin, optional
        Check ids against this twin instead of the one the scenario names.
    twin_provider : callable, optional
        ``provider(twin_ref) -> Twin`` for the scenario's ``twin`` (a path or ``"demo"``);
        default :func:`twin.scenarios.runner.load_base_twin` with the user cache.
    check_twin : bool
        Check zone and feature ids and dry-run the interventions on the twin (default).

    Raises
    ------
    ScenarioError
        Every problem found, one per line, ``FILE:LINE: key: message``.

    Examples
    --------
    >>> from twin._resources import data_dir
    >>> s = load_scenario(data_dir("scenarios") / "baseline.yaml", check_twin=False)
    >>> s.name, s.twin
    ('baseline', 'demo')
    """
    p = Path(path).resolve()
    if is_economics_file(p):
        msg = (f"{p}: this is the economics settings file (the defaults of every scenario's "
               "`economics:`), not a scenario; give a scenario file, and change a scenario's "
               "economics under its `economics:` key")
        raise ScenarioError(msg)
    scenario, problems = _load(p, ())
    if problems:
        raise ScenarioError(_message(str(p), problems))
    if check_twin:
        if twin is None:
            if twin_provider is None:
                from twin.scenarios.runner import load_base_twin

                twin_provider = load_base_twin
            twin = twin_provider(scenario.twin)
        problems = _check_twin(scenario, twin)
        if problems:
            raise ScenarioError(_message(str(p), problems))
    return scenario

