"""The data dictionary: one YAML per layer kind in ``layers/``, read here.

Examples
--------
>>> from twin.layers.schemas import layer_spec
>>> spec = layer_spec("roads")
>>> spec.geometry, spec.fields["lanes"].type, spec.fields["lanes"].min
('LineString', 'int', 1.0)
>>> "lanes_source" in spec.columns()
True
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import yaml

from twin._errors import Finding, LayerError
from twin._resources import data_dir

__all__ = [
    "PROVENANCE",
    "FieldSpec",
    "LayerSpec",
    "coerce_fields",
    "conform",
    "empty_layer",
    "layer_names",
    "layer_spec",
    "load_dictionary",
    "suggest",
]

#: Allowed values of ``source`` and every ``*_source`` column.
PROVENANCE = ("osm", "derived", "synthetic", "user", "import")

#: The order layers are listed and written in.
LAYER_ORDER = (
    "zones", "roads", "road_nodes", "paths", "buildings", "facilities", "sensors",
    "transit_routes", "power_nodes", "power_lines", "water_nodes", "water_pipes",
)

_TYPES = {"str", "int", "float", "bool"}
_GEOMETRIES = {"Point", "LineString", "Polygon"}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a layer kind, as the data dictionary defines it."""

    name: str
    type: str
    required: bool = False
    unique: bool = False
    unit: str | None = None
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    ref: str | None = None
    provenance: bool = False
    description: str = ""

    @property
    def dtype(self) -> str:
        """The pandas dtype of the column (nullable where the field is optional)."""
        if self.type == "str":
            return "object"
        if self.type == "float":
            return "float64"
        if self.type == "int":
            return "int64" if self.required else "Int64"
        return "bool" if self.required else "boolean"


@dataclass(frozen=True)
class LayerSpec:
    """A layer kind: its geometry, fields and derivation defaults."""

    name: str
    geometry: str
    fields: Mapping[str, FieldSpec]
    title: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    derive: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def columns(self) -> list[str]:
        """All columns of the layer in order, with the ``*_source`` companions.

        Examples
        --------
        >>> layer_spec("sensors").columns()[:4]
        ['id', 'kind', 'range_m', 'range_m_source']
        """
        cols: list[str] = []
        for f in self.fields.values():
            cols.append(f.name)
            if f.provenance:
                cols.append(f"{f.name}_source")
        return cols

    def provenance_fields(self) -> list[str]:
        """Names of the fields that carry a ``*_source`` companion."""
        return [f.name for f in self.fields.values() if f.provenance]


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``' (did you mean X?)'`` for the closest choice, or ``''``.

    Examples
    --------
    >>> suggest("road", ["roads", "zones"])
    " (did you mean 'roads'?)"
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_field(name: str, raw: Mapping[str, Any], path: Path) -> FieldSpec:
    known = {"type", "required", "unique", "unit", "allowed", "min", "max", "ref", "provenance",
             "description"}
    unknown = set(raw) - known
    if unknown:
        msg = f"{path}: field {name}: unknown key(s) {sorted(unknown)}; valid: {sorted(known)}"
        raise LayerError(msg)
    if raw.get("type") not in _TYPES:
        msg = f"{path}: field {name}: type must be one of {sorted(_TYPES)}, got {raw.get('type')!r}"
        raise LayerError(msg)
    allowed = raw.get("allowed")
    return FieldSpec(
        name=name,
        type=raw["type"],
        required=bool(raw.get("required", False)),
        unique=bool(raw.get("unique", False)),
        unit=raw.get("unit"),
        allowed=tuple(str(a) for a in allowed) if allowed else None,
        min=float(raw["min"]) if raw.get("min") is not None else None,
        max=float(raw["max"]) if raw.get("max") is not None else None,
        ref=raw.get("ref"),
        provenance=bool(raw.get("provenance", False)),
        description=str(raw.get("description", "")),
    )


