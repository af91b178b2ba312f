"""Tests for twin.agents.analysis: day analyses registered with the day simulation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.agents.test_plans import city
from twin._errors import LayerError, SimulationError
from twin.agents.analysis import (
    analysis_rng,
    day_analyses,
    register_day_analysis,
    unregister_day_analysis,
)
from twin.agents.kpis import KPI_UNITS, MOBILITY_KPIS
from twin.agents.simulate import simulate, write_day
from twin.layers.store import Twin

NAMES = ("t_first", "t_second", "t_bad")


@pytest.fixture(scope="module")
def small() -> Twin:
    return city(residents=40, spacing=500.0)


@pytest.fixture
def registered() -> Iterator[dict[str, list]]:
    seen: dict[str, list] = {"calls": []}

    def first(twin, result, rng):
        seen["calls"].append("t_first")
        draw = float(rng.random())
        car = result.trips[result.trips["mode"] == "car"]
        return ({"t_first_draw": draw, "t_first_car_trips": float(len(car))},
                {"t_first_table": pd.DataFrame({"agent": car["agent"].to_numpy(),
                                                "depart": car["depart"].to_numpy()})})

    def second(twin, result, rng):
        seen["calls"].append("t_second")
        seen["first_before"] = ["t_first_draw" in result.kpis]
        return {"t_second_draw": float(rng.random())}, {}

    register_day_analysis("t_first", first, units={"t_first_draw": "draw",
                                                   "t_first_car_trips": "trips"})
    register_day_analysis("t_second", second)
    yield seen
    for n in NAMES:
        unregister_day_analysis(n)
        KPI_UNITS.pop(f"{n}_draw", None)
    KPI_UNITS.pop("t_first_car_trips", None)


def test_analyses_add_kpis_tables_units_in_registration_order(small, registered,
                                                              tmp_path: Path) -> None:
    day = simulate(small, seed=5, iterations=1, analyses=["t_first", "t_second"])
    assert registered["calls"] == ["t_first", "t_second"]
    assert registered["first_before"] == [True]   # the second sees the first's KPIs
    assert day_analyses().index("t_first") < day_analyses().index("t_second")
    assert set(MOBILITY_KPIS) < set(day.kpis)
    assert day.kpis["t_first_car_trips"] == day.kpis["car_trips"]
    # each analysis draws from its own Generator derived from the seed and its name
    assert day.kpis["t_first_draw"] == float(analysis_rng(5, "t_first").random())
    assert day.kpis["t_second_draw"] == float(analysis_rng(5, "t_second").random())
    assert day.kpis["t_first_draw"] != day.kpis["t_second_draw"]
    assert day.run["analyses"]["t_first"]["tables"] == ["t_first_table"]
    assert day.run["analyses"]["t_second"]["kpis"] == ["t_second_draw"]
    files = write_day(day, tmp_path / "out")
    kpis = json.loads(files["kpis"].read_text())
    assert kpis["t_first_draw"]["unit"] == "draw"
    assert kpis["t_second_draw"] == {"value": day.kpis["t_second_draw"], "unit": ""}
    table = pd.read_parquet(tmp_path / "out" / "t_first_table.parquet")
    assert len(table) == day.kpis["car_trips"]
    assert files["t_first_table"].name == "t_first_table.parquet"
    assert not list((tmp_path / "out").glob(".*"))


def test_an_analysis_draws_the_same_whichever_others_run(small, registered) -> None:
    both = simulate(small, seed=6, iterations=1, analyses=["t_first", "t_second"])
    alone = simulate(small, seed=6, iterations=1, analyses=["t_second"])
    assert alone.kpis["t_second_draw"] == both.kpis["t_second_draw"]
    assert "t_first_draw" not in alone.kpis
    none = simulate(small, seed=6, iterations=1, analyses=())
    assert set(none.kpis) == set(MOBILITY_KPIS)
    assert none.tables == {}
    other = simulate(small, seed=7, iterations=1, analyses=["t_second"])
    assert other.kpis["t_second_draw"] != alone.kpis["t_second_draw"]


def test_unknown_analysis_is_refused_listing_the_registered(small, registered) -> None:
    with pytest.raises(SimulationError, match=r"unknown day analysis \['nope'\]; "
                                              r"registered: .*t_first"):
        simulate(small, seed=1, iterations=1, analyses=["nope"])


@pytest.mark.parametrize(("output", "message"), [
    (None, r"'t_bad' returned NoneType; it must return \(kpis"),
    (({"co2_t": 1.0}, {}), r"'t_bad' returned the KPI 'co2_t', which is already reported"),
    (({"x": "many"}, {}), r"'t_bad': KPI 'x' is 'many', not a number"),
    (({}, {"trips": pd.DataFrame()}), r"table name 'trips' must match"),
    (({}, {"Bad-Name": pd.DataFrame()}), r"table name 'Bad-Name' must match"),
    (({}, {"ok_table": [1, 2]}), r"table 'ok_table' is list, not a DataFrame"),
])
def test_malformed_analysis_output(small, registered, output, message) -> None:
    register_day_analysis("t_bad", lambda *_: output)
    with pytest.raises(SimulationError, match=message):
        simulate(small, seed=1, iterations=1, analyses=["t_bad"])


def test_a_failing_analysis_is_named(small, registered) -> None:
    def fail(twin, result, rng):
        msg = "facilities: kind 'spa' unknown"
        raise LayerError(msg)

    register_day_analysis("t_bad", fail)
    with pytest.raises(SimulationError, match=r"day analysis 't_bad' failed: facilities: kind"):
        simulate(small, seed=1, iterations=1, analyses=["t_bad"])


def test_two_analyses_cannot_write_the_same_table(small, registered) -> None:
    register_day_analysis("t_bad", lambda *_: ({}, {"t_first_table": pd.DataFrame()}))
    with pytest.raises(SimulationError, match="already wrote the table 't_first_table'"):
        simulate(small, seed=1, iterations=1, analyses=["t_first", "t_bad"])


@pytest.mark.parametrize(("name", "func", "message"), [
    ("Bad Name", lambda *_: ({}, {}), r"name 'Bad Name' must match"),
    ("", lambda *_: ({}, {}), r"name '' must match"),
    ("t_bad", 3, r"'t_bad': 3 is not callable"),
])
def test_register_refuses_bad_names_and_functions(name, func, message) -> None:
    with pytest.raises(SimulationError, match=message):
        register_day_analysis(name, func)
    assert name not in day_analyses()


def test_reregistering_replaces_in_place(registered) -> None:
    order = day_analyses()
    register_day_analysis("t_first", lambda *_: ({}, {}))
    assert day_analyses() == order


def test_analysis_rng_streams_differ_by_seed_and_name() -> None:
    a = analysis_rng(1, "services").random(3)
    assert np.array_equal(a, analysis_rng(1, "services").random(3))
    assert not np.array_equal(a, analysis_rng(2, "services").random(3))
    assert not np.array_equal(a, analysis_rng(1, "emergency").random(3))
    assert analysis_rng(-1, "x").random() >= 0   # negative seeds are fine
