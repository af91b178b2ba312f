"""The stakeholder report: comparison table, costs, charts, maps, provenance; offline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
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
    assert "Lowest water pressure at junctions by hour" in text
    assert "Power demand of the buildings" not in text


def _water(rep: Path, rows: list[tuple[str, int, float, float | None]]) -> None:
    import pandas as pd

    pd.DataFrame([{"kind": "node", "id": i, "hour": h, "pressure_m": p, "demand_lps": d}
                  for i, h, p, d in rows]
                 + [{"kind": "pipe", "id": "wp1", "hour": 8, "pressure_m": None,
                     "demand_lps": None}]).to_parquet(rep / "water.parquet")


def test_lowest_pressure_is_over_junctions_with_demand_like_the_kpi(runs_dir: Path) -> None:
    """A reservoir (pressure ~0, no demand) and a junction without demand are left out, as
    ``min_pressure_m`` leaves them out; the hourly minimum is averaged over replications."""
    from twin.views.report import _folder, _min_pressure_by_hour

    for k, (a, b) in enumerate(((40.0, 35.0), (42.0, 37.0), (44.0, 39.0))):
        _water(runs_dir / "baseline" / f"rep-{k}",
               [("wr1", 8, 0.0, None), ("wr1", 9, -1e-6, None),      # the reservoir
                ("wj1", 8, a, 0.5), ("wj1", 9, b, 0.5),
                ("wj2", 8, 5.0, 0.0), ("wj2", 9, 5.0, 0.0)])          # no demand: not served
    folder = _folder(runs_dir / "baseline", "en")
    by_hour = _min_pressure_by_hour(folder, {"wj1", "wj2"})
    assert by_hour is not None
    assert len(by_hour) == 24
    assert by_hour[8] == pytest.approx(42.0)
    assert by_hour[9] == pytest.approx(37.0)
    assert np.isnan(by_hour[7])
    # without the twin's junction ids the demand alone keeps the reservoir out
    assert _min_pressure_by_hour(folder, set())[9] == pytest.approx(37.0)
    # the twin's kinds leave out a reservoir even when it reports a demand
    _water(runs_dir / "baseline" / "rep-0", [("wr1", 8, 0.0, 1.0), ("wj1", 8, 40.0, 0.5)])
    assert _min_pressure_by_hour(_folder(runs_dir / "baseline", "en"), {"wj1"})[8] \
        == pytest.approx(42.0)
    text = report_html(runs_dir / "baseline", [runs_dir / "closure"], maps=False)
    chart = text[text.index("Lowest water pressure at junctions"):]
    assert "<svg" in text
    assert "Lowest water pressure at junctions" in chart


def test_report_embeds_only_the_maps_asked_for(runs_dir: Path, tmp_path: Path) -> None:
    other = runs_dir / "closure2"
    shutil.copytree(runs_dir / "closure", other)
    for rep in other.glob("rep-*"):
        sc = json.loads((rep / "scenario.json").read_text(encoding="utf-8"))
        (rep / "scenario.json").write_text(json.dumps({**sc, "name": "closure2",
                                                       "title": {"en": "Second closure"}}),
                                           encoding="utf-8")
    scens = [runs_dir / "closure", other]
    one = report_html(runs_dir / "baseline", scens, maps=["closure2"])
    assert 'id="twin-map-0"' in one
    assert 'id="twin-map-1"' not in one
    assert len(re.findall(r'<option value="\d+">', one)) == 1
    assert '<option value="0">Second closure</option>' in one
    both = report_html(runs_dir / "baseline", scens)
    assert 'id="twin-map-1"' in both
    assert len(one) < len(both)
    with pytest.raises(ScenarioError, match="no scenario 'nope' among the report's folders"):
        report_html(runs_dir / "baseline", scens, maps=["nope"])


def test_report_labels_in_the_chosen_language_and_settings_warnings(runs_dir: Path) -> None:
    for rep in (runs_dir / "closure").glob("rep-*"):
        sc = json.loads((rep / "scenario.json").read_text(encoding="utf-8"))
        sc["interventions"][0]["labels"] = {"en": "Close road r0", "zh": "封闭道路 r0"}
        (rep / "scenario.json").write_text(json.dumps(sc), encoding="utf-8")
        run = json.loads((rep / "run.json").read_text(encoding="utf-8"))
        (rep / "run.json").write_text(json.dumps({**run, "sample": 0.5}), encoding="utf-8")
    for rep in (runs_dir / "baseline").glob("rep-*"):
        run = json.loads((rep / "run.json").read_text(encoding="utf-8"))
        (rep / "run.json").write_text(json.dumps({**run, "sample": 1.0}), encoding="utf-8")
    zh = report_html(runs_dir / "baseline", [runs_dir / "closure"], lang="zh", maps=False)
    assert "<li>封闭道路 r0</li>" in zh                    # the intervention list
    assert "<td>封闭道路 r0</td>" in zh                    # the cost table
    assert "Close road r0" not in zh
    assert "警告：基准与情景的运行设置不同" in zh
    assert "模拟居民比例：基准 1.0，情景 0.5" in zh
    en = report_html(runs_dir / "baseline", [runs_dir / "closure"], maps=False)
    assert "<li>Close road r0</li>" in en
    assert "share of residents simulated 1.0 (base) vs 0.5 (scenario)" in en
