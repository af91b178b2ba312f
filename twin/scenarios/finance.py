"""Costs, benefits and financing of a scenario's interventions.

The defaults and the method are documented in ``scenarios/economics.yaml``; a scenario
overrides keys under ``economics:``. In short:

- costs per intervention: capex spent evenly over ``construction_years`` from year 0, opex from
  completion to the end of the appraisal, renewal at the end of each life, the unused life of
  the last build and ``residual_value`` credited at the end;
- benefits from the scenario-minus-base KPI differences of a weekday, paired by replication,
  times ``days_per_year``: travel time (the mean trip's time change x the mean of both trip
  counts (rule of a half), else the change in person hours), reliability (p90 minus mean
  commute time), vehicle operating cost, CO2;
- NPV, benefit-cost ratio and discounted payback year, with a 95% interval over replications;
- the public budget's yearly cash flow under the chosen financing of each entry and under each
  of ``public`` (BT: the builder is paid on completion), ``BOT`` (a concession: user fees and,
  where they fall short, an availability payment; the asset returns to the public at the end)
  and ``PPP`` (availability payments over the contract);
- the regional economic impact of the spending through ``regional_multiplier`` — an assumption,
  labelled as such, never part of the NPV.

Examples
--------
>>> econ = economics({"discount_rate": 0.05})
>>> item = CostItem("signals", capex=1e6, opex_per_year=5e4, life_years=15)
>>> a = appraise([item], [2000.0, 2200.0, 2100.0], econ)
>>> a["pv_costs"] > 1e6, a["bcr"] is not None
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import yaml
from scipy import stats

from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.layers.schemas import suggest

__all__ = [
    "ECONOMICS_RANGES",
    "CostItem",
    "appraise",
    "check_economics",
    "cost_items",
    "daily_benefits",
    "default_economics",
    "economics",
    "public_cash_flow",
]

#: Valid range of every economics key (None: text).
ECONOMICS_RANGES: dict[str, tuple[float, float] | None] = {
    "currency": None, "price_year": (1900, 2200), "start_year": (1900, 2200),
    "discount_rate": (0.0, 0.5), "appraisal_years": (1, 200), "days_per_year": (1, 366),
    "value_of_time_per_h": (0.0, 1e4), "vehicle_occupancy": (1.0, 10.0),
    "reliability_ratio": (0.0, 10.0), "vehicle_cost_per_km": (0.0, 100.0),
    "co2_price_per_t": (0.0, 1e5), "private_rate": (0.0, 0.5), "concession_years": (1, 99),
    "regional_multiplier": (0.0, 10.0),
}
_INT = {"price_year", "start_year", "appraisal_years", "days_per_year", "concession_years"}


@lru_cache(maxsize=1)
def default_economics() -> dict[str, Any]:
    """The defaults of ``scenarios/economics.yaml``.

    Examples
    --------
    >>> default_economics()["currency"]
    'EUR'
    """
    path = data_dir("scenarios") / "economics.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        msg = f"{path}: cannot read the economics defaults ({err})"
        raise ScenarioError(msg) from err
    problems = check_economics(data if isinstance(data, Mapping) else {})
    missing = sorted(set(ECONOMICS_RANGES) - set(data or {}))
    if problems or missing or not isinstance(data, Mapping):
        lines = [f"{k}: {m}" for k, m in problems] + [f"{k}: missing" for k in missing]
        msg = f"{path}: invalid economics defaults: " + "; ".join(lines)
        raise ScenarioError(msg)
    return dict(data)


def check_economics(values: Mapping[Any, Any]) -> list[tuple[str, str]]:
    """Problems of an ``economics:`` mapping as (key, message); empty when valid.

    Examples
    --------
    >>> check_economics({"discount_rat": 0.03})[0][1]
    "unknown key (did you mean 'discount_rate'?); valid keys: currency, price_year, ..."
    """
    out: list[tuple[str, str]] = []
    for k, v in values.items():
        key = str(k)
        if key not in ECONOMICS_RANGES:
            out.append((key, f"unknown key{suggest(key, list(ECONOMICS_RANGES))}; valid keys: "
                        f"{', '.join(list(ECONOMICS_RANGES)[:2])}, ..."))
            continue
        rng = ECONOMICS_RANGES[key]
        if rng is None:
            if not isinstance(v, str) or not v:
                out.append((key, f"must be text, got {v!r}"))
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            out.append((key, f"must be a number, got {v!r}"))
        elif key in _INT and not float(v).is_integer():
            out.append((key, f"must be a whole number, got {v}"))
        elif not rng[0] <= v <= rng[1]:
            out.append((key, f"must be between {rng[0]:g} and {rng[1]:g}, got {v:g}"))
    return out


def economics(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults with ``overrides`` applied (validated).

    Raises
    ------
    ScenarioError
        An unknown key or a value out of range.

    Examples
    --------
    >>> economics({"co2_price_per_t": 150})["co2_price_per_t"]
    150
    """
    problems = check_economics(overrides or {})
    if problems:
        msg = "economics: " + "; ".join(f"{k}: {m}" for k, m in problems)
        raise ScenarioError(msg)
    return {**default_economics(), **dict(overrides or {})}


