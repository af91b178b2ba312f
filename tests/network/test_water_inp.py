"""EPANET .inp files checked line by line: every problem named with file, section, line, element
and field; what WNTR and EPANET refuse placed on its line; no stray files from WNTR."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twin._errors import UtilityError
from twin.network.water import NET1, NET3, _library, read_inp, run_epanet
from twin.network.water_inp import (
    InpProblem,
    check_inp,
    epanet_errors,
    explain_wntr_error,
    inp_error,
    report_errors,
)

BUNDLED = ["Net1.inp", "Net2.inp", "Net3.inp", "Net6.inp", "ky4.inp", "ky10.inp"]


def _net3_with(tmp_path: Path, name: str, line: int, old: str, new: str) -> Path:
    """Net3.inp with ``old`` replaced by ``new`` on 1-based ``line``."""
    rows = NET3.read_text().splitlines()
    assert old in rows[line - 1]
    rows[line - 1] = rows[line - 1].replace(old, new, 1)
    out = tmp_path / name
    out.write_text("\n".join(rows) + "\n")
    return out


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_networks_have_no_problem(name: str) -> None:
    assert check_inp(_library(name)) == []
    assert epanet_errors(_library(name)) == []


def test_zero_diameter_names_file_section_line_pipe_and_field(tmp_path: Path) -> None:
    # pipe 20 of Net3 (line 117): Length 99, Diameter 99 (inches: Net3 is in GPM)
    bad = _net3_with(tmp_path, "zero.inp", 117, "\t99          \t199", "\t0           \t199")
    with pytest.raises(UtilityError, match=r"^zero.inp: \[PIPES\] line 117, pipe 20, field "
                       r"Diameter: 0 is not > 0; give the pipe's inner diameter in inches, "
                       r"or delete the pipe$"):
        read_inp(bad)


def test_non_number_names_its_line(tmp_path: Path) -> None:
    bad = _net3_with(tmp_path, "abc.inp", 117, "\t99          \t199", "\tabc         \t199")
    with pytest.raises(UtilityError, match=r"^abc.inp: \[PIPES\] line 117, pipe 20, field "
                       r"Diameter: 'abc' is not a number; give the pipe's inner diameter"):
        read_inp(bad)


def test_non_number_in_a_junction_and_a_pattern(tmp_path: Path) -> None:
    rows = NET3.read_text().splitlines()
    rows[11] = rows[11].replace("32", "abc", 1)           # junction 15, elevation
    rows[254] = rows[254].replace("1.94", "x1.94", 1)     # pattern 1
    bad = tmp_path / "two.inp"
    bad.write_text("\n".join(rows) + "\n")
    with pytest.raises(UtilityError, match="not a valid EPANET input file, 2 problems") as err:
        read_inp(bad)
    text = str(err.value)
    assert ("two.inp: [JUNCTIONS] line 12, junction 15, field Elevation: 'abc' is not a "
            "number; give the ground elevation in feet") in text
    assert "two.inp: [PATTERNS] line 255, pattern 1, field Multiplier: 'x1.94'" in text


SEVERAL = """[TITLE]
several problems
[JUNCTIONS]
 J1 abc 1
 J2 10 1 P9
 J3 10 0
 J1 5 0
[RESERVOIRS]
 R1 50
[TANKS]
 T1 20 5 1 4 10 0
[PIPES]
 P1 R1 J1 100 0 120
 P2 J1 J2 -5 150 120
 P3 J2 J2 100 150 120
[PUMPS]
 U1 R1 J2 SPEED 1
[VALVES]
 V1 J1 T1 150 XYZ 10
[OPTIONS]
 Units LPS
