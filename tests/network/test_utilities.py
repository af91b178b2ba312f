"""Hourly demand from the agents, one day of power and water, KPIs, files, the check."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from tests.network.test_power import utility_grid
from twin._errors import UtilityError
from twin.layers.store import Twin
from twin.network.power import build_power_net
from twin.network.utilities import (
    KPI_UNITS,
    check_utilities,
    hourly_demand,
    load_profiles,
    occupancy,
    run_utilities,
    solve_day,
    typical_activities,
    utility_kpis,
    write_utility_results,
)
from twin.network.utility_power import explain_overload, source_capacity, span


def _acts(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["agent", "activity", "place_kind", "place_id",
                                       "start_s", "end_s"])


def test_occupancy_counts_person_hours_and_wraps_the_night() -> None:
    twin = utility_grid(3)
    acts = _acts([
        (1, "home", "building", "b0", 0.0, 7.5 * 3600),
        (1, "work", "building", "b1", 8 * 3600, 17 * 3600),
        (1, "home", "building", "b0", 17.5 * 3600, None),
        (2, "work", "building", "b1", 9 * 3600, 10 * 3600),     # an in-commuter
        (2, "home", "external", "g1", 10 * 3600, None),
        (3, "home", "building", "b2", 6 * 3600, None),          # night before 06:00 at home
    ])
    occ = occupancy(twin, acts)
    home, work = occ["home"], occ["work"]
    assert home[0, :7].tolist() == [1.0] * 7
    assert home[0, 7] == pytest.approx(0.5)
    assert home[0, 17] == pytest.approx(0.5)
    assert home[0, 18:].tolist() == [1.0] * 6
    assert work[1, 8] == 1.0
    assert work[1, 9] == 2.0
    assert home[2].sum() == pytest.approx(24.0)
    assert occupancy(twin, acts, sample=0.5)["work"][1, 9] == 4.0


def test_occupancy_names_missing_columns() -> None:
    with pytest.raises(UtilityError, match=r"activities: missing column\(s\) \['place_kind'"):
        occupancy(utility_grid(3), pd.DataFrame({"agent": [1], "activity": ["home"],
                                                 "place_id": ["b0"], "start_s": [0.0],
                                                 "end_s": [1.0]}))


def test_hourly_demand_follows_the_profiles() -> None:
    twin = utility_grid(3)
    cfg = load_profiles()
    acts = _acts([(1, "home", "building", "b0", 0.0, None)])
    power, water = hourly_demand(twin, acts)
    b0 = twin.layers["buildings"].set_index("id").loc["b0"]
    base = cfg["power"]["base_w_per_m2"][b0["use"]] * b0["floor_area_m2"]
    shape = cfg["power"]["base_profile"][b0["use"]][19]
    person = cfg["power"]["per_person_w"]["home"] * cfg["power"]["activity_profile"]["home"][19]
    assert power.loc["b0", 19] * 1e6 == pytest.approx(base * shape + person)
    assert water.loc["b0", 7] * 3600 == pytest.approx(cfg["water"]["per_person_lph"]["home"])
    assert list(power.columns) == list(range(24))
    assert list(power.index) == list(twin.layers["buildings"]["id"])


def test_smart_meters_shave_and_shift() -> None:
    twin = utility_grid(3)
    acts = typical_activities(twin, seed=1)
    p0, _ = hourly_demand(twin, acts)
    twin.extras["params"] = {"power_peak_shave_pct": 20.0}
    p1, _ = hourly_demand(twin, acts)
    assert np.allclose(p1.max(axis=1), 0.8 * p0.max(axis=1))
    assert p1.to_numpy().sum() < p0.to_numpy().sum()
    twin.extras["params"] = {"power_peak_shift_pct": 20.0, "smart_meter_buildings": ["b0"]}
    p2, _ = hourly_demand(twin, acts)
    assert p2.loc["b0"].max() == pytest.approx(0.8 * p0.loc["b0"].max())
    assert p2.loc["b0"].sum() == pytest.approx(p0.loc["b0"].sum())
    pd.testing.assert_series_equal(p2.loc["b1"], p0.loc["b1"])


def test_rooftop_solar_generates_by_day_only() -> None:
    twin = utility_grid(3)
    acts = typical_activities(twin)
    p0, _ = hourly_demand(twin, acts)
    twin.extras["params"] = {"rooftop_solar_kwp": {"b0": 100.0}}
    p1, _ = hourly_demand(twin, acts)
    gain = (p0.loc["b0"] - p1.loc["b0"]) * 1000
    assert gain[12] == pytest.approx(100 * load_profiles()["solar"]["profile"][12])
    assert gain[0] == 0.0


def test_solve_day_small_twin() -> None:
    twin = utility_grid(4)
    result, kpis = run_utilities(twin, typical_activities(twin))
    assert set(kpis) == set(KPI_UNITS)
    assert result.power_ok.all()
    assert result.water_ok.all()
    assert kpis["power_unsolved_hours"] == 0
    assert kpis["overloaded_line_hours"] == 0
    assert 0 < kpis["peak_line_loading_pct"] < 100
    assert kpis["min_voltage_pu"] > 0.95
    assert kpis["power_unserved_mwh"] == 0
    assert kpis["min_pressure_m"] > load_profiles()["water"]["min_service_pressure_m"]
    assert kpis["unmet_water_m3"] < 0.01
    assert kpis["water_leakage_m3"] > 0
    assert result.branch_loading.shape == (len(twin.layers["power_lines"]), 24)
    assert result.node_pressure.shape == (len(twin.layers["water_nodes"]), 24)
    # loads change by hour: the grid draws more at noon than at 3 am
    assert result.grid_mw[12] > 2 * result.grid_mw[3]


def test_one_hour_that_does_not_converge_is_recorded() -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    power.loc["b0", 12] = 5000.0
    result = solve_day(twin, power, water)
    assert not result.power_ok[12]
    assert result.power_ok[[0, 11, 13, 23]].all()
    assert result.branch_loading[12].isna().all()
    assert result.branch_loading[13].notna().all()
    assert any("hour 12:00 did not converge" in n for n in result.notes)
    assert utility_kpis(result)["power_unsolved_hours"] == 1


def test_unsolved_hours_do_not_read_as_served(tmp_path: Path) -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    power.loc["b0", [12, 13]] = 5000.0
    result = solve_day(twin, power, water)
    kpis = utility_kpis(result)
    assert kpis["power_unsolved_hours"] == 2
    # unknown, not zero: the energy of the unsolved hours is counted apart
    assert math.isnan(kpis["power_unserved_mwh"])
    assert math.isnan(kpis["grid_energy_mwh"])
    demand = float(power[[12, 13]].clip(lower=0).to_numpy().sum())
    assert kpis["power_unsolved_demand_mwh"] == pytest.approx(demand, abs=1e-4)  # rounded
    assert result.bus_unserved_mw[[12, 13]].isna().all().all()
    assert (result.bus_unserved_mw.drop(columns=[12, 13]) == 0).all().all()
    first, why = result.notes[:2]
    assert first.startswith("power flow hours 12:00-13:00 (2 of 24) did not converge")
    assert f"the supply of {demand:,.1f} MWh of demand in those hours is unknown" in first
    assert "power_unserved_mwh and grid_energy_mwh are not given (NaN)" in first
    cap = float(twin.layers["power_lines"].query("kind == 'transformer'")["sn_mva"].sum())
    worst = 12 if power[12].sum() >= power[13].sum() else 13
    total = power[worst].sum()
    assert why.startswith(f"why: at {worst}:00 the demand is {total:,.1f} MW, "
                          f"{total / cap:.1f}x the {cap:,.1f} MVA the network's source is rated "
                          "for (pt1)")
    assert "the most (5,000.0 MW) on " in why
    assert re.search(r"it converges up to \d+% of the buildings' demand: the network cannot "
                     r"carry more", why)
    # the map: a node's unserved energy is unknown when an hour is
    paths = write_utility_results(result, tmp_path)
    nodes = pyogrio.read_dataframe(paths["map"], layer="power_nodes")
    assert nodes["unserved_mwh"].isna().all()
    table = pd.read_parquet(paths["power"])
    bus = table[table["kind"] == "bus"]
    assert bus.loc[bus["hour"] == 12, "unserved_mw"].isna().all()
    assert not bus.loc[bus["hour"] == 12, "converged"].any()
    assert (bus.loc[bus["hour"] == 11, "unserved_mw"] == 0).all()


def test_source_capacity_and_explanation_of_an_overload() -> None:
    twin = utility_grid(3)
    pnet = build_power_net(twin)
    lines = twin.layers["power_lines"]
    trafo = lines[lines["kind"] == "transformer"]
    assert source_capacity(pnet) == (pytest.approx(float(trafo["sn_mva"].sum())),
                                     trafo["id"].tolist())
    load = np.zeros(len(pnet.bus_ids))
    far = pnet.bus_ids.get_loc(twin.layers["buildings"]["power_node"].iloc[-1])
    load[far] = 200.0
    text = explain_overload(pnet, load, label="at noon")
    assert text.startswith("at noon the demand is 200.0 MW, ")
    assert f"the most (200.0 MW) on {pnet.bus_ids[far]}" in text
    assert "lands on 1 of" in text
    assert len(pnet.net.load) == 0  # the probe loads are gone
    # a load the source can take but the lines cannot
    load[far] = 0.9 * source_capacity(pnet)[0]
    assert "so the limit is in the lines on the way to the loads" in explain_overload(pnet, load)


def test_span_of_hours() -> None:
    assert span(np.array([23, 0, 1, 5])) == "00:00-01:00, 05:00, 23:00"
    assert span(np.array([7])) == "07:00"


def test_power_outage_event_leaves_demand_unserved_in_its_hours() -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    node = twin.layers["buildings"]["power_node"].iloc[0]
    twin.extras["events"] = [{"type": "power_outage", "power_node_ids": [node],
                              "hours": [8, 10]}]
    result = solve_day(twin, power, water)
    unserved = result.bus_unserved_mw.sum()
    assert (unserved[[8, 9]] > 0).all()
    assert unserved.drop([8, 9]).sum() == 0
    here = twin.layers["buildings"]["power_node"] == node
    expected = power[here.to_numpy()][[8, 9]].to_numpy().sum()
    assert utility_kpis(result)["power_unserved_mwh"] == pytest.approx(expected, abs=1e-6)


def test_unknown_node_in_an_outage_event() -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    twin.extras["events"] = [{"type": "power_outage", "power_node_ids": ["nope"]}]
    with pytest.raises(UtilityError, match=r"power_nodes \['nope'\] do not exist"):
        solve_day(twin, power, water)


def test_water_outage_leaves_demand_unmet() -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    node = twin.layers["buildings"]["water_node"].iloc[0]
    twin.extras["events"] = [{"type": "water_outage", "water_node_ids": [node],
                              "hours": [7, 9]}]
    base = utility_kpis(solve_day(twin, power, water, events=[]))
    out = utility_kpis(solve_day(twin, power, water))
    here = (twin.layers["buildings"]["water_node"] == node).to_numpy()
    lost = water[here][[7, 8]].to_numpy().sum() * 3.6
    assert out["unmet_water_m3"] - base["unmet_water_m3"] == pytest.approx(lost, rel=1e-3)


def test_buildings_without_a_connection_count_as_not_supplied() -> None:
    twin = utility_grid(3)
    power, water = hourly_demand(twin, typical_activities(twin))
    twin.layers["buildings"].loc[0, "power_node"] = None
    result = solve_day(twin, power, water)
    assert result.unsupplied_buildings["power"] == ["b0"]
    assert utility_kpis(result)["power_unserved_mwh"] == pytest.approx(
        power.loc["b0"].sum(), abs=1e-6)


def test_results_are_written(tmp_path: Path) -> None:
    twin = utility_grid(3)
    result, _ = run_utilities(twin, typical_activities(twin))
    paths = write_utility_results(result, tmp_path / "out")
    power = pd.read_parquet(paths["power"])
    water = pd.read_parquet(paths["water"])
    assert {"kind", "id", "hour", "loading_pct", "vm_pu", "converged"} <= set(power.columns)
    assert set(power["kind"]) == {"transformer", "cable", "bus"}
    assert {"pressure_m", "demand_lps", "unmet_lps", "flow_lps"} <= set(water.columns)
    assert power["hour"].between(0, 23).all()
    layers = {name for name, _ in pyogrio.list_layers(paths["map"])}
    assert layers == {"power_lines", "power_nodes", "water_nodes", "water_pipes"}
    lines = pyogrio.read_dataframe(paths["map"], layer="power_lines")
    assert {"peak_loading_pct", "overloaded_hours", "h00", "h23"} <= set(lines.columns)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_check_reports_ok_on_a_sound_twin() -> None:
    report = check_utilities(utility_grid(3))
    assert report.ok, report.format()
    assert report.summary["power buildings supplied"] == "4 of 4"
    assert report.format().endswith("utilities ok")


def test_check_reports_islands_and_unsupplied_buildings() -> None:
    twin = utility_grid(3)
    lines = twin.layers["power_lines"]
    twin.layers["power_lines"] = lines[lines["from_node"] == "ps1"]
    report = check_utilities(twin)
    assert not report.ok
    rules = {f.rule for f in report.findings if f.severity == "error"}
    assert {"island", "unsupplied"} <= rules
    assert "not connected to any source" in report.format()


def test_check_names_the_weak_node_when_the_peak_does_not_converge() -> None:
    twin = utility_grid(3)
    b = twin.layers["buildings"]
    b.loc[0, "floor_area_m2"] = 5e6   # 60+ MW on one 10 kV cable
    report = check_utilities(twin)
    err = [f for f in report.findings if f.rule == "power_flow"]
    assert err, report.format()
    text = err[0].message
    assert "does not converge" in text
    assert "cannot carry its load" in text
    assert f"power node {b.loc[0, 'power_node']}" in text
    # and why, in plain words: the demand against what the source is rated for
    why = [n for n in report.notes if n.startswith("why the power flow does not converge")]
    assert len(why) == 1
    assert re.search(r"at the design peak the demand is [\d,.]+ MW, [\d.]+x the [\d,.]+ MVA "
                     r"the network's source is rated for \(pt1\)", why[0])
    assert f"note: {why[0]}" in report.format()
    assert report.to_dict()["notes"] == report.notes


def test_check_lists_every_zero_impedance_line() -> None:
    twin = utility_grid(3)
    lines = twin.layers["power_lines"]
    lines.loc[lines["id"].isin(["pc1", "pc2"]), ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    report = check_utilities(twin)
    bad = [f for f in report.findings if f.rule == "impedance"]
    assert [(f.severity, f.feature) for f in bad] == [("error", "pc1"), ("error", "pc2")]
    assert "power_lines / feature pc1: r_ohm_per_km and x_ohm_per_km are both 0" in \
        report.format()
    assert not report.ok


def test_check_notes_where_an_imported_model_was_placed() -> None:
    from twin.network.power import import_power

    twin, _ = import_power(utility_grid(3), "example_simple", replace=True)
    report = check_utilities(twin)
    assert report.notes[0].startswith("power model example_simple: ")
    assert report.summary["power nodes with buildings"].endswith(" of 7")


def test_demo_baseline_converges_within_limits(demo_twin: Twin) -> None:
    twin = demo_twin.copy()
    _, kpis = run_utilities(twin, typical_activities(twin))
    limits = load_profiles()
    assert kpis["power_unsolved_hours"] == 0
    assert kpis["water_unsolved_hours"] == 0
    assert kpis["overloaded_line_hours"] == 0
    assert kpis["peak_line_loading_pct"] < 100
    assert kpis["peak_transformer_loading_pct"] < 100
    assert kpis["min_voltage_pu"] >= limits["limits"]["min_voltage_pu"]
    assert kpis["min_pressure_m"] >= limits["water"]["min_service_pressure_m"]
    assert kpis["water_pressure_deficit_node_h"] == 0
    assert kpis["power_unserved_mwh"] == 0
    assert check_utilities(twin).ok
