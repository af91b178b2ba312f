"""Tests for twin.agents.calibrate: counts import and checks, GEH, recovering known demand."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twin._errors import LayerError, SimulationError, ValidationError
from twin.agents.calibrate import (
    _fit,
    calibrate,
    counter_roads,
    fit_stats,
    geh,
    import_counts,
    read_counts,
    simulated_counts,
    write_calibrated,
)
from twin.agents.external import ExternalConfig, load_external_config
from twin.agents.simulate import simulate
from twin.layers.store import Twin, read_twin, write_twin
from twin.layers.synthetic import synthetic_twin


@pytest.fixture(scope="module")
def city() -> Twin:
    return synthetic_twin(3000, seed=0)


def counters(twin: Twin) -> list[str]:
    s = twin.layer("sensors")
    return s.loc[s["kind"] == "traffic_counter", "id"].astype(str).tolist()


def write_csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "counts.csv"
    p.write_text(text, encoding="utf-8")
    return p


# --- GEH --------------------------------------------------------------------------------------

def test_geh_values() -> None:
    g = geh(np.array([100.0, 0.0, 1000.0, 50.0]), np.array([100.0, 0.0, 900.0, 0.0]))
    assert g[0] == 0
    assert g[1] == 0
    assert g[2] == pytest.approx(np.sqrt(2 * 100**2 / 1900))
    assert g[3] == pytest.approx(10.0)
    stats = fit_stats(pd.DataFrame({"observed": [100.0, 900.0], "simulated": [100.0, 1000.0]}))
    assert stats.geh_below_share == 1.0
    assert stats.counts == 2


# --- reading counts ---------------------------------------------------------------------------

def test_read_counts_formats(city: Twin, tmp_path: Path) -> None:
    s1, s2 = counters(city)[:2]
    p = write_csv(tmp_path, f"sensor_id,hour,count,date\n{s1},8,120,2026-05-04\n"
                            f"{s1},09:00,100,2026-05-04\n{s2},2026-05-04T17:00,80,\n")
    got = read_counts(p, city)
    assert got["hour"].tolist() == [8, 9, 17]
    assert got["count"].tolist() == [120.0, 100.0, 80.0]
    assert got["date"].tolist() == ["2026-05-04", "2026-05-04", "2026-05-04"]


def test_read_counts_lists_every_problem(city: Twin, tmp_path: Path) -> None:
    s1 = counters(city)[0]
    p = write_csv(tmp_path, f"sensor_id,hour,count\nnope,8,10\n{s1},25,10\n{s1},8,-3\n"
                            f"{s1},7,lots\n{s1},ten past,4\ns1,8,5\n")
    with pytest.raises(ValidationError) as err:
        read_counts(p, city)
    text = str(err.value)
    assert "5 error(s)" in text
    assert "row 2 / field sensor_id: sensor 'nope' is not in the twin's sensors layer" in text
    assert "row 3 / field hour: malformed hour '25'" in text
    assert "row 4 / field count: count -3 is negative" in text
    assert "row 5 / field count: count 'lots' is not a number" in text
    assert "row 6 / field hour: malformed hour 'ten past'" in text


@pytest.mark.parametrize(("csv", "match"), [
    ("sensor_id,count\nx,1\n", "missing column\\(s\\) hour"),
    ("", "cannot read the counts"),
])
def test_read_counts_bad_files(city: Twin, tmp_path: Path, csv: str, match: str) -> None:
    with pytest.raises(LayerError, match=match):
        read_counts(write_csv(tmp_path, csv), city)


def test_read_counts_wrong_sensor_kind_and_duplicates(city: Twin, tmp_path: Path) -> None:
    s = city.layer("sensors")
    air = s.loc[s["kind"] == "air_quality", "id"].iloc[0]
    c = counters(city)[0]
    with pytest.raises(ValidationError, match=f"sensor '{air}' is a air_quality sensor"):
        read_counts(write_csv(tmp_path, f"sensor_id,hour,count\n{air},8,1\n"), city)
    with pytest.raises(ValidationError, match="is given twice"):
        read_counts(write_csv(tmp_path, f"sensor_id,hour,count\n{c},8,1\n{c},8,2\n"), city)


def test_import_counts_into_the_file(city: Twin, tmp_path: Path) -> None:
    path = write_twin(city.copy(), tmp_path / "city.twin.gpkg")
    c = counters(city)
    import_counts(path, write_csv(tmp_path, f"sensor_id,hour,count\n{c[0]},8,10\n{c[1]},8,4\n"))
    import_counts(path, write_csv(tmp_path, f"sensor_id,hour,count\n{c[0]},8,12\n"))
    obs = read_twin(path).observations
    assert sorted(zip(obs["sensor_id"], obs["hour"].astype(int), obs["count"], strict=True)) == \
        [(c[0], 8, 12.0), (c[1], 8, 4.0)]


def test_counter_roads(city: Twin) -> None:
    roads = counter_roads(city, counters(city))
    assert set(roads) == set(counters(city))
    assert set(roads.values()) <= set(city.layer("roads")["id"].astype(str))
    lost = city.copy()
    s = lost.layers["sensors"]
    s.loc[s["id"] == counters(city)[0], "road_id"] = None
    s.loc[s["id"] == counters(city)[0], "geometry"] = s.geometry.iloc[0].buffer(0).centroid \
        .__class__(-1e6, -1e6)
    with pytest.raises(LayerError, match="no road_id and no road within their range"):
        counter_roads(lost, counters(city))


# --- fitting ----------------------------------------------------------------------------------

def test_fit_recovers_known_multipliers() -> None:
    rng = np.random.default_rng(0)
    parts = rng.uniform(10, 100, size=(3, 5, 24))
    rest = rng.uniform(0, 20, size=(5, 24))
    g_true, m_true, level_true = np.array([1.0, 2.0, 0.5]), rng.uniform(0.5, 1.5, 24), 1.4
    obs = rest + level_true * np.einsum("g,gch,h->ch", g_true, parts, m_true)
    level, g, m = _fit(obs, rest, parts, iters=3000)
    model = rest + level * np.einsum("g,gch,h->ch", g, parts, m)
    np.testing.assert_allclose(model, obs, rtol=1e-3)
    np.testing.assert_allclose(g / g[0], g_true / g_true[0], rtol=1e-2)


def test_no_counts_is_an_error(city: Twin) -> None:
    with pytest.raises(SimulationError, match="no counts to calibrate against"):
        calibrate(city.copy())


def test_calibration_recovers_demand_30_percent_off(city: Twin, tmp_path: Path) -> None:
    """Counts from a run with the true trip rates; calibration starts 30% low (and another
    seed) and must bring GEH < 5 to at least 85% of the counts."""
    truth = simulate(city, seed=3, iterations=2)
    sim = simulated_counts(truth.link_hours, counter_roads(city, counters(city)))
    counts = sim[sim["simulated"] > 0].rename(columns={"simulated": "count"})
    base = load_external_config()
    tt = copy.deepcopy(base.through_traffic)
    tt["peak_share_of_capacity"] = {k: 0.7 * v for k, v in tt["peak_share_of_capacity"].items()}
    start = ExternalConfig(base.in_commuters, base.out_commuters, tt, base.gateways, base.path)
    res = calibrate(city, counts, seed=1, external=start)
    assert res.before.counts == res.after.counts >= 80
    assert res.before.geh_below_share < 0.6
    assert res.after.geh_below_share >= 0.85
    assert res.after.geh_mean < res.before.geh_mean
    assert 1.15 < res.level < 1.6                      # the truth is 1 / 0.7 = 1.43
    assert res.after.simulated_total == pytest.approx(res.after.observed_total, rel=0.1)
    out = write_calibrated(res, tmp_path / "external-calibrated.yaml")
    loaded = load_external_config(out)
    assert loaded.through_traffic["peak_share_of_capacity"]["primary"] == pytest.approx(
        0.7 * base.through_traffic["peak_share_of_capacity"]["primary"] * res.level, rel=1e-4)
    assert set(loaded.gateways) == set(res.gateway_scale)
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["through_traffic"]["hourly_profile"]
    assert "GEH < 5" in out.read_text(encoding="utf-8").splitlines()[0]
