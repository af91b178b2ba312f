"""Service interventions: open or close a facility, move service-centre visits online.

- ``facility_add``: a clinic, school, service centre, ... at a point, with a capacity
  (default by kind, ``layers/facilities.yaml``) — agents can visit it and it counts in the
  15-minute access KPIs.
- ``facility_close``: the selected facilities are removed from the scenario's layer.
- ``e_services``: a share of service-centre visits done online. The engine parameter
  ``twin.extras["params"]["e_services_share"]``; the access KPI of service centres counts
  those visits as served within 15 minutes.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from twin.layers.store import new_meta
>>> f = gpd.GeoDataFrame({"id": ["f1"], "kind": ["school"], "capacity": [600.0]},
...                      geometry=[shapely.Point(0, 0)], crs=3067)
>>> t = Twin(layers={"facilities": f}, meta=new_meta("t", 3067))
>>> out = facility_add(t.copy(), {"kind": "clinic", "at": [100.0, 0.0], "capacity": None,
...                               "name": None, "units": None}, np.random.default_rng(0))
>>> out.layers["facilities"][["id", "kind", "capacity"]].values.tolist()
[['f1', 'school', 600.0], ['fs1', 'clinic', 12.0]]
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
from twin.scenarios.registry import Param, highlight, intervention, set_param
from twin.scenarios.selectors import select

__all__ = ["FACILITY_KINDS", "e_services", "facility_add", "facility_close"]

FACILITY_KINDS = tuple(layer_spec("facilities").fields["kind"].allowed or ())


@intervention("facility_add", family="services", params={
    "kind": Param("str", required=True, allowed=FACILITY_KINDS, description="facility kind"),
    "at": Param("point", required=True, description="[x, y] in the twin's CRS or [lon, lat]"),
    "capacity": Param("float", min=0, max=100000,
                      description="visitors per hour (pupils for schools); default by kind"),
    "units": Param("int", min=0, max=100, description="ambulances or engines based here"),
    "name": Param("str", description="facility name"),
})
def facility_add(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Open a facility (clinic, school, service centre, fire station, ...) at a point."""
    kind = str(params["kind"])
    xy = as_points(params["at"], twin, "at")[:1]
    fac = twin.layer("facilities")
    rules = layer_spec("facilities").derive
    cap = params.get("capacity")
    if cap is None:
        cap = float(rules["capacity_by_kind"].get(kind, 0))
    units = params.get("units")
    if units is None:
        units = rules.get("units_by_kind", {}).get(kind)
    fid = new_ids(fac["id"] if len(fac) else [], "fs", 1)
    rows = pd.DataFrame({"id": fid, "kind": kind, "name": params.get("name"),
                         "capacity": float(cap), "capacity_source": "user",
                         "units": pd.array([units], dtype="Int64"), "source": "user"})
    if len(fac) and "units" not in fac:
        rows = rows.drop(columns="units")
    twin.layers["facilities"] = _frame_like(fac, rows, list(shapely.points(xy)))
    highlight(twin, "facilities", fid)
    return twin


@intervention("facility_close", family="services", params={
    "where": Param("where", layer="facilities", required=True,
                   description="Selector of the facilities (ids, zone_ids, polygon, ...)"),
    "kind": Param("str", allowed=FACILITY_KINDS, description="only facilities of this kind"),
})
def facility_close(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Close facilities: they leave the scenario's layer (nobody visits them)."""
    ids = set(select(twin, "facilities", params.get("where")).tolist())
    fac = twin.layer("facilities")
    if params.get("kind"):
        kinds = fac.set_index(fac["id"].astype(str))["kind"]
        ids = {i for i in ids if kinds.get(i) == params["kind"]}
    if not ids:
        msg = "facility_close: the selection has no facility to close"
        raise ScenarioError(msg)
    twin.layers["facilities"] = fac[~fac["id"].astype(str).isin(ids)].reset_index(drop=True)
    twin.extras.setdefault("removed", {}).setdefault("facilities", []).extend(sorted(ids))
    return twin


@intervention("e_services", family="services", params={
    "share": Param("float", required=True, min=0, max=1,
                   description="share of service-centre visits done online (0-1)"),
})
def e_services(twin: Twin, params: dict[str, Any], rng: np.random.Generator) -> Twin:
    """Move a share of service-centre visits online (e-government services).

    Examples
    --------
    >>> from twin.layers.store import new_meta
    >>> t = e_services(Twin(layers={}, meta=new_meta("t", 3067)), {"share": 0.3},
    ...                np.random.default_rng(0))
    >>> t.extras["params"]["e_services_share"]
    0.3
    """
    set_param(twin, "e_services_share", float(params["share"]))
    return twin