@dataclass(frozen=True)
class CostItem:
    """The cost and financing of one intervention entry."""

    label: str
    capex: float = 0.0
    opex_per_year: float = 0.0
    life_years: float = 30.0
    residual_value: float = 0.0
    construction_years: int = 1
    financing: dict[str, Any] = field(default_factory=lambda: {"model": "public"})


def cost_items(entries: Sequence[Any]) -> list[CostItem]:
    """Cost items of intervention entries (``Intervention`` objects or their dicts) with a cost.

    Examples
    --------
    >>> cost_items([{"type": "road_add", "cost": {"capex": 5e6}, "financing": None}])[0].capex
    5000000.0
    """
    out = []
    for i, e in enumerate(entries):
        d = e if isinstance(e, Mapping) else e.to_dict()
        cost = d.get("cost")
        if not cost:
            continue
        label = d.get("label") or f"{d.get('type')} #{i + 1}"
        out.append(CostItem(
            label=str(label), capex=float(cost.get("capex", 0.0)),
            opex_per_year=float(cost.get("opex_per_year", 0.0)),
            life_years=float(cost.get("life_years", 30.0)),
            residual_value=float(cost.get("residual_value", 0.0)),
            construction_years=int(cost.get("construction_years", 1)),
            financing=dict(d.get("financing") or {"model": "public"})))
    return out


def daily_benefits(base: Mapping[str, Any], scenario: Mapping[str, Any],
                   econ: Mapping[str, Any]) -> dict[str, float]:
    """Money per weekday the scenario saves against the base (positive = a benefit), by term.

    Examples
    --------
    >>> e = economics()
    >>> daily_benefits({"co2_t": 10.0}, {"co2_t": 9.0}, e)
    {'co2': 100.0}
    """
    def diff(name: str) -> float | None:
        a, b = base.get(name), scenario.get(name)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return float(b) - float(a)
        return None

    vot = float(econ["value_of_time_per_h"])
    out: dict[str, float] = {}
    d_trip, trips_a, trips_b = diff("trip_time_mean_min"), base.get("trips"), scenario.get("trips")
    if d_trip is not None and isinstance(trips_a, int | float) and isinstance(trips_b,
                                                                              int | float):
        out["travel_time"] = -d_trip / 60.0 * (float(trips_a) + float(trips_b)) / 2.0 * vot
    elif (d := diff("person_hours")) is not None:
        out["travel_time"] = -d * vot
    elif (d := diff("vehicle_hours")) is not None:
        out["travel_time"] = -d * float(econ["vehicle_occupancy"]) * vot
    d90, dmean, n = diff("commute_time_p90_min"), diff("commute_time_mean_min"), \
        base.get("commute_trips")
    if d90 is not None and dmean is not None and isinstance(n, int | float):
        out["reliability"] = -(d90 - dmean) / 60.0 * float(n) * vot * float(
            econ["reliability_ratio"])
    if (d := diff("vehicle_km")) is not None:
        out["vehicle_operating"] = -d * float(econ["vehicle_cost_per_km"])
    if (d := diff("co2_t")) is not None:
        out["co2"] = -d * float(econ["co2_price_per_t"])
    return out


def _timeline(items: Sequence[CostItem], econ: Mapping[str, Any]) -> tuple[int, int]:
    build = max([it.construction_years for it in items] or [1])
    return build, build + int(econ["appraisal_years"])


def _item_flows(it: CostItem, n: int) -> tuple[np.ndarray, np.ndarray, float, list[int]]:
    """(capital per year, opex per year, residual at the end, years of (re)builds)."""
    cap = np.zeros(n)
    opex = np.zeros(n)
    c = max(1, it.construction_years)
    cap[:min(c, n)] += it.capex / c
    opex[c:] = it.opex_per_year
    builds = [0]
    life = max(it.life_years, 1.0)
    t = c + life
    while t < n:
        cap[int(t)] += it.capex
        builds.append(int(t))
        t += life
    # the first build serves from completion, a renewal from the year it is paid
    done = builds[-1] if builds[-1] > 0 else c
    used = n - done
    residual = it.capex * max(0.0, 1.0 - used / life) + it.residual_value
    return cap, opex, residual, builds


def _annuity(pv: float, rate: float, years: int) -> float:
    if years <= 0:
        return 0.0
    if rate <= 0:
        return pv / years
    return pv * rate / (1 - (1 + rate) ** -years)


