"""Land-use interventions: densify an old district, develop a new zone."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse import csgraph

from tests.scenarios.conftest import X0, Y0, fast_sim
from twin._errors import ScenarioError
from twin.network.roads import road_graph
from twin.scenarios.interventions.land_use import street_grid
from twin.scenarios.kpis import layer_kpis
from twin.scenarios.registry import get


def apply(twin, itype, **params):
    full = {k: params.get(k, p.default) for k, p in get(itype).params.items()}
    return get(itype).func(twin.copy(), full, np.random.default_rng(0))


@pytest.fixture(scope="module")
def base_day():
    from tests.scenarios.conftest import corridor_twin

    return fast_sim(corridor_twin())


def test_densify_adds_residents_by_floor_area_and_floors_for_them(corridor):
    out = apply(corridor, "densify", residents_pct=20.0, add_floors=True)
    before, after = corridor.layers["buildings"], out.layers["buildings"]
    assert after["residents"].sum() == before["residents"].sum() + 144   # 20% of 720
    assert after["jobs"].sum() == before["jobs"].sum()
    added = after["residents"] - before["residents"]
    assert added.tolist() == [24] * 6 + [0, 0]       # equal floor areas: equal shares
    # 24 residents x 40 m2 = 960 m2 on a 900 m2 footprint: two more floors
    assert after["floors"].tolist()[:6] == [7] * 6
    assert after["floor_area_m2"].tolist()[:6] == [6300.0] * 6
    assert after["height_m"].tolist()[0] == pytest.approx(16.0 + 2 * 3.2)
    assert set(after.loc[added > 0, "residents_source"]) == {"user"}
    assert out.layers["zones"].set_index("id").loc["z1", "population"] == 864


def test_densify_jobs_absolute_and_a_decrease(corridor):
    out = apply(corridor, "densify", where={"zone_ids": ["z1"]}, jobs=100, residents=-72)
    b = out.layers["buildings"]
    assert b["jobs"].sum() == 400
    assert b["residents"].sum() == 648
    assert b["floors"].tolist() == corridor.layers["buildings"]["floors"].tolist()


@pytest.mark.parametrize(("params", "message"), [
    ({"residents_pct": 5.0, "residents": 10}, "`residents_pct` or `residents`, not both"),
    ({"jobs_pct": 5.0, "jobs": 10}, "`jobs_pct` or `jobs`, not both"),
    ({}, "densify needs one of"),
    ({"residents": -10_000}, "cannot remove 10000 residents; the selection has 720"),
    ({"where": {"zone_ids": ["z2"]}, "residents": 10}, "zones z2 have no buildings"),
])
def test_densify_errors(corridor, params, message):
    with pytest.raises(ScenarioError, match=message):
        apply(corridor, "densify", **params)


def test_densify_brings_more_trips(corridor, base_day):
    out = apply(corridor, "densify", residents_pct=50.0)
    assert layer_kpis(out)["residents"] == 1080.0
    day = fast_sim(out)
    assert day.kpis["trips"] > base_day.kpis["trips"] + 200


def test_street_grid_is_aligned_with_the_long_side_and_connected():
    area = shapely.affinity.rotate(shapely.box(0, 0, 400, 150), 30, origin=(0, 0))
    nodes, edges = street_grid(area, 100.0)
    assert len(nodes) == 10
    assert len(edges) == 13
    d = np.hypot(*(nodes[edges[:, 0]] - nodes[edges[:, 1]]).T)
    assert np.allclose(d, 100.0)
    angles = np.degrees(np.arctan2(*(nodes[edges[:, 1]] - nodes[edges[:, 0]]).T[::-1])) % 90
    assert np.allclose(angles, 30.0)
    assert street_grid(shapely.box(0, 0, 50, 50), 100.0)[1].shape == (0, 2)


def test_new_zone_builds_streets_buildings_people_and_utilities(corridor):
    out = apply(corridor, "new_zone", where={"zone_ids": ["z2"]}, block_m=100.0,
                residents_per_ha=200.0, jobs_per_ha=100.0, connections=2)
    info = out.extras["new_zone"][0]
    assert info["area_ha"] == 27.0
    assert (info["residents"], info["jobs"]) == (5400, 2700)
    b = out.layers["buildings"]
    new = b[b["id"].str.startswith("bz")]
    assert len(new) == info["buildings"] == 27          # 10 x 4 street nodes, 9 x 3 blocks
    assert set(new["zone_id"]) == {"z2"}
    assert set(new["use"]) == {"mixed"}
    assert out.layers["zones"].set_index("id").loc["z2", "population"] == 5400
    # every new building hangs off a new bus and junction
    assert new["power_node"].str.startswith("pbz").all()
    assert new["water_node"].str.startswith("wjz").all()
    pl = out.layers["power_lines"]
    assert (pl["id"].str.startswith("pcz")).sum() == 40     # a radial tree over 40 buses
    # the grid joins the existing roads: one connected network
    g = road_graph(out.layers["roads"], out.layers["road_nodes"])
    n, _ = csgraph.connected_components(g.csr()[0], directed=False)
    assert n == 1
    conn = out.layers["roads"][out.layers["roads"]["highway"] == "tertiary"]
    assert len(conn) == 2
    assert set(conn["v"]) <= {"b1", "b2", "W", "E"}


def test_new_zone_in_a_polygon_skips_blocks_with_buildings_unless_replaced(corridor):
    poly = [[X0 + 50, Y0 - 400], [X0 + 850, Y0 - 400], [X0 + 850, Y0 - 100],
            [X0 + 50, Y0 - 100]]
    out = apply(corridor, "new_zone", polygon=poly, block_m=100.0)
    kept = out.layers["buildings"]
    assert {"b0", "b1", "b2", "b3"} <= set(kept["id"])
    blocks = kept["id"].str.startswith("bz").sum()
    out = apply(corridor, "new_zone", polygon=poly, block_m=100.0, replace_existing=True)
    assert out.layers["buildings"]["id"].str.startswith("bz").sum() > blocks
    assert sorted(out.extras["removed"]["buildings"]) == ["b0", "b1", "b2", "b3"]


def test_new_zone_errors(corridor):
    with pytest.raises(ScenarioError, match="too small or narrow for blocks between streets 400 m"):
        apply(corridor, "new_zone", where={"zone_ids": ["z2"]}, block_m=400.0)
    far = [[X0 + 9000, Y0], [X0 + 9500, Y0], [X0 + 9500, Y0 + 500], [X0 + 9000, Y0 + 500]]
    with pytest.raises(ScenarioError, match="no existing road node within 300 m"):
        apply(corridor, "new_zone", polygon=far)


def test_new_zone_adds_residents_jobs_and_trips(corridor, base_day):
    out = apply(corridor, "new_zone", where={"zone_kind": ["new_zone"]}, residents_per_ha=20.0,
                jobs_per_ha=10.0)
    k = layer_kpis(out)
    assert k["residents"] == 720 + 540
    assert k["jobs"] == 300 + 270
    day = fast_sim(out)
    assert day.kpis["trips"] > base_day.kpis["trips"]
