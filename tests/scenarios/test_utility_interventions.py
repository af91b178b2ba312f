"""Each power and water intervention moves the KPI it should, on a small twin and the demo."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import REPO
from tests.network.test_power import utility_grid
from twin._errors import ScenarioError
from twin.layers.store import Twin
from twin.network.utilities import run_utilities, typical_activities
from twin.scenarios.registry import get, registry

RNG = np.random.default_rng(0)


def kpis(twin: Twin) -> dict[str, float]:
    return run_utilities(twin, typical_activities(twin, seed=3))[1]


def apply(twin: Twin, name: str, **params: object) -> Twin:
    spec = get(name)
    full = {k: p.default for k, p in spec.params.items()}
    full.update(params)
    return spec.func(twin.copy(), full, RNG)


def dense(factor: float = 4.0, n: int = 4) -> Twin:
    """A grid twin whose buildings hold ``factor`` times the people and floor area, on old
    cables and transformer rated a tenth of what the layout would lay today."""
    twin = utility_grid(n)
    b = twin.layers["buildings"]
    for col in ("residents", "jobs"):
        b[col] = (b[col] * factor).round().astype(int)
    b["floor_area_m2"] = b["floor_area_m2"] * factor
    lines = twin.layers["power_lines"]
    lines["max_i_ka"] = lines["max_i_ka"] / 10
    lines["sn_mva"] = lines["sn_mva"] / 10
    return twin


def test_registered_with_their_families() -> None:
    types = registry()
    for name, family in (("substation_add", "power"), ("feeder_upgrade", "power"),
                         ("smart_meters", "power"), ("rooftop_solar", "power"),
                         ("pipe_upgrade", "water"), ("leak_reduction", "water"),
                         ("substation_outage", "hazards")):
        assert types[name].family == family


def test_feeder_upgrade_removes_the_overload() -> None:
    twin = dense()
    before = kpis(twin)
    assert before["overloaded_line_hours"] > 0
    after = kpis(apply(twin, "feeder_upgrade", factor=2.0))
    assert after["overloaded_line_hours"] == 0
    assert after["peak_line_loading_pct"] == pytest.approx(
        before["peak_line_loading_pct"] / 2, rel=0.05)


def test_feeder_upgrade_by_feeder_name() -> None:
    twin = utility_grid(4)
    out = apply(twin, "feeder_upgrade", feeder="F1", factor=2.0)
    lines = out.layers["power_lines"].set_index("id")
    old = twin.layers["power_lines"].set_index("id")
    f1 = old["params"].fillna("").str.contains('"F1"')
    assert np.allclose(lines.loc[f1, "max_i_ka"], 2 * old.loc[f1, "max_i_ka"])
    assert np.allclose(lines.loc[~f1, "max_i_ka"].dropna(), old.loc[~f1, "max_i_ka"].dropna())
    with pytest.raises(ScenarioError, match="feeder 'F9' does not exist"):
        apply(twin, "feeder_upgrade", feeder="F9")


def test_substation_add_relieves_the_transformer_and_raises_voltage() -> None:
    twin = dense()
    before = kpis(twin)
    out = apply(twin, "substation_add", capacity_mva=20.0)
    nodes = out.layers["power_nodes"]
    assert nodes["ext_grid"].fillna(False).sum() == 2
    after = kpis(out)
    assert after["peak_transformer_loading_pct"] < before["peak_transformer_loading_pct"]
    assert after["min_voltage_pu"] > before["min_voltage_pu"]


def test_smart_meters_shave_the_peak() -> None:
    twin = dense(3.0)
    before = kpis(twin)
    after = kpis(apply(twin, "smart_meters", power_peak_shave_pct=20.0))
    assert after["peak_line_loading_pct"] < 0.9 * before["peak_line_loading_pct"]
    assert after["grid_energy_mwh"] < before["grid_energy_mwh"]
    water = apply(twin, "smart_meters", power_peak_shave_pct=0.0, water_peak_shift_pct=30.0)
    assert water.extras["params"]["water_peak_shift_pct"] == 30.0
    w = kpis(water)
    assert w["water_supplied_m3"] == pytest.approx(before["water_supplied_m3"], rel=0.01)


def test_rooftop_solar_cuts_energy_from_the_grid() -> None:
    twin = utility_grid(4)
    before = kpis(twin)
    out = apply(twin, "rooftop_solar", roof_share=0.6)
    kwp = out.extras["params"]["rooftop_solar_kwp"]
    assert kwp["b0"] == pytest.approx(400.0 * 0.6 * 0.2)
    after = kpis(out)
    assert after["grid_energy_mwh"] < before["grid_energy_mwh"]


def _thin_pipes(twin: Twin) -> Twin:
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] != "wm1", "diameter_mm"] = 40.0
    return twin


def test_pipe_upgrade_ends_the_pressure_deficit() -> None:
    twin = _thin_pipes(dense(6.0))
    before = kpis(twin)
    assert before["water_pressure_deficit_node_h"] > 0
    after = kpis(apply(twin, "pipe_upgrade", diameter_factor=3.0))
    assert after["water_pressure_deficit_node_h"] < before["water_pressure_deficit_node_h"]
    assert after["min_pressure_m"] > before["min_pressure_m"]
    assert after["unmet_water_m3"] <= before["unmet_water_m3"]


def test_leak_reduction_cuts_leakage() -> None:
    twin = utility_grid(4)
    before = kpis(twin)
    out = apply(twin, "leak_reduction", pct=40.0)
    after = kpis(out)
    assert after["water_leakage_m3"] == pytest.approx(0.6 * before["water_leakage_m3"], rel=0.02)
    twice = apply(out, "leak_reduction", pct=50.0)
    assert twice.extras["params"]["leak_reduction_pct"] == pytest.approx(70.0)


def test_substation_outage_darkens_buildings_and_signals() -> None:
    twin = utility_grid(4)
    rn = twin.layers["road_nodes"]
    rn.loc[rn["id"].isin(["n5", "n6"]), "control"] = "signal"
    before = kpis(twin)
    out = apply(twin, "substation_outage", hours=[17, 20])
    events = {e["type"]: e for e in out.extras["events"]}
    assert events["power_outage"]["hours"] == [17, 20]
    assert set(events["power_outage"]["power_node_ids"]) == set(
        twin.layers["power_nodes"]["id"])
    assert events["signals_dark"]["road_node_ids"] == ["n5", "n6"]
    assert events["signals_dark"]["hours"] == [17, 20]
    result, after = run_utilities(out, typical_activities(out, seed=3))
    assert before["power_unserved_mwh"] == 0
    assert after["power_unserved_mwh"] > 0
    unserved = result.bus_unserved_mw.sum()
    assert (unserved[[17, 18, 19]] > 0).all()
    assert unserved.drop([17, 18, 19]).sum() == 0


def test_outage_of_one_of_two_substations_spares_what_the_other_feeds() -> None:
    twin = apply(utility_grid(4), "substation_add", capacity_mva=20.0)
    out = apply(twin, "substation_outage", where={"ids": ["ps1"]})
    dark = out.extras["events"][0]["power_node_ids"]
    assert dark == ["ps1"]
    with pytest.raises(ScenarioError, match="holds no substation"):
        apply(twin, "substation_outage", where={"ids": ["pbn5"]})


def test_example_scenarios_overload_then_fix(demo_twin: Twin) -> None:
    from twin.scenarios.spec import load_scenario

    results = {}
    for name in ("utilities-overload", "utilities-upgrade"):
        scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml", twin=demo_twin)
        twin = demo_twin.copy()
        for k, entry in enumerate(scenario.interventions):
            twin = get(entry.type).func(twin, dict(entry.params), np.random.default_rng(k))
        results[name] = kpis(twin)
    base = kpis(demo_twin.copy())
    assert base["overloaded_line_hours"] == 0
    assert results["utilities-overload"]["overloaded_line_hours"] > 0
    assert results["utilities-overload"]["peak_line_loading_pct"] > 100
    assert results["utilities-upgrade"]["overloaded_line_hours"] == 0
    assert results["utilities-upgrade"]["peak_line_loading_pct"] < 100
