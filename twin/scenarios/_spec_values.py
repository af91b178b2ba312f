"""Checking the values of a scenario file: YAML with line numbers, problems, keys and parameters.

Private helpers of :mod:`twin.scenarios.spec`: :func:`_parse` reads YAML and records the line of
every key and list item; :class:`_Problems` collects the problems of one file as
``FILE:LINE: key.path: what is wrong``; :func:`_keys` refuses unknown keys with a "did you mean"
and the valid choices; :func:`_text` reads a text given as a string or by language;
:func:`_number` and :func:`_numbers` check numbers and their ranges; :func:`_param` checks an
intervention parameter by its declared type (a :class:`~twin.scenarios.registry.Param`) and
:func:`_where` a selector.

Examples
--------
>>> data, lines = _parse("runs:\\n  seedz: 1\\n", "s.yaml")
>>> probs = _Problems("s.yaml", lines)
>>> _keys(data["runs"], ("runs",), ("seed", "days"), probs)
{}
>>> probs.formatted()
["s.yaml:2: runs.seedz: unknown key (did you mean 'seed'?); valid keys: seed, days"]
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from twin._errors import ScenarioError
from twin.layers.schemas import suggest
from twin.scenarios.registry import Param
from twin.scenarios.selectors import SELECTOR_KEYS

#: Keys whose values must be whole numbers.
_INT_KEYS = {"replications", "seed", "days", "iterations", "year", "base_year", "life_years",
             "construction_years", "concession_years", "start_hour", "end_hour"}


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


#: Languages a text of a scenario file (title, label) may be given in.
TEXT_LANGS = ("en", "zh")


def _text(value: Any, path: Key, probs: _Problems) -> dict[str, str]:
    """A text given as a string or as ``{en: ..., zh: ...}``; returned by language.

    >>> _text({"en": "Bus", "zh": "公交"}, ("label",), _Problems("s.yaml", {}))
    {'en': 'Bus', 'zh': '公交'}
    """
    if isinstance(value, str):
        return {"en": value} if value else {}
    if not isinstance(value, Mapping):
        probs.add(path, f"must be text or a mapping of languages ({', '.join(TEXT_LANGS)}) to "
                  f"text, got {_fmt(value)}")
        return {}
    out = {}
    for k, v in _keys(value, path, TEXT_LANGS, probs, "language").items():
        if not isinstance(v, str):
            probs.add((*path, k), f"must be text, got {_fmt(v)}")
        elif v:
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


def _message(file: str, problems: list[str]) -> str:
    return f"{file}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems)
