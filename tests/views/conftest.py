"""Tiny twins and run folders made in code for the views tests.

- ``twin_file``: the 3 x 3 grid twin of tests/conftest.py written to a twin file, with a
  facility, a sensor and a signalised node so every point layer shows;
- ``day_dir``: a day-result folder for it (trips with routes, link v/c per hour, activities);
- ``runs_dir``: a scenario run folder with ``baseline`` and ``closure`` (road r0 closed), three
  replications each, seeds paired, KPIs and costs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from twin.layers.schemas import coerce_fields, layer_spec
from twin.layers.store import OSM_CREDIT, Twin, write_twin

HOURS = range(5, 24)


def _with_points(twin: Twin) -> Twin:
    t = twin.copy()
    crs = t.crs
    t.layers["facilities"] = gpd.GeoDataFrame(
        {"id": ["f1"], "kind": ["clinic"], "name": ["Grid clinic"], "capacity": [20.0],
         "capacity_source": ["user"], "source": ["user"]},
        geometry=[shapely.Point(50, 150)], crs=crs)
    t.layers["sensors"] = gpd.GeoDataFrame(
        {"id": ["s1"], "kind": ["camera"], "range_m": [30.0], "range_m_source": ["derived"],
         "source": ["osm"]}, geometry=[shapely.Point(100, 100)], crs=crs)
    nodes = t.layers["road_nodes"].copy()
    nodes.loc[nodes["id"] == "n4", "control"] = "signal"
    t.layers["road_nodes"] = nodes
    for name in ("facilities", "sensors"):
        out, _ = coerce_fields(t.layers[name], layer_spec(name))
        t.layers[name] = gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
    t.meta["sources"] = [OSM_CREDIT]
    return t


@pytest.fixture
def twin_file(tmp_path: Path, grid_twin: Twin) -> Path:
    """The grid twin (plus a clinic, a camera and a signal) in a twin file."""
    return write_twin(_with_points(grid_twin), tmp_path / "grid.twin.gpkg")


def write_day(folder: Path, twin: Twin, *, seed: int, scale: float = 1.0,
              input_file: Path | None = None) -> Path:
    """A fake day result: 3 car trips and a walk per hour 6-9, v/c rising to the peak."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for h in (6, 7, 8, 9):
        for k in range(3):
            d0 = h * 3600 + 600 * k + float(rng.integers(0, 60))
            rows.append({"agent": f"p{h}{k}", "kind": "worker", "purpose": "work",
                         "mode": "car", "depart": d0, "arrive": d0 + 240.0 * scale,
                         "duration": 240.0 * scale, "route": ["r0", "r1", "r4:rev"]})
        rows.append({"agent": f"w{h}", "kind": "other", "purpose": "errand", "mode": "walk",
                     "depart": h * 3600.0, "arrive": h * 3600.0 + 600, "duration": 600.0,
                     "route": []})
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("agent", pa.string()), ("kind", pa.string()), ("purpose", pa.string()),
        ("mode", pa.string()), ("depart", pa.float64()), ("arrive", pa.float64()),
        ("duration", pa.float64()),
        # as twin.agents.simulate writes them: link ids dictionary-encoded
        ("route", pa.large_list(pa.dictionary(pa.int32(), pa.string())))]))
    pq.write_table(table, folder / "trips.parquet")
    roads = twin.layer("roads")
    recs = []
    for rid, geom in zip(roads["id"], roads.geometry, strict=True):
        for link, g in ((rid, geom), (f"{rid}:rev", shapely.reverse(geom))):
            for h in HOURS:
                vc = 0.1 + (0.8 * scale if h == 8 else 0.0) + (0.2 if link == "r0" else 0.0)
                recs.append({"link_id": link, "road_id": rid, "hour": h, "volume": vc * 600,
                             "capacity_vph": 600.0, "vc": vc, "geometry": g})
    gpd.GeoDataFrame(recs, crs=roads.crs).to_file(folder / "links.gpkg", layer="link_hours",
                                                  driver="GPKG")
    b = twin.layer("buildings")
    acts = pd.DataFrame({"agent": [f"p{i}" for i in range(len(b))], "activity": "home",
                         "place_kind": "building", "place_id": b["id"].astype(str),
                         "start_s": 0.0, "end_s": 8 * 3600.0})
    acts.to_parquet(folder / "activities.parquet")
    kpis = {"commute_time_mean_min": 10.0 * scale + rng.normal(0, 0.1),
            "co2_t": 2.0 * scale + rng.normal(0, 0.01), "vehicle_km": 100.0 * scale,
            "trips": 16.0}
    (folder / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    run = {"seed": seed, "input": str(input_file) if input_file else None}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return folder


@pytest.fixture
def day_dir(tmp_path: Path, twin_file: Path) -> Path:
    """A day-result folder whose run.json names ``twin_file``."""
    from twin.layers.store import read_twin

    return write_day(tmp_path / "day", read_twin(twin_file), seed=1, input_file=twin_file)


def _scenario(name: str, twin_file: Path, interventions: list[dict[str, Any]]
              ) -> dict[str, Any]:
    return {"name": name, "title": {"en": f"Scenario {name}", "zh": f"情景 {name}"},
            "description": f"The {name} runs.", "twin": str(twin_file), "base": None,
            "population": {}, "horizon": {}, "runs": {"replications": 3, "seed": 7},
            "economics": {}, "kpis": [], "interventions": interventions}


@pytest.fixture
def runs_dir(tmp_path: Path, twin_file: Path) -> Path:
    """DIR with baseline/ and closure/ (road r0 closed), 3 paired replications each."""
    from twin.layers.store import read_twin

    twin = read_twin(twin_file)
    out = tmp_path / "runs"
    closure = [{"type": "road_close", "params": {"where": {"ids": ["r0"]}, "hours": [0, 24]},
                "origin": "closure", "label": "Close road r0",
                "cost": {"capex": 1.0e5, "opex_per_year": 1.0e4, "life_years": 10},
                "financing": {"model": "PPP"}}]
    for name, scale, inter in (("baseline", 1.0, []), ("closure", 1.3, closure)):
        for k, seed in enumerate((11, 12, 13)):
            rep = write_day(out / name / f"rep-{k}", twin, seed=seed, scale=scale)
            (rep / "scenario.json").write_text(json.dumps(_scenario(name, twin_file, inter)),
                                               encoding="utf-8")
    summary = {"scenarios": {"closure": {"folder": "closure", "base": "baseline"}}}
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return out
