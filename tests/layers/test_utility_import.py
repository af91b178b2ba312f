"""``twin layers import --epanet / --pandapower`` and ``twin layers validate``: utility models
with values the solvers cannot take are refused at import, named, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pandapower as pp
import pandapower.networks as pn
import pytest

from tests.network.test_power import utility_grid
from twin.cli import main
from twin.layers.store import read_twin, write_twin
from twin.layers.validate import validate_layer
from twin.network.water import NET3


@pytest.fixture
def twin_file(tmp_path: Path) -> Path:
    return write_twin(utility_grid(3), tmp_path / "grid.twin.gpkg")


def _net3_pipe_20(tmp_path: Path, name: str, diameter: str) -> Path:
    rows = NET3.read_text().splitlines()
    rows[116] = rows[116].replace("\t99          \t199", f"\t{diameter:<12}\t199")
    out = tmp_path / name
    out.write_text("\n".join(rows) + "\n")
    return out


@pytest.mark.parametrize(("diameter", "what"), [
    ("0", "0 is not > 0"), ("abc", "'abc' is not a number")])
def test_bad_epanet_file_is_named_and_refused(twin_file: Path, tmp_path: Path, diameter: str,
                                              what: str, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    bad = _net3_pipe_20(tmp_path, "zero.inp", diameter)
    before = twin_file.read_bytes()
    assert main(["layers", "import", str(twin_file), "--epanet", str(bad), "--replace"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: zero.inp: [PIPES] line 117, pipe 20, field Diameter: {what}; give "
                   "the pipe's inner diameter in inches, or delete the pipe\n")
    assert "Traceback" not in err
    assert twin_file.read_bytes() == before   # nothing written


def test_zero_impedance_pandapower_model_is_refused(twin_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    net = pn.example_simple()
    net.line.loc[1, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    path = tmp_path / "zimp.json"
    pp.to_json(net, str(path))
    assert main(["layers", "import", str(twin_file), "--pandapower", str(path),
                 "--replace"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: zimp.json: power_lines / feature l1 (pandapower line 1 "
                          "'Line 2'): r_ohm_per_km and x_ohm_per_km are both 0 (zero "
                          "impedance), which the power flow cannot solve; ")
    assert "Traceback" not in err


def test_validate_flags_a_zero_diameter_pipe(twin_file: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    twin = read_twin(twin_file)
    pipes = twin.layers["water_pipes"]
    pipes.loc[pipes["id"] == "wp2", "diameter_mm"] = 0.0
    found = validate_layer(pipes, "water_pipes")
    assert [f.format() for f in found if f.field == "diameter_mm"] == [
        "error [range] water_pipes / feature wp2 / field diameter_mm: 0 mm is below the minimum "
        "1 mm; correct the value"]
    write_twin(twin, twin_file, overwrite=True)
    assert main(["layers", "validate", str(twin_file)]) == 1
    assert "feature wp2 / field diameter_mm: 0 mm is below the minimum 1 mm" in \
        capsys.readouterr().out
