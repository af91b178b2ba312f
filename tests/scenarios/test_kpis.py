"""KPI registry and the KPIs computed from layers and trips."""

from __future__ import annotations

import pandas as pd
import pytest

from twin.scenarios.kpis import (
    GROUPS,
    KPIS,
    access_kpis,
    kpi_info,
    layer_kpis,
    register_kpi,
    sensor_coverage,
    trip_kpis,
)


def test_every_canonical_kpi_has_a_unit_and_a_design_group():
    for k in KPIS.values():
        assert k.unit
        assert k.group in GROUPS
    assert {"commute_time_p90_min", "delay_hours", "access_clinic_15min_share",
            "jobs_reachable_30min", "co2_t", "sensor_coverage_share",
            "congested_link_hours"} <= set(KPIS)


def test_engine_units_are_used_for_the_engine_kpis():
    from twin.agents import kpis as engine

    assert kpi_info("vehicle_km").unit == engine.KPI_UNITS["vehicle_km"]


def test_register_kpi_validates():
    with pytest.raises(ValueError, match="group 'wellbeing' is not one of"):
        register_kpi("x", "m", "wellbeing")
    with pytest.raises(ValueError, match="better must be 'lower', 'higher' or None"):
        register_kpi("x", "m", "economy", better="more")


def test_layer_kpis_of_the_corridor(corridor):
    k = layer_kpis(corridor)
    assert k["residents"] == 720.0
    assert k["jobs"] == 300.0
    assert 0.0 < k["access_clinic_15min_share"] < 1.0
    assert k["access_school_15min_share"] == 1.0
    assert k["jobs_reachable_30min"] == 300.0
    assert k["sensor_coverage_share"] == pytest.approx(sensor_coverage(corridor))


def test_no_residents_no_access_kpis(corridor):
    t = corridor.copy()
    b = t.layers["buildings"].copy()
    b["residents"] = 0
    t.layers["buildings"] = b
    assert access_kpis(t) == {}


def test_trip_kpis_leave_out_unfinished_trips():
    t = pd.DataFrame({"duration": [600.0, 1200.0, 99999.0], "arrive": [1.0, 2.0, None],
                      "commute": [True, False, True]})
    assert trip_kpis(t, sample=1.0) == {"person_hours": 0.5, "trip_time_mean_min": 15.0,
                                        "commute_trips": 2.0}
    assert trip_kpis(pd.DataFrame()) == {}
