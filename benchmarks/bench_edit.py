"""Editing with history: commit a 10,000-feature update, then log and diff a long history.

Figures (targets from the issue):
- ``edit_10k_update_s``: ``edit_layer`` updating 10,000 buildings of a 100,000-building layer
  (attributes and geometry, from a GeoJSON file: parsing, conflict check, validation, the
  transaction with its history rows) — target < 5 s; peer: geopandas ``to_file`` of the same
  layer to a new GeoPackage (the naive "rewrite the layer" edit), ratio = peer / twin.
- ``rewrite_10k_s``: what ``twin layers import`` and ``validate --fix`` cost for writing back:
  ``read_twin`` of the 100,000-building twin, 10,000 buildings changed in memory, and
  ``write_twin`` committing it in place (staged with GDAL, merged under the lock with what
  changed since the read, one version listing the 10,000); peer: geopandas ``to_file`` of the
  layer (what replacing the file used to cost for this layer alone).
- ``log_s`` and ``diff_s`` over a history of 100,000 changed features (ten edits of 10,000
  different buildings) — target < 2 s each; ``with_fields_s``: the diff with every feature's
  field-level before/after decoded (``diff(...).to_dicts()``, what ``--json`` prints), target
  < 2 s as well.

Each row also gives ``cpu_s``, the CPU time of this process: on a shared machine the wall time
grows with the load, the CPU time much less.

``--quick`` uses 20,000 buildings, edits of 2,000 and a history of 10,000 changed features.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, row


def _cpu(func: Any) -> tuple[Any, list[float]]:
    """Wrap ``func`` to record the CPU time (this process) of each call."""
    spent: list[float] = []

    def run() -> Any:
        t0 = time.process_time()
        try:
            return func()
        finally:
            spent.append(time.process_time() - t0)
    return run, spent


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 4) if values else float("nan")

CRS = "EPSG:3067"


def _buildings(n: int) -> gpd.GeoDataFrame:
    """``n`` square buildings on a grid, every dictionary field set."""
    from twin.layers.schemas import coerce_fields, layer_spec

    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x, y = (i % side) * 30.0, (i // side) * 30.0
    frame = gpd.GeoDataFrame({
        "id": [f"b{k}" for k in i], "use": np.where(i % 3 == 0, "office", "residential"),
        "height_m": 12.8, "floors": 4, "footprint_m2": 400.0, "floor_area_m2": 1600.0,
        "residents": 40, "jobs": 20, "source": "synthetic",
    }, geometry=shapely.box(x, y, x + 20, y + 20), crs=CRS)
    for col in ("use", "height_m", "floors", "footprint_m2", "floor_area_m2", "residents",
                "jobs"):
        frame[f"{col}_source"] = "synthetic"
    out, _ = coerce_fields(frame, layer_spec("buildings"))
    return gpd.GeoDataFrame(out, geometry="geometry", crs=CRS)


def _update_file(layer: gpd.GeoDataFrame, ids: np.ndarray, step: int, folder: Path) -> Path:
    """A GeoJSON (WGS84) changing height, floors and use of ``ids`` and moving them 1 m."""
    part = layer.iloc[ids]
    moved = shapely.transform(np.asarray(part.geometry.array), lambda c: c + 1.0 * step)
    upd = gpd.GeoDataFrame({"id": part["id"].to_numpy(),
                            "height_m": 12.8 + step, "floors": 4 + step,
                            "use": "mixed" if step % 2 else "retail"},
                           geometry=moved, crs=CRS).to_crs("EPSG:4326")
    out = folder / f"update-{step}.geojson"
    out.write_text(upd.to_json(drop_id=True, to_wgs84=False), encoding="utf-8")
    return out


def bench_edit(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """Edit a layer with history: 10k-feature update, log and diff over 100k changes."""
    from twin.layers.edit import edit_layer
    from twin.layers.history import diff, log
    from twin.layers.store import Twin, new_meta, read_twin, write_twin

    n, batch, edits = (20_000, 2_000, 5) if quick else (100_000, 10_000, 10)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        layer = _buildings(n)
        path = folder / "bench.twin.gpkg"
        write_twin(Twin({"buildings": layer}, new_meta("bench", CRS)), path)
        rng = np.random.default_rng(7)
        steps = iter(range(1, 1000))

        def one_edit() -> Any:
            step = next(steps)
            ids = np.sort(rng.choice(n, batch, replace=False))
            src = _update_file(layer, ids, step, folder)
            return edit_layer(path, "buildings", update=src, author="bench",
                              message=f"update {step}")

        timed, cpu_edit = _cpu(one_edit)
        t_edit, result = median_time(timed, repeat)
        assert result.changed == batch, result
        t_file, _ = median_time(lambda: layer.to_file(folder / "peer.gpkg", driver="GPKG",
                                                       engine="pyogrio"), repeat)
        t_file_part, _ = median_time(lambda: layer.iloc[:batch].to_file(
            folder / "peer-part.gpkg", driver="GPKG", engine="pyogrio"), repeat)
        rows.append(row("edit", f"edit_{batch // 1000}k_update_s", t_edit,
                        f"geopandas to_file of the {n:,}-feature layer", t_file,
                        features=n, updated=batch, target_s=5.0, cpu_s=_median(cpu_edit),
                        to_file_of_updated_features_s=round(t_file_part, 4)))

        def one_rewrite() -> Any:
            twin = read_twin(path)
            b = twin.layers["buildings"]
            at = b.index[np.sort(rng.choice(n, batch, replace=False))]
            b.loc[at, "floors"] = b.loc[at, "floors"] + 1
            twin.extras["history"] = {"author": "bench", "message": "rewrite"}
            write_twin(twin, path, overwrite=True)
            return twin.extras["commit"]

        timed_rw, cpu_rw = _cpu(one_rewrite)
        t_rw, commit = median_time(timed_rw, repeat)
        assert commit["stats"]["buildings"]["changed"] == batch, commit
        rows.append(row("edit", f"rewrite_{batch // 1000}k_s", t_rw,
                        f"geopandas to_file of the {n:,}-feature layer", t_file,
                        features=n, changed=batch, cpu_s=_median(cpu_rw)))
        # a history of n changed features: every building changed once, in batches
        hist = folder / "history.twin.gpkg"
        write_twin(Twin({"buildings": layer}, new_meta("history", CRS)), hist)
        order = rng.permutation(n)
        for k in range(edits):
            ids = np.sort(order[k * (n // edits):(k + 1) * (n // edits)])
            src = _update_file(layer, ids, k + 1, folder)
            edit_layer(hist, "buildings", update=src, author="bench", message=f"batch {k}")
        timed_log, cpu_log = _cpu(lambda: log(hist))
        t_log, entries = median_time(timed_log, repeat)
        changed = sum(e["changed"] for e in entries)
        timed_diff, cpu_diff = _cpu(lambda: diff(hist, 1, edits + 1))
        t_diff, d = median_time(timed_diff, repeat)
        # the same with every change's field-level before/after decoded (what --json prints)
        timed_full, cpu_full = _cpu(lambda: diff(hist, 1, edits + 1).to_dicts())
        t_full, _ = median_time(timed_full, repeat)
        t_feat, _ = median_time(lambda: log(hist, feature_id="b7"), repeat)
        rows.append(row("edit", "log_s", t_log, "target", 2.0, history_changed_features=changed,
                        versions=len(entries), feature_log_s=round(t_feat, 4),
                        cpu_s=_median(cpu_log)))
        rows.append(row("edit", "diff_s", t_diff, "target", 2.0, changed_features=len(d.changes),
                        fields_listed=sum(len(c.fields) for c in d.changes),
                        moved=sum(c.moved for c in d.changes), cpu_s=_median(cpu_diff),
                        with_fields_s=round(t_full, 4), with_fields_cpu_s=_median(cpu_full),
                        example=json.dumps(d.to_dicts()[0])[:200]))
    return rows


BENCHMARKS = {"edit": bench_edit}
