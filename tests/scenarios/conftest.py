"""Small twins made in code for the scenario tests.

``corridor``: two parallel east-west routes between two gateways: the main road (primary,
one lane, signals at a1 and a2) and a parallel street (secondary, signals at b1 and b2).
Through traffic enters at the gateways Wg and Eg (three-lane stubs), so the corridor is
congested in the morning peak. A few homes, offices, a school, a clinic, a service centre, a
bus line along the main road, cameras; an old district over everything and an empty new zone
north of it; power and water networks laid along the streets.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from twin.layers.derive import derive_roads
from twin.layers.store import Twin, new_meta
from twin.layers.utility_layout import lay_utilities, typed_layer

CRS = "EPSG:3067"
X0, Y0 = 385000.0, 6672000.0
NODES = {"Wg": (-300, 0), "W": (0, 0), "a1": (300, 0), "a2": (600, 0), "E": (900, 0),
         "Eg": (1200, 0), "b1": (300, 300), "b2": (600, 300)}
LANES = 10  # of the gateway stubs: through traffic scales with their capacity
ROADS = [  # id, u, v, class, lanes
    ("r1", "Wg", "W", "primary", LANES), ("r2", "W", "a1", "primary", 1),
    ("r3", "a1", "a2", "primary", 1), ("r4", "a2", "E", "primary", 1),
    ("r5", "E", "Eg", "primary", LANES), ("r6", "W", "b1", "secondary", 1),
    ("r7", "b1", "b2", "secondary", 1), ("r8", "b2", "E", "secondary", 1),
]
MAIN = ["r2", "r3", "r4"]
PARALLEL = ["r6", "r7", "r8"]


def xy(x: float, y: float) -> tuple[float, float]:
    return (X0 + x, Y0 + y)


def corridor_twin() -> Twin:
    nodes = typed_layer("road_nodes", {
        "id": list(NODES), "control": ["signal" if n in ("a1", "a2", "b1", "b2") else "none"
                                       for n in NODES],
        "gateway": [n in ("Wg", "Eg") for n in NODES], "source": "synthetic"},
        shapely.points([xy(*p) for p in NODES.values()]), CRS)
    lines = [shapely.LineString([xy(*NODES[u]), xy(*NODES[v])]) for _, u, v, _, _ in ROADS]
    roads = gpd.GeoDataFrame({
        "id": [r[0] for r in ROADS], "u": [r[1] for r in ROADS], "v": [r[2] for r in ROADS],
        "highway": [r[3] for r in ROADS], "lanes": [r[4] for r in ROADS],
        "speed_kph": np.nan, "oneway": False, "source": "synthetic"}, geometry=lines, crs=CRS)
    roads = typed_layer("roads", derive_roads(roads, source="synthetic"))
    homes = [(150, -150), (450, -150), (750, -150), (450, -250), (150, 150), (750, 150)]
    b = typed_layer("buildings", {
        "id": [f"b{i}" for i in range(len(homes) + 2)],
        "use": ["residential"] * len(homes) + ["office", "office"],
        "height_m": 16.0, "floors": 5, "footprint_m2": 900.0, "floor_area_m2": 4500.0,
        "residents": [120] * len(homes) + [0, 0], "jobs": [0] * len(homes) + [150, 150],
        "zone_id": "z1", "source": "synthetic"},
        [shapely.box(*xy(x - 15, y - 15), *xy(x + 15, y + 15))
         for x, y in [*homes, (-150, 60), (1050, 60)]], CRS)
    zones = typed_layer("zones", {
        "id": ["z1", "z2"], "name": ["Old town", "North field"],
        "kind": ["old_district", "new_zone"], "land_use": ["mixed", "brownfield"],
        "area_m2": [1.2e6, 2.7e5], "population": [720, 0], "jobs": [300, 0],
        "source": "synthetic"},
        [shapely.box(*xy(-300, -400), *xy(1200, 330)), shapely.box(*xy(0, 340), *xy(900, 640))],
        CRS)
    fac = typed_layer("facilities", {
        "id": ["f1", "f2", "f3", "f4", "f5", "f6"],
        "kind": ["school", "clinic", "service_centre", "bus_stop", "bus_stop", "bus_stop"],
        "capacity": [600.0, 12.0, 30.0, 0.0, 0.0, 0.0], "source": "synthetic"},
        shapely.points([xy(100, 60), xy(1150, -50), xy(50, -60), xy(0, 20), xy(450, 20),
                        xy(900, 20)]), CRS)
    transit = typed_layer("transit_routes", {
        "id": ["t1"], "name": ["1"], "mode": ["bus"], "headway_min": [10.0],
        "speed_kph": [18.0], "start_hour": [5.0], "end_hour": [24.0],
        "stop_ids": ["f4,f5,f6"], "source": "synthetic"},
        [shapely.LineString([xy(0, 0), xy(900, 0)])], CRS)
    sensors = typed_layer("sensors", {"id": ["s1"], "kind": ["camera"], "range_m": [40.0],
                                      "source": "synthetic"}, [shapely.Point(xy(0, 0))], CRS)
    utilities, b = lay_utilities(roads, nodes, b, crs=CRS)
    layers = {"zones": zones, "roads": roads, "road_nodes": nodes, "buildings": b,
              "facilities": fac, "transit_routes": transit, "sensors": sensors, **utilities}
    return Twin(layers=layers, meta=new_meta("corridor", CRS))


@pytest.fixture
def corridor() -> Twin:
    """The corridor twin (fresh for each test)."""
    return corridor_twin()


@pytest.fixture(scope="session")
def corridor_file(tmp_path_factory: pytest.TempPathFactory):
    """The corridor twin written to a file (do not modify)."""
    from twin.layers.store import write_twin

    path = tmp_path_factory.mktemp("corridor") / "corridor.twin.gpkg"
    write_twin(corridor_twin(), path)
    return path


def fast_sim(twin: Twin, seed: int = 1, **kw):
    """The day simulation on the morning peak only (quick)."""
    from twin.agents.simulate import simulate

    opts = {"iterations": 2, "sample": 1.0, "start_h": 6.5, "end_h": 9.5, **kw}
    return simulate(twin, seed=seed, **opts)


def road_delay_h(result, road_ids: list[str]) -> float:
    """Vehicle hours above free flow on the given roads (both directions), from link_hours."""
    lh = result.link_hours
    lh = lh[lh["road_id"].isin(road_ids)]
    t = lh["length_m"] / (lh["speed_kph"] / 3.6)
    t0 = lh["length_m"] / (lh["free_speed_kph"] / 3.6)
    return float((lh["volume"] * (t - t0).clip(lower=0)).sum() / 3600.0)
