"""Scenario files: loading, inheritance, precise errors, and fuzzing (only ScenarioError)."""

from __future__ import annotations

import contextlib
import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin._errors import ScenarioError
from twin._resources import data_dir
from twin.scenarios.spec import is_economics_file, load_scenario, scenario_from_dict

BASELINE = {"name": "baseline", "twin": "demo", "runs": {"replications": 3, "seed": 7}}

VALID_ENTRIES: list[dict[str, Any]] = [
    {"type": "road_close", "where": {"ids": ["r3"]}, "hours": [7, 10]},
    {"type": "road_add", "from_node": "b1", "to_node": "a2", "highway": "tertiary"},
    {"type": "road_lanes", "where": {"ids": ["r7"]}, "lanes_delta": 1},
    {"type": "road_speed", "where": {"zone_ids": ["z1"]}, "speed_kph": 30},
    {"type": "adaptive_signals", "where": {"zone_kind": "old_district"},
     "capacity_gain_pct": 15, "cost": {"capex": 2.4e6, "opex_per_year": 1.5e5,
                                       "life_years": 15, "financing": "PPP"}},
    {"type": "sensor_add", "where": {"zone_kind": ["old_district"]}, "signals_only": True},
    {"type": "bus_line", "stops": ["f4", "f6"], "headway_min": 7.5, "hours": [6, 20]},
    {"type": "bus_headway", "where": {"ids": ["t1"]}, "headway_pct": -50},
    {"type": "densify", "where": {"zone_kind": "old_district"}, "residents_pct": 10,
     "add_floors": True},
    {"type": "new_zone", "where": {"zone_ids": ["z2"]}, "block_m": 100},
    {"type": "facility_add", "kind": "clinic", "at": [385450.0, 6672150.0]},
    {"type": "facility_close", "where": {"ids": ["f2"]}},
    {"type": "e_services", "share": 0.4},
    {"type": "signal_timing", "where": {"ids": ["a1"]}, "capacity_gain_pct": 5},
]


def write(folder: Path, name: str, data: Any) -> Path:
    p = folder / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                 encoding="utf-8")
    return p


@pytest.fixture
def folder(tmp_path):
    write(tmp_path, "baseline.yaml", BASELINE)
    return tmp_path


def test_every_example_file_loads():
    files = sorted(p for p in data_dir("scenarios").glob("*.yaml") if not is_economics_file(p))
    names = {load_scenario(p, check_twin=False).name for p in files}
    assert {"baseline", "adaptive-signals-old-town", "bus-line", "road-closure", "new-clinic",
            "densify-old-town", "new-zone-rail-yard"} <= names


def test_base_inherits_twin_population_runs_and_interventions(folder):
    write(folder, "a.yaml", {"name": "a", "base": "baseline.yaml", "population": {"sample": 0.5},
                             "interventions": [VALID_ENTRIES[12]]})  # e_services
    write(folder, "b.yaml", {"name": "b", "base": "a.yaml", "runs": {"replications": 9},
                             "interventions": [VALID_ENTRIES[4]]})
    s = load_scenario(folder / "b.yaml", check_twin=False)
    assert s.twin == "demo"
    assert s.population == {"sample": 0.5}
    assert s.runs["replications"] == 9
    assert s.runs["seed"] == 7
    assert [i.type for i in s.interventions] == ["e_services", "adaptive_signals"]
    assert [i.type for i in s.own_interventions] == ["adaptive_signals"]
    assert s.base is not None
    assert s.base.name == "a"
    assert s.interventions[1].cost == {"capex": 2.4e6, "opex_per_year": 1.5e5,
                                       "life_years": 15}
    assert s.interventions[1].financing == {"model": "PPP"}
    again = scenario_from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict()


def test_twin_path_is_relative_to_the_file(folder, corridor_file):
    sub = folder / "sub"
    sub.mkdir()
    rel = Path("..") / ".." / corridor_file.relative_to(corridor_file.parents[1])
    target = (sub / rel).resolve()
    if not target.exists():  # tmp folders of different tests may not share a parent
        rel = Path(corridor_file)
    write(sub, "s.yaml", {"name": "s", "twin": str(rel)})
    s = load_scenario(sub / "s.yaml", check_twin=False)
    assert Path(s.twin) == Path(corridor_file).resolve()


def test_numbers_in_e_notation_are_numbers(folder):
    write(folder, "s.yaml", "name: s\nbase: baseline.yaml\ninterventions:\n"
          "  - type: e_services\n    share: 0.5\n    cost: {capex: 2.4e6, opex_per_year: 1e5}\n")
    s = load_scenario(folder / "s.yaml", check_twin=False)
    assert s.interventions[0].cost == {"capex": 2.4e6, "opex_per_year": 1e5}


