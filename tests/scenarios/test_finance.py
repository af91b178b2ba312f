"""Costs, benefits and financing: concrete cash flows and appraisal figures."""

from __future__ import annotations

import numpy as np
import pytest

from twin._errors import ScenarioError
from twin.scenarios.finance import (
    CostItem,
    appraise,
    check_economics,
    cost_items,
    daily_benefits,
    default_economics,
    economics,
    public_cash_flow,
)


def test_defaults_are_documented_and_complete():
    econ = default_economics()
    assert econ["currency"] == "EUR"
    assert econ["discount_rate"] == 0.04
    assert econ["regional_multiplier"] == 1.5


def test_overrides_are_validated():
    assert economics({"discount_rate": 0.03})["discount_rate"] == 0.03
    assert check_economics({"days_per_year": 12.5}) == [
        ("days_per_year", "must be a whole number, got 12.5")]
    assert check_economics({"currency": 5}) == [("currency", "must be text, got 5")]
    with pytest.raises(ScenarioError, match=r"discount_rate: must be between 0 and 0.5, got 2"):
        economics({"discount_rate": 2})
    with pytest.raises(ScenarioError, match=r"co2_price: unknown key \(did you mean "
                       r"'co2_price_per_t'\?\)"):
        economics({"co2_price": 1})


def test_daily_benefits_price_each_kpi_change():
    e = economics({"value_of_time_per_h": 10.0, "vehicle_cost_per_km": 0.2,
                   "co2_price_per_t": 100.0, "reliability_ratio": 1.0})
    base = {"trip_time_mean_min": 12.0, "trips": 1000.0, "commute_time_p90_min": 20.0,
            "commute_time_mean_min": 10.0, "commute_trips": 600.0, "vehicle_km": 5000.0,
            "co2_t": 1.0}
    scen = {"trip_time_mean_min": 11.0, "trips": 1200.0, "commute_time_p90_min": 18.0,
            "commute_time_mean_min": 9.5, "commute_trips": 600.0, "vehicle_km": 4500.0,
            "co2_t": 0.9}
    b = daily_benefits(base, scen, e)
    assert b["travel_time"] == pytest.approx(1 / 60 * 1100 * 10)   # rule of a half
    assert b["reliability"] == pytest.approx(1.5 / 60 * 600 * 10)
    assert b["vehicle_operating"] == pytest.approx(100.0)
    assert b["co2"] == pytest.approx(10.0)
    # without trip counts: person hours, else vehicle hours x occupancy
    assert daily_benefits({"person_hours": 10}, {"person_hours": 8}, e) == {
        "travel_time": 20.0}
    assert daily_benefits({"vehicle_hours": 10}, {"vehicle_hours": 9}, e) == {
        "travel_time": pytest.approx(1.2 * 10)}


def test_public_cash_flow_under_each_model():
    e = economics({"private_rate": 0.05, "concession_years": 3})
    it = CostItem("x", capex=1000.0, opex_per_year=100.0, life_years=50)
    n = 6
    bt = public_cash_flow(it, n, e, "public")
    assert bt.tolist() == [-1000.0, -100.0, -100.0, -100.0, -100.0, -100.0]
    ppp = public_cash_flow(it, n, e, "PPP")
    pay = 1000.0 * 0.05 / (1 - 1.05 ** -3) + 100.0
    assert ppp.tolist() == pytest.approx([0.0, -pay, -pay, -pay, -100.0, -100.0])
    bot = public_cash_flow(CostItem("x", capex=1000.0, opex_per_year=100.0, life_years=50,
                                    financing={"model": "BOT", "user_fees_per_year": 200.0}),
                           n, e)
    assert bot.tolist() == pytest.approx([0.0, -(pay - 200)] * 1 + [-(pay - 200)] * 2
                                         + [-100.0, -100.0])
    fees_cover = CostItem("x", capex=1000.0, opex_per_year=100.0, life_years=50,
                          financing={"model": "BOT", "user_fees_per_year": 1e6})
    assert public_cash_flow(fees_cover, n, e)[1:4].tolist() == [0.0, 0.0, 0.0]
    # BT with two construction years: the builder's financing cost is paid on completion
    two = CostItem("y", capex=1000.0, construction_years=2)
    assert public_cash_flow(two, 4, e, "public").tolist() == pytest.approx(
        [0.0, -(500 * 1.05 + 500), 0.0, 0.0])


def test_appraisal_npv_bcr_payback_renewal_and_residual():
    e = economics({"discount_rate": 0.0, "appraisal_years": 10, "days_per_year": 100,
                   "start_year": 2030})
    it = CostItem("x", capex=1000.0, opex_per_year=10.0, life_years=8)
    a = appraise([it], [2.0, 2.0], e)                      # 200 a year
    assert a["years"][0] == 2030
    assert len(a["years"]) == 11
    # capex at 0, renewal at 9 (1 + 8), opex 10 x 10 years; renewal 1000 used 2 of 8 years
    assert a["pv_costs"] == pytest.approx(1000 + 1000 + 100 - 1000 * 6 / 8)
    assert a["pv_benefits"] == pytest.approx(2000.0)
    assert a["npv"] == pytest.approx(2000 - 1350)
    assert a["bcr"] == pytest.approx(2000 / 1350)
    assert a["npv_ci_low"] == a["npv_ci_high"] == pytest.approx(650)
    assert a["payback_year"] == 2030 + 6                   # 6 x 190 >= 1000 at year 6
    assert a["regional_impact"]["output"] == pytest.approx((2000 + 100) * 1.5)
    assert a["regional_impact"]["label"].startswith("ASSUMPTION")


def test_an_uncertain_benefit_gives_an_npv_interval_and_no_payback_when_negative():
    e = economics()
    a = appraise([CostItem("x", capex=1e6)], [100.0, 300.0, 200.0], e)
    assert a["npv_ci_low"] < a["npv"] < a["npv_ci_high"]
    assert a["payback_year"] is None
    assert appraise([CostItem("x", capex=1e6)], [1e3], e)["npv_ci_low"] is None


def test_cost_items_from_entries():
    items = cost_items([{"type": "a", "cost": None},
                        {"type": "b", "label": "B", "cost": {"capex": 5.0, "life_years": 2},
                         "financing": {"model": "BOT"}}])
    assert len(items) == 1
    assert (items[0].label, items[0].capex, items[0].life_years,
            items[0].financing["model"]) == ("B", 5.0, 2.0, "BOT")
    flows = appraise(items, [0.0], economics())["public_cash_flow"]
    assert set(flows) == {"chosen", "public", "BOT", "PPP"}
    assert np.isclose(sum(flows["public"]), sum(flows["public"]))
