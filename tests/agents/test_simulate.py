"""Tests for twin.agents.simulate: the day's results, files, determinism, the demo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from tests.agents.test_plans import city
from twin import __version__
from twin.agents.kpis import MOBILITY_KPIS
from twin.agents.simulate import assign_agents, simulate, write_assigned, write_day
from twin.layers.store import Twin, file_hash, read_twin, write_twin


@pytest.fixture(scope="module")
def small() -> Twin:
    return city(residents=80, spacing=500.0)


@pytest.fixture(scope="module")
def day(small: Twin):
    return simulate(small, seed=4, iterations=2, analyses=())


def test_day_result_tables(day, small: Twin) -> None:
    trips = day.trips
    assert list(trips.columns) == ["agent", "kind", "purpose", "mode", "origin", "destination",
                                   "depart", "arrive", "duration", "distance", "free_flow",
                                   "resident", "commute", "route"]
    car = trips[trips["mode"] == "car"]
    assert len(car) > 0
    road_links = set(day.link_hours["link_id"])
    assert all(set(r) <= road_links for r in car["route"])
    assert (car["route"].map(len) > 0).mean() > 0.9
    assert (trips.loc[trips["mode"] != "car", "route"].map(len) == 0).all()
    assert np.allclose(trips["duration"], trips["arrive"] - trips["depart"], equal_nan=True)
    assert (trips["distance"] >= 0).all()
    n_links = 2 * len(small.layers["roads"])
    assert len(day.link_hours) == n_links * 19
    assert set(day.link_hours["hour"]) == set(range(5, 24))
    assert (day.link_hours["capacity_vph"] > 0).all()
    acts = day.activities
    assert list(acts.columns) == ["agent", "activity", "place_kind", "place_id", "start_s",
                                  "end_s"]
    assert set(acts["place_kind"]) <= {"building", "facility", "gateway"}
    assert not acts["agent"].str.startswith("x").any()
    assert (acts["end_s"] >= acts["start_s"]).all()
    assert len(day.gaps) == 2
    assert day.hourly["hour"].tolist() == list(range(5, 24))


def test_kpis_complete_and_consistent(day) -> None:
    k = day.kpis
    assert set(k) == set(MOBILITY_KPIS)
    shares = [k[f"mode_share_{m}"] for m in ("car", "transit", "walk", "bike")]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert k["co2_t"] == pytest.approx(k["vehicle_km"] * 160 / 1e6, rel=1e-3)
    assert k["commute_time_p90_min"] >= k["commute_time_mean_min"] > 0
    assert k["trips"] == len(day.trips)
    assert k["vehicle_hours"] >= k["delay_hours"] >= 0


def test_write_day_files(day, tmp_path: Path) -> None:
    files = write_day(day, tmp_path / "out")
    assert sorted(p.name for p in files.values()) == [
        "activities.parquet", "hourly.csv", "kpis.json", "links.gpkg", "run.json",
        "trips.parquet"]
    kpis = json.loads(files["kpis"].read_text())
    assert kpis["co2_t"]["unit"] == "t CO2/day"
    assert kpis["vehicle_km"]["value"] == day.kpis["vehicle_km"]
    run = json.loads(files["run"].read_text())
    assert run["seed"] == 4
    assert run["version"] == __version__
    assert run["iterations"] == 2
    assert run["input_hash"] is None
    assert len(run["gaps"]) == 2
    assert {"network_s", "engine_s", "total_s"} <= set(run["timings"])
    links = gpd.read_file(files["links"], layer="link_hours")
    assert len(links) == len(day.link_hours)
    assert {"volume", "vc", "speed_kph"} <= set(links.columns)
    trips = pd.read_parquet(files["trips"])
    assert len(trips) == len(day.trips)
    assert list(trips["route"].iloc[0]) == list(day.trips["route"].iloc[0])
    assert not list(tmp_path.joinpath("out").glob(".*"))  # no temporary files left


def test_same_seed_byte_identical_other_seed_different(small: Twin, tmp_path: Path) -> None:
    outs = {}
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        outs[name] = write_day(simulate(small, seed=seed, iterations=2, analyses=()),
                               tmp_path / name)
    for kind in ("kpis", "trips"):
        assert outs["a"][kind].read_bytes() == outs["b"][kind].read_bytes()
        assert outs["a"][kind].read_bytes() != outs["c"][kind].read_bytes()


def test_input_hash_of_a_twin_file(small: Twin, tmp_path: Path) -> None:
    path = tmp_path / "small.twin.gpkg"
    write_twin(small, path)
    res = simulate(read_twin(path), seed=1, iterations=1, sample=0.5)
    assert res.run["input_hash"] == file_hash(path)
    assert res.run["sample"] == 0.5


def test_assign_agents_peak_hour(small: Twin, tmp_path: Path) -> None:
    day = assign_agents(small, seed=4, gap=1e-6)
    s = day.summary
    assert s["relative_gap"] <= 1e-6
    assert s["converged"]
    assert 5 <= s["hour"] <= 23
    assert s["car_trips"] > 0
    assert (day.links["flow"] >= 0).all()
    assert (day.links["time_s"] >= day.links["free_flow_s"] - 1e-9).all()
    files = write_assigned(day, tmp_path / "assign")
    assert json.loads(files["summary"].read_text())["iterations"] == s["iterations"]
    assert len(gpd.read_file(files["links"], layer="link_flows")) == len(day.links)


@pytest.mark.slow
def test_demo_day_end_to_end(demo_twin: Twin, tmp_path: Path) -> None:
    res = simulate(demo_twin, seed=1, iterations=2, sample=0.25)
    k = res.kpis
    assert k["unrouted_agents"] == 0
    assert k["trips"] > 80_000  # residents, in-commuters and through traffic, full scale
    assert 0.02 < k["mode_share_car"] < 0.3
    assert k["mode_share_walk"] > 0.2
    assert 5 < k["commute_time_mean_min"] < 40
    assert k["vehicle_km"] > 10_000
    lh = res.link_hours
    peak = lh[lh["hour"].isin([7, 8, 16, 17]) & lh["highway"].isin(["primary", "secondary"])]
    assert 0.5 < peak["vc"].max() < 2.0  # loaded arterials, not gridlock
    assert res.gaps[-1] < res.gaps[0]
    files = write_day(res, tmp_path / "demo")
    assert files["links"].stat().st_size > 0
