"""Signal interventions: adaptive signals and retiming, on the simulated corridor."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scenarios.conftest import fast_sim
from twin._errors import ScenarioError
from twin.agents.mobility import load_engine_config
from twin.network.roads import road_graph
from twin.scenarios.registry import get
from twin.scenarios.runner import engine_options


def apply(twin, itype, **params):
    full = {k: params.get(k, p.default) for k, p in get(itype).params.items()}
    return get(itype).func(twin.copy(), full, np.random.default_rng(0))


def simulate(twin, **kw):
    opts, _ = engine_options(twin)
    return fast_sim(twin, **opts, **kw)


@pytest.fixture(scope="module")
def base_day():
    from tests.scenarios.conftest import corridor_twin

    return simulate(corridor_twin())


def test_adaptive_signals_replace_signals_only(corridor):
    out = apply(corridor, "adaptive_signals", where={"zone_kind": ["old_district"]})
    ctrl = out.layers["road_nodes"].set_index("id")["control"]
    assert sorted(ctrl[ctrl == "adaptive_signal"].index) == ["a1", "a2", "b1", "b2"]
    assert ctrl["W"] == "none"
    assert "params" not in out.extras            # the engine's default gain applies
    assert sorted(out.extras["highlight"]["road_nodes"]) == ["a1", "a2", "b1", "b2"]


def test_capacity_gain_becomes_a_node_factor_for_the_engine(corridor):
    out = apply(corridor, "adaptive_signals", where={"ids": ["a1"]}, capacity_gain_pct=25)
    factor = load_engine_config().signal_factor * 1.25
    assert out.extras["params"]["node_capacity_factor"] == {"a1": pytest.approx(factor)}
    opts, _ = engine_options(out)
    g = road_graph(out.layers["roads"], out.layers["road_nodes"])
    nf = dict(zip(g.node_ids, opts["node_factor"], strict=True))
    assert nf["a1"] == pytest.approx(factor)
    assert nf["a2"] == pytest.approx(load_engine_config().signal_factor)
    assert nf["W"] == 1.0


def test_adaptive_signals_need_signals(corridor):
    with pytest.raises(ScenarioError, match="no intersection with control signal or "
                       "adaptive_signal"):
        apply(corridor, "adaptive_signals", where={"ids": ["W", "E"]})


def test_adaptive_signals_lower_delay(corridor, base_day):
    day = simulate(apply(corridor, "adaptive_signals", where={"zone_kind": ["old_district"]},
                         capacity_gain_pct=15))
    assert day.kpis["delay_hours"] < 0.9 * base_day.kpis["delay_hours"]
    assert day.kpis["vehicle_hours"] < base_day.kpis["vehicle_hours"]


def test_signal_timing_sets_factors_and_delay(corridor):
    out = apply(corridor, "signal_timing", where={"ids": ["a1", "b1", "W"]},
                capacity_gain_pct=10, delay_s=9.0)
    p = out.extras["params"]
    assert sorted(p["node_capacity_factor"]) == ["a1", "b1"]
    assert p["node_capacity_factor"]["a1"] == pytest.approx(0.66)
    assert p["node_delay_s"] == {"a1": 9.0, "b1": 9.0}
    # still fixed signals in the layer
    assert set(out.layers["road_nodes"]["control"]) == {"signal", "none"}


def test_worse_signal_timing_raises_delay(corridor, base_day):
    day = simulate(apply(corridor, "signal_timing", where={"zone_kind": ["old_district"]},
                         capacity_gain_pct=-30))
    assert day.kpis["delay_hours"] > 1.2 * base_day.kpis["delay_hours"]


def test_better_signal_timing_lowers_delay(corridor, base_day):
    day = simulate(apply(corridor, "signal_timing", where={"zone_kind": ["old_district"]},
                         capacity_gain_pct=20))
    assert day.kpis["delay_hours"] < base_day.kpis["delay_hours"]
