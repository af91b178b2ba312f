"""Sensor interventions: cameras raise the road network's sensor coverage."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scenarios.conftest import X0, Y0
from twin._errors import ScenarioError
from twin.scenarios.kpis import sensor_coverage
from twin.scenarios.registry import get


def apply(twin, itype, **params):
    full = {k: params.get(k, p.default) for k, p in get(itype).params.items()}
    return get(itype).func(twin.copy(), full, np.random.default_rng(0))


def test_cameras_at_signalised_intersections_raise_coverage(corridor):
    before = sensor_coverage(corridor)
    out = apply(corridor, "sensor_add", where={"zone_kind": ["old_district"]},
                signals_only=True)
    s = out.layers["sensors"]
    new = s[s["source"] == "user"]
    assert len(new) == 4
    assert set(new["kind"]) == {"camera"}
    assert set(new["range_m"]) == {40.0}
    # four cameras at signals see 40 m along each of their roads: 2 x 40 m on 4 roads each
    total = corridor.layers["roads"].geometry.length.sum()
    assert sensor_coverage(out) == pytest.approx(before + 4 * 2 * 40 / total)


def test_sensors_at_points_with_a_range(corridor):
    out = apply(corridor, "sensor_add", kind="traffic_counter",
                points=[[X0 + 150, Y0], [X0 + 450, Y0]], range_m=15.0)
    new = out.layers["sensors"].set_index("id").loc[["ss1", "ss2"]]
    assert set(new["kind"]) == {"traffic_counter"}
    assert set(new["range_m"]) == {15.0}
    assert sensor_coverage(out) > sensor_coverage(corridor)
    # air-quality sensors do not count for road coverage
    out = apply(corridor, "sensor_add", kind="air_quality", points=[[X0 + 150, Y0]])
    assert sensor_coverage(out) == sensor_coverage(corridor)


def test_sensor_add_errors(corridor):
    with pytest.raises(ScenarioError, match="exactly one of `points` and `where`"):
        apply(corridor, "sensor_add")
    with pytest.raises(ScenarioError, match="no intersection to equip"):
        apply(corridor, "sensor_add", where={"ids": ["W"]}, signals_only=True)
