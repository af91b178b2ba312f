"""Tests for twin.network.tntp: the TNTP reader on Sioux Falls and on hand-written variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin._errors import AssignmentError
from twin.network.assign import assign
from twin.network.tntp import find_tntp_files, read_flows, read_links, read_tntp, read_trips

SIOUX_FALLS = Path(__file__).parents[2].parent / "shared" / "data" / "tntp" / "SiouxFalls"

NET = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 3
<FIRST THRU NODE> 3
<NUMBER OF LINKS> 3
<END OF METADATA>

~\tinit_node\tterm_node\tcapacity\tlength\tfree_flow_time\tb\tpower\tspeed\ttoll\tlink_type\t;
\t1\t3\t100\t1\t5\t0.15\t4\t0\t0\t1\t;
\t3\t2\t100\t1\t5\t0.15\t4\t0\t0\t1\t;
\t1\t2\t100\t1\t20\t0.15\t4\t0\t0\t1\t;
"""
TRIPS = """<NUMBER OF ZONES> 2
<TOTAL OD FLOW> 30.0
<END OF METADATA>

Origin \t1
    1 :      0.0;     2 :     30.0;
"""


def write(folder: Path, name: str, net: str = NET, trips: str = TRIPS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}_net.tntp").write_text(net)
    (folder / f"{name}_trips.tntp").write_text(trips)
    return folder


# --- Sioux Falls ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sioux() -> object:
    return read_tntp(SIOUX_FALLS)


def test_sioux_falls_sizes(sioux) -> None:
    net = sioux.network
    assert (sioux.name, net.n_nodes, net.n_links, net.n_zones) == ("SiouxFalls", 24, 76, 24)
    assert net.first_thru_node == 0  # <FIRST THRU NODE> 1: every node may be passed through
    assert sioux.demand.shape == (24, 24)
    assert sioux.demand.sum() == pytest.approx(360_600.0)
    assert sioux.demand[0, 1] == 100.0  # Origin 1: "2 :    100.0;"
    assert (sioux.demand[23, 21], sioux.demand[23, 22]) == (1100.0, 700.0)  # Origin 24
    assert net.link_ids is not None
    assert net.link_ids[0] == 1
    assert (net.from_node[0], net.to_node[0]) == (0, 1)  # link "1 2"
    assert net.capacity[0] == pytest.approx(25900.20064)
    assert net.b[0] == 0.15
    assert net.power[0] == 4.0
    assert sioux.links.metadata["NUMBER OF LINKS"] == "76"


def test_sioux_falls_optional_files(sioux) -> None:
    assert set(sioux.files) == {"net", "trips", "node", "flow"}
    assert sioux.coordinates is not None
    assert sioux.coordinates.shape == (24, 2)
    assert np.isfinite(sioux.coordinates).all()
    assert sioux.coordinates[0] == pytest.approx([-96.77041974, 43.61282792])
    assert sioux.best_flows is not None
    assert np.isfinite(sioux.best_flows).all()
    assert sioux.best_flows[0] == pytest.approx(4494.6576464564205)
    assert sioux.best_tstt == pytest.approx(7_480_225.3, rel=1e-7)


def test_net_file_path_finds_siblings(sioux) -> None:
    data = read_tntp(SIOUX_FALLS / "SiouxFalls_net.tntp")
    assert data.files == sioux.files
    np.testing.assert_array_equal(data.demand, sioux.demand)


# --- format variations ----------------------------------------------------------------------

def test_minimal_file(tmp_path: Path) -> None:
    data = read_tntp(write(tmp_path, "toy"))
    net = data.network
    assert net.first_thru_node == 2  # zones 1 and 2 may not be passed through
    assert net.zone_nodes.tolist() == [0, 1]
    assert net.fft.tolist() == [5.0, 5.0, 20.0]
    assert data.demand.tolist() == [[0.0, 30.0], [0.0, 0.0]]
    assert data.coordinates is None
    assert data.best_flows is None
    assert np.isnan(data.best_tstt)