def test_unknown_top_key_names_file_line_valid_keys_and_a_suggestion(folder):
    p = write(folder, "s.yaml", "name: s\nbase: baseline.yaml\n\nintervention: []\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:4: intervention: unknown key "
                       r"\(did you mean 'interventions'\?\); valid keys: name, title"):
        load_scenario(p, check_twin=False)


def test_unknown_intervention_type_and_parameter(folder):
    p = write(folder, "s.yaml", "name: s\nbase: baseline.yaml\ninterventions:\n"
              "  - type: adaptive_signal\n    where: {zone_kind: old_district}\n"
              "  - type: adaptive_signals\n    where: {zone_kind: old_district}\n"
              "    capacity_gain: 10\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, check_twin=False)
    text = str(err.value)
    assert "2 problem(s)" in text
    assert ("s.yaml:4: interventions[0].type: unknown intervention type 'adaptive_signal' "
            "(did you mean 'adaptive_signals'?); valid types: ") in text
    assert ("s.yaml:8: interventions[1].capacity_gain: unknown key (did you mean "
            "'capacity_gain_pct'?)") in text


@pytest.mark.parametrize(("text", "message"), [
    ("  - type: adaptive_signals\n    where: {zone_kind: old_district}\n"
     "    capacity_gain_pct: 150\n", r":6: interventions\[0\]\.capacity_gain_pct: must be "
     r"between 0 and 66, got 150"),
    ("  - type: e_services\n    share: yes\n", r":5: interventions\[0\]\.share: must be a "
     "number, got True"),
    ("  - type: road_close\n    where: {zone_kind: downtown}\n",
     r"where\.zone_kind: 'downtown' is not a zone kind"),
    ("  - type: road_close\n    where: {ids: [r1]}\n    hours: [10, 7]\n",
     r"hours: must be \[start, end\] hours with 0 <= start < end <= 24"),
    ("  - type: facility_add\n    kind: clinik\n    at: [1, 2]\n",
     r"kind: 'clinik' is not allowed \(did you mean 'clinic'\?\)"),
    ("  - type: e_services\n", r"interventions\[0\]\.share: missing \(required by e_services"),
    ("  - type: road_close\n    where: {}\n", r"where: must select something"),
    ("  - type: e_services\n    share: 0.2\n    cost: {capex: -5}\n",
     r"cost\.capex: must be between 0 and 1e\+13, got -5"),
    ("  - type: e_services\n    share: 0.2\n    financing: {model: BOOT}\n",
     r"financing\.model: 'BOOT' is not a financing model \(did you mean 'BOT'\?\)"),
    ("  - road_close\n", r"interventions\[0\]: must be a mapping with a `type`"),
    ("  - type: e_services\n    share: 0.2\n    label: [a, b]\n",
     r":6: interventions\[0\]\.label: must be text or a mapping of languages \(en, zh\)"),
    ("  - type: e_services\n    share: 0.2\n    label: {en: A, zn: B}\n",
     r"interventions\[0\]\.label\.zn: unknown language; valid languages: en, zh"),
    ("  - type: e_services\n    share: 0.2\n    label: {en: 5}\n",
     r"interventions\[0\]\.label\.en: must be text, got 5"),
])
def test_bad_values_are_reported_with_line(folder, text, message):
    p = write(folder, "s.yaml", "name: s\nbase: baseline.yaml\ninterventions:\n" + text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(p, check_twin=False)


@pytest.mark.parametrize(("body", "message"), [
    ("name: s\nbase: baseline.yaml\nruns: {replications: 0}\n",
     r"s\.yaml:3: runs\.replications: must be between 1 and 1000, got 0"),
    ("name: s\nbase: baseline.yaml\nruns: {start_hour: 9, end_hour: 7}\n",
     r"start_hour \(9\) must be before end_hour \(7\)"),
    ("name: s\nbase: baseline.yaml\nhorizon: {year: 2020}\n",
     r"target year 2020 is before the base year 2025"),
    ("name: s\nbase: baseline.yaml\nhorizon: {population_growth_pct_per_year: 1}\n",
     r"horizon: needs a target `year`"),
    ("name: s\nbase: baseline.yaml\neconomics: {discount_rat: 0.03}\n",
     r"economics\.discount_rat: unknown key \(did you mean 'discount_rate'\?\)"),
    ("name: s\nbase: baseline.yaml\nkpis: [co2_tonnes]\n",
     r"kpis\[0\]: unknown KPI 'co2_tonnes' \(did you mean 'co2_t'\?\)"),
    ("name: a/b\ntwin: demo\n", r"name: must be letters, digits"),
    ("title: x\n", r"name: missing"),
    ("name: s\n", r"twin: missing"),
    ("name: s\ntwin: nowhere.twin.gpkg\n", r"twin: no such twin file: .*nowhere\.twin\.gpkg"),
    ("name: s\nbase: other.yaml\n", r"base: no such scenario file: .*other\.yaml"),
    ("- a\n- b\n", r"a scenario file is a mapping with keys name, title"),
    ("name: s\n  twin: demo\n", r"s\.yaml:2: not valid YAML"),
])
def test_bad_files_are_reported(folder, body, message):
    p = write(folder, "s.yaml", body)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(p, check_twin=False)


def test_problems_in_a_base_name_the_base_file(folder):
    write(folder, "a.yaml", "name: a\ntwin: demo\nruns: {seed: -1}\n")
    p = write(folder, "b.yaml", "name: b\nbase: a.yaml\n")
    with pytest.raises(ScenarioError, match=r"a\.yaml:3: runs\.seed: must be between 0"):
        load_scenario(p, check_twin=False)


def test_base_cycle_is_an_error(folder):
    write(folder, "a.yaml", "name: a\nbase: b.yaml\n")
    write(folder, "b.yaml", "name: b\nbase: c.yaml\n")
    write(folder, "c.yaml", "name: c\nbase: a.yaml\n")
    with pytest.raises(ScenarioError, match=r"base cycle: a\.yaml -> b\.yaml -> c\.yaml -> "
                       r"a\.yaml"):
        load_scenario(folder / "a.yaml", check_twin=False)
    write(folder, "self.yaml", "name: x\nbase: self.yaml\n")
    with pytest.raises(ScenarioError, match=r"base cycle: self\.yaml -> self\.yaml"):
        load_scenario(folder / "self.yaml", check_twin=False)


def test_labels_and_titles_are_text_or_english_and_chinese(folder):
    write(folder, "s.yaml", "name: s\nbase: baseline.yaml\ntitle: Only English\n"
          "interventions:\n"
          "  - type: e_services\n    share: 0.2\n    label: {en: Online services, zh: 网上办事}\n"
          "  - type: e_services\n    share: 0.3\n    label: Plain text\n"
          "  - type: e_services\n    share: 0.4\n    label: {zh: 只有中文}\n"
          "  - type: e_services\n    share: 0.5\n")
    s = load_scenario(folder / "s.yaml", check_twin=False)
    assert s.title == {"en": "Only English"}
    one, two, three, four = s.interventions
    assert (one.label, one.labels) == ("Online services", {"en": "Online services",
                                                           "zh": "网上办事"})
    assert (two.label, two.labels) == ("Plain text", {"en": "Plain text"})
    assert (three.label, three.labels) == ("只有中文", {"zh": "只有中文"})
    assert (four.label, four.labels) == ("", {})
    d = s.to_dict()["interventions"]
    assert d[0]["label"] == "Online services"                  # cost tables, twin warn
    assert d[0]["labels"] == {"en": "Online services", "zh": "网上办事"}
    again = scenario_from_dict(s.to_dict())
    assert again.interventions[0].labels == one.labels
    assert again.to_dict() == s.to_dict()
    # a resolved scenario written before labels by language: label alone
    old = {**d[1]}
    old.pop("labels")
    restored = scenario_from_dict({"name": "x", "interventions": [old]}).interventions[0]
    assert restored.to_dict()["labels"] == {"en": "Plain text"}


def test_example_labels_have_chinese():
    for p in sorted(data_dir("scenarios").glob("*.yaml")):
        if is_economics_file(p):
            continue
        for entry in load_scenario(p, check_twin=False).own_interventions:
            assert entry.label, (p.name, entry.type)
            assert set(entry.labels) == {"en", "zh"}, (p.name, entry.type)


def test_the_economics_settings_file_is_recognised_and_refused(tmp_path):
    econ = data_dir("scenarios") / "economics.yaml"
    assert is_economics_file(econ)
    assert not is_economics_file(data_dir("scenarios") / "baseline.yaml")
    with pytest.raises(ScenarioError, match=r"economics\.yaml: this is the economics settings "
                       r"file .*not a scenario"):
        load_scenario(econ, check_twin=False)
    copy_ = tmp_path / "economics.yaml"
    copy_.write_text("currency: CNY\ndiscount_rate: 0.05\n")
    assert is_economics_file(copy_)
    named = tmp_path / "sub"
    named.mkdir()
    (named / "economics.yaml").write_text("name: economics\ntwin: demo\n")
    assert not is_economics_file(named / "economics.yaml")   # a scenario called economics
    assert not is_economics_file(tmp_path / "missing" / "economics.yaml")


def test_unreadable_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "missing.yaml", check_twin=False)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "bin.yaml", check_twin=False)


