"""`twin view` and `twin report` from the command line (twin/commands/views.py; here for the
views fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main


def test_view_writes_a_map(twin_file: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.html"
    assert main(["view", str(twin_file), "--out", str(out), "--lang", "zh"]) == 0
    assert out.is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow
def test_view_screenshot(twin_file: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "map.png"
    code = main(["view", str(twin_file), "--out", str(tmp_path / "m.html"), "--screenshot",
                 str(png), "--size", "640x480", "--time", "08:00"])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "first frame in" in capsys.readouterr().out


def test_view_and_report_errors(twin_file: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "m.html")
    assert main(["view", str(twin_file), "--out", out, "--screenshot", "x.png",
                 "--time", "25:00"]) == 2
    assert "must be between 00:00 and 23:59" in capsys.readouterr().err
    assert main(["view", str(twin_file), "--out", out, "--screenshot", "x.png",
                 "--time", "noon"]) == 2
    assert "give the time of day as HH:MM" in capsys.readouterr().err
    assert main(["view", str(twin_file), "--out", out, "--screenshot", "x.png",
                 "--size", "big"]) == 2
    assert "give WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["view", str(twin_file), "--out", out, "--lang", "fr"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["view", str(empty), "--out", out]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["report", str(empty), str(empty), "--out", out]) == 2
    assert "no complete replication" in capsys.readouterr().err


def test_report_command(runs_dir: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(runs_dir / "baseline"), str(runs_dir / "closure"), "--out",
                 str(out), "--no-maps", "--lang", "zh"]) == 0
    assert "情景报告" in out.read_text(encoding="utf-8")


def test_report_command_maps_one_scenario(runs_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(runs_dir / "baseline"), str(runs_dir / "closure"), "--out",
                 str(out), "--map", "closure"]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'id="twin-map-0"' in text
    assert main(["report", str(runs_dir / "baseline"), str(runs_dir / "closure"), "--out",
                 str(out), "--map", "nope"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err
    assert main(["report", str(runs_dir / "baseline"), str(runs_dir / "closure"), "--out",
                 str(out), "--map", "closure", "--no-maps"]) == 2
    assert "give --no-maps or --map NAME, not both" in capsys.readouterr().err
