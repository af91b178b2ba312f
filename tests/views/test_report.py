"""The stakeholder report: comparison table, costs, charts, maps, provenance; offline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.views.pages import page_refs  # tests/views/pages.py
from twin._errors import ScenarioError
from twin.views.report import format_number, report_html, write_report
from twin.views.template import CSP


def _rows(text: str, kpi: str) -> str:
    m = re.search(rf"<tr[^>]*><td>[^<]*<br><code>{kpi}</code>.*?</tr>", text, re.S)
    assert m is not None, kpi
    return m.group(0)


def test_report_has_table_costs_charts_maps_and_provenance(runs_dir: Path,
                                                          tmp_path: Path) -> None:
    out = write_report(runs_dir / "baseline", [runs_dir / "closure"], tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    # comparison: base 10 min, scenario 13 min (+ noise), 3 paired replications
    row = _rows(text, "commute_time_mean_min")
    nums = re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)
    assert float(nums[0]) == pytest.approx(10.0, abs=0.3)
    assert float(nums[1]) == pytest.approx(13.0, abs=0.3)
    assert float(nums[2]) == pytest.approx(3.0, abs=0.3)
    assert nums[3].startswith("[")
    assert nums[3].endswith("]")
    assert "worse" in row                               # lower is better, it went up
    # the same trips count in both: an interval at zero, marked not significant
    trips = _rows(text, "trips")
    assert 'class="ns"' in trips
    assert "not significant" in trips
    assert "3 paired replications" in text
    # costs and financing
    assert "Close road r0" in text
    assert "PPP" in text
    assert "ASSUMPTION" in text
    # charts: hourly volume, travel times, power demand, cash flow
    assert text.count("<svg") >= 4
    for title in ("Hourly traffic volume", "Travel-time distribution",
                  "Power demand of the buildings", "Public budget cash flow"):
        assert title in text, title
    # the map of the scenario against its base
    assert 'id="twin-map-0"' in text
    assert "TwinMap.mount" in text
    # provenance: OSM credit and licence, sources per layer
    assert "© OpenStreetMap contributors" in text
    assert "ODbL 1.0" in text
    assert "Where the data come from" in text
    # offline
    assert page_refs(text).refs == [] or all(r.startswith("#") for r in page_refs(text).refs)
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*https?://', text, re.I)
    assert CSP.split(";")[0] in text


def test_report_in_chinese(runs_dir: Path) -> None:
    text = report_html(runs_dir / "baseline", [runs_dir / "closure"], lang="zh", maps=False)
    assert "情景报告" in text
    assert "关键指标比较" in text
    assert "不显著" in text
    assert "情景 closure" in text                       # the scenario's own zh title
    assert "通勤时间（均值）" in text
    assert "TwinMap" not in text                        # no maps: no deck.gl either
    assert len(text) < 1_000_000


def test_report_uses_the_base_the_summary_names(runs_dir: Path) -> None:
    # a scenario run against its own base (e.g. a horizon year): summary.json says which
    other = runs_dir / "baseline@2035"
    shutil.copytree(runs_dir / "baseline", other)
    (runs_dir / "summary.json").write_text(json.dumps(
        {"scenarios": {"closure": {"folder": "closure", "base": "baseline@2035"}}}))
    text = report_html(runs_dir / "baseline", [runs_dir / "closure"], maps=False)
    assert "compared with Scenario baseline" in text


def test_report_errors(runs_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScenarioError, match="no complete replication"):
        write_report(runs_dir / "baseline", [empty], tmp_path / "r.html")
    with pytest.raises(ScenarioError, match="give at least one scenario folder"):
        write_report(runs_dir / "baseline", [], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_format_number() -> None:
    assert format_number(1234567.8) == "1,234,568"
    assert format_number(150.26) == "150.3"
    assert format_number(0.0) == "0"
    assert format_number(float("nan")) == "–"
    assert format_number(True) == "True"


def test_report_charts_utility_results_when_runs_have_them(runs_dir: Path) -> None:
    import pandas as pd

    for name, load in (("baseline", 40.0), ("closure", 55.0)):
        rep = runs_dir / name / "rep-0"
        pd.DataFrame({"kind": ["cable", "cable", "bus"], "id": ["pl1", "pl1", "pb1"],
                      "hour": [8, 9, 8], "loading_pct": [load, load / 2, None]}
                     ).to_parquet(rep / "power.parquet")
        pd.DataFrame({"kind": ["node", "pipe"], "id": ["wn1", "wp1"], "hour": [8, 8],
                      "pressure_m": [30.0, None]}).to_parquet(rep / "water.parquet")
    text = report_html(runs_dir / "baseline", [runs_dir / "closure"], maps=False)
    assert "Peak power line loading by hour" in text
    assert "Lowest water pressure by hour" in text
    assert "Power demand of the buildings" not in text
