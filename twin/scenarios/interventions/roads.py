"""Road interventions: close a road (more in this module as the scenarios issue lands)."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.layers.store import Twin
from twin.scenarios.registry import WHERE_PARAM, Param, add_event, highlight, intervention
from twin.scenarios.selectors import select

__all__ = ["road_close"]


@intervention("road_close", family="roads", params={
    "where": WHERE_PARAM,
    "hours": Param("hours", description="[start, end) hours of the closure; all day if absent"),
})
def road_close(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Close roads (all day, or for some hours).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> r = gpd.GeoDataFrame({"id": ["r1", "r2"], "capacity_vph": [900.0, 900.0]},
    ...     geometry=[shapely.LineString([(0, 0), (1, 0)])] * 2, crs=3067)
    >>> t = Twin(layers={"roads": r}, meta=new_meta("t", 3067))
    >>> out = road_close(t.copy(), {"where": {"ids": ["r2"]}}, np.random.default_rng(0))
    >>> out.extras["events"][0]["road_ids"], out.extras["events"][0]["hours"]
    (['r2'], [0, 24])
    """
    ids = select(twin, "roads", params.get("where")).tolist()
    add_event(twin, {"type": "close_roads", "road_ids": ids,
                     "hours": list(params.get("hours") or [0, 24])})
    highlight(twin, "roads", ids)
    return twin
