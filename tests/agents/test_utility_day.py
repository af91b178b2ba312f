"""Utilities in the simulated day: power and water solved for the agents' demand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from tests.scenarios.conftest import corridor_twin
from twin._errors import UtilityError
from twin.agents import utility_day
from twin.agents.simulate import simulate, write_day
from twin.layers.store import Twin
from twin.network import utilities as net_utilities
from twin.network.utility_results import KPI_UNITS as UTILITY_UNITS


@pytest.fixture(scope="module")
def corridor() -> Twin:
    return corridor_twin()


@pytest.fixture(scope="module")
def day(corridor: Twin):
    return simulate(corridor, seed=3, iterations=1, analyses=())


def test_the_day_solves_power_and_water_for_the_agents(day, corridor: Twin) -> None:
    k = day.kpis
    assert set(UTILITY_UNITS) <= set(k)
    assert k["power_unsolved_hours"] == 0
    assert k["water_unsolved_hours"] == 0
    assert 0 < k["peak_line_loading_pct"] < 100
    assert k["power_unserved_mwh"] == 0
    assert k["grid_energy_mwh"] > 0
    assert k["min_pressure_m"] > 0
    assert day.run["utilities"]["solved"] is True
    assert day.run["utilities"]["power_hours_converged"] == 24
    assert day.utilities.branch_loading.shape == (len(corridor.layers["power_lines"]), 24)
    # demand follows the agents: the grid draws more at 18:00 than at 04:00
    assert day.utilities.grid_mw[18] > day.utilities.grid_mw[4]


def test_write_day_writes_the_utility_results(day, tmp_path: Path) -> None:
    files = write_day(day, tmp_path / "out")
    assert {"power", "water", "utilities"} <= set(files)
    assert files["utilities"].name == "utilities.gpkg"
    power = pd.read_parquet(files["power"])
    assert {"kind", "id", "hour", "loading_pct", "converged"} <= set(power.columns)
    assert set(power["hour"]) == set(range(24))
    water = pd.read_parquet(files["water"])
    assert {"pressure_m", "demand_lps"} <= set(water.columns)
    layers = {name for name, _ in pyogrio.list_layers(files["utilities"])}
    assert layers == {"power_lines", "power_nodes", "water_nodes", "water_pipes"}
    kpis = json.loads(files["kpis"].read_text())
    assert kpis["peak_line_loading_pct"]["unit"] == "%"
    assert kpis["min_pressure_m"]["unit"] == "m"
    assert kpis["power_unserved_mwh"]["value"] == 0.0
    assert not list((tmp_path / "out").glob(".*"))


def test_utilities_can_be_switched_off(corridor: Twin) -> None:
    day = simulate(corridor, seed=3, iterations=1, analyses=(), utilities=False)
    assert not set(UTILITY_UNITS) & set(day.kpis)
    assert day.utilities is None
    assert "utilities" not in day.run


def test_an_outage_event_is_unserved_energy_in_its_hours(corridor: Twin, day) -> None:
    twin = corridor.copy()
    node = str(twin.layers["buildings"]["power_node"].dropna().iloc[0])
    twin.extras["events"] = [{"type": "power_outage", "power_node_ids": [node],
                              "hours": [8, 10]}]
    out = simulate(twin, seed=3, iterations=1, analyses=())
    assert out.kpis["power_unserved_mwh"] > 0
    unserved = out.utilities.bus_unserved_mw.sum()
    assert (unserved[[8, 9]] > 0).all()
    assert unserved.drop([8, 9]).sum() == 0
    # the mobility day is the same: the outage has no signals in it
    assert out.kpis["vehicle_km"] == day.kpis["vehicle_km"]


def test_one_hour_that_does_not_converge_is_a_result_not_a_crash(
        corridor: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    real = net_utilities.hourly_demand

    def heavy_noon(twin, activities, *, sample=1.0):
        power, water = real(twin, activities, sample=sample)
        power.loc[power.index[0], 12] = 5000.0   # MW: no power flow solves this
        return power, water

    monkeypatch.setattr(net_utilities, "hourly_demand", heavy_noon)
    out = simulate(corridor, seed=3, iterations=1, analyses=())
    assert out.kpis["power_unsolved_hours"] == 1
    assert not out.utilities.power_ok[12]
    assert any("hour 12:00 did not converge" in n for n in out.run["notes"])
    assert out.kpis["vehicle_km"] > 0


def test_a_network_that_cannot_be_built_is_noted(corridor: Twin,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        msg = "power_lines: line l3 has zero impedance; give r_ohm_per_km and x_ohm_per_km"
        raise UtilityError(msg)

    monkeypatch.setattr(net_utilities, "solve_day", broken)
    out = simulate(corridor, seed=3, iterations=1, analyses=())
    assert out.utilities is None
    assert out.run["utilities"]["solved"] is False
    assert "zero impedance" in out.run["utilities"]["error"]
    assert any(n.startswith("utilities not solved: power_lines: line l3") for n in
               out.run["notes"])
    assert "peak_line_loading_pct" not in out.kpis
    assert out.kpis["vehicle_km"] > 0


def test_a_twin_without_utility_layers_solves_nothing(corridor: Twin) -> None:
    twin = corridor.copy()
    for name in ("water_nodes", "water_pipes"):
        twin.layers.pop(name)
    assert not utility_day.has_utilities(twin)
    ud = utility_day.solve_utilities(twin, pd.DataFrame())
    assert ud.result is None
    assert ud.kpis == {}
    assert ud.record == {"solved": False, "missing_layers": ["water_nodes", "water_pipes"]}
    assert "the twin has no water_nodes, water_pipes" in ud.notes[0]
