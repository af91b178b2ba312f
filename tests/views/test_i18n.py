"""English and Simplified Chinese: every key in both, every label the pages use exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twin._errors import TwinError
from twin.layers.schemas import layer_names, layer_spec
from twin.scenarios.kpis import known_kpis
from twin.views import i18n
from twin.views.i18n import (
    LANGS,
    STRINGS,
    VALUES,
    field_label,
    kpi_label,
    layer_title,
    localized,
    strings,
    t,
    unit_label,
    value_label,
    value_table,
)

TEMPLATES = Path(i18n.__file__).with_name("templates")
CJK = re.compile(r"[\u4e00-\u9fff]")
# keys whose Chinese text is the same symbol or acronym as the English
SAME_IN_BOTH = {"model_BOT", "model_PPP", "v_source_osm", "osm_credit"}


def test_every_string_exists_in_both_languages() -> None:
    assert LANGS == ("en", "zh")
    for key, (en, zh) in STRINGS.items():
        assert en.strip(), key
        assert zh.strip(), key
        if key not in SAME_IN_BOTH:
            assert CJK.search(zh), f"{key}: {zh!r} has no Chinese"
        # placeholders agree
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), key


def test_every_label_the_map_script_uses_exists() -> None:
    js = (TEMPLATES / "map.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bS\.(\w+)", js)) | set(re.findall(r"\bS\['(\w+)'\]", js))
    dynamic = {"mode_", "f_", "v_"}
    missing = sorted(k for k in used if k not in STRINGS and k not in dynamic)
    assert missing == []
    modes = re.findall(r"modes = \[([^\]]*)\]", js)[0]
    for m in [*re.findall(r"'(\w+)'", modes), "power", "height_source"]:
        assert f"mode_{m}" in STRINGS
    for state in ("before", "after", "added", "removed", "changed", "unchanged"):
        assert state in STRINGS


def test_every_allowed_value_of_the_dictionary_has_a_label() -> None:
    checked = 0
    for name in layer_names():
        for f, spec in layer_spec(name).fields.items():
            table = value_table(name, f)
            if table is None or not spec.allowed:
                continue
            for value in spec.allowed:
                assert value in VALUES[table], f"{name}.{f}: {value}"
                checked += 1
    assert checked > 80


def test_every_tooltip_field_and_kpi_has_a_label() -> None:
    from twin.views.deck import MAP_LAYERS

    for _, fields in MAP_LAYERS.values():
        for f in fields:
            assert f"f_{f}" in STRINGS, f
    for name in known_kpis():       # the utility, service and emergency KPIs included
        assert f"kpi_{name}" in STRINGS, name
        assert kpi_label(name, "zh") != name.replace("_", " ")


def test_every_kpi_unit_has_no_english_word_in_chinese() -> None:
    """Units read in Chinese: no English word is left (symbols such as %, m3, MWh stay)."""
    from twin.agents.kpis import KPI_UNITS as ENGINE_UNITS

    units = {k.unit for k in known_kpis().values()} | set(ENGINE_UNITS.values())
    assert {"trips", "km", "visits/day", "p.u."} <= units
    for unit in units:
        zh = unit_label(unit, "zh")
        words = re.findall(r"[A-Za-z]{2,}", zh)
        assert all(w in {"CO", "MWh", "m3"} for w in words), (unit, zh)


def test_sources_and_intervention_labels_in_chinese() -> None:
    from twin.layers.synthetic import synthetic_twin
    from twin.views.i18n import intervention_label, source_text

    for src in synthetic_twin(50, seed=1).meta["sources"]:
        for key in ("name", "licence", "note"):
            if src.get(key):
                assert CJK.search(source_text(src[key], "zh")), src[key]
    for en in ("twin utility layout", "twin synthetic generator", "generated",
               "power and water networks laid along streets (synthetic)",
               "see the model's source"):
        assert CJK.search(source_text(en, "zh")), en
        assert source_text(en, "en") == en
    assert source_text("water network Net3.inp", "zh") == "供水管网 Net3.inp"
    assert source_text("OpenStreetMap", "zh") == "OpenStreetMap"
    assert source_text(None, "zh") == ""
    entry = {"type": "bus_line", "label": "Bus X1", "labels": {"en": "Bus X1", "zh": "X1 路"}}
    assert intervention_label(entry, "zh") == "X1 路"
    assert intervention_label(entry, "en") == "Bus X1"
    assert intervention_label({"type": "bus_line", "label": "Bus X1"}, "zh") == "Bus X1"
    assert intervention_label({"type": "bus_line", "labels": {"zh": "只有中文"}}, "en") \
        == "只有中文"
    assert intervention_label({"type": "bus_line"}, "zh") == "bus_line"


def test_lookups() -> None:
    assert t("before", "zh") == "改造前"
    assert t("trips_sampled", "en", n=3, total=9) == "3 of 9 car trips shown"
    assert strings("en")["osm_credit"] == "© OpenStreetMap contributors"
    assert value_label("facility_kind", "service_centre", "zh") == "政务服务中心"
    assert value_label("use", "unknown-use", "zh") == "unknown-use"
    assert field_label("capacity_vph", "en") == "Capacity (veh/h per direction)"
    assert field_label("mystery_field", "en") == "mystery field"
    assert kpi_label("not_a_kpi", "zh") == "not a kpi"
    assert layer_title("roads", "en") == "Road links (drivable network)"
    assert unit_label("veh-km/day", "zh") == "车公里/日"
    assert localized({"en": "A", "zh": "甲"}, "zh") == "甲"
    assert localized({"en": "A"}, "zh") == "A"
    assert localized(None, "en") == ""


def test_unknown_language_and_key_raise() -> None:
    with pytest.raises(TwinError, match="language 'de' is not supported; choose one of: en, zh"):
        t("before", "de")
    with pytest.raises(TwinError, match="no text for 'nonsense'"):
        t("nonsense", "en")
    with pytest.raises(TwinError, match="language 'fr'"):
        strings("fr")
