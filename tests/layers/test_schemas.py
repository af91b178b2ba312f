from __future__ import annotations

import pandas as pd
import pytest

from twin._errors import LayerError
from twin.layers.schemas import (
    PROVENANCE,
    coerce_fields,
    empty_layer,
    layer_names,
    layer_spec,
    load_dictionary,
)


def test_every_design_layer_kind_is_in_the_dictionary():
    expected = {"roads", "road_nodes", "buildings", "zones", "power_lines", "power_nodes",
                "water_pipes", "water_nodes", "facilities", "sensors", "transit_routes"}
    assert expected <= set(layer_names())


def test_dictionary_fields_have_types_and_geometry():
    for spec in load_dictionary().values():
        assert spec.geometry in {"Point", "LineString", "Polygon"}
        assert spec.fields["id"].required
        assert spec.fields["source"].allowed == PROVENANCE
        for f in spec.fields.values():
            assert f.type in {"str", "int", "float", "bool"}


def test_zone_kinds_and_road_controls():
    assert layer_spec("zones").fields["kind"].allowed == ("old_district", "new_zone", "other")
    assert set(layer_spec("road_nodes").fields["control"].allowed) == {
        "none", "signal", "adaptive_signal", "roundabout"}


def test_unknown_layer_suggests_the_closest():
    with pytest.raises(LayerError, match=r"unknown layer 'building'.*did you mean 'buildings'"):
        layer_spec("building")


def test_coerce_reports_text_in_numeric_field_with_feature_id():
    df = pd.DataFrame({"id": ["a", "b", "c"], "height_m": ["12", "tall", None]})
    out, findings = coerce_fields(df, layer_spec("buildings"))
    type_errors = [f for f in findings if f.rule == "type"]
    assert [(f.feature, f.field) for f in type_errors] == [("b", "height_m")]
    assert out["height_m"].iloc[0] == 12.0
    assert pd.isna(out["height_m"].iloc[1])
    required = {f.field for f in findings if f.rule == "required"}
    assert {"use", "floors", "residents", "jobs", "source"} <= required


def test_coerce_parses_booleans():
    df = pd.DataFrame({"id": ["a", "b"], "oneway": ["yes", "0"]})
    out, findings = coerce_fields(df, layer_spec("roads"))
    assert out["oneway"].tolist() == [True, False]
    assert not [f for f in findings if f.rule == "type"]


def test_empty_layer_has_every_column_and_the_crs():
    g = empty_layer("buildings", "EPSG:3067")
    assert list(g.columns[:-1]) == layer_spec("buildings").columns()
    assert g.crs.to_epsg() == 3067
