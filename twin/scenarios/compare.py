"""Compare a scenario's runs with its base's, replication by replication.

Replications are paired by seed (common random numbers: replication ``k`` of both used the same
seed), so the difference of each pair removes most of the day-to-day noise. For every numeric
KPI found in both folders' ``kpis.json`` (whatever module produced it): the means, the mean
paired difference and its 95% confidence interval (Student t, ``n - 1`` degrees of freedom). A
difference whose interval spans zero is *not significant*; with one replication there is no
interval. The cost table comes from the scenario's own interventions and the benefits its KPI
differences are worth (:mod:`twin.scenarios.finance`).

Examples
--------
>>> s = paired_stats([10.0, 12.0, 11.0], [9.0, 11.5, 10.0])
>>> round(s["diff"], 3), s["significant"]
(-0.833, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from twin._errors import ScenarioError
from twin.scenarios.kpis import GROUPS, kpi_info

__all__ = [
    "compare",
    "comparison_markdown",
    "cost_rows",
    "format_comparison",
    "load_runs",
    "paired_stats",
    "settings_warnings",
]

FIELDS = ("base_mean", "scenario_mean", "diff", "ci_low", "ci_high", "significant", "unit")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _flat(kpis: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten KPIs: ``{name: {"value": v, "unit": u}}`` gives ``name: v``; other nested
    mappings give ``outer_inner`` names."""
    out: dict[str, Any] = {}
    for k, v in kpis.items():
        if isinstance(v, Mapping) and "value" in v:
            out[f"{prefix}{k}"] = v["value"]
        elif isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}_"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _units(kpis: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The units ``kpis.json`` stores beside the values (``{name: {"value", "unit"}}``)."""
    out: dict[str, str] = {}
    for k, v in kpis.items():
        if isinstance(v, Mapping) and "value" in v:
            if isinstance(v.get("unit"), str) and v["unit"]:
                out[f"{prefix}{k}"] = v["unit"]
        elif isinstance(v, Mapping):
            out.update(_units(v, f"{prefix}{k}_"))
    return out


#: Run settings that must agree for a comparison to be fair: run.json key -> label.
SETTINGS = {"sample": "sample", "iterations": "iterations", "start_h": "start hour",
            "end_h": "end hour", "twin": "twin file hash"}


