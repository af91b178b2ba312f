"""Service interventions: open and close facilities, e-services; the access KPIs they move."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests.scenarios.conftest import X0, Y0
from twin._errors import ScenarioError
from twin.scenarios.kpis import access_kpis
from twin.scenarios.registry import get


def apply(twin, itype, **params):
    full = {k: params.get(k, p.default) for k, p in get(itype).params.items()}
    return get(itype).func(twin.copy(), full, np.random.default_rng(0))


def test_facility_add_uses_the_default_capacity_of_its_kind(corridor):
    out = apply(corridor, "facility_add", kind="school", at=[X0 + 450, Y0 - 200], name="New")
    f = out.layers["facilities"].set_index("id").loc["fs1"]
    assert (f["kind"], f["capacity"], f["name"], f["source"]) == ("school", 600.0, "New",
                                                                   "user")
    out = apply(corridor, "facility_add", kind="fire_station", at=[X0, Y0], capacity=0.0)
    assert out.layers["facilities"].set_index("id").loc["fs1", "units"] == 3


def test_a_clinic_near_the_homes_raises_15_minute_access(corridor):
    before = access_kpis(corridor)["access_clinic_15min_share"]
    out = apply(corridor, "facility_add", kind="clinic", at=[X0 + 450, Y0 - 200])
    after = access_kpis(out)["access_clinic_15min_share"]
    assert before < 1.0
    assert after == 1.0


def test_closing_the_only_school_lowers_school_access(corridor):
    before = access_kpis(corridor)["access_school_15min_share"]
    out = apply(corridor, "facility_close", where={"ids": ["f1"]})
    assert "f1" not in set(out.layers["facilities"]["id"])
    assert out.extras["removed"]["facilities"] == ["f1"]
    assert before > 0.0
    assert access_kpis(out)["access_school_15min_share"] == 0.0


def test_facility_close_by_kind_in_an_area(corridor):
    out = apply(corridor, "facility_close", where={"zone_ids": ["z1"]}, kind="bus_stop")
    assert sorted(out.layers["facilities"]["kind"]) == ["clinic", "school", "service_centre"]
    with pytest.raises(ScenarioError, match="the selection has no facility to close"):
        apply(corridor, "facility_close", where={"ids": ["f1"]}, kind="clinic")


def test_e_services_count_online_visits_as_served(corridor):
    # move the service centre 700 m west of the western gateway, out of reach of some homes
    fac = corridor.layers["facilities"].copy()
    fac.loc[fac["id"] == "f3", "geometry"] = shapely.Point(X0 - 1000, Y0)
    corridor.layers["facilities"] = fac
    base = access_kpis(corridor)["access_service_centre_15min_share"]
    out = apply(corridor, "e_services", share=0.6)
    assert out.extras["params"]["e_services_share"] == 0.6
    assert access_kpis(out)["access_service_centre_15min_share"] == pytest.approx(
        0.6 + 0.4 * base)
    assert base < 1.0