def test_every_valid_entry_passes_against_the_twin(folder, corridor):
    # signal timing first: adaptive signals turn every signal of the old district adaptive
    p = write(folder, "s.yaml", {"name": "s", "base": "baseline.yaml",
                                 "interventions": VALID_ENTRIES[-1:] + VALID_ENTRIES[:-1]})
    s = load_scenario(p, twin=corridor)
    assert len(s.interventions) == len(VALID_ENTRIES)


@pytest.mark.parametrize(("entry", "message"), [
    ({"type": "road_close", "where": {"ids": ["r33"]}},
     r"s\.yaml:4: interventions\[0\] \(road_close\)\.where\.ids: roads feature 'r33' does "
     r"not exist in the twin \(did you mean 'r3'\?\)"),
    ({"type": "densify", "where": {"zone_ids": ["z9"]}, "residents_pct": 5},
     r"zone 'z9' does not exist in the twin"),
    ({"type": "road_add", "from_node": "a1", "to_node": "zz"},
     r"to_node: road_nodes feature 'zz' does not exist in the twin"),
    ({"type": "road_close", "where": {"bbox": [0, 0, 1, 1]}},
     r"where: selects no roads features"),
    ({"type": "adaptive_signals", "where": {"ids": ["W"]}},
     r"cannot be applied: adaptive_signals: the selection has 1 road node\(s\) but no "
     r"intersection with control signal"),
    ({"type": "road_lanes", "where": {"ids": ["r3"]}},
     r"cannot be applied: road_lanes needs exactly one of `lanes` and `lanes_delta`"),
    ({"type": "bus_line", "stops": ["f1", "f4"]},
     r"'f1' is not a bus_stop facility of the twin"),
])
def test_ids_and_effects_are_checked_against_the_twin(folder, corridor, entry, message):
    p = write(folder, "s.yaml", {"name": "s", "base": "baseline.yaml",
                                 "interventions": [entry]})
    with pytest.raises(ScenarioError, match=message):
        load_scenario(p, twin=corridor)


