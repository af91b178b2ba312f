"""Transit interventions: a new bus line, a new headway."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests.scenarios.conftest import X0, Y0, fast_sim
from twin._errors import ScenarioError
from twin.network.access import nearest_facility_times
from twin.scenarios.registry import get

NORTH_LINE = [[X0, Y0 + 150], [X0 + 300, Y0 + 300], [X0 + 600, Y0 + 300],
              [X0 + 900, Y0 + 150], [X0 + 1150, Y0 - 50]]


def apply(twin, itype, **params):
    full = {k: params.get(k, p.default) for k, p in get(itype).params.items()}
    return get(itype).func(twin.copy(), full, np.random.default_rng(0))


@pytest.fixture(scope="module")
def base_day():
    from tests.scenarios.conftest import corridor_twin

    return fast_sim(corridor_twin())


def test_bus_line_with_new_stops_adds_stops_and_a_route_along_the_roads(corridor):
    out = apply(corridor, "bus_line", stop_points=NORTH_LINE[:3], headway_min=5.0,
                name="N1")
    fac = out.layers["facilities"].set_index("id")
    assert fac.loc[["fs1", "fs2", "fs3"], "kind"].tolist() == ["bus_stop"] * 3
    route = out.layers["transit_routes"].set_index("id").loc["ts1"]
    assert (route["stop_ids"], route["headway_min"], route["mode"], route["name"]) == (
        "fs1,fs2,fs3", 5.0, "bus", "N1")
    assert (route["start_hour"], route["end_hour"]) == (6.0, 22.0)
    # the line runs from the first stop via W and b1 (the roads) to the last one
    coords = shapely.get_coordinates(route.geometry).tolist()
    assert [X0, Y0] in coords
    assert [X0 + 300, Y0 + 300] in coords
    assert sorted(out.extras["highlight"]["transit_routes"]) == ["ts1"]


def test_bus_line_through_existing_stops_and_along_a_path(corridor):
    out = apply(corridor, "bus_line", stops=["f6", "f4"], hours=[7.0, 9.0])
    r = out.layers["transit_routes"].set_index("id").loc["ts1"]
    assert r["stop_ids"] == "f6,f4"
    assert r["start_hour"] == 7.0
    assert len(out.layers["facilities"]) == len(corridor.layers["facilities"])
    out = apply(corridor, "bus_line", path=[[X0, Y0 + 100], [X0 + 1000, Y0 + 100]],
                stop_spacing_m=400)
    assert out.layers["transit_routes"].set_index("id").loc["ts1", "stop_ids"] == \
        "fs1,fs2,fs3,fs4"


@pytest.mark.parametrize(("params", "message"), [
    ({}, "exactly one of `stops`, `stop_points` and `path`"),
    ({"stops": ["f4"], "path": [[0, 0], [1, 1]]}, "exactly one of"),
    ({"stops": ["f2", "f4"]}, "'f2' is not a bus_stop facility"),
    ({"stop_points": [[X0, Y0]]}, "at least two stops"),
])
def test_bus_line_errors(corridor, params, message):
    with pytest.raises(ScenarioError, match=message):
        apply(corridor, "bus_line", **params)


def test_a_new_line_shortens_transit_trips(corridor, base_day):
    out = apply(corridor, "bus_line", stop_points=NORTH_LINE, headway_min=4.0)
    before = nearest_facility_times(corridor, ["clinic"], ["transit"]).loc["b4", "clinic"]
    after = nearest_facility_times(out, ["clinic"], ["transit"]).loc["b4", "clinic"]
    assert after < before
    day = fast_sim(out)
    assert day.kpis["commute_time_mean_min"] < base_day.kpis["commute_time_mean_min"]


def test_bus_headway_sets_or_scales(corridor):
    out = apply(corridor, "bus_headway", where={"ids": ["t1"]}, headway_pct=-50.0)
    assert out.layers["transit_routes"]["headway_min"].tolist() == [5.0]
    with pytest.raises(ScenarioError, match="exactly one of `headway_min` and `headway_pct`"):
        apply(corridor, "bus_headway", where={"ids": ["t1"]})


def test_more_frequent_buses_shorten_commutes_and_win_riders(corridor, base_day):
    day = fast_sim(apply(corridor, "bus_headway", where={"ids": ["t1"]}, headway_min=2.0))
    assert day.kpis["commute_time_mean_min"] < base_day.kpis["commute_time_mean_min"] - 0.5
    assert day.kpis["mode_share_transit"] > base_day.kpis["mode_share_transit"]