@lru_cache(maxsize=4)
def load_dictionary(folder: str | None = None) -> dict[str, LayerSpec]:
    """Read every layer kind of the data dictionary.

    Parameters
    ----------
    folder : str, optional
        Folder of YAML files; default: the project's ``layers/``.

    Returns
    -------
    dict of str to LayerSpec, in the canonical layer order.

    Examples
    --------
    >>> specs = load_dictionary()
    >>> list(specs)[:3]
    ['zones', 'roads', 'road_nodes']
    """
    root = Path(folder) if folder else data_dir("layers")
    specs: dict[str, LayerSpec] = {}
    for path in sorted(root.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = raw.get("layer")
        if not name or raw.get("geometry") not in _GEOMETRIES:
            msg = (f"{path}: a layer file needs `layer` and `geometry` "
                   f"(one of {sorted(_GEOMETRIES)})")
            raise LayerError(msg)
        fields = {k: _parse_field(k, v, path) for k, v in (raw.get("fields") or {}).items()}
        if "id" not in fields:
            msg = f"{path}: every layer needs an `id` field"
            raise LayerError(msg)
        specs[name] = LayerSpec(
            name=name,
            geometry=raw["geometry"],
            fields=fields,
            title=raw.get("title") or {},
            description=str(raw.get("description", "")).strip(),
            derive=raw.get("derive") or {},
            path=path,
        )
    order = {n: i for i, n in enumerate(LAYER_ORDER)}
    return dict(sorted(specs.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


def layer_names() -> list[str]:
    """Names of all layer kinds.

    Examples
    --------
    >>> "buildings" in layer_names()
    True
    """
    return list(load_dictionary())


def layer_spec(name: str) -> LayerSpec:
    """Return the spec of one layer kind; unknown names raise a LayerError with a suggestion.

    Examples
    --------
    >>> layer_spec("zones").fields["kind"].allowed
    ('old_district', 'new_zone', 'other')
    """
    specs = load_dictionary()
    if name not in specs:
        msg = (f"unknown layer {name!r}{suggest(name, list(specs))}; "
               f"layers are: {', '.join(specs)}")
        raise LayerError(msg)
    return specs[name]


def _is_text_bool(values: pd.Series) -> pd.Series:
    lower = values.astype(str).str.strip().str.lower()
    mapping = {"true": True, "yes": True, "1": True, "t": True, "y": True,
               "false": False, "no": False, "0": False, "f": False, "n": False}
    return lower.map(mapping)


def coerce_fields(frame: pd.DataFrame, spec: LayerSpec, *, source: str | None = None
                  ) -> tuple[pd.DataFrame, list[Finding]]:
    """Cast the dictionary's fields to their types, collecting every value that does not fit.

    Missing optional columns are added empty; missing required columns are reported, not added.
    Values that cannot be cast (text in a numeric field) become missing and are reported with
    their feature id.

    Returns
    -------
    (frame, findings)

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "lanes": ["2", "two"]})
    >>> out, findings = coerce_fields(df, layer_spec("roads"))
    >>> out["lanes"].tolist()
    [2, <NA>]
    >>> [(f.feature, f.field) for f in findings if f.rule == "type"]
    [('b', 'lanes')]
    """
    out = frame.copy()
    findings: list[Finding] = []
    ids = out["id"].astype(str) if "id" in out else pd.Series(out.index.astype(str), out.index)
    for f in spec.fields.values():
        if f.name not in out.columns:
            if f.required:
                findings.append(Finding(
                    "error", "required", f"required field is missing; add a column {f.name!r} "
                    f"({f.type}) or map a source column to it with --map SRC={f.name}",
                    layer=spec.name, field=f.name, source=source))
            nullable = {"str": "object", "int": "Int64", "float": "float64", "bool": "boolean"}
            empty: Any = {"str": None, "float": float("nan")}.get(f.type, pd.NA)
            out[f.name] = pd.Series(empty, index=out.index, dtype=nullable[f.type])
            continue
        col = out[f.name]
        present = col.notna()
        if f.type == "str":
            out[f.name] = col.where(~present, col.astype(str)).astype(object)
            continue
        if f.type == "bool":
            conv = col if col.dtype == bool else _is_text_bool(col)
            bad = present & conv.isna()
            values = conv.astype("boolean")
        else:
            numeric = pd.to_numeric(col, errors="coerce")
            bad = present & numeric.isna()
            if f.type == "int":
                frac = numeric.notna() & (numeric % 1 != 0)
                numeric = numeric.round()
                for fid in ids[frac].head(20):
                    findings.append(Finding("warning", "type", "fractional value rounded to "
                                            "an integer", spec.name, fid, f.name, source))
            values = numeric
        for fid, val in zip(ids[bad].head(50), col[bad].head(50), strict=False):
            findings.append(Finding(
                "error", "type", f"{val!r} is not {'an' if f.type == 'int' else 'a'} {f.type}; "
                "enter a number"
                if f.type != "bool" else f"{val!r} is not true/false",
                layer=spec.name, feature=fid, field=f.name, source=source))
        if int(bad.sum()) > 50:
            findings.append(Finding("error", "type", f"... and {int(bad.sum()) - 50} more "
                                    f"values that are not {f.type}", spec.name, None, f.name,
                                    source))
        if f.type == "float":
            out[f.name] = values.astype("float64")
        elif f.type == "int":
            out[f.name] = (values.astype("int64") if f.required and values.notna().all()
                           else values.astype("Int64"))
        else:
            out[f.name] = (values.astype(bool) if f.required and values.notna().all()
                           else values)
    for name in spec.provenance_fields():
        col_name = f"{name}_source"
        if col_name not in out.columns:
            out[col_name] = pd.Series(None, index=out.index, dtype=object)
    return out, findings


def conform(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """Order a layer's columns as the dictionary does, keeping extra columns at the end.

    Assumes the fields were already coerced (see :func:`coerce_fields`); raises a LayerError if
    required columns are missing.

    Examples
    --------
    >>> g = empty_layer("sensors", "EPSG:3067")
    >>> list(conform(g, "sensors").columns)[:2]
    ['id', 'kind']
    """
    spec = layer_spec(name)
    cols = spec.columns()
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        msg = f"layer {name}: missing column(s) {missing}"
        raise LayerError(msg)
    geom = frame.geometry.name
    extra = [c for c in frame.columns if c not in cols and c != geom]
    return frame[[*cols, *extra, geom]]


def empty_layer(name: str, crs: Any) -> gpd.GeoDataFrame:
    """An empty layer of kind ``name`` with every column typed.

    Examples
    --------
    >>> g = empty_layer("facilities", "EPSG:3067")
    >>> len(g), g.crs.to_epsg(), str(g["capacity"].dtype)
    (0, 3067, 'float64')
    """
    spec = layer_spec(name)
    data = {}
    for f in spec.fields.values():
        data[f.name] = pd.Series([], dtype=f.dtype)
        if f.provenance:
            data[f"{f.name}_source"] = pd.Series([], dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
