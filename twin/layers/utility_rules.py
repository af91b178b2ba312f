"""Utility values the solvers cannot take, found before a network is built.

The data dictionary's ranges hold one field at a time (``water_pipes.diameter_mm`` >= 1 mm);
a zero impedance is two fields at once: a line or cable whose ``r_ohm_per_km`` and
``x_ohm_per_km`` are both 0, a line of length 0, a transformer with ``sn_mva`` or
``vk_percent`` 0. pandapower cannot solve a network with one of them, and the builder
(:func:`twin.network.power.build_power_net`) would refuse it only when the day is simulated.

:func:`check_utility_values` has the signature of a layer rule of :mod:`twin.layers.validate`
(``(layer, spec, source) -> findings``); the utility importers
(``twin layers import --pandapower / --epanet``) and ``twin utilities check`` call it too.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.schemas import layer_spec
>>> lines = gpd.GeoDataFrame({"id": ["l1"], "kind": ["line"], "r_ohm_per_km": [0.0],
...                           "x_ohm_per_km": [0.0], "length_km": [1.0]},
...                          geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=3067)
>>> [f.format()[:60] for f in check_utility_values(lines, layer_spec("power_lines"))]
['error [impedance] power_lines / feature l1: r_ohm_per_km and']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin._errors import Finding
from twin.layers._vbase import _ids, _listed
from twin.layers.schemas import LayerSpec

__all__ = ["check_utility_values"]


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(float)


def _zero(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Present and exactly 0 (missing values are the builder's business)."""
    return _num(frame, col) == 0.0


def check_utility_values(gdf: pd.DataFrame, spec: LayerSpec, source: str | None = None
                         ) -> list[Finding]:
    """Zero-impedance branches of ``power_lines`` (errors, one per feature and field; the
    finding for ``r`` and ``x`` both 0 names the two fields in its message, not in ``field``).

    - lines and cables: ``r_ohm_per_km`` and ``x_ohm_per_km`` both 0, or ``length_km`` 0;
    - transformers: ``sn_mva`` 0 or ``vk_percent`` 0.

    Other layers give no findings (their single-field ranges are in the data dictionary).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from twin.layers.schemas import layer_spec
    >>> t = gpd.GeoDataFrame({"id": ["t1"], "kind": ["transformer"], "sn_mva": [40.0],
    ...                       "vk_percent": [0.0]}, geometry=[None])
    >>> check_utility_values(t, layer_spec("power_lines"))[0].field
    'vk_percent'
    """
    if spec.name != "power_lines" or not len(gdf) or "kind" not in gdf.columns:
        return []
    ids = _ids(gdf)
    kind = gdf["kind"].astype(str).to_numpy()
    line = np.isin(kind, ["line", "cable"])
    trafo = kind == "transformer"
    out: list[Finding] = []
    zero_z = line & _zero(gdf, "r_ohm_per_km") & _zero(gdf, "x_ohm_per_km")
    out += _listed("error", "impedance", spec.name, None, ids[zero_z],
                   "r_ohm_per_km and x_ohm_per_km are both 0 (zero impedance), which the "
                   "power flow cannot solve; give the line's per-km resistance and reactance "
                   "(a 10 kV cable: about 0.2 and 0.08 ohm/km), or make it kind: switch if it "
                   "is a bus tie", source, summary="have zero impedance")
    no_length = line & _zero(gdf, "length_km")
    out += _listed("error", "impedance", spec.name, "length_km", ids[no_length],
                   "length_km is 0, so the line has zero impedance, which the power flow cannot "
                   "solve; measure the line, or make it kind: switch if it joins two buses "
                   "directly", source, summary="have length 0")
    for col, what in (("sn_mva", "a transformer rated 0 MVA cannot carry power; give its "
                                 "rating (e.g. 0.63, 16, 40 MVA)"),
                      ("vk_percent", "a transformer with vk_percent 0 has zero impedance, "
                                     "which the power flow cannot solve; give its short-circuit "
                                     "voltage (typically 4-12%)")):
        bad = trafo & _zero(gdf, col)
        out += _listed("error", "impedance", spec.name, col, ids[bad], what, source,
                       summary=f"have {col} 0")
    return out