[END]
"""


def test_every_problem_is_listed_in_file_order(tmp_path: Path) -> None:
    p = tmp_path / "several.inp"
    p.write_text(SEVERAL)
    found = check_inp(p)
    assert [(f.section, f.line, f.element, f.field) for f in found] == [
        ("JUNCTIONS", 4, "J1", "Elevation"), ("JUNCTIONS", 5, "J2", "Pattern"),
        ("JUNCTIONS", 6, "J3", None), ("JUNCTIONS", 7, "J1", "ID"),
        ("TANKS", 11, "T1", "InitLevel"), ("PIPES", 13, "P1", "Diameter"),
        ("PIPES", 14, "P2", "Length"), ("PIPES", 15, "P3", "Node2"),
        ("PUMPS", 17, "U1", "HEAD"), ("VALVES", 19, "V1", "Type")]
    # SI units (LPS): millimetres and metres
    assert found[5].message == "0 is not > 0; give the pipe's inner diameter in mm, or delete " \
                              "the pipe"
    assert found[6].message == "-5 is not > 0; give the pipe's length in m"
    assert "not connected to any pipe, pump or valve" in found[2].message
    assert "already used by the node on line 4" in found[3].message
    assert "MinLevel <= InitLevel <= MaxLevel" in found[4].message
    assert "PRV, PSV, PBV, FCV, TCV, GPV" in found[9].message
    with pytest.raises(UtilityError, match=r"several.inp: not a valid EPANET input file, 10 "
                       r"problems:\n  several.inp: \[JUNCTIONS\] line 4, junction J1, field "
                       r"Elevation"):
        read_inp(p)


def test_more_problems_than_listed_are_counted() -> None:
    problems = [InpProblem("PIPES", i, f"P{i}", "Length", "0 is not > 0") for i in range(14)]
    text = str(inp_error("n.inp", problems))
    assert text.splitlines()[0] == "n.inp: not a valid EPANET input file, 14 problems:"
    assert text.splitlines()[-1] == "  ... and 4 more problems"
    assert len(text.splitlines()) == 12


def test_epanet_refusal_is_placed_on_its_line(tmp_path: Path) -> None:
    # sound line by line, but EPANET (and WNTR) refuse a PRV straight on a reservoir
    p = tmp_path / "valve.inp"
    p.write_text("[JUNCTIONS]\n J1 10 1\n[RESERVOIRS]\n R1 50\n[PIPES]\n P1 R1 J1 100 150 120\n"
                 "[VALVES]\n V1 R1 J1 150 PRV 30\n[OPTIONS]\n Units LPS\n[END]\n")
    assert check_inp(p) == []
    with pytest.raises(UtilityError, match=r"^valve.inp: \[VALVES\] line 8, valve V1: EPANET "
                       r"Error 219: illegal valve connection to tank node R1; a valve cannot "
                       r"join a tank or reservoir directly; put a pipe between them$"):
        read_inp(p)


def test_wntr_error_in_an_option_is_placed_on_its_line(tmp_path: Path) -> None:
    bad = _net3_with(tmp_path, "trials.inp", 369, "40", "abc")
    assert check_inp(bad) == []   # options are not checked line by line
    with pytest.raises(UtilityError, match=r"^trials.inp: \[OPTIONS\] line 369, option Trials: "
                       r"EPANET Error 202: illegal numeric value abc; enter a number$"):
        read_inp(bad)


def test_explain_wntr_error_finds_the_line_of_the_value(tmp_path: Path) -> None:
    p = tmp_path / "x.inp"
    p.write_text("[OPTIONS]\n Trials  lots\n")
    found = explain_wntr_error(p, ValueError("could not convert string to float: 'lots'"))
    assert [(f.section, f.line, f.element) for f in found] == [("OPTIONS", 2, "Trials")]
    assert found[0].format("x.inp").startswith("x.inp: [OPTIONS] line 2, option Trials: 'lots'")
    # WNTR's "at line N" wins
    wrapped = RuntimeError("(Error 211) illegal link property value, at line 2")
    assert explain_wntr_error(p, wrapped)[0].line == 2


def test_report_errors_reads_epanet_report() -> None:
    text = ("  Error 211: illegal link property value 0 in [PIPES] section:\n"
            "   20   3   20   99   0   199   0   Open   ;\n\n"
            "  Error 233: Error 233:  unconnected node J7\n"
            "  Error 200: one or more errors in input file\n")
    assert report_errors(text) == [
        (211, "illegal link property value 0", "PIPES",
         "20   3   20   99   0   199   0   Open   ;"),
        (233, "unconnected node J7", None, None)]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UtilityError, match=r"none.inp: no such file"):
        read_inp(tmp_path / "none.inp")


def test_failed_run_names_epanet_error_and_element() -> None:
    wn = read_inp(NET1)
    wn.add_junction("lonely", base_demand=0.01, elevation=10.0)
    with pytest.raises(UtilityError, match=r"EPANET could not solve the water network \(EPANET "
                       r"Error 233: unconnected node lonely; connect the node with a pipe"):
        run_epanet(wn)


def test_epanet_runs_leave_no_files_in_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_epanet(read_inp(NET1))
    wn = read_inp(NET1)
    wn.add_junction("lonely", base_demand=0.01, elevation=10.0)
    with pytest.raises(UtilityError, match="EPANET could not solve"):
        run_epanet(wn)
    epanet_errors(NET3)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_only_run_epanet_starts_epanet() -> None:
    """WNTR's EpanetSimulator.run_sim (and skeletonize) write temp.inp/.rpt/.bin into the
    current folder unless given a prefix: twin runs EPANET in one place, in a temporary folder."""
    root = Path(__file__).resolve().parents[2] / "twin"
    calls = re.compile(r"EpanetSimulator\(|\.run_sim\(|skeletonize\(")
    where = sorted(f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                   for i, line in enumerate(p.read_text().splitlines(), start=1)
                   if calls.search(line) and not line.lstrip().startswith(("#", ">>>")))
    assert len(where) == 1, where
    assert where[0].startswith("network/water.py:")
    assert "file_prefix=str(prefix)" in (root / "network" / "water.py").read_text()
