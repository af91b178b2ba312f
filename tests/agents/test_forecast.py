"""Tests for twin.agents.forecast: demand against capacity year by year."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.scenarios.conftest import corridor_twin
from twin._errors import SimulationError
from twin.agents.forecast import forecast_services, visit_rates
from twin.agents.population import load_population_config
from twin.agents.services import load_services_config
from twin.layers.store import Twin
from twin.scenarios.interventions.services import facility_add


@pytest.fixture
def twin() -> Twin:
    return corridor_twin()


def test_rates_are_type_weighted() -> None:
    svc, pop = load_services_config(), load_population_config()
    r = visit_rates(["clinic", "school"], svc, pop)
    want = sum(t["share"] * svc.visits_per_person_day[n]["clinic"] for n, t in pop.types.items())
    assert r["clinic"] == pytest.approx(want)
    st = pop.types["student"]
    assert r["school"] == pytest.approx(st["share"] * (1 - st["outside_share"])
                                        * svc.forecast["pupil_share_of_students"])


def test_forecast_year_by_year(twin: Twin) -> None:
    fc = forecast_services(twin, to_year=2040, from_year=2026, growth_pct=5.0,
                           kinds=["clinic", "hospital"])
    assert fc.years == list(range(2026, 2041))
    clinic = fc.by_kind.set_index("kind").loc["clinic"]
    rate = visit_rates(["clinic"], load_services_config(), load_population_config())["clinic"]
    assert clinic["demand_first"] == pytest.approx(720 * rate)
    assert clinic["demand_last"] == pytest.approx(720 * rate * 1.05 ** 14)
    cap = 12.0 * 10                                  # 12 visitors/h, open 08-18
    assert clinic["capacity_per_day"] == cap
    first = 720 * rate / cap
    limit = load_services_config().forecast["max_utilisation"]
    year = 2026 + math.ceil(math.log(limit / first) / math.log(1.05) - 1e-9)
    assert clinic["runs_out_year"] == (year if year <= 2040 else None)
    hosp = fc.by_kind.set_index("kind").loc["hospital"]
    assert hosp["facilities"] == 0
    assert "served outside" in hosp["note"]
    yearly = fc.yearly[(fc.yearly["kind"] == "clinic") & (fc.yearly["zone_id"] == "")]
    assert np.all(np.diff(yearly["demand_per_day"].to_numpy()) > 0)
    z = fc.by_zone.set_index(["zone_id", "kind"]).loc[("z1", "clinic")]
    assert z["demand_first"] == pytest.approx(720 * rate)


def test_one_clinic_runs_out_and_a_new_one_helps(twin: Twin) -> None:
    fac = twin.layers["facilities"]
    fac.loc[fac["id"] == "f2", "capacity"] = 1.5
    fc = forecast_services(twin, to_year=2035, from_year=2026, growth_pct=3.0, kinds=["clinic"])
    row = fc.by_facility.set_index("facility_id").loc["f2"]
    assert row["runs_out_year"] is not None
    assert row["runs_out_year"] <= 2035
    more = facility_add(twin.copy(), {"kind": "clinic", "at": [385450.0, 6671850.0],
                                      "capacity": 20.0, "units": None, "name": None},
                        np.random.default_rng(0))
    fc2 = forecast_services(more, to_year=2035, from_year=2026, growth_pct=3.0,
                            kinds=["clinic"])
    util = fc.by_kind.set_index("kind").loc["clinic", "utilisation_last"]
    assert fc2.by_kind.set_index("kind").loc["clinic", "utilisation_last"] < util
    shares = fc2.by_facility.set_index("facility_id")["demand_first"]
    assert shares.sum() == pytest.approx(fc.by_kind.set_index("kind").loc["clinic",
                                                                           "demand_first"])
    assert shares["fs1"] > shares["f2"]       # the big new clinic draws most visitors


def test_zone_growth(twin: Twin) -> None:
    flat = forecast_services(twin, to_year=2030, from_year=2026, growth_pct=0.0,
                             kinds=["clinic"])
    grow = forecast_services(twin, to_year=2030, from_year=2026, growth_pct=0.0,
                             zone_growth={"z1": 10.0}, kinds=["clinic"])
    a = flat.by_kind.set_index("kind").loc["clinic", "demand_last"]
    b = grow.by_kind.set_index("kind").loc["clinic", "demand_last"]
    assert b == pytest.approx(a * 1.1 ** 4)


@pytest.mark.parametrize(("kw", "match"), [
    ({"kinds": ["spa"]}, "facility kind 'spa' is not in the data dictionary"),
    ({"kinds": ["library"]}, "no demand model for facility kind 'library'"),
    ({"zone_growth": {"z9": 1.0}}, "zone 'z9' does not exist in the twin"),
    ({"to_year": 2020}, "--to-year must be between 2026 and 2126"),
    ({"growth_pct": -120.0}, "growth must be above -100"),
])
def test_bad_input(twin: Twin, kw: dict, match: str) -> None:
    args = {"to_year": 2030, "from_year": 2026, **kw}
    with pytest.raises(SimulationError, match=match):
        forecast_services(twin, **args)