def _settings(run: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one replication from its run.json (top level, or the engine's run)."""
    engine_run, given = run.get("engine_run"), run.get("inputs")
    engine: Mapping[str, Any] = engine_run if isinstance(engine_run, Mapping) else {}
    inputs: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    out: dict[str, Any] = {}
    for key in SETTINGS:
        if key == "twin":
            value = inputs.get("twin") or engine.get("input_hash") or run.get("input_hash")
        else:
            value = run.get(key, engine.get(key))
        if value is not None:
            out[key] = value
    return out


@dataclass
class _Runs:
    """What one folder holds: KPIs by seed, the resolved scenario, units, settings."""

    kpis: dict[int, dict[str, Any]]
    scenario: dict[str, Any]
    units: dict[str, str] = field(default_factory=dict)
    settings: dict[str, set[Any]] = field(default_factory=dict)


def _read_runs(folder: str | Path) -> _Runs:
    root = Path(folder)
    out = _Runs({}, {})
    for rep in sorted(root.glob("rep-*")):
        try:
            kpis = json.loads((rep / "kpis.json").read_text(encoding="utf-8"))
            run = json.loads((rep / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(kpis, dict) or not isinstance(run, dict) or "seed" not in run:
            continue
        out.kpis[int(run["seed"])] = _flat(kpis)
        out.units = {**_units(kpis), **out.units}
        for k, v in _settings(run).items():
            out.settings.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
        if not out.scenario:
            try:
                out.scenario = json.loads((rep / "scenario.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                out.scenario = {}
    if not out.kpis:
        msg = (f"{root}: no complete replication (rep-<k>/ with kpis.json and run.json); "
               "run it with `twin run SCENARIO.yaml --out DIR`")
        raise ScenarioError(msg)
    return out


def load_runs(folder: str | Path) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """KPIs of every replication in ``folder`` by seed, and the resolved scenario.

    Raises
    ------
    ScenarioError
        The folder holds no complete replication.
    """
    runs = _read_runs(folder)
    return runs.kpis, runs.scenario


def settings_warnings(base_dir: str | Path, scenario_dir: str | Path) -> list[str]:
    """Differences in run settings (sample, iterations, hours, twin) between two run folders.

    A comparison of runs made with different settings measures the settings as well as the
    intervention; each line names the setting and the values on both sides.

    Examples
    --------
    >>> settings_warnings("/nonexistent-a", "/nonexistent-b")
    Traceback (most recent call last):
    ...
    twin._errors.ScenarioError: /nonexistent-a: no complete replication ...
    """
    differ = _differ(_read_runs(base_dir), _read_runs(scenario_dir))
    return _warnings(differ, base_dir, scenario_dir)


def _differ(base: _Runs, scen: _Runs) -> list[dict[str, Any]]:
    """Settings whose values differ: ``{setting, base: [values], scenario: [values]}``."""
    out = []
    for key in SETTINGS:
        a, b = base.settings.get(key), scen.settings.get(key)
        if a and b and a != b:
            out.append({"setting": key, "base": sorted(json.loads(v) for v in a),
                        "scenario": sorted(json.loads(v) for v in b)})
    return out


def _show(values: Sequence[Any]) -> str:
    text = ", ".join(str(v)[:19] + ("..." if len(str(v)) > 19 else "") for v in values)
    return text if len(values) == 1 else f"mixed ({text})"


def _warnings(differ: list[dict[str, Any]], base_dir: str | Path, scenario_dir: str | Path
              ) -> list[str]:
    return [f"{SETTINGS[d['setting']]} differs: {_show(d['base'])} in {base_dir}, "
            f"{_show(d['scenario'])} in {scenario_dir}; rerun both with the same settings for "
            "a fair comparison" for d in differ]


def paired_stats(base: Sequence[float], scenario: Sequence[float]) -> dict[str, Any]:
    """Means, mean paired difference (scenario - base) and its 95% t interval.

    Examples
    --------
    >>> paired_stats([1.0], [2.0])["significant"] is None
    True
    >>> paired_stats([1.0, 1.0], [1.0, 1.0])["significant"]
    False
    """
    b = np.asarray(base, dtype=float)
    s = np.asarray(scenario, dtype=float)
    d = s - b
    n = len(d)
    mean = float(d.mean())
    out: dict[str, Any] = {"base_mean": float(b.mean()), "scenario_mean": float(s.mean()),
                           "diff": mean, "ci_low": None, "ci_high": None,
                           "significant": None, "n": n}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    scale = max(1.0, float(np.abs(b).max()), float(np.abs(s).max()))
    if sd <= 1e-12 * scale:
        out.update(ci_low=mean, ci_high=mean, significant=abs(mean) > 1e-9 * scale)
        return out
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    out.update(ci_low=low, ci_high=high, significant=not (low <= 0.0 <= high))
    return out


def _costs(base: dict[int, dict[str, Any]], scen: dict[int, dict[str, Any]], seeds: list[int],
           scenario: Mapping[str, Any]) -> dict[str, Any] | None:
    from twin.scenarios.finance import appraise, cost_items, daily_benefits, economics

    own = [i for i in scenario.get("interventions", [])
           if i.get("origin") == scenario.get("name")]
    items = cost_items(own)
    if not items:
        return None
    econ = economics(scenario.get("economics") or {})
    terms = [daily_benefits(base[k], scen[k], econ) for k in seeds]
    daily = [sum(t.values()) for t in terms]
    out = appraise(items, daily, econ)
    names = sorted({n for t in terms for n in t})
    out["benefit_terms_per_year"] = {
        n: float(np.mean([t.get(n, 0.0) for t in terms])) * float(econ["days_per_year"])
        for n in names}
    return out


def compare(base_dir: str | Path, scenario_dir: str | Path,
            kpis: Sequence[str] | None = None) -> dict[str, Any]:
    """Compare the runs in two folders (``twin compare DIR/<base> DIR/<name>``).

    Returns
    -------
    dict
        ``kpis``: per KPI name ``base_mean``, ``scenario_mean``, ``diff``, ``ci_low``,
        ``ci_high``, ``significant`` (None with one replication), ``unit`` (the registered
        one, else the one stored in ``kpis.json``), ``group``, ``n``; ``replications``
        paired; ``costs``: the cost table (None without costs); ``scenario``, ``base``:
        names; ``settings_differ``: run settings that differ between the folders
        (``setting``, ``base`` and ``scenario`` values) and ``warnings``: the same as text
        (:func:`settings_warnings`).

    Raises
    ------
    ScenarioError
        A folder has no runs, or no replication of one has the seed of one of the other.
    """
    base_runs, scen_runs = _read_runs(base_dir), _read_runs(scenario_dir)
    base, base_s = base_runs.kpis, base_runs.scenario
    scen, scen_s = scen_runs.kpis, scen_runs.scenario
    stored = {**base_runs.units, **scen_runs.units}
    seeds = sorted(set(base) & set(scen))
    if not seeds:
        msg = (f"{scenario_dir} and {base_dir} share no replication seed; compare a scenario "
               "with the base it was run against (same `runs.seed`)")
        raise ScenarioError(msg)
    names = sorted({k for s in seeds for k, v in scen[s].items() if _number(v) is not None}
                   & {k for s in seeds for k, v in base[s].items() if _number(v) is not None})
    if kpis:
        missing = [k for k in kpis if k not in names]
        if missing:
            msg = f"KPI {missing[0]!r} is not in both runs; they have: {', '.join(names)}"
            raise ScenarioError(msg)
        names = [k for k in kpis if k in names]
    table: dict[str, Any] = {}
    for name in names:
        raw = [(_number(base[s].get(name)), _number(scen[s].get(name))) for s in seeds]
        pairs = [(a, b) for a, b in raw if a is not None and b is not None]
        if not pairs:
            continue
        st = paired_stats([a for a, _ in pairs], [b for _, b in pairs])
        info = kpi_info(name)
        table[name] = {**st, "unit": info.unit or stored.get(name, ""), "group": info.group,
                       "better": info.better}
    return {"scenario": scen_s.get("name", Path(scenario_dir).name),
            "base": base_s.get("name", Path(base_dir).name), "replications": len(seeds),
            "unpaired": len(set(base) ^ set(scen)), "kpis": table,
            "settings_differ": (differ := _differ(base_runs, scen_runs)),
            "warnings": _warnings(differ, base_dir, scenario_dir),
            "focus": [k for k in scen_s.get("kpis") or [] if k in table],
            "costs": _costs(base, scen, seeds, scen_s)}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    f = float(v)
    if f == 0:
        return "0"
    if abs(f) >= 1e5 or abs(f) < 1e-3:
        return f"{f:.3g}"
    if abs(f) >= 100:
        return f"{f:,.0f}"
    return f"{f:.3g}" if abs(f) < 1 else f"{f:.2f}"


def format_comparison(result: Mapping[str, Any], *, focus: bool = False
                      ) -> list[dict[str, str]]:
    """Rows of the KPI table for printing (group order of DESIGN.md, then the rest).

    With ``focus``, only the KPIs the scenario names under ``kpis:`` (all when it names none).

    Examples
    --------
    >>> rows = format_comparison({"kpis": {"co2_t": {**paired_stats([2, 2.2], [1, 1.1]),
    ...                                               "unit": "t", "group": "economy"}}})
    >>> rows[0]["note"]
    ''
    """
    order = {g: i for i, g in enumerate((*GROUPS, "other"))}
    rows = []
    chosen = set(result.get("focus") or []) if focus else set()
    items = sorted(((k, v) for k, v in result["kpis"].items() if not chosen or k in chosen),
                   key=lambda kv: (order.get(kv[1].get("group"), 9), kv[0]))
    for name, r in items:
        ci = ("-" if r.get("ci_low") is None
              else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]")
        note = {None: "one replication: no interval", False: "not significant",
                True: ""}[r.get("significant")]
        rows.append({"group": str(r.get("group", "")), "kpi": name,
                     "unit": str(r.get("unit", "")), "base": _fmt(r["base_mean"]),
                     "scenario": _fmt(r["scenario_mean"]), "diff": _fmt(r["diff"]),
                     "95% CI": ci, "note": note})
    return rows


def cost_rows(costs: Mapping[str, Any], *, years: int = 12) -> dict[str, list[dict[str, str]]]:
    """The cost table as printable rows: ``items``, ``appraisal``, ``cash_flow``.

    ``cash_flow`` has one row per year (the first ``years``, then the total) with the public
    budget's flow under the chosen financing and under each model.

    Examples
    --------
    >>> from twin.scenarios.finance import CostItem, appraise, economics
    >>> rows = cost_rows(appraise([CostItem("x", capex=1e6)], [1e3, 1e3], economics()))
    >>> rows["appraisal"][0]["item"]
    'capex'
    """
    cur = str(costs.get("currency", ""))
    items = [{"item": str(i["label"]), "financing": str(i["financing"]),
              "capex": _fmt(i["capex"]), "opex/yr": _fmt(i["opex_per_year"]),
              "life (yr)": _fmt(i["life_years"])} for i in costs.get("items", [])]
    ci = ("-" if costs.get("npv_ci_low") is None
          else f"[{_fmt(costs['npv_ci_low'])}, {_fmt(costs['npv_ci_high'])}]")
    appraisal = [
        {"item": "capex", "value": _fmt(costs["capex"]), "unit": cur},
        {"item": "opex per year", "value": _fmt(costs["opex_per_year"]), "unit": cur},
        {"item": "benefit per year", "value": _fmt(costs["benefit_per_year"]), "unit": cur},
        *[{"item": f"  of which {k.replace('_', ' ')}", "value": _fmt(v), "unit": cur}
          for k, v in costs.get("benefit_terms_per_year", {}).items()],
        {"item": f"PV costs @ {costs['discount_rate']:.1%}", "value": _fmt(costs["pv_costs"]),
         "unit": cur},
        {"item": "PV benefits", "value": _fmt(costs["pv_benefits"]), "unit": cur},
        {"item": "NPV (95% CI)", "value": f"{_fmt(costs['npv'])} {ci}", "unit": cur},
        {"item": "benefit-cost ratio", "value": _fmt(costs["bcr"]), "unit": ""},
        {"item": "payback year", "value": str(costs["payback_year"] or "not within the "
                                              "appraisal"), "unit": ""},
        {"item": "regional output (ASSUMPTION)",
         "value": _fmt(costs["regional_impact"]["output"]),
         "unit": f"{cur}, spending x {costs['regional_impact']['multiplier']:g}"},
    ]
    flows = costs["public_cash_flow"]
    models = ["chosen", "public", "BOT", "PPP"]
    cash = []
    for t, year in enumerate(costs["years"][:years]):
        cash.append({"year": str(year), **{m: _fmt(flows[m][t]) for m in models}})
    cash.append({"year": "total", **{m: _fmt(sum(flows[m])) for m in models}})
    return {"items": items, "appraisal": appraisal, "cash_flow": cash}


def _md(rows: Sequence[Mapping[str, str]]) -> list[str]:
    if not rows:
        return []
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return out


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """The comparison (KPI table and cost table) as Markdown.

    Examples
    --------
    >>> md = comparison_markdown({"scenario": "s", "base": "b", "replications": 2,
    ...     "kpis": {"co2_t": {**paired_stats([2, 2.2], [1, 1.1]), "unit": "t",
    ...                        "group": "economy"}}, "costs": None})
    >>> md.splitlines()[0]
    '## s vs b (2 paired replications)'
    """
    lines = [f"## {result['scenario']} vs {result['base']} "
             f"({result['replications']} paired replications)", ""]
    lines += _md(format_comparison(result))
    costs = result.get("costs")
    if costs:
        rows = cost_rows(costs)
        lines += ["", "### Costs and financing", "", *_md(rows["items"])]
        lines += ["", *_md(rows["appraisal"])]
        lines += ["", "Public budget cash flow (negative = spending), "
                  f"{costs['currency']}:", "", *_md(rows["cash_flow"])]
        lines += ["", f"_{costs['regional_impact']['label']}._"]
    return "\n".join(lines) + "\n"
