"""`twin demo` and the example scenarios: each runs for one short replication on the demo twin."""

from __future__ import annotations

import json

import pytest

from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.cli import main
from twin.scenarios import demo
from twin.scenarios.spec import load_scenario

SHORT = {"iterations": 1, "sample": 0.2, "start_hour": 7, "end_hour": 9}
EXAMPLES = sorted(p.stem for p in data_dir("scenarios").glob("*.yaml")
                  if p.stem not in ("economics", "baseline"))
#: Examples of hazards (events, not investments): no cost table.
HAZARDS = {"flood-market-square"}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    """One short demo run of every example scenario (the CLI, serial, one replication)."""
    out = tmp_path_factory.mktemp("demo") / "twin-demo"
    mp = pytest.MonkeyPatch()
    for k, v in SHORT.items():
        mp.setitem(demo.DEMO_SETTINGS, k, v)
    mp.setattr(demo, "DEMO_SCENARIOS", tuple(EXAMPLES))
    try:
        code = main(["demo", "--out", str(out), "-n", "1", "--workers", "1"])
    finally:
        mp.undo()
    assert code == 0
    return out


def test_the_demo_runs_every_example_against_the_baseline(demo_out):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert set(summary["comparisons"]) == set(EXAMPLES)
    assert summary["scenarios"]["densify-old-town"]["base"] == "baseline@2035"
    for name in EXAMPLES:
        c = summary["comparisons"][name]
        assert c["replications"] == 1
        assert {"delay_hours", "co2_t", "access_clinic_15min_share"} <= set(c["kpis"])
        if name in HAZARDS:
            assert not c["costs"]
        else:
            assert c["costs"]["capex"] > 0
    text = (demo_out / "comparison.md").read_text()
    assert text.count("## ") >= len(EXAMPLES)
    assert "ASSUMPTION" in text
    assert (demo_out / "_cache").is_dir()


def test_each_example_moves_its_layer_kpi(demo_out):
    """The KPIs computed from the layers move even in one short replication; the traffic ones
    need full days (their direction is tested on a small twin in test_roads / test_signals)."""
    c = json.loads((demo_out / "summary.json").read_text())["comparisons"]
    assert c["new-clinic"]["kpis"]["access_clinic_15min_share"]["diff"] > 0.05
    assert c["new-clinic"]["kpis"]["access_service_centre_15min_share"]["diff"] > 0
    assert c["road-closure"]["kpis"]["vehicle_km"]["diff"] != 0
    assert c["densify-old-town"]["kpis"]["residents"]["diff"] > 3000
    assert c["new-zone-rail-yard"]["kpis"]["residents"]["diff"] > 2000
    assert c["new-zone-rail-yard"]["kpis"]["jobs"]["diff"] > 0
    assert c["ambulance-base-north"]["kpis"]["emergency_nearest_base_mean_min"]["diff"] < 0
    assert c["flood-market-square"]["kpis"]["emergency_nearest_base_mean_min"]["diff"] > 0
    assert c["cameras-old-town"]["kpis"]["sensor_coverage_share"]["diff"] > 0.05
    assert c["adaptive-signals-old-town"]["kpis"]["delay_hours"]["diff"] != 0


def test_demo_scenarios_are_the_example_files():
    assert [p.stem for p in demo.demo_scenarios()] == list(demo.DEMO_SCENARIOS)
    for p in demo.demo_scenarios():
        assert load_scenario(p, check_twin=False).base is not None
    with pytest.raises(ScenarioError, match="no example scenario 'nope'"):
        demo.demo_scenarios(["nope"])
