"""`import`: import + validate a 100,000-building layer vs a bare pyogrio read of the file."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_time, row


def _source(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x = 500_000 + (i % side) * 30.0
    y = 3_100_000 + (i // side) * 30.0
    w = rng.uniform(8, 20, n)
    geoms = shapely.box(x, y, x + w, y + w)
    uses = np.array(["residential", "mixed", "office", "retail", "education"])
    gdf = gpd.GeoDataFrame({
        "bldg_id": [f"B{k}" for k in i],
        "kind": uses[rng.integers(0, len(uses), n)],
        "levels": rng.integers(1, 12, n),
    }, geometry=geoms, crs="EPSG:32651")
    pyogrio.write_dataframe(gdf, path, layer="buildings")


def bench_import(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """import + validate of a 100,000-building layer vs pyogrio.read_dataframe (bar: >= 0.33)."""
    from twin.layers.files import import_layer
    from twin.layers.store import Twin, new_meta

    n = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "buildings.gpkg"
        _source(src, n)
        twin = Twin(layers={}, meta=new_meta("bench", "EPSG:32651"))

        def twin_import() -> Twin:
            return import_layer(twin, "buildings", src,
                                mapping={"bldg_id": "id", "kind": "use", "levels": "floors"})

        def bare_read() -> gpd.GeoDataFrame:
            return pyogrio.read_dataframe(src, layer="buildings")

        bare_read()  # warm the OS cache for both
        t_twin, out = median_time(twin_import, repeat)
        t_peer, _ = median_time(bare_read, repeat)
    assert len(out.layers["buildings"]) == n
    return [row("import", "seconds", t_twin, "pyogrio.read_dataframe", t_peer,
                features=n, bar=">= 0.33")]


BENCHMARKS = {"import": bench_import}