def test_check_uses_a_twin_provider(folder, corridor):
    seen = []

    def provider(ref):
        seen.append(ref)
        return corridor

    p = write(folder, "s.yaml", {"name": "s", "base": "baseline.yaml",
                                 "interventions": [VALID_ENTRIES[0]]})
    load_scenario(p, twin_provider=provider)
    assert seen == ["demo"]


# --- fuzzing: whatever the file holds, the loader raises ScenarioError or succeeds ---------

def _load_text(text: str, twin) -> None:
    with tempfile.TemporaryDirectory() as d:
        write(Path(d), "baseline.yaml", BASELINE)
        p = Path(d) / "s.yaml"
        p.write_text(text, encoding="utf-8")
        with contextlib.suppress(ScenarioError):
            load_scenario(p, twin=twin)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=12), st.sampled_from(["demo", "r3", "z1", "a1",
                                                                "old_district", "PPP"]))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=10), st.integers(0, 9)), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_random_text_only_raises_scenario_error(text, corridor):
    _load_text(text, corridor)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=yaml_values)
def test_random_yaml_documents_only_raise_scenario_error(value, corridor):
    _load_text(yaml.safe_dump(value), corridor)


def _mutate(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        # walk to a random mapping or list inside the document
        node: Any = doc
        for _ in range(data.draw(st.integers(0, 3))):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            child = node[data.draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list):
                break
            node = child
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = data.draw(st.sampled_from(["set", "delete", "rename", "add"]))
        if keys and action == "set":
            node[data.draw(st.sampled_from(keys))] = data.draw(yaml_values)
        elif keys and action == "delete":
            del node[data.draw(st.sampled_from(keys))]
        elif keys and action == "rename" and isinstance(node, dict):
            k = data.draw(st.sampled_from(keys))
            node[str(k) + data.draw(st.sampled_from(["s", "_", "x"]))] = node.pop(k)
        elif isinstance(node, dict):
            node[data.draw(st.text(max_size=8))] = data.draw(yaml_values)
        else:
            node.append(data.draw(yaml_values))
    return doc


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_valid_files_only_raise_scenario_error(data, corridor):
    doc = {"name": "s", "title": {"en": "S", "zh": "情景"}, "base": "baseline.yaml",
           "horizon": {"year": 2030, "population_growth_pct_per_year": 1.0},
           "interventions": data.draw(st.lists(st.sampled_from(VALID_ENTRIES), min_size=1,
                                               max_size=3)),
           "runs": {"replications": 2, "seed": 1}, "economics": {"discount_rate": 0.03},
           "kpis": ["co2_t"]}
    _load_text(yaml.safe_dump(_mutate(doc, data), allow_unicode=True), corridor)
