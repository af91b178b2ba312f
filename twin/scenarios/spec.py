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

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twin._errors import ScenarioError, TwinError
from twin.layers.schemas import suggest
from twin.layers.store import Twin
from twin.scenarios.registry import InterventionType, Param, registry
from twin.scenarios.selectors import SELECTOR_KEYS, select

__all__ = [
    "COST_KEYS",
    "DEMO",
    "FINANCING_MODELS",
    "TOP_KEYS",
    "Intervention",
    "Scenario",
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
_INT_KEYS = {"replications", "seed", "days", "iterations", "year", "base_year", "life_years",
             "construction_years", "concession_years", "start_hour", "end_hour"}

TwinProvider = Callable[[str], Twin]


@dataclass(frozen=True)
class Intervention:
    """One validated intervention entry.

    ``params`` has every declared parameter (defaults filled); ``origin`` is the name of the
    scenario that declared it (a base's entries come first and keep their origin).
    """

    type: str
    params: dict[str, Any]
    cost: dict[str, Any] | None = None
    financing: dict[str, Any] | None = None
    label: str = ""
    origin: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the resolved scenario)."""
        return {"type": self.type, "params": self.params, "cost": self.cost,
                "financing": self.financing, "label": self.label, "origin": self.origin,
                "line": self.line}


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
            origin=str(i.get("origin") or ""), line=int(i.get("line") or 0))
            for i in data.get("interventions") or []),
        kpis=tuple(data.get("kpis") or ()),
    )


# --- YAML with line numbers ------------------------------------------------------------------

Key = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``2.4e6`` and ``1e5`` as numbers (YAML 1.2), not text."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _parse(text: str, file: str) -> tuple[Any, dict[Key, int]]:
    """Parse YAML; return the data and the 1-based line of every mapping key / list item."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        lines0 = str(err).splitlines() or [type(err).__name__]
        problem = getattr(err, "problem", None) or lines0[0]
        msg = f"{file}{line}: not valid YAML ({problem})"
        raise ScenarioError(msg) from err
    except RecursionError as err:
        msg = f"{file}: the YAML is nested too deeply"
        raise ScenarioError(msg) from err
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Key, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        stack: list[tuple[Key, yaml.Node]] = [((), node)]
        seen: set[int] = set()
        while stack:
            path, n = stack.pop()
            if id(n) in seen or len(path) > 50:
                continue
            seen.add(id(n))
            if isinstance(n, yaml.MappingNode):
                for k, v in n.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else None
                    lines.setdefault((*path, key), k.start_mark.line + 1)
                    stack.append(((*path, key), v))
            elif isinstance(n, yaml.SequenceNode):
                for i, v in enumerate(n.value):
                    lines.setdefault((*path, i), v.start_mark.line + 1)
                    stack.append(((*path, i), v))
    return data, lines


class _Problems:
    """Collects problems of one file with their lines."""

    def __init__(self, file: str, lines: dict[Key, int]) -> None:
        self.file = file
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def line(self, path: Key) -> int:
        p = tuple(str(k) if not isinstance(k, int) else k for k in path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def add(self, path: Key, message: str) -> None:
        where = ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in path)
        where = where.replace(".[", "[")
        self.items.append((self.line(path), f"{where}: {message}" if where else message))

    def extend(self, other: list[str]) -> None:
        self.items += [(0, m) for m in other]

    def formatted(self) -> list[str]:
        return [f"{self.file}:{ln}: {m}" if ln else m for ln, m in self.items]


def _fmt(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, path: Key, rng: tuple[float, float] | None, probs: _Problems, *,
            integer: bool = False) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        probs.add(path, f"must be a {'whole number' if integer else 'number'}, got {_fmt(value)}")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        probs.add(path, f"must be a finite number, got {value}")
        return None
    if integer and not float(value).is_integer():
        probs.add(path, f"must be a whole number, got {value}")
        return None
    if rng is not None:
        lo, hi = rng
        if value < lo or value > hi:
            probs.add(path, f"must be between {lo:g} and {hi:g}, got {value:g}")
            return None
    return int(value) if integer else float(value)


def _keys(data: Any, path: Key, valid: Mapping[str, Any] | tuple[str, ...], probs: _Problems,
          what: str = "key") -> dict[str, Any]:
    """Check a mapping's keys; return it with the unknown keys dropped."""
    if not isinstance(data, Mapping):
        probs.add(path, f"must be a mapping with keys {', '.join(valid)}, got {_fmt(data)}")
        return {}
    out: dict[str, Any] = {}
    names = list(valid)
    for k, v in data.items():
        if not isinstance(k, str) or k not in names:
            probs.add((*path, str(k)), f"unknown {what}{suggest(str(k), names)}; "
                      f"valid {what}s: {', '.join(names)}")
            continue
        out[k] = v
    return out


def _numbers(data: Any, path: Key, ranges: Mapping[str, tuple[float, float] | None],
             probs: _Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in _keys(data, path, tuple(ranges), probs).items():
        val = _number(v, (*path, k), ranges[k], probs, integer=k in _INT_KEYS)
        if val is not None:
            out[k] = val
    return out


# --- parameters of interventions -------------------------------------------------------------

def _str_list(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str | int) and not isinstance(i, bool)
                            for i in items):
        return None
    return [str(i) for i in items]


