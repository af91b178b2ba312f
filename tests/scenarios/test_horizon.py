"""Horizon: residents and jobs grown to a target year, whole and reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.scenarios.horizon import apply_horizon, growth_factors, scale_counts


def test_growth_factors_compound_from_the_base_year():
    pop, jobs = growth_factors({"year": 2035, "base_year": 2025,
                                "population_growth_pct_per_year": 1.2,
                                "jobs_growth_pct_per_year": -0.5})
    assert pop == pytest.approx(1.012 ** 10)
    assert jobs == pytest.approx(0.995 ** 10)
    assert growth_factors({}) == (1.0, 1.0)
    assert growth_factors({"year": 2025, "population_growth_pct_per_year": 3}) == (1.0, 1.0)


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=50),
       st.floats(0.0, 3.0, allow_nan=False))
def test_scaled_counts_stay_whole_and_hit_the_rounded_total(values, factor):
    v = np.array(values)
    out = scale_counts(v, factor)
    assert out.dtype == np.int64
    assert out.sum() == int(np.floor(v.sum() * factor + 0.5))
    assert (out[v == 0] == 0).all()
    assert (np.abs(out - v * factor) < 1.0 + 1e-9).all()


def test_apply_horizon_scales_buildings_and_zones(corridor):
    out = apply_horizon(corridor.copy(), {"year": 2030, "population_growth_pct_per_year": 2.0,
                                          "jobs_growth_pct_per_year": 1.0})
    b = out.layers["buildings"]
    assert b["residents"].sum() == round(720 * 1.02 ** 5)
    assert b["jobs"].sum() == round(300 * 1.01 ** 5)
    assert out.layers["zones"].set_index("id").loc["z1", "population"] == b["residents"].sum()
    assert out.extras["horizon"]["residents_factor"] == pytest.approx(1.02 ** 5)
    # the input is untouched, and no horizon changes nothing
    assert corridor.layers["buildings"]["residents"].sum() == 720
    assert apply_horizon(corridor, {}) is corridor
