"""Tests for twin.agents.population: profiles, places, gravity model, synthesis."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import yaml

from tests.conftest import CRS, grid_layers
from twin._errors import SimulationError
from twin._resources import data_dir
from twin.agents.model import build_places
from twin.agents.population import (
    constrained_gravity,
    draw_gateways,
    draw_rows,
    load_population_config,
    make_zones,
    pick_places,
    synthesize,
)
from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import Twin, new_meta
from twin.network.roads import road_graph, walk_graph


def make_twin(n: int = 4, spacing: float = 300.0, residents: int = 50, jobs: int = 20) -> Twin:
    layers = {}
    for name, frame in grid_layers(n, spacing).items():
        out, _ = coerce_fields(frame, layer_spec(name))
        layers[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)
    layers["buildings"]["residents"] = residents
    layers["buildings"]["jobs"] = jobs
    return Twin(layers=layers, meta=new_meta("grid", CRS))


def parts(twin: Twin) -> tuple:
    cfg = load_population_config()
    g = road_graph(twin.layers["roads"], twin.layers["road_nodes"])
    w = walk_graph(None, twin.layers["roads"], twin.layers["road_nodes"])
    places = build_places(twin, g, w, cfg)
    zones = make_zones(places, g, g.fft_s, max_zones=100)
    return cfg, g, places, zones


def write_config(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load((data_dir("agents") / "population.yaml").read_text())
    change(raw)
    path = tmp_path / "population.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_profiles_are_valid() -> None:
    cfg = load_population_config()
    assert set(cfg.types) == {"worker", "student", "retiree", "other"}
    for t in cfg.types.values():
        assert sum(t["chains"].values()) == pytest.approx(1.0)
    assert cfg.kpis["co2_g_per_vehicle_km"] == 160.0


def test_unknown_and_missing_keys_are_listed(tmp_path: Path) -> None:
    def change(raw: dict) -> None:
        raw["modes"]["car"]["colour"] = "red"
        del raw["choice"]

    with pytest.raises(SimulationError, match=r"unknown key 'colour'.*valid: asc") as err:
        load_population_config(write_config(tmp_path, change))
    assert "missing key 'choice'" in str(err.value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["types"]["worker"].update(share=0.9), "shares must be >= 0 and sum to 1"),
    (lambda r: r["types"]["student"]["chains"].update({"home-gym-home": 0.0}),
     "must run home-...-home"),
    (lambda r: r["types"]["other"].update(car_available=1.5),
     r"car_available: must be in \[0, 1\]"),
    (lambda r: r["activities"]["work"]["departure"].append({"mean_h": 8}),
     "each entry needs exactly mean_h, sd_h, weight"),
    (lambda r: r["route_choice"]["class_factor"].update(service=0), "factors must be > 0"),
])
def test_inconsistent_profiles_are_refused(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        load_population_config(write_config(tmp_path, change))


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="cannot read"):
        load_population_config(tmp_path / "missing.yaml")


def test_places_attach_to_roads_and_walk_graph() -> None:
    twin = make_twin()
    _, g, places, zones = parts(twin)
    nb = len(twin.layers["buildings"])
    assert places.n == nb
    assert (places.kind == "building").all()
    assert places.residents.sum() == 50 * nb
    # each building sits at a block centre: the nearest node is 212 m away
    assert np.allclose(np.linalg.norm(places.xy - g.xy[places.node], axis=1), 150 * np.sqrt(2))
    assert zones.minutes.shape == (zones.n, zones.n)
    assert np.all(np.diag(zones.minutes) >= 1.0)


def test_school_places_from_education_buildings_without_school_facilities() -> None:
    twin = make_twin()
    twin.layers["buildings"].loc[0, "use"] = "education"
    _, _, places, _ = parts(twin)
    assert places.pupils.tolist()[0] == 1600 // 10
    assert places.pupils[1:].sum() == 0


def test_no_residents_is_an_error() -> None:
    twin = make_twin(residents=0)
    with pytest.raises(SimulationError, match="the twin has no residents"):
        parts(twin)


def test_constrained_gravity_fills_rows_and_respects_capacity() -> None:
    rng = np.random.default_rng(0)
    o = rng.integers(1, 50, 8).astype(float)
    cap = rng.integers(1, 40, 6).astype(float) * 3
    det = np.exp(-0.1 * rng.uniform(1, 30, (8, 6)))
    t = constrained_gravity(o, cap, det)
    assert np.allclose(t.sum(axis=1), o)
    assert np.all(t.sum(axis=0) <= cap + 1e-6)


def test_draw_rows_and_pick_places() -> None:
    rng = np.random.default_rng(3)
    prob = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])
    cols = draw_rows(prob, np.array([0] * 50 + [1] * 50 + [2]), rng)
    assert (cols[:50] == 1).all()
    assert set(cols[50:100].tolist()) == {0, 2}
    assert cols[100] == -1
    zone_of_place = np.array([0, 0, 1])
    picked = pick_places(np.array([0, 0, 0, 1, 1]), zone_of_place, np.array([1, 1, 5]), rng,
                         slots=True)
    assert sorted(picked[:3].tolist()) == [-1, 0, 1]  # two slots in zone 0 for three agents
    assert picked[3:].tolist() == [2, 2]
    gw = draw_gateways(np.array([[1.0, np.inf], [np.inf, np.inf]]), np.array([1.0, 3.0]),
                       np.array([0] * 20 + [1] * 400), 0.1, rng)
    assert (gw[:20] == 0).all()  # the only gateway reachable
    assert np.mean(gw[20:] == 1) == pytest.approx(0.75, abs=0.06)  # none reachable: by weight
    weighted = pick_places(np.zeros(200, np.int64), zone_of_place, np.array([0.0, 1.0, 9.0]),
                           rng, slots=False)
    assert (weighted == 1).all()


def test_synthesize_types_chains_and_capacity() -> None:
    twin = make_twin(residents=400, jobs=30)
    cfg, _, places, zones = parts(twin)
    pop = synthesize(places, zones, cfg, np.random.default_rng(5))
    assert pop.n == 400 * places.n
    assert pop.agent_id[0] == "p1"
    shares = {t: np.mean(pop.kind == t) for t in cfg.types}
    assert shares["worker"] == pytest.approx(0.52, abs=0.03)
    workers_in = (pop.main >= 0) & np.array(["-work-" in c for c in pop.chain])
    filled = np.bincount(pop.main[workers_in], minlength=places.n)
    assert np.all(filled <= places.jobs)
    assert filled.sum() == places.jobs.sum()  # more workers than jobs: every job taken
    # no gateway: those without a job (or a school) lose that activity, and are reported
    assert sum(pop.unplaced.values()) > 0
    assert all("no gateway" in k for k in pop.unplaced)
    lost = (pop.kind == "worker") & (pop.main < 0)
    assert not any("-work-" in c for c in pop.chain[lost])


def test_synthesize_is_deterministic_and_samples_keep_ids() -> None:
    twin = make_twin()
    cfg, _, places, zones = parts(twin)
    a = synthesize(places, zones, cfg, np.random.default_rng(1))
    b = synthesize(places, zones, cfg, np.random.default_rng(1))
    c = synthesize(places, zones, cfg, np.random.default_rng(2))
    assert (a.kind == b.kind).all()
    assert (a.main == b.main).all()
    assert not ((a.kind == c.kind).all() and (a.chain == c.chain).all())
    s = synthesize(places, zones, cfg, np.random.default_rng(1), sample=0.25)
    assert s.n == pytest.approx(a.n * 0.25, rel=0.3)
    assert set(s.agent_id) <= {f"p{i}" for i in range(1, a.n + 1)}
    with pytest.raises(SimulationError, match="raise --sample"):
        synthesize(places, zones, cfg, np.random.default_rng(1), sample=1e-9)
