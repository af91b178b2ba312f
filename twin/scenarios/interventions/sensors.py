"""Sensor interventions: cameras, traffic counters, air-quality sensors, meter gateways.

``sensor_add`` places sensors at given points, or at the selected road nodes (optionally only
the signalised ones); their range (default by kind, ``layers/sensors.yaml``) decides the
``sensor_coverage_share`` KPI (share of road length a camera or counter sees).

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> t = Twin(layers={}, meta=new_meta("t", 3067))
>>> out = sensor_add(t, {"kind": "camera", "points": [[0.0, 0.0]], "where": None,
...                      "signals_only": False, "range_m": None}, np.random.default_rng(0))
>>> out.layers["sensors"][["id", "kind", "range_m"]].values.tolist()
[['ss1', 'camera', 40.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

from twin._errors import ScenarioError
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin
from twin.scenarios.interventions.roads import _frame_like, as_points, new_ids
from twin.scenarios.registry import Param, highlight, intervention
from twin.scenarios.selectors import select

__all__ = ["SENSOR_KINDS", "sensor_add"]

SENSOR_KINDS = tuple(layer_spec("sensors").fields["kind"].allowed or ())


@intervention("sensor_add", family="sensors", params={
    "kind": Param("str", default="camera", allowed=SENSOR_KINDS, description="sensor kind"),
    "points": Param("points", description="[[x, y], ...] where to place them"),
    "where": Param("where", layer="road_nodes",
                   description="or: at the selected road nodes (intersections)"),
    "signals_only": Param("bool", default=False,
                          description="with `where`: only signalised intersections"),
    "range_m": Param("float", min=1, max=5000, description="range (default by kind)"),
})
def sensor_add(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Add sensors (cameras by default) at points or at intersections.

    Examples
    --------
    >>> # {type: sensor_add, where: {zone_kind: old_district}, signals_only: true}
    """
    if (params.get("points") is None) == (params.get("where") is None):
        msg = "sensor_add needs exactly one of `points` and `where`"
        raise ScenarioError(msg)
    if params.get("points") is not None:
        xy = as_points(params["points"], twin, "points")
    else:
        ids = select(twin, "road_nodes", params["where"])
        nodes = twin.layer("road_nodes")
        chosen = nodes[nodes["id"].astype(str).isin(ids)]
        if params.get("signals_only"):
            chosen = chosen[chosen["control"].astype(str).isin(["signal", "adaptive_signal"])]
        if len(chosen) == 0:
            msg = "sensor_add: the selection has no intersection to equip"
            raise ScenarioError(msg)
        xy = shapely.get_coordinates(chosen.geometry.to_numpy())
    kind = str(params.get("kind") or "camera")
    rng_m = params.get("range_m")
    if rng_m is None:
        rng_m = float(layer_spec("sensors").derive["range_by_kind"].get(kind, 40))
    sensors = twin.layer("sensors")
    sids = new_ids(sensors["id"] if len(sensors) else [], "ss", len(xy))
    rows = pd.DataFrame({"id": sids, "kind": kind, "range_m": float(rng_m),
                         "range_m_source": "user", "source": "user"})
    twin.layers["sensors"] = _frame_like(sensors, rows, list(shapely.points(xy)))
    highlight(twin, "sensors", sids)
    return twin
