"""``twin utilities check`` and ``twin layers import --epanet / --pandapower``."""

from __future__ import annotations

import json
from pathlib import Path

import pandapower as pp
import pandapower.networks as pn
import pytest

from tests.network.test_power import utility_grid
from twin.cli import main
from twin.layers.store import read_twin, write_twin
from twin.network.water import NET1, NET3


@pytest.fixture
def twin_file(tmp_path: Path) -> Path:
    return write_twin(utility_grid(3), tmp_path / "grid.twin.gpkg")


def test_check_ok(twin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["utilities", "check", str(twin_file)]) == 0
    out = capsys.readouterr().out
    assert "power buildings supplied     4 of 4" in out
    assert out.strip().endswith("utilities ok")


def test_check_json(twin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["utilities", "check", str(twin_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["summary"]["water buildings supplied"] == "4 of 4"


def test_check_zero_diameter_exits_2(twin_file: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    twin = read_twin(twin_file)
    twin.layers["water_pipes"].loc[twin.layers["water_pipes"]["id"] == "wp2",
                                   "diameter_mm"] = 0.0
    write_twin(twin, twin_file, overwrite=True)
    assert main(["utilities", "check", str(twin_file)]) == 2
    out = capsys.readouterr().out
    assert "water_pipes: feature wp2: diameter_mm must be > 0" in out
    assert "utilities check failed" in out


def test_check_zero_impedance_exits_2(twin_file: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    twin = read_twin(twin_file)
    lines = twin.layers["power_lines"]
    lines.loc[lines["id"] == "pc1", ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    write_twin(twin, twin_file, overwrite=True)
    assert main(["utilities", "check", str(twin_file)]) == 2
    assert "feature pc1: r_ohm_per_km and x_ohm_per_km are both 0" in capsys.readouterr().out


def test_check_unreadable_twin_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    bad = tmp_path / "x.twin.gpkg"
    bad.write_text("nope")
    assert main(["utilities", "check", str(bad)]) == 2
    assert "not a GeoPackage" in capsys.readouterr().err


def test_import_epanet_replace(twin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["layers", "import", str(twin_file), "--epanet", str(NET3), "--replace"])
    assert code == 0
    out = capsys.readouterr().out
    assert "92 junction, 2 reservoir, 3 tank, 117 pipe, 2 pump" in out
    assert "no CRS in the model" in out
    twin = read_twin(twin_file)
    assert len(twin.layers["water_nodes"]) == 97
    assert twin.meta["utility_models"]["water"]["source"] == "Net3.inp"
    assert set(twin.layers["water_nodes"]["source"]) == {"import"}


def test_import_pandapower_bundled_and_file(twin_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "import", str(twin_file), "--pandapower", "mv_oberrhein",
                 "--replace"]) == 0
    out = capsys.readouterr().out
    assert "179 bus, 2 ext_grid, 147 load, 153 sgen, 181 line, 2 trafo, 322 switch" in out
    assert "moved to the twin's centre" in out
    path = tmp_path / "simple.json"
    pp.to_json(pn.example_simple(), str(path))
    assert main(["layers", "import", str(twin_file), "--pandapower", str(path),
                 "--replace"]) == 0
    assert len(read_twin(twin_file).layers["power_nodes"]) == 7


def test_import_bad_inp_exits_2(twin_file: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.inp"
    bad.write_text("[PIPES]\n P1 A B notalength 100 100\n[END]\n")
    before = twin_file.read_bytes()
    assert main(["layers", "import", str(twin_file), "--epanet", str(bad)]) == 2
    assert "bad.inp: not a valid EPANET input file" in capsys.readouterr().err
    assert twin_file.read_bytes() == before


def test_import_bad_pandapower_exits_2(twin_file: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "net.json"
    bad.write_text("[1, 2")
    assert main(["layers", "import", str(twin_file), "--pandapower", str(bad)]) == 2
    assert "net.json: not a pandapower network" in capsys.readouterr().err
    assert main(["layers", "import", str(twin_file), "--pandapower", "case_nine"]) == 2
    assert "neither a file nor a network bundled" in capsys.readouterr().err


def test_import_twice_without_replace_exits_2(twin_file: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "import", str(twin_file), "--epanet", str(NET1), "--replace"]) == 0
    capsys.readouterr()
    assert main(["layers", "import", str(twin_file), "--epanet", str(NET1)]) == 2
    assert "pass --replace" in capsys.readouterr().err