def test_variations(tmp_path: Path) -> None:
    """Spaces, CRLF, missing optional columns and ';', extra metadata, sparse node numbers."""
    net = ("<NUMBER OF ZONES>   3\r\n<NUMBER OF NODES>\t5\r\n<first thru node> 4\r\n"
           "<DISTANCE FACTOR> 0\r\n<TOLL FACTOR> 0\r\n<NUMBER OF LINKS> 4\r\n"
           "<END OF METADATA>\r\n\r\n"
           "init term capacity length fft\r\n"
           "1 10 1e3 2.5 3 ; ~ a comment\r\n"
           "10   20 1000 1 2 0.5\r\n"
           "\r\n"
           "20 2 1000.0 1 1 0.15 2 50 0 1\r\n"
           "2\t3\t500\t1\t1\t0.15\t4\t0\t0\t1;\r\n")
    trips = ("<NUMBER OF ZONES> 3\n<END OF METADATA>\n"
             "Origin  1\n2:5;3 :6;\n\tORIGIN\t2\n 3 : 1.5e1\norigin 3 1 : 2; 2 : 0 ;\n"
             "Origin 1\n2 : 1;\n")
    data = read_tntp(write(tmp_path / "v", "Var", net, trips))
    assert data.node_ids.tolist() == [1, 2, 3, 10, 20]
    n = data.network
    assert n.first_thru_node == 3  # node ids 1, 2, 3 are below <FIRST THRU NODE> 4
    assert n.from_node.tolist() == [0, 3, 4, 1]
    assert n.to_node.tolist() == [3, 4, 1, 2]
    assert n.b.tolist() == [0.15, 0.5, 0.15, 0.15]  # default b when the column is missing
    assert n.power.tolist() == [4.0, 4.0, 2.0, 4.0]
    assert data.links.columns["speed"].tolist() == [0.0, 0.0, 50.0, 0.0]
    assert data.links.lines.tolist() == [10, 11, 13, 14]
    assert data.links.metadata["TOLL FACTOR"] == "0"
    assert data.demand.tolist() == [[0.0, 6.0, 6.0], [0.0, 0.0, 15.0], [2.0, 0.0, 0.0]]


def test_zones_numbered_like_nodes(tmp_path: Path) -> None:
    """Munich numbers zones like nodes (1000000, 73510, ...) and has zero-capacity links."""
    net = ("<NUMBER OF ZONES> 2\n<NUMBER OF NODES> 3\n<FIRST THRU NODE> 250\n"
           "<NUMBER OF LINKS> 4\n<END OF METADATA>\n"
           "100 300 1000 1 10 0.15 4 ;\n100 200 1000 1 1 0.15 4 ;\n"
           "200 300 1000 1 1 0.15 4 ;\n300 100 0 1 0 0.15 4 ;\n")
    trips = "<NUMBER OF ZONES> 2\nOrigin 100\n300 : 10; 100 : 0;\nOrigin 300\n100 : 4;\n"
    data = read_tntp(write(tmp_path, "M", net, trips))
    assert data.zone_ids.tolist() == [100, 300]
    assert data.node_ids.tolist() == [100, 300, 200]  # zones first
    assert data.demand.tolist() == [[0.0, 10.0], [4.0, 0.0]]
    n = data.network
    # only zones below <FIRST THRU NODE> are centroids: node 200 (< 250) stays a thru node
    assert n.first_thru_node == 1
    assert n.from_node.tolist() == [0, 0, 2, 1]
    assert n.capacity[3] == 0.0  # zero capacity with zero free-flow time is accepted
    res = assign(n, data.demand)
    np.testing.assert_allclose(res.flows, [0, 10, 10, 4])


def test_trips_file_chosen(tmp_path: Path) -> None:
    folder = write(tmp_path, "A")
    (folder / "A_trips.tntp").rename(folder / "A_trips_am.tntp")
    (folder / "A_trips_pm.tntp").write_text(TRIPS.replace("30.0", "5.0"))
    with pytest.raises(AssignmentError, match=r"several trips files \(A_trips_am\.tntp, A_trips"):
        read_tntp(folder)
    data = read_tntp(folder, trips=folder / "A_trips_pm.tntp")
    assert data.demand.sum() == 5.0
    with pytest.raises(AssignmentError, match=r"nope\.tntp: no such file"):
        read_tntp(folder, trips=folder / "nope.tntp")


def test_flow_and_node_files(tmp_path: Path) -> None:
    folder = write(tmp_path, "toy")
    (folder / "toy_flow.tntp").write_text("From\tTo\tVolume\tCost\n1 2 3.0 20.0\n"
                                          "1\t3\t27.0\t5.5\n3 2 27 5.5 ;\n")
    (folder / "toy_node.tntp").write_text("Node\tX\tY\t;\n1\t0.5\t1.5\t;\n3 2 2 ;\n99 0 0 ;\n")
    data = read_tntp(folder)
    assert data.best_flows is not None
    assert data.best_flows.tolist() == [27.0, 27.0, 3.0]  # matched by (from, to), not order
    assert data.best_tstt == pytest.approx(27 * 5.5 * 2 + 3 * 20)
    assert data.coordinates is not None
    np.testing.assert_array_equal(data.coordinates, [[0.5, 1.5], [np.nan, np.nan], [2, 2]])


