"""Comparison: paired differences, 95% t intervals, significance, the cost table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from twin._errors import ScenarioError
from twin.scenarios.compare import (
    compare,
    comparison_markdown,
    cost_rows,
    format_comparison,
    load_runs,
    paired_stats,
    settings_warnings,
)
from twin.scenarios.kpis import KPI_UNITS, register_kpi


def write_runs(folder: Path, name: str, values: dict[str, list[float]], seeds: list[int],
               scenario: dict | None = None, run: dict | None = None,
               units: dict[str, str] | None = None) -> Path:
    for k, seed in enumerate(seeds):
        rep = folder / name / f"rep-{k}"
        rep.mkdir(parents=True)
        (rep / "kpis.json").write_text(json.dumps(
            {n: {"value": v[k], "unit": (units or {}).get(n, "x")} for n, v in values.items()}))
        (rep / "run.json").write_text(json.dumps({"seed": seed, **(run or {})}))
        (rep / "scenario.json").write_text(json.dumps(scenario or {"name": name}))
    return folder / name


def test_paired_interval_is_student_t_on_the_differences():
    base = [10.0, 12.0, 11.0, 13.0]
    scen = [9.0, 11.2, 10.0, 12.1]
    s = paired_stats(base, scen)
    d = [-1.0, -0.8, -1.0, -0.9]
    mean = sum(d) / 4
    half = stats.t.ppf(0.975, 3) * stats.tstd(d) / 2
    assert s["diff"] == pytest.approx(mean)
    assert s["ci_low"] == pytest.approx(mean - half)
    assert s["ci_high"] == pytest.approx(mean + half)
    assert s["significant"] is True
    assert s["n"] == 4
    noisy = paired_stats([10.0, 12.0, 11.0], [11.0, 10.5, 11.2])
    assert noisy["ci_low"] < 0 < noisy["ci_high"]
    assert noisy["significant"] is False


def test_constant_differences_and_single_replications():
    s = paired_stats([5.0, 5.0, 5.0], [6.0, 6.0, 6.0])
    assert (s["ci_low"], s["ci_high"], s["significant"]) == (1.0, 1.0, True)
    one = paired_stats([5.0], [6.0])
    assert one["ci_low"] is None
    assert one["significant"] is None


def test_compare_pairs_runs_by_seed_and_compares_every_numeric_kpi(tmp_path):
    register_kpi("test_only_kpi", "widgets", "economy")
    try:
        b = write_runs(tmp_path, "base", {"co2_t": [2.0, 2.2, 2.1], "test_only_kpi": [1, 2, 3],
                                          "odd": [1.0, 1.0, 1.0]}, [7, 8, 9])
        s = write_runs(tmp_path, "scen", {"co2_t": [1.1, 1.0, 1.2], "test_only_kpi": [1, 2, 3],
                                          "odd": [2.0, 2.0, 2.0]}, [9, 7, 8])
        r = compare(b, s)
    finally:
        KPI_UNITS.pop("test_only_kpi")
        from twin.scenarios.kpis import KPIS

        KPIS.pop("test_only_kpi")
    assert r["replications"] == 3
    assert r["scenario"] == "scen"
    assert r["base"] == "base"
    co2 = r["kpis"]["co2_t"]
    # pairs by seed: (2.0, 1.0), (2.2, 1.2), (2.1, 1.1) -> a constant -1.0
    assert co2["diff"] == pytest.approx(-1.0)
    assert co2["significant"] is True
    assert co2["unit"] == KPI_UNITS["co2_t"]
    assert r["kpis"]["test_only_kpi"]["unit"] == "widgets"
    assert r["kpis"]["test_only_kpi"]["significant"] is False
    assert r["kpis"]["odd"]["group"] == "other"
    assert r["kpis"]["odd"]["unit"] == "x"          # unknown to the registry: kpis.json's unit
    assert r["costs"] is None
    assert set(compare(b, s, kpis=["co2_t"])["kpis"]) == {"co2_t"}
    with pytest.raises(ScenarioError, match="KPI 'nope' is not in both runs"):
        compare(b, s, kpis=["nope"])


def test_compare_needs_runs_with_shared_seeds(tmp_path):
    b = write_runs(tmp_path, "base", {"co2_t": [1.0]}, [1])
    s = write_runs(tmp_path, "scen", {"co2_t": [1.0]}, [2])
    with pytest.raises(ScenarioError, match="share no replication seed"):
        compare(b, s)
    with pytest.raises(ScenarioError, match="no complete replication"):
        load_runs(tmp_path / "empty")


def test_cost_table_from_the_scenarios_own_interventions(tmp_path):
    scenario = {"name": "scen", "economics": {"discount_rate": 0.05},
                "interventions": [
                    {"type": "road_add", "origin": "base", "cost": {"capex": 9e9}},
                    {"type": "adaptive_signals", "origin": "scen", "label": "signals",
                     "cost": {"capex": 1e6, "opex_per_year": 1e4, "life_years": 15},
                     "financing": {"model": "PPP"}}]}
    b = write_runs(tmp_path, "base", {"vehicle_hours": [100.0, 110.0]}, [1, 2])
    s = write_runs(tmp_path, "scen", {"vehicle_hours": [90.0, 99.0]}, [1, 2], scenario)
    r = compare(b, s)
    c = r["costs"]
    assert c["capex"] == 1e6
    assert c["discount_rate"] == 0.05
    assert c["benefit_terms_per_year"]["travel_time"] == pytest.approx(
        10.5 * 1.2 * 10.0 * 250)
    rows = cost_rows(c)
    assert rows["items"][0]["item"] == "signals"
    assert rows["items"][0]["financing"] == "PPP"
    assert rows["cash_flow"][-1]["year"] == "total"
    md = comparison_markdown(r)
    assert "### Costs and financing" in md
    assert "ASSUMPTION" in md


def test_format_marks_not_significant_and_single_runs():
    rows = format_comparison({"kpis": {
        "co2_t": {**paired_stats([1, 2, 3], [1.1, 1.9, 3.2]), "unit": "t", "group": "economy"},
        "delay_hours": {**paired_stats([5.0], [4.0]), "unit": "h", "group": "livelihood"}}})
    assert [r["kpi"] for r in rows] == ["delay_hours", "co2_t"]     # DESIGN.md group order
    assert rows[0]["note"] == "one replication: no interval"
    assert rows[0]["95% CI"] == "-"
    assert rows[1]["note"] == "not significant"


def test_kpis_registered_on_import_get_their_unit_in_a_fresh_process(tmp_path):
    """The utility, service and emergency KPIs are registered when their modules are imported;
    compare loads them itself, so a fresh process gets their units and groups (not "other")."""
    values = {"min_voltage_pu": [0.98, 0.97], "clinic_wait_mean_min": [7.0, 8.0],
              "emergency_response_mean_min": [6.0, 6.5], "camera_coverage_share": [0.4, 0.4]}
    b = write_runs(tmp_path, "base", values, [1, 2], units=dict.fromkeys(values, ""))
    s = write_runs(tmp_path, "scen", values, [1, 2], units=dict.fromkeys(values, ""))
    code = ("import json, sys\n"
            "from twin.scenarios.compare import compare\n"
            "r = compare(sys.argv[1], sys.argv[2])['kpis']\n"
            "print(json.dumps({k: [v['unit'], v['group']] for k, v in r.items()}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(b), str(s)], capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    got = json.loads(out.stdout)
    assert got["min_voltage_pu"] == ["p.u.", "government_safety"]
    assert got["clinic_wait_mean_min"] == ["min", "livelihood"]
    assert got["emergency_response_mean_min"][0] == "min"
    assert got["camera_coverage_share"][0] == "share"
    assert all(g != "other" for _, g in got.values())


def test_kpi_info_and_known_kpis_load_every_registering_module():
    from twin.scenarios.kpis import KPI_MODULES, known_kpis, kpi_info

    names = known_kpis()
    assert {"min_voltage_pu", "clinic_wait_mean_min", "emergency_response_mean_min",
            "camera_coverage_share", "unmet_water_m3"} <= set(names)
    assert all(m in sys.modules for m in KPI_MODULES)
    assert kpi_info("min_voltage_pu").better == "higher"
    assert kpi_info("never_registered").unit == ""


def test_compare_warns_when_the_folders_were_run_with_different_settings(tmp_path):
    same = {"sample": 1.0, "iterations": 3, "engine_run": {"start_h": 5.0, "end_h": 24.0},
            "inputs": {"twin": "sha256:aaa"}}
    other = {"sample": 0.5, "iterations": 3, "engine_run": {"start_h": 7.0, "end_h": 24.0},
             "inputs": {"twin": "sha256:bbb"}}
    b = write_runs(tmp_path, "base", {"co2_t": [1.0, 1.1]}, [1, 2], run=same)
    s = write_runs(tmp_path, "scen", {"co2_t": [1.0, 1.2]}, [1, 2], run=other)
    r = compare(b, s)
    assert [d["setting"] for d in r["settings_differ"]] == ["sample", "start_h", "twin"]
    assert r["settings_differ"][0] == {"setting": "sample", "base": [1.0], "scenario": [0.5]}
    assert r["warnings"][0].startswith(f"sample differs: 1.0 in {b}, 0.5 in {s}")
    assert settings_warnings(b, s) == r["warnings"]
    same_dir = write_runs(tmp_path, "again", {"co2_t": [1.0, 1.2]}, [1, 2], run=same)
    assert compare(b, same_dir)["warnings"] == []
    # run.json without settings (older runs): nothing to compare, no warning
    bare = write_runs(tmp_path, "bare", {"co2_t": [1.0, 1.2]}, [1, 2])
    assert compare(b, bare)["settings_differ"] == []
