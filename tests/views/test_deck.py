"""Map data and the map page: layers, states, hourly results, trips, offline HTML."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.views.pages import page_data, page_refs  # tests/views/pages.py
from twin._errors import LayerError, TwinError
from twin.layers.store import read_twin
from twin.views._encode import decode_numbers
from twin.views.deck import data_json, map_data, write_map
from twin.views.runs import MapSource, load_source


def test_layers_only_map_has_every_layer_and_no_results(twin_file: Path) -> None:
    d = map_data(load_source(twin_file))
    assert d["meta"]["states"] == ["after"]
    assert d["meta"]["layers_only"] is True
    assert d["meta"]["hours"] is None
    assert d["dyn"] == {}
    assert d["trips"] == {}
    layers = d["layers"]
    assert layers["roads"]["n"] == 12
    assert layers["buildings"]["n"] == 4
    # only the signalised node of the 9 road nodes is drawn
    assert layers["road_nodes"]["n"] == 1
    assert layers["facilities"]["n"] == 1
    assert layers["sensors"]["n"] == 1
    # one state: no presence mask, no "before" values
    assert "m" not in layers["roads"]
    assert all("b" not in c for c in layers["buildings"]["c"].values())
    assert d["meta"]["credits"] == ["© OpenStreetMap contributors"]
    assert d["meta"]["provenance"]["buildings"] == {"synthetic": 4}


def test_coordinates_are_metres_around_the_centre(twin_file: Path) -> None:
    d = map_data(load_source(twin_file))
    g = d["layers"]["roads"]["g"]
    xy = decode_numbers(g["xy"]).reshape(-1, 2)
    # the grid is 200 m wide around its centre (UTM scale and rounding within 1 m)
    assert np.allclose(xy.min(axis=0), [-100, -100], atol=1.0)
    assert np.allclose(xy.max(axis=0), [100, 100], atol=1.0)
    assert decode_numbers(g["pv"]).tolist() == [2.0] * 12
    w, s, e, n = d["meta"]["bounds"]
    assert w < d["meta"]["origin"][0] < e
    assert s < d["meta"]["origin"][1] < n


def test_field_values_and_provenance_round_trip(twin_file: Path) -> None:
    d = map_data(load_source(twin_file))
    cols = d["layers"]["buildings"]["c"]
    assert decode_numbers(cols["height_m"]["v"]).tolist() == [12.8] * 4
    use = cols["use"]["v"]
    codes = decode_numbers(use["c"]).astype(int)
    assert [use["d"][c] for c in codes] == ["residential", "office", "residential", "office"]
    src = cols["height_m_source"]["v"]
    assert {src["d"][c] for c in decode_numbers(src["c"]).astype(int)} == {"synthetic"}


def test_day_results_give_hourly_vc_trips_and_power(day_dir: Path) -> None:
    d = map_data(load_source(day_dir), max_trips=5, seed=3)
    assert d["meta"]["hours"] == [5, 24]
    assert d["meta"]["time"] == 8 * 3600
    vc = decode_numbers(d["dyn"]["vc"]["after"]).reshape(19, 12)
    roads = list(load_source(day_dir).twin.layer("roads")["id"])
    r0 = roads.index("r0")
    assert vc[8 - 5, r0] == pytest.approx(1.1)      # 0.1 + 0.8 peak + 0.2 on r0
    assert vc[6 - 5, r0] == pytest.approx(0.3)
    assert vc[8 - 5, roads.index("r1")] == pytest.approx(0.9)
    trips = d["trips"]["after"]
    assert trips["n"] == 5
    assert trips["total"] == 12
    links = decode_numbers(trips["l"]).astype(int).reshape(5, 3)
    # r0, r1 forwards, r4 backwards: 2 x index (+1 for :rev)
    assert links[0].tolist() == [2 * r0, 2 * roads.index("r1"), 2 * roads.index("r4") + 1]
    t0, t1 = decode_numbers(trips["t0"]), decode_numbers(trips["t1"])
    assert np.all(t1 - t0 == 240)
    kw = decode_numbers(d["dyn"]["kw"]["after"]).reshape(24, 4)
    assert np.all(kw >= 0)
    assert kw.sum() > 0


def test_compare_gives_union_mask_and_before_values(day_dir: Path, twin_file: Path) -> None:
    before = load_source(day_dir)
    after = load_source(day_dir)
    t = after.twin.copy()
    b = t.layers["buildings"]
    t.layers["buildings"] = b[b["id"] != "b0"].copy()
    t.layers["buildings"].loc[t.layers["buildings"]["id"] == "b1", "height_m"] = 30.0
    t.extras["highlight"] = {"buildings": ["b1"], "roads": ["r3"]}
    after.twin = t
    d = map_data(after, before, max_trips=3)
    assert d["meta"]["states"] == ["before", "after"]
    layer = d["layers"]["buildings"]
    assert layer["n"] == 4
    ids = layer["c"]["id"]["v"]
    order = [ids["d"][c] for c in decode_numbers(ids["c"]).astype(int)]
    assert order == ["b1", "b2", "b3", "b0"]        # after's first, then before-only
    mask = decode_numbers(layer["m"]).astype(int).tolist()
    assert mask == [3, 3, 3, 1]                      # b0 only before (bit 0)
    assert decode_numbers(layer["c"]["height_m"]["v"]).tolist()[:3] == [30.0, 12.8, 12.8]
    assert decode_numbers(layer["c"]["height_m"]["b"]).tolist()[:3] == [12.8, 12.8, 12.8]
    assert "b" not in layer["c"]["use"]              # unchanged values are stored once
    assert decode_numbers(layer["hl"]).astype(int).tolist() == [0]
    assert set(d["trips"]) == {"before", "after"}
    assert set(d["dyn"]["vc"]) == {"before", "after"}


def test_write_map_is_self_contained_and_offline(day_dir: Path, tmp_path: Path) -> None:
    out = write_map(day_dir, tmp_path / "map.html", compare=day_dir, lang="zh")
    text = out.read_text(encoding="utf-8")
    refs = page_refs(text)
    assert refs.refs == []                           # no src or href at all
    assert all("src" not in s for s in refs.scripts)
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*https?://', text, re.I)
    assert "default-src 'none'" in text              # the CSP forbids requests
    assert 'lang="zh-CN"' in text
    assert "TwinMap.mount" in text
    assert "TripsLayer" in text
    d = page_data(text)
    assert d["meta"]["lang"] == "zh"
    assert d["meta"]["titles"]["buildings"] == "建筑"
    assert out.stat().st_size < 8_000_000


def test_write_map_from_a_scenario_folder_applies_the_intervention(runs_dir: Path,
                                                                   tmp_path: Path) -> None:
    out = write_map(runs_dir / "closure", tmp_path / "m.html", compare=runs_dir / "baseline")
    d = page_data(out.read_text(encoding="utf-8"))
    assert d["meta"]["title"] == "Scenario closure"
    assert d["meta"]["interventions"] == ["Close road r0"]
    assert d["meta"]["labels"]["before"] == "Scenario baseline (replication 0)"
    roads = d["layers"]["roads"]
    ids = [roads["c"]["id"]["v"]["d"][c]
           for c in decode_numbers(roads["c"]["id"]["v"]["c"]).astype(int)]
    assert [ids[i] for i in decode_numbers(roads["hl"]).astype(int)] == ["r0"]
    cap = decode_numbers(roads["c"]["capacity_vph"]["v"])
    assert cap[ids.index("r0")] == 1.0              # closed in the scenario
    assert decode_numbers(roads["c"]["capacity_vph"]["b"])[ids.index("r0")] == 600.0


def test_map_labels_and_sources_in_the_chosen_language(runs_dir: Path, tmp_path: Path) -> None:
    import json

    for rep in (runs_dir / "closure").glob("rep-*"):
        sc = json.loads((rep / "scenario.json").read_text(encoding="utf-8"))
        sc["interventions"][0]["labels"] = {"en": "Close road r0", "zh": "封闭道路 r0"}
        (rep / "scenario.json").write_text(json.dumps(sc), encoding="utf-8")
    src = load_source(runs_dir / "closure")
    src.twin.meta["sources"] = [*src.twin.meta.get("sources", []),
                                {"name": "twin utility layout", "licence": "generated",
                                 "note": "power and water networks laid along streets "
                                         "(synthetic)"}]
    zh = map_data(src, lang="zh")["meta"]
    assert zh["title"] == "情景 closure"
    assert zh["interventions"] == ["封闭道路 r0"]
    layout = zh["sources"][-1]
    assert layout == {"name": "twin 市政管网布设", "licence": "生成",
                      "note": "沿街道布设的电力与供水管网（合成）"}
    assert zh["sources"][0]["licence"] == "ODbL 1.0"      # the owners' words stay
    en = map_data(src, lang="en")["meta"]
    assert en["interventions"] == ["Close road r0"]
    assert en["sources"][-1]["name"] == "twin utility layout"


def test_map_of_an_empty_twin_layer_set(grid_twin) -> None:
    tw = grid_twin.copy()
    tw.layers = {"zones": tw.layers["zones"]}
    d = map_data(MapSource(twin=tw, label="z"))
    assert list(d["layers"]) == ["zones"]


def test_bad_language_and_missing_sources_raise(twin_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TwinError, match="language 'fr' is not supported"):
        write_map(twin_file, tmp_path / "x.html", lang="fr")
    with pytest.raises(LayerError, match="no such file or folder"):
        write_map(tmp_path / "nope", tmp_path / "x.html")
    with pytest.raises(TwinError, match="no such folder"):
        write_map(twin_file, tmp_path / "missing" / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_data_json_escapes_script_end() -> None:
    assert "</script>" not in data_json({"a": "</script><script>alert(1)</script>"})


def test_read_twin_of_written_fixture(twin_file: Path) -> None:
    assert len(read_twin(twin_file).layer("facilities")) == 1