def test_bad_node_file(tmp_path: Path) -> None:
    folder = write(tmp_path, "toy")
    (folder / "toy_node.tntp").write_text("Node X Y\n1 0.5 1.5 extra ;\n2 0.5\n")
    with pytest.raises(AssignmentError, match=r"toy_node\.tntp, line 3: expected 'node x y'"):
        read_tntp(folder)


def test_read_flows_without_cost(tmp_path: Path) -> None:
    f = tmp_path / "x_flow.tntp"
    f.write_text("~ From To Volume\n1 2 4.5\n")
    frm, to, vol, cost = read_flows(f)
    assert (frm.tolist(), to.tolist(), vol.tolist()) == ([1], [2], [4.5])
    assert np.isnan(cost).all()


def test_read_trips_alone(tmp_path: Path) -> None:
    f = tmp_path / "x_trips.tntp"
    f.write_text("<NUMBER OF ZONES> 2\n<END OF METADATA>\nOrigin 2\n1 :5; 1: 1 ;\n")
    demand, zones, meta = read_trips(f)
    assert demand.tolist() == [[0.0, 0.0], [6.0, 0.0]]  # repeated pairs add up
    assert zones.tolist() == [1, 2]
    assert meta == {"NUMBER OF ZONES": "2"}
    demand, zones, _ = read_trips(f, zone_ids=[2, 1])
    assert demand.tolist() == [[0.0, 6.0], [0.0, 0.0]]


def test_total_od_flow_mismatch_warns(tmp_path: Path) -> None:
    trips = TRIPS.replace("<TOTAL OD FLOW> 30.0", "<TOTAL OD FLOW> 99.0")
    with pytest.warns(UserWarning, match="TOTAL OD FLOW"):
        read_tntp(write(tmp_path, "toy", trips=trips))


def test_find_files(tmp_path: Path) -> None:
    folder = write(tmp_path, "A")
    (folder / "A_flow.tntp").write_text("")
    found = find_tntp_files(folder)
    assert found == {"net": folder / "A_net.tntp", "trips": folder / "A_trips.tntp",
                     "flow": folder / "A_flow.tntp"}
    assert find_tntp_files(folder / "A_net.tntp") == found


# --- errors ---------------------------------------------------------------------------------

def _net_error(tmp_path: Path, net: str, trips: str = TRIPS) -> str:
    with pytest.raises(AssignmentError) as info:
        read_tntp(write(tmp_path, "bad", net, trips))
    return str(info.value)


def test_bad_number_names_file_and_line(tmp_path: Path) -> None:
    msg = _net_error(tmp_path, NET.replace("\t3\t2\t100\t", "\t3\t2\tlots\t"))
    assert "bad_net.tntp, line 9" in msg
    assert "capacity is not a number (got 'lots')" in msg


def test_too_few_columns(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"bad_net\.tntp, line 10: expected 5 to 10 col"):
        read_tntp(write(tmp_path, "bad", NET.replace("\t1\t2\t100\t1\t20\t0.15\t4\t0\t0\t1",
                                                     "\t1\t2\t100\t1")))


def test_fractional_node(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"line 8: init_node must be a whole number"):
        read_tntp(write(tmp_path, "bad", NET.replace("\t1\t3\t100", "\t1.5\t3\t100")))


def test_negative_capacity_names_link(tmp_path: Path) -> None:
    msg = _net_error(tmp_path, NET.replace("\t3\t2\t100\t", "\t3\t2\t-100\t"))
    assert "bad_net.tntp, line 9: link 2 (3 -> 2): capacity must be >= 0 (got -100)" in msg


def test_negative_free_flow_time_names_link(tmp_path: Path) -> None:
    msg = _net_error(tmp_path, NET.replace("\t1\t20\t0.15", "\t1\t-20\t0.15"))
    assert "line 10: link 3 (1 -> 2): free_flow_time must be >= 0 (got -20)" in msg


def test_number_of_links_checked(tmp_path: Path) -> None:
    msg = _net_error(tmp_path, NET.replace("<NUMBER OF LINKS> 3", "<NUMBER OF LINKS> 4"))
    assert "bad_net.tntp" in msg
    assert "<NUMBER OF LINKS> is 4 but the file has 3 link rows" in msg