def public_cash_flow(it: CostItem, n: int, econ: Mapping[str, Any],
                     model: str | None = None) -> np.ndarray:
    """Yearly public-budget cash flow (negative = spending) of one item under a financing model.

    Examples
    --------
    >>> e = economics({"private_rate": 0.0})
    >>> public_cash_flow(CostItem("x", capex=100.0, construction_years=2), 4, e,
    ...                  "public").tolist()
    [0.0, -100.0, 0.0, 0.0]
    """
    fin = dict(it.financing or {})
    m = model or str(fin.get("model", "public"))
    pr = float(fin.get("private_rate", econ["private_rate"]))
    cap, opex, _, _ = _item_flows(it, n)
    c = max(1, it.construction_years)
    out = np.zeros(n)
    if m in ("public", "BT"):
        # the builder finances construction; the public pays the price on completion
        price = sum(it.capex / c * (1 + pr) ** (c - 1 - y) for y in range(c))
        out[min(c - 1, n - 1)] -= price
        renew = cap.copy()
        renew[:c] = 0.0
        return out - renew - opex
    k = int(fin.get("concession_years", econ["concession_years"]))
    end = min(n, c + k)
    # the private partner's outlays during the contract, valued at completion
    pv = sum(it.capex / c * (1 + pr) ** (c - 1 - y) for y in range(c))
    pv += sum(cap[t] / (1 + pr) ** (t - c + 1) for t in range(c, end))
    need = _annuity(pv, pr, end - c) + it.opex_per_year
    if m == "BOT":
        fees = float(fin.get("user_fees_per_year", 0.0))
        pay = fin.get("availability_payment_per_year")
        payment = float(pay) if pay is not None else max(0.0, need - fees)
    else:  # PPP
        pay = fin.get("availability_payment_per_year")
        payment = float(pay) if pay is not None else need
    out[c:end] -= payment
    out[end:] -= opex[end:] + cap[end:]
    return out


def _t_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return None, None
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return float(v.mean()) - half, float(v.mean()) + half


def appraise(items: Sequence[CostItem], daily: Sequence[float], econ: Mapping[str, Any]
             ) -> dict[str, Any]:
    """NPV, BCR, payback, public cash flows and regional impact of a scenario.

    Parameters
    ----------
    items : sequence of CostItem
        The scenario's own interventions with costs.
    daily : sequence of float
        Money saved per weekday (sum of :func:`daily_benefits`), one value per replication.
    econ : mapping
        :func:`economics` result.

    Examples
    --------
    >>> a = appraise([CostItem("x", capex=1e6)], [1e4] * 3, economics())
    >>> a["payback_year"] > 2026
    True
    """
    build, n = _timeline(items, econ)
    r = float(econ["discount_rate"])
    disc = (1 + r) ** -np.arange(n, dtype=float)
    cap = np.zeros(n)
    opex = np.zeros(n)
    residual = 0.0
    for it in items:
        c, o, res, _ = _item_flows(it, n)
        cap += c
        opex += o
        residual += res
    cost = cap + opex
    pv_cost = float((cost * disc).sum() - residual * disc[-1])
    per_day = np.asarray(list(daily), dtype=float)
    yearly = per_day * float(econ["days_per_year"])
    benefit_years = np.zeros(n)
    benefit_years[build:] = 1.0
    pv_unit = float((benefit_years * disc).sum())
    npvs = yearly * pv_unit - pv_cost
    mean_b = float(yearly.mean()) if len(yearly) else 0.0
    pv_benefit = mean_b * pv_unit
    net = benefit_years * mean_b - cost
    net[-1] += residual
    cum = np.cumsum(net * disc)
    pay = np.flatnonzero((cum >= 0) & (np.arange(n) >= build - 1))
    first = int(pay[0]) if len(pay) and cum[-1] >= 0 else None
    start = int(econ["start_year"])
    years = [start + t for t in range(n)]
    flows = {"chosen": np.zeros(n)}
    for m in ("public", "BOT", "PPP"):
        flows[m] = np.zeros(n)
    for it in items:
        flows["chosen"] += public_cash_flow(it, n, econ)
        for m in ("public", "BOT", "PPP"):
            flows[m] += public_cash_flow(it, n, econ, m)
    spend = float(cap.sum() + opex.sum())
    mult = float(econ["regional_multiplier"])
    low, high = _t_interval(npvs)
    return {
        "currency": econ["currency"], "price_year": econ["price_year"],
        "discount_rate": r, "years": years, "construction_years": build,
        "capex": float(sum(it.capex for it in items)),
        "opex_per_year": float(sum(it.opex_per_year for it in items)),
        "pv_costs": pv_cost, "pv_benefits": pv_benefit,
        "benefit_per_year": mean_b,
        "npv": pv_benefit - pv_cost, "npv_ci_low": low, "npv_ci_high": high,
        "bcr": pv_benefit / pv_cost if pv_cost > 0 else None,
        "payback_year": start + first if first is not None else None,
        "public_cash_flow": {k: [round(float(x), 2) for x in v] for k, v in flows.items()},
        "regional_impact": {
            "spending": spend, "multiplier": mult, "output": spend * mult,
            "label": (f"ASSUMPTION: regional output = spending x multiplier {mult:g} "
                      "(scenarios/economics.yaml); not estimated by twin and not part of "
                      "the NPV"),
        },
        "items": [{"label": it.label, "capex": it.capex, "opex_per_year": it.opex_per_year,
                   "life_years": it.life_years, "residual_value": it.residual_value,
                   "financing": (it.financing or {}).get("model", "public")} for it in items],
    }
