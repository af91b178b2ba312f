"""Tests for twin.agents.services: settings, visits in the plans, facility queues, KPIs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.scenarios.conftest import corridor_twin
from twin._errors import SimulationError
from twin.agents.services import (
    ServicesConfig,
    add_service_visits,
    load_services_config,
    queue_starts,
    service_kpi_info,
    services_day,
)
from twin.agents.simulate import DayResult
from twin.layers.store import Twin
from twin.scenarios.interventions.services import e_services, facility_add


def _cfg(**rates: dict[str, float]) -> ServicesConfig:
    cfg = load_services_config()
    return dataclasses.replace(cfg, visits_per_person_day={**cfg.visits_per_person_day,
                                                           **rates})


def day_of(acts: pd.DataFrame, sample: float = 1.0, online: list[str] = ()) -> DayResult:
    """A DayResult holding only activities and visits done online (what the analysis reads)."""
    import geopandas as gpd

    return DayResult(kpis={}, trips=pd.DataFrame(), link_hours=pd.DataFrame(), activities=acts,
                     hourly=pd.DataFrame(), gaps=[], timings={}, unrouted={},
                     link_geometry=gpd.GeoSeries([]), run={"sample": sample},
                     online_visits=pd.DataFrame({"agent": [f"o{i}" for i in range(len(online))],
                                                 "place_id": list(online)}))


def visits(place: str, hours: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"agent": [f"p{i}" for i in range(len(hours))], "activity": "service",
                         "place_kind": "facility", "place_id": place,
                         "start_s": np.array(hours) * 3600.0,
                         "end_s": np.array(hours) * 3600.0 + 1800.0})


# --- settings ---------------------------------------------------------------------------------

def test_config_defaults() -> None:
    cfg = load_services_config()
    assert cfg.facilities["clinic"]["open_h"] == [8, 18]
    assert cfg.visits_per_person_day["retiree"]["clinic"] > cfg.visits_per_person_day[
        "worker"]["clinic"]
    assert cfg.emergency["target_min"] == 8.0


def test_config_unknown_kind_and_key(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path(load_services_config().path).read_text(encoding="utf-8"))
    raw["visits_per_person_day"]["worker"]["spa"] = 0.1
    raw["extra"] = 1
    bad = tmp_path / "services.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SimulationError, match="unknown key 'extra'"):
        load_services_config(bad)
    del raw["extra"]
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SimulationError, match="facility kind 'spa' is not in the data "
                                              "dictionary"):
        load_services_config(bad)


def test_config_bad_hours(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path(load_services_config().path).read_text(encoding="utf-8"))
    raw["facilities"]["clinic"]["open_h"] = [18, 8]
    bad = tmp_path / "services.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SimulationError, match=r"clinic.open_h: give \[open, close\]"):
        load_services_config(bad)


# --- visits in the plans ----------------------------------------------------------------------

def test_visits_become_first_activity() -> None:
    cfg = _cfg(retiree={"clinic": 1.0}, worker={"clinic": 1.0}, other={"clinic": 0.0})
    kind = np.array(["retiree", "worker", "retiree", "other"], dtype=object)
    a = np.array([0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    s = np.array([0, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    t = np.array(["home", "home", "work", "home", "home", "errand", "home", "home", "errand",
                  "home"], dtype=object)
    a2, s2, t2, k2 = add_service_visits(kind, a, s, t, ["clinic"], cfg,
                                        np.random.default_rng(0))
    chains = {i: "-".join(t2[a2 == i]) for i in range(4)}
    assert chains == {0: "home-service-home", 1: "home-service-work-home",
                      2: "home-service-home", 3: "home-errand-home"}
    assert set(k2[t2 == "service"]) == {"clinic"}
    for i in range(4):   # sequences stay 0..n-1 per agent
        assert s2[a2 == i].tolist() == list(range((a2 == i).sum()))


def test_visit_rates_drive_the_count() -> None:
    cfg = _cfg(retiree={"clinic": 0.25, "service_centre": 0.1})
    n = 4000
    kind = np.full(n, "retiree", dtype=object)
    a, s = np.repeat(np.arange(n), 2), np.tile([0, 1], n)
    t = np.tile(np.array(["home", "home"], dtype=object), n)
    _a2, _, t2, k2 = add_service_visits(kind, a, s, t, ["clinic", "service_centre"], cfg,
                                       np.random.default_rng(1))
    assert (k2 == "clinic").sum() == pytest.approx(0.25 * n, rel=0.08)
    assert (k2 == "service_centre").sum() == pytest.approx(0.1 * n, rel=0.12)
    assert (t2 == "service").sum() == (k2 != "").sum()


# --- queues ------------------------------------------------------------------------------------

def test_queue_one_desk_fifo() -> None:
    start = queue_starts(np.array([8.0, 8.1, 8.0]) * 3600, servers=1, service_s=1800.0,
                         open_s=8 * 3600.0, close_s=18 * 3600.0)
    assert (start / 3600).tolist() == [8.0, 9.0, 8.5]


def test_queue_waits_for_opening_and_closes() -> None:
    start = queue_starts(np.array([7.0, 16.9, 17.0, 17.2]) * 3600, servers=1,
                         service_s=3600.0, open_s=8 * 3600.0, close_s=18 * 3600.0)
    assert start[0] == 8 * 3600.0
    assert start[1] == pytest.approx(16.9 * 3600)
    assert start[2] == pytest.approx(17.9 * 3600)
    assert np.isnan(start[3])                      # still waiting at 18:00


def test_queue_many_desks_matches_event_simulation() -> None:
    rng = np.random.default_rng(3)
    arrive = np.sort(rng.uniform(8, 12, 300)) * 3600
    got = queue_starts(arrive, servers=4, service_s=900.0, open_s=0.0, close_s=1e9)
    free = [0.0] * 4                       # reference: earliest free desk, one visitor at a time
    want = []
    for x in arrive:
        k = int(np.argmin(free))
        s = max(x, free[k])
        free[k] = s + 900.0
        want.append(s)
    np.testing.assert_allclose(got, want)


def small_twin(capacity: float = 2.0) -> Twin:
    t = corridor_twin()
    fac = t.layers["facilities"]
    fac.loc[fac["id"] == "f2", "capacity"] = capacity
    return t


def test_services_day_figures() -> None:
    twin = small_twin(2.0)   # clinic f2: 2 visitors/h, 20 min each -> 1 desk, 30 min a visit
    acts = visits("f2", [9.0, 9.0, 9.0, 9.0, 18.5])
    kpis, tables = services_day(twin, day_of(acts), np.random.default_rng(0))
    fac = tables["facilities"].set_index("facility_id")
    assert fac.loc["f2", "servers"] == 1
    assert fac.loc["f2", "visits"] == 5
    assert fac.loc["f2", "served"] == 4
    assert fac.loc["f2", "unserved"] == 1
    assert fac.loc["f2", "wait_mean_min"] == pytest.approx((0 + 30 + 60 + 90) / 4)
    assert fac.loc["f2", "utilisation"] == pytest.approx(4 / (2 * 10))
    assert kpis["clinic_served_same_day_share"] == pytest.approx(0.8)
    assert kpis["clinic_wait_mean_min"] == pytest.approx(45.0)
    assert kpis["service_visits"] == 5
    hours = tables["facility_hours"]
    assert hours.loc[(hours["facility_id"] == "f2") & (hours["hour"] == 9), "arrivals"].item() == 4
    assert set(kpis) <= set(service_kpi_info())


def test_services_day_sample_scales_counts() -> None:
    twin = small_twin(20.0)
    kpis, tables = services_day(twin, day_of(visits("f2", [10.0, 11.0]), sample=0.5),
                                np.random.default_rng(0))
    assert kpis["clinic_visits"] == 4.0
    assert tables["facilities"].set_index("facility_id").loc["f2", "served"] == 4.0


def test_e_services_cut_service_centre_waits() -> None:
    twin = small_twin()
    fac = twin.layers["facilities"]
    fac.loc[fac["id"] == "f3", "capacity"] = 3.0
    before, _ = services_day(twin, day_of(visits("f3", [9.5] * 30)), np.random.default_rng(5))
    online = e_services(twin.copy(), {"share": 0.6}, np.random.default_rng(0))
    after, tables = services_day(online, day_of(visits("f3", [9.5] * 12), online=["f3"] * 18),
                                 np.random.default_rng(5))
    assert after["service_online_visits"] == 18
    assert after["service_centre_visits"] == before["service_centre_visits"] == 30
    assert after["service_centre_wait_mean_min"] < before["service_centre_wait_mean_min"]
    assert after["service_centre_served_same_day_share"] >= before[
        "service_centre_served_same_day_share"]
    f3 = tables["facilities"].set_index("facility_id").loc["f3"]
    assert f3["online"] + f3["served"] + f3["unserved"] == 30


# --- in the day simulation --------------------------------------------------------------------

@pytest.fixture(scope="module")
def busy_rates() -> ServicesConfig:
    return _cfg(**{k: {"clinic": 0.4} for k in ("worker", "student", "retiree", "other")})


def test_facility_add_cuts_waits_in_the_day(busy_rates: ServicesConfig,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import twin.agents.services as svc
    from twin.agents.simulate import simulate

    monkeypatch.setattr(svc, "load_services_config", lambda path=None: busy_rates)  # noqa: ARG005
    base = small_twin(4.0)
    more = facility_add(base.copy(), {"kind": "clinic", "at": [385300.0, 6671850.0],
                                      "capacity": 20.0, "units": None, "name": "new"},
                        np.random.default_rng(0))
    out = {}
    for name, twin in (("base", base), ("more", more)):
        day = simulate(twin, seed=2, iterations=1)
        out[name] = services_day(twin, day, np.random.default_rng(1), config=busy_rates)[0]
        assert out[name]["clinic_visits"] > 150
    assert out["more"]["clinic_wait_mean_min"] < out["base"]["clinic_wait_mean_min"]
    assert out["more"]["clinic_served_same_day_share"] > out["base"][
        "clinic_served_same_day_share"]
    assert out["base"]["clinic_utilisation_mean"] > 0.9


def test_e_services_take_visits_out_of_the_day(monkeypatch: pytest.MonkeyPatch) -> None:
    import twin.agents.services as svc
    from twin.agents.simulate import simulate

    rates = _cfg(**{k: {"service_centre": 0.5} for k in ("worker", "student", "retiree",
                                                        "other")})
    monkeypatch.setattr(svc, "load_services_config", lambda path=None: rates)  # noqa: ARG005
    base = small_twin()
    online = e_services(base.copy(), {"share": 0.6}, np.random.default_rng(0))
    days = {name: simulate(t, seed=3, iterations=1) for name, t in (("base", base),
                                                                     ("online", online))}
    def trips_to(day: DayResult) -> int:
        return int((day.trips["purpose"] == "service").sum())

    n_base, n_online = trips_to(days["base"]), trips_to(days["online"])
    done = len(days["online"].online_visits)
    assert len(days["base"].online_visits) == 0
    assert n_base > 100
    # about 60% of the visits go online; those agents make no trip to the service centre
    assert 0.5 < done / n_base < 0.7
    assert n_online < 0.5 * n_base
    assert set(days["online"].online_visits["place_id"]) == {"f3"}
    assert days["online"].kpis["vehicle_km"] <= days["base"].kpis["vehicle_km"]
    kpis, _ = services_day(online, days["online"], np.random.default_rng(0), config=rates)
    assert kpis["service_online_visits"] == done
    assert kpis["service_centre_visits"] == n_online + done


def test_early_visitors_wait_from_opening() -> None:
    twin = small_twin(2.0)
    kpis, _ = services_day(twin, day_of(visits("f2", [7.0, 7.5])), np.random.default_rng(0))
    # both queue at the door; the first is served at 08:00, the second at 08:30
    assert kpis["clinic_wait_mean_min"] == pytest.approx(15.0)
