"""The `twin simulate` and `twin assign` commands, run through twin.cli.main."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.agents.test_plans import city
from tests.conftest import SHARED
from twin.cli import cli, main
from twin.commands.sim import assign, simulate
from twin.layers.store import write_twin

SIOUX_FALLS = SHARED / "data" / "tntp" / "SiouxFalls"
BEST_TSTT = 7_480_225.3

# until twin.cli lists twin.commands.sim, register the commands here
for command in (simulate, assign):
    if command.name not in cli.commands:
        cli.add_command(command)


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "city.twin.gpkg"
    write_twin(city(residents=60, spacing=500.0), path)
    return path


def test_simulate_writes_results(twin_file: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["simulate", str(twin_file), "--seed", "3", "--out", str(out),
                 "--iterations", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "relative gap per iteration" in text
    assert "commute_time_mean_min" in text
    for name in ("kpis.json", "trips.parquet", "links.gpkg", "run.json"):
        assert (out / name).stat().st_size > 0
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 3
    assert run["input_hash"].startswith("sha256:")


def test_simulate_json_and_sample(twin_file: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(twin_file), "--seed", "1", "--out", str(tmp_path / "r"),
                 "--iterations", "1", "--sample", "0.5", "--json"])
    assert code == 0
    kpis = json.loads(capsys.readouterr().out)
    assert {"vehicle_km", "co2_t", "mode_share_walk"} <= set(kpis)


def test_simulate_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.twin.gpkg"
    write_twin(city(residents=0), empty)
    assert main(["simulate", str(empty), "--seed", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "the twin has no residents" in err
    assert "Traceback" not in err
    assert main(["simulate", str(empty), "--seed", "1", "--out", str(tmp_path / "o"),
                 "--sample", "2"]) == 2
    assert "sample must be in (0, 1]" in capsys.readouterr().err


def test_assign_twin_file(twin_file: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "assign"
    assert main(["assign", str(twin_file), "--out", str(out), "--seed", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["relative_gap"] <= 1e-5
    assert res["iterations"] >= 1
    assert res["tstt"] > 0
    assert (out / "links.gpkg").exists()
    assert (out / "summary.json").exists()


def test_assign_tntp_sioux_falls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sf"
    assert main(["assign", "--tntp", str(SIOUX_FALLS), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"iterations", "relative_gap", "tstt", "max_flow_diff_pct"}
    assert res["relative_gap"] <= 1e-5
    assert abs(res["tstt"] / BEST_TSTT - 1) < 1e-3
    assert res["max_flow_diff_pct"] < 1.0
    assert (out / "flows.csv").read_text().startswith("init_node,term_node,flow,time,best_flow")
    assert main(["assign", "--tntp", str(SIOUX_FALLS / "SiouxFalls_net.tntp"), "--out",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "relative gap" in text
    assert "TSTT" in text
    assert "max link-flow diff" in text


def _broken_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "net"
    folder.mkdir()
    for f in ("SiouxFalls_net.tntp", "SiouxFalls_trips.tntp"):
        shutil.copy(SIOUX_FALLS / f, folder / f)
    net = folder / "SiouxFalls_net.tntp"
    net.write_text(edit(net.read_text()))
    return folder


def test_assign_tntp_malformed_line_exit_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def lines_edit(text: str) -> str:
        return text.replace("\t1\t2\t", "\t1\tx2\t", 1)

    folder = _broken_copy(tmp_path, lines_edit)
    assert main(["assign", "--tntp", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "SiouxFalls_net.tntp, line" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("column", "word"), [(3, "capacity"), (5, "free_flow_time must be >= 0")])
def test_assign_tntp_negative_values_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            column: int, word: str) -> None:
    def negative(text: str) -> str:
        head, body = text.split("<END OF METADATA>")
        rows = body.splitlines()
        i = next(k for k, r in enumerate(rows) if r.strip() and not r.strip().startswith("~"))
        cols = rows[i].split("\t")
        cols[column] = "-" + cols[column].strip()
        rows[i] = "\t".join(cols)
        return head + "<END OF METADATA>" + "\n".join(rows)

    folder = _broken_copy(tmp_path, negative)
    assert main(["assign", "--tntp", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert word in err
    assert "Traceback" not in err


def test_assign_needs_exactly_one_input(twin_file: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assign", "--out", str(tmp_path / "o")]) == 2
    assert "either a twin file or --tntp" in capsys.readouterr().err
    assert main(["assign", str(twin_file), "--tntp", str(SIOUX_FALLS), "--out",
                 str(tmp_path / "o")]) == 2


def test_simulate_with_other_profiles(twin_file: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--population / --external replace agents/*.yaml (a calibrated profile, say)."""
    import yaml

    from twin._resources import data_dir

    ext = yaml.safe_load((data_dir("agents") / "external.yaml").read_text())
    ext["through_traffic"]["peak_share_of_capacity"] = {}   # no through traffic at all
    mine = tmp_path / "external-none.yaml"
    mine.write_text(yaml.safe_dump(ext))
    counts = {}
    for name, extra in (("default", []), ("mine", ["--external", str(mine)])):
        assert main(["simulate", str(twin_file), "--seed", "1", "--out", str(tmp_path / name),
                     "--iterations", "1", "--json", *extra]) == 0
        capsys.readouterr()
        run = json.loads((tmp_path / name / "run.json").read_text())
        counts[name] = run["counts"]["through_trips"]
    assert counts["default"] > 0
    assert counts["mine"] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("through_traffic: [1, 2\n")
    assert main(["simulate", str(twin_file), "--seed", "1", "--out", str(tmp_path / "b"),
                 "--external", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err
    assert "Traceback" not in err