def test_bad_metadata_value(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"<NUMBER OF ZONES> must be an integer"):
        read_tntp(write(tmp_path, "bad", NET.replace("ZONES> 2", "ZONES> two")))


def test_missing_zone_count(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"<NUMBER OF ZONES> is missing"):
        read_tntp(write(tmp_path, "bad", NET.replace("<NUMBER OF ZONES> 2\n", "")))


def test_too_many_nodes_warns(tmp_path: Path) -> None:
    # published files are not always consistent here (Munich): a warning, not an error
    with pytest.warns(UserWarning, match=r"<NUMBER OF NODES> is 2 but .* 3 distinct"):
        read_tntp(write(tmp_path, "bad", NET.replace("NODES> 3", "NODES> 2")))


@pytest.mark.parametrize(("line", "match"), [
    ("    2 30.0;", r"line 6: expected 'destination : flow' pairs separated by ';', got '2 30.0'"),
    ("    2 : many;", r"line 6: flow to destination 2 is not a number \(got 'many'\)"),
    ("    3 : 1.0;", r"line 6: destination 3 is not a zone \(1\.\.2\)"),
    ("    2 : -1.0;", r"line 6: flow to destination 2 is negative"),
    ("    x : 1.0;", r"line 6: destination is not a number"),
])
def test_bad_trips_line(tmp_path: Path, line: str, match: str) -> None:
    trips = TRIPS.replace("    1 :      0.0;     2 :     30.0;", line)
    with pytest.raises(AssignmentError, match=r"bad_trips\.tntp, " + match):
        read_tntp(write(tmp_path, "bad", trips=trips))


def test_pairs_before_origin(tmp_path: Path) -> None:
    trips = "<NUMBER OF ZONES> 2\n<END OF METADATA>\n2 : 1.0;\n"
    with pytest.raises(AssignmentError, match=r"line 3: 'destination : flow' pairs before"):
        read_tntp(write(tmp_path, "bad", trips=trips))


def test_bad_origin(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"line 5: origin 7 is not a zone"):
        read_tntp(write(tmp_path, "bad", trips=TRIPS.replace("Origin \t1", "Origin 7")))
    with pytest.raises(AssignmentError, match=r"line 5: 'Origin' without a zone number"):
        read_tntp(write(tmp_path, "bad", trips=TRIPS.replace("Origin \t1", "Origin")))


def test_zone_count_mismatch_warns(tmp_path: Path) -> None:
    trips = TRIPS.replace("<NUMBER OF ZONES> 2", "<NUMBER OF ZONES> 3")
    with pytest.warns(UserWarning, match=r"bad_trips\.tntp: <NUMBER OF ZONES> is 3 but"):
        data = read_tntp(write(tmp_path, "bad", trips=trips))
    assert data.zone_ids.tolist() == [1, 2]


def test_bad_flow_file(tmp_path: Path) -> None:
    folder = write(tmp_path, "toy")
    (folder / "toy_flow.tntp").write_text("From To Volume Cost\n1 2 3 4\n2 1 3 4\n")
    with pytest.raises(AssignmentError, match=r"toy_flow\.tntp: row 2: no link 2 -> 1"):
        read_tntp(folder)
    (folder / "toy_flow.tntp").write_text("From To Volume Cost\n1 2\n")
    with pytest.raises(AssignmentError, match=r"toy_flow\.tntp, line 2: expected 'from to"):
        read_tntp(folder)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(AssignmentError, match=r"no such file or directory"):
        read_tntp(tmp_path / "nowhere")
    with pytest.raises(AssignmentError, match=r"no \*_net\.tntp file"):
        read_tntp(tmp_path)
    (tmp_path / "X_net.tntp").write_text(NET)
    with pytest.raises(AssignmentError, match=r"no trips file \(X_trips\.tntp\) beside"):
        read_tntp(tmp_path)
    (tmp_path / "Y_net.tntp").write_text(NET)
    with pytest.raises(AssignmentError, match=r"several net files \(X_net\.tntp, Y_net\.tntp\)"):
        read_tntp(tmp_path)


def test_read_links_no_rows(tmp_path: Path) -> None:
    f = tmp_path / "e_net.tntp"
    f.write_text("<NUMBER OF ZONES> 1\n<END OF METADATA>\n")
    with pytest.raises(AssignmentError, match=r"e_net\.tntp: no link rows"):
        read_links(f)
