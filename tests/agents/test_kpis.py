"""Tests for twin.agents.kpis: KPI values from hand-made trips and link-hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.agents.kpis import KPI_UNITS, MOBILITY_KPIS, mobility_kpis


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    trips = pd.DataFrame({
        "mode": ["car", "car", "walk", "transit", "car"],
        "resident": [True, True, True, False, False],
        "commute": [True, False, True, True, False],
        "depart": [3600.0, 7200.0, 0.0, 0.0, 80000.0],
        "arrive": [4800.0, 7800.0, 600.0, 1800.0, np.nan],   # the last is still driving
        "duration": [1200.0, 600.0, 600.0, 1800.0, np.nan],
        "free_flow": [600.0, 600.0, np.nan, np.nan, 100.0],
    })
    links = pd.DataFrame({"volume": [10.0, 20.0], "length_m": [500.0, 250.0],
                          "vc": [0.95, 0.3], "congested": [True, False]})
    return trips, links


def test_values() -> None:
    trips, links = tables()
    k = mobility_kpis(trips, links, sample=1.0, end_s=86400.0, co2_g_per_vehicle_km=200.0,
                      spillback_s=7200.0, unrouted_agents=3)
    assert k["commute_time_mean_min"] == pytest.approx((20 + 10 + 30) / 3, abs=1e-4)
    assert k["commute_time_p90_min"] == pytest.approx(28.0, abs=1e-4)
    assert k["vehicle_km"] == 10.0
    # 1200 + 600 + (86400 - 80000) s on the network; delay 600 + 0 + 6300
    assert k["vehicle_hours"] == pytest.approx(8200 / 3600, abs=1e-4)
    assert k["delay_hours"] == pytest.approx(6900 / 3600, abs=1e-4)
    assert k["congested_link_hours"] == 1.0
    assert k["spillback_hours"] == 2.0
    assert k["max_vc"] == 0.95
    assert k["mode_share_car"] == pytest.approx(2 / 3, abs=1e-4)
    assert k["mode_share_transit"] == 0.0
    assert k["co2_t"] == 0.002
    assert (k["trips"], k["car_trips"], k["unfinished_trips"]) == (5.0, 3.0, 1.0)
    assert k["unrouted_agents"] == 3.0
    assert set(k) == set(MOBILITY_KPIS) <= set(KPI_UNITS)


def test_sample_scales_totals_not_means() -> None:
    trips, links = tables()
    full = mobility_kpis(trips, links, sample=1.0, end_s=86400.0, co2_g_per_vehicle_km=200.0)
    half = mobility_kpis(trips, links, sample=0.5, end_s=86400.0, co2_g_per_vehicle_km=200.0)
    assert half["vehicle_hours"] == pytest.approx(2 * full["vehicle_hours"], abs=1e-3)
    assert half["trips"] == 2 * full["trips"]
    assert half["commute_time_mean_min"] == full["commute_time_mean_min"]
    assert half["vehicle_km"] == full["vehicle_km"]  # link volumes are already full scale


def test_empty_day() -> None:
    trips, links = tables()
    k = mobility_kpis(trips.iloc[0:0], links.iloc[0:0], sample=1.0, end_s=86400.0,
                      co2_g_per_vehicle_km=160.0)
    assert k["commute_time_mean_min"] == 0.0
    assert k["vehicle_km"] == 0.0
    assert k["max_vc"] == 0.0
