"""`twin demo` and the example scenarios: each runs for one short replication on the demo twin."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from tests.views.pages import page_data, page_refs  # tests/views/pages.py
from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.cli import main
from twin.scenarios import demo
from twin.scenarios.spec import load_scenario
from twin.views.template import CSP

SHORT = {"iterations": 1, "sample": 0.2, "start_hour": 7, "end_hour": 9}
EXAMPLES = sorted(p.stem for p in data_dir("scenarios").glob("*.yaml")
                  if p.stem not in ("economics", "baseline"))
#: Examples of hazards (events, not investments): no cost table.
HAZARDS = {"flood-market-square"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One short demo run of every example scenario (the CLI, serial, one replication);
    the results folder and what the command printed."""
    out = tmp_path_factory.mktemp("demo") / "twin-demo"
    mp = pytest.MonkeyPatch()
    for k, v in SHORT.items():
        mp.setitem(demo.DEMO_SETTINGS, k, v)
    mp.setattr(demo, "DEMO_SCENARIOS", tuple(EXAMPLES))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = main(["demo", "--out", str(out), "-n", "1", "--workers", "1"])
    finally:
        mp.undo()
    assert code == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def demo_out(demo_run):
    return demo_run[0]


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
        unregistered = sorted(k for k, v in c["kpis"].items()
                              if v["group"] == "other" or not v["unit"])
        assert unregistered == [], "register their unit and group in twin.scenarios.kpis"
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


def _offline(text: str) -> None:
    """No request leaves the page: no http(s) in any src or href, the page's own CSP."""
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", text, re.I)
    assert all(not r.startswith(("http:", "https:", "//")) for r in page_refs(text).refs)
    assert CSP.split(";")[0] in text


def test_the_demo_writes_the_report_and_the_map(demo_run):
    out, printed = demo_run
    report, map_ = out / "report.html", out / "map.html"
    assert report.is_file()
    assert map_.is_file()
    assert f"report: {report} (" in printed
    assert f"3D map of new-zone-rail-yard: {map_} (" in printed
    text = report.read_text(encoding="utf-8")
    _offline(text)
    # every example against its base, with the comparison and the costs
    assert text.count('<section id="s') == len(EXAMPLES)
    assert text.count("<h3>Comparison of key indicators</h3>") == len(EXAMPLES)
    assert "Costs and financing" in text
    assert "Hourly traffic volume" in text
    assert "Lowest water pressure at junctions" in text
    assert "Where the data come from" in text
    # one embedded map (the representative scenario), deck.gl inlined once
    assert 'id="twin-map-0"' in text
    assert 'id="twin-map-1"' not in text
    assert "TwinMap.mount" in text
    m = map_.read_text(encoding="utf-8")
    _offline(m)
    data = page_data(m)
    assert data["meta"]["states"] == ["before", "after"]
    assert data["meta"]["interventions"] == ["Rail-yard streets, utilities and public realm"]
    assert map_.stat().st_size < 8_000_000
    assert report.stat().st_size < 8_000_000


def test_the_reports_lowest_pressure_is_the_min_pressure_kpi(demo_out):
    """The report's hourly lowest pressure uses the KPI's nodes (junctions drawing water), so
    its minimum over the day is ``min_pressure_m`` of each replication (not a reservoir's 0)."""
    import dataclasses

    import numpy as np

    from twin.views.report import _folder, _junctions, _min_pressure_by_hour
    from twin.views.runs import load_source

    folder = _folder(demo_out / "baseline", "en")
    junctions = _junctions(load_source(demo_out / "baseline", building_power=False))
    assert junctions
    for rep in folder.reps:
        kpi = json.loads((rep / "kpis.json").read_text())["min_pressure_m"]["value"]
        hourly = _min_pressure_by_hour(dataclasses.replace(folder, reps=[rep]), junctions)
        assert hourly is not None
        assert np.nanmin(hourly) == pytest.approx(kpi, abs=1e-3)
        assert kpi > 1.0
