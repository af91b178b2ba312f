"""Shared fixtures: tiny twins made in code, and the demo twin built once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from twin.layers.store import Twin, new_meta

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CRS = "EPSG:3067"


@pytest.fixture(scope="session")
def demo_twin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo twin (central Helsinki), built once per test session."""
    from twin.layers import init_twin

    out = tmp_path_factory.mktemp("demo") / "demo.twin.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init_twin(out, demo=True)
    return out


@pytest.fixture(scope="session")
def demo_twin(demo_twin_path: Path) -> Twin:
    """The demo twin read back from its file (do not modify: use .copy())."""
    from twin.layers import read_twin

    return read_twin(demo_twin_path)


def grid_layers(n: int = 3, spacing: float = 100.0) -> dict[str, gpd.GeoDataFrame]:
    """An n x n grid of two-way residential roads with one building per block corner."""
    xs, ys = np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing)
    ids = [f"n{i}" for i in range(n * n)]
    nodes = gpd.GeoDataFrame({"id": ids, "control": "none", "control_source": "synthetic",
                              "gateway": False, "source": "synthetic"},
                             geometry=shapely.points(xs.ravel(), ys.ravel()), crs=CRS)
    rows = []
    for i in range(n):
        for j in range(n):
            k = i * n + j
            if j + 1 < n:
                rows.append((k, k + 1))
            if i + 1 < n:
                rows.append((k, k + n))
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    roads = gpd.GeoDataFrame({
        "id": [f"r{i}" for i in range(len(rows))],
        "u": [ids[a] for a, _ in rows], "v": [ids[b] for _, b in rows],
        "highway": "residential", "lanes": 1, "speed_kph": 36.0, "capacity_vph": 600.0,
        "oneway": False, "length_m": spacing, "source": "synthetic",
    }, geometry=[shapely.LineString([pts[a], pts[b]]) for a, b in rows], crs=CRS)
    for col in ("lanes", "speed_kph", "capacity_vph", "length_m"):
        roads[f"{col}_source"] = "synthetic"
    centres = [(x + spacing / 2, y + spacing / 2) for x in np.arange(n - 1) * spacing
               for y in np.arange(n - 1) * spacing]
    b = gpd.GeoDataFrame({
        "id": [f"b{i}" for i in range(len(centres))],
        "use": ["residential", "office"] * (len(centres) // 2) + ["mixed"] * (len(centres) % 2),
        "height_m": 12.8, "floors": 4, "footprint_m2": 400.0, "floor_area_m2": 1600.0,
        "residents": 40, "jobs": 20, "source": "synthetic",
    }, geometry=[shapely.box(x - 10, y - 10, x + 10, y + 10) for x, y in centres], crs=CRS)
    for col in ("use", "height_m", "floors", "footprint_m2", "floor_area_m2", "residents",
                "jobs"):
        b[f"{col}_source"] = "synthetic"
    zones = gpd.GeoDataFrame({
        "id": ["z1"], "name": ["All"], "kind": ["old_district"], "land_use": ["mixed"],
        "area_m2": [(n - 1) ** 2 * spacing ** 2], "population": [int(b.residents.sum())],
        "jobs": [int(b.jobs.sum())], "source": ["synthetic"]},
        geometry=[shapely.box(0, 0, (n - 1) * spacing, (n - 1) * spacing)], crs=CRS)
    for col in ("kind", "land_use", "area_m2", "population", "jobs"):
        zones[f"{col}_source"] = "synthetic"
    b["zone_id"] = "z1"
    return {"zones": zones, "roads": roads, "road_nodes": nodes, "buildings": b}


@pytest.fixture
def grid_twin() -> Twin:
    """A tiny 3 x 3 grid twin (roads, road_nodes, buildings, zones) in EPSG:3067."""
    from twin.layers.schemas import coerce_fields, layer_spec

    layers = {}
    for name, frame in grid_layers().items():
        out, _ = coerce_fields(frame, layer_spec(name))
        layers[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)
    return Twin(layers=layers, meta=new_meta("grid", CRS))


__all__ = ["CRS", "REPO", "SHARED", "grid_layers", "pd"]