def _coords(value: Any, n_min: int) -> list[list[float]] | None:
    if not isinstance(value, list) or len(value) < n_min:
        return None
    out = []
    for p in value:
        if (not isinstance(p, list) or len(p) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool)
                           and math.isfinite(c) for c in p)):
            return None
        out.append([float(p[0]), float(p[1])])
    return out


def _where(value: Any, path: Key, probs: _Problems) -> dict[str, Any] | None:
    data = _keys(value, path, SELECTOR_KEYS, probs, "selector key")
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for k, v in data.items():
        p = (*path, k)
        if k in ("zone_ids", "ids", "zone_kind"):
            ids = _str_list(v)
            if ids is None:
                probs.add(p, f"must be an id or a list of ids, got {_fmt(v)}")
                continue
            if k == "zone_kind":
                kinds = ("old_district", "new_zone", "other")
                bad = [x for x in ids if x not in kinds]
                if bad:
                    probs.add(p, f"{bad[0]!r} is not a zone kind{suggest(bad[0], kinds)}; "
                              f"valid: {', '.join(kinds)}")
                    continue
            out[k] = ids
        elif k == "bbox":
            box = v if isinstance(v, list) and len(v) == 4 else None
            nums = [c for c in (box or []) if isinstance(c, int | float)
                    and not isinstance(c, bool) and math.isfinite(c)]
            if box is None or len(nums) != 4 or not (nums[0] < nums[2] and nums[1] < nums[3]):
                probs.add(p, f"must be [minx, miny, maxx, maxy] with min < max, got {_fmt(v)}")
                continue
            out[k] = [float(c) for c in nums]
        else:
            poly = v if isinstance(v, str) else _coords(v, 3)
            if poly is None:
                probs.add(p, f"must be a list of at least 3 [x, y] points or WKT, got {_fmt(v)}")
                continue
            out[k] = poly
    if not value:
        probs.add(path, f"must select something: give one of {', '.join(SELECTOR_KEYS)}")
    return out


def _param(spec: Param, value: Any, path: Key, probs: _Problems) -> Any:
    t = spec.type
    if t in ("float", "int"):
        rng = None if spec.min is None and spec.max is None else (
            -math.inf if spec.min is None else spec.min, math.inf if spec.max is None
            else spec.max)
        return _number(value, path, rng, probs, integer=t == "int")
    if t == "str":
        if isinstance(value, int) and not isinstance(value, bool) and spec.layer:
            value = str(value)
        if not isinstance(value, str):
            probs.add(path, f"must be text, got {_fmt(value)}")
            return None
        if spec.allowed and value not in spec.allowed:
            probs.add(path, f"{value!r} is not allowed{suggest(value, spec.allowed)}; "
                      f"valid: {', '.join(spec.allowed)}")
            return None
        return value
    if t == "bool":
        if not isinstance(value, bool):
            probs.add(path, f"must be true or false, got {_fmt(value)}")
            return None
        return value
    if t == "ids":
        ids = _str_list(value)
        if ids is None:
            probs.add(path, f"must be an id or a list of ids, got {_fmt(value)}")
        return ids
    if t == "where":
        return _where(value, path, probs)
    if t == "geometry":
        geom = value if isinstance(value, str) else _coords(value, 2)
        if geom is None:
            probs.add(path, f"must be a list of at least 2 [x, y] points or WKT, got {_fmt(value)}")
        return geom
    if t == "point":
        pt = _coords([value], 1) if isinstance(value, list) else None
        if pt is None:
            probs.add(path, f"must be a point [x, y], got {_fmt(value)}")
            return None
        return pt[0]
    if t == "points":
        pts = _coords(value, 1)
        if pts is None:
            probs.add(path, f"must be a list of [x, y] points, got {_fmt(value)}")
        return pts
    if t == "polygon":
        geom = value if isinstance(value, str) else _coords(value, 3)
        if geom is None:
            probs.add(path, f"must be a list of at least 3 [x, y] points or WKT, got {_fmt(value)}")
        return geom
    if t == "hours":
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(h, int | float) and not isinstance(h, bool) for h in value))
        if not ok or not 0 <= value[0] < value[1] <= 24:
            probs.add(path, f"must be [start, end] hours with 0 <= start < end <= 24, "
                      f"got {_fmt(value)}")
            return None
        return [float(value[0]), float(value[1])]
    if t == "list":
        if not isinstance(value, list):
            probs.add(path, f"must be a list, got {_fmt(value)}")
            return None
        return value
    if t == "dict":
        if not isinstance(value, Mapping):
            probs.add(path, f"must be a mapping, got {_fmt(value)}")
            return None
        return dict(value)
    probs.add(path, f"parameter type {t!r} is not supported")  # a registry bug
    return None


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
    label = data.get("label", "")
    if not isinstance(label, str):
        probs.add((*path, "label"), f"must be text, got {_fmt(label)}")
        label = ""
    return Intervention(kind, params, cost, financing, label, origin, probs.line(path))


# --- the file --------------------------------------------------------------------------------

def _title(value: Any, probs: _Problems) -> dict[str, str]:
    if isinstance(value, str):
        return {"en": value}
    data = _keys(value, ("title",), ("en", "zh"), probs, "language")
    out = {}
    for k, v in data.items():
        if not isinstance(v, str):
            probs.add(("title", k), f"must be text, got {_fmt(v)}")
        else:
            out[k] = v
    return out


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
        name=name, title=_title(top.get("title", {}), probs) or {"en": name},
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


def _message(file: str, problems: list[str]) -> str:
    return f"{file}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems)


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

