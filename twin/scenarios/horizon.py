"""Horizon: grow residents and jobs to a target year before the run (forecast demand).

``horizon: {year: 2030, base_year: 2025, population_growth_pct_per_year: 1.2,
jobs_growth_pct_per_year: 0.8}`` scales every building's residents by
``(1 + 1.2 / 100) ** (2030 - 2025)`` and its jobs likewise; ``base_year`` defaults to 2025.
Counts stay whole: the total is rounded once and the buildings share it by largest remainder,
so a building with nobody stays empty and the result never depends on the row order.

Examples
--------
>>> scale_counts(np.array([10, 0, 5]), 1.1).tolist()
[11, 0, 6]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.layers.derive import zone_totals
from twin.layers.store import Twin

__all__ = ["apply_horizon", "growth_factors", "scale_counts"]

BASE_YEAR = 2025


def growth_factors(horizon: Mapping[str, Any]) -> tuple[float, float]:
    """(residents factor, jobs factor) of a horizon mapping.

    Examples
    --------
    >>> [round(f, 4) for f in growth_factors({"year": 2030, "population_growth_pct_per_year": 2})]
    [1.1041, 1.0]
    """
    if not horizon:
        return 1.0, 1.0
    years = float(horizon.get("year", BASE_YEAR)) - float(horizon.get("base_year", BASE_YEAR))
    pop = float(horizon.get("population_growth_pct_per_year", 0.0))
    jobs = float(horizon.get("jobs_growth_pct_per_year", 0.0))
    return (1.0 + pop / 100.0) ** years, (1.0 + jobs / 100.0) ** years


def scale_counts(values: np.ndarray, factor: float) -> np.ndarray:
    """Scale whole counts by ``factor``, keeping them whole and their total rounded.

    Examples
    --------
    >>> scale_counts(np.array([3, 3, 3]), 0.5).tolist()
    [2, 2, 1]
    """
    v = np.asarray(values, dtype=float)
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    target = int(np.floor(v.sum() * factor + 0.5))
    raw = v * factor
    out = np.floor(raw)
    left = target - int(out.sum())
    if left > 0:
        frac = raw - out
        order = np.argsort(-frac, kind="stable")
        out[order[:left]] += 1
    return out.astype(np.int64)


def apply_horizon(twin: Twin, horizon: Mapping[str, Any] | None) -> Twin:
    """Scale the buildings' residents and jobs to the horizon year (in place; returns twin).

    Zone population and jobs are summed again from the buildings. The factors are recorded in
    ``twin.extras["horizon"]``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> b = gpd.GeoDataFrame({"id": ["a"], "residents": [100], "jobs": [50]},
    ...                      geometry=[shapely.box(0, 0, 1, 1)], crs=3067)
    >>> t = apply_horizon(Twin(layers={"buildings": b}, meta=new_meta("t", 3067)),
    ...                   {"year": 2035, "population_growth_pct_per_year": 1.0})
    >>> int(t.layers["buildings"]["residents"][0]), int(t.layers["buildings"]["jobs"][0])
    (110, 50)
    """
    if not horizon:
        return twin
    pop, jobs = growth_factors(horizon)
    b = twin.layers.get("buildings")
    if b is not None and len(b):
        b = b.copy()
        if pop != 1.0:
            b["residents"] = scale_counts(b["residents"].to_numpy(), pop)
        if jobs != 1.0:
            b["jobs"] = scale_counts(b["jobs"].to_numpy(), jobs)
        twin.layers["buildings"] = b
        zones = twin.layers.get("zones")
        if zones is not None and len(zones) and "zone_id" in b:
            twin.layers["zones"] = zone_totals(zones, b)
    twin.extras["horizon"] = {**dict(horizon), "residents_factor": pop, "jobs_factor": jobs}
    return twin
