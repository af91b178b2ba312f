"""The twin file: one GeoPackage with every layer, ``twin_meta`` and the edit history.

A twin is read into a :class:`Twin` (a dict of GeoDataFrames plus metadata) and written back
atomically: everything goes to a temporary file beside the target, which is renamed over it only
when complete, so a crash never leaves a half-written twin.

Examples
--------
>>> import geopandas as gpd, shapely, tempfile, os
>>> from twin.layers.schemas import empty_layer
>>> zones = empty_layer("zones", "EPSG:3067")
>>> t = Twin(layers={"zones": zones}, meta=new_meta("example", "EPSG:3067"))
>>> path = os.path.join(tempfile.mkdtemp(), "example.twin.gpkg")
>>> _ = write_twin(t, path)
>>> read_twin(path).meta["name"]
'example'
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from twin._errors import LayerError, ValidationError
from twin.layers.schemas import coerce_fields, conform, layer_spec, load_dictionary

__all__ = [
    "OSM_CREDIT",
    "SCHEMA_VERSION",
    "Twin",
    "file_hash",
    "list_twin_layers",
    "new_meta",
    "read_twin",
    "register_committer",
    "register_finalizer",
    "write_twin",
]

SCHEMA_VERSION = 1
META_TABLE = "twin_meta"
OBSERVATIONS_TABLE = "sensor_observations"
OSM_CREDIT = {
    "name": "OpenStreetMap",
    "attribution": "© OpenStreetMap contributors",
    "licence": "ODbL 1.0",
    "url": "https://www.openstreetmap.org/copyright",
}
# tables twin itself keeps in the file that are not layers
INTERNAL_TABLES = frozenset({META_TABLE, OBSERVATIONS_TABLE, "twin_history", "twin_versions",
                             "twin_state"})

# called with the path of a freshly written twin file, before it is renamed into place
_FINALIZERS: list[Callable[[Path, Twin], None]] = []
# called with (staged file, existing target, twin) when a twin is written over an existing
# file; True when it took the staged content into the target itself (in place)
_COMMITTERS: list[Callable[[Path, Path, Twin], bool]] = []


@dataclass
class Twin:
    """A twin in memory: its layers (GeoDataFrames in one projected CRS) and its metadata.

    Attributes
    ----------
    layers : dict of str to GeoDataFrame
        Layer name to features; every layer has an ``id`` column.
    meta : dict
        ``name``, ``crs``, ``sources`` (with licences), ``schema_version``, ``created``.
    observations : DataFrame, optional
        Sensor observations (``sensor_id``, ``hour``, ``count``, ``date``).
    path : Path, optional
        The file the twin was read from.
    """

    layers: dict[str, gpd.GeoDataFrame]
    meta: dict[str, Any]
    observations: pd.DataFrame | None = None
    path: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def crs(self) -> CRS:
        """The twin's projected CRS."""
        return CRS.from_user_input(self.meta["crs"])

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """Return one layer, or an empty layer of that kind when the twin has none.

        Examples
        --------
        >>> t = Twin(layers={}, meta=new_meta("x", "EPSG:3067"))
        >>> len(t.layer("sensors"))
        0
        """
        if name in self.layers:
            return self.layers[name]
        from twin.layers.schemas import empty_layer

        layer_spec(name)  # unknown names raise with a suggestion
        return empty_layer(name, self.crs)

    def copy(self) -> Twin:
        """A deep copy, safe to change (interventions work on copies)."""
        return Twin(
            layers={k: v.copy() for k, v in self.layers.items()},
            meta=json.loads(json.dumps(self.meta)),
            observations=None if self.observations is None else self.observations.copy(),
            path=self.path,
            extras=copy.deepcopy(self.extras),
        )


def new_meta(name: str, crs: Any, *, sources: Iterable[dict[str, Any]] = (),
             description: str = "") -> dict[str, Any]:
    """Metadata for a new twin.

    Examples
    --------
    >>> m = new_meta("demo", "EPSG:32635", sources=[OSM_CREDIT])
    >>> m["schema_version"], m["sources"][0]["licence"]
    (1, 'ODbL 1.0')
    """
    return {
        "name": name,
        "crs": CRS.from_user_input(crs).to_string(),
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": "twin",
        "description": description,
        "sources": list(sources),
    }


def register_finalizer(func: Callable[[Path, Twin], None]) -> Callable[[Path, Twin], None]:
    """Register ``func(tmp_path, twin)`` to run on every newly written twin file before rename.

    Used by the edit history to install its tables and triggers.
    """
    if func not in _FINALIZERS:
        _FINALIZERS.append(func)
    return func


def register_committer(func: Callable[[Path, Path, Twin], bool]
                       ) -> Callable[[Path, Path, Twin], bool]:
    """Register ``func(staged, target, twin) -> bool``, asked first when a twin is written over
    an existing file: it may bring the staged content into the target in place (returning True)
    instead of the file being replaced.

    Used by the edit history: a twin written back over the file it was read from becomes one
    serialised, versioned commit, like an edit.
    """
    if func not in _COMMITTERS:
        _COMMITTERS.append(func)
    return func


def file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, as ``"sha256:<hex>"``.

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mktemp(); _ = open(p, "w").write("x")
    >>> file_hash(p)[:15]
    'sha256:2d711642'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _check_readable(path: Path) -> None:
    if not path.exists():
        msg = f"{path}: no such file"
        raise LayerError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: the file is empty; build a twin with `twin init`"
        raise LayerError(msg)
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        msg = (f"{path}: not a GeoPackage (it does not start with the SQLite header); "
               "a twin file is a GeoPackage made by `twin init`")
        raise LayerError(msg)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        msg = f"{path}: the GeoPackage is corrupt or truncated ({err}); restore it from a copy"
        raise LayerError(msg) from err
    if ok != "ok":
        msg = f"{path}: the GeoPackage is corrupt ({ok}); restore it from a copy"
        raise LayerError(msg)


def list_twin_layers(path: str | os.PathLike[str]) -> list[tuple[str, str | None]]:
    """Layers (name, geometry type) in a twin file, internal tables excluded.

    Examples
    --------
    >>> # list_twin_layers("demo.twin.gpkg") -> [("zones", "Polygon"), ("roads", "LineString"), ...]
    """
    p = Path(path)
    _check_readable(p)
    try:
        found = pyogrio.list_layers(p)
    except Exception as err:
        msg = f"{p}: cannot list layers ({err})"
        raise LayerError(msg) from err
    return [(str(n), None if g is None else str(g)) for n, g in found
            if str(n) not in INTERNAL_TABLES]


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        df = pyogrio.read_dataframe(path, layer=META_TABLE)
    except Exception as err:
        msg = (f"{path}: no {META_TABLE} table; this GeoPackage was not made by twin. "
               "Create a twin with `twin init` and import layers with `twin layers import`")
        raise LayerError(msg) from err
    return {str(k): json.loads(v) for k, v in zip(df["key"], df["value"], strict=True)}


def read_layer(path: str | os.PathLike[str], name: str) -> gpd.GeoDataFrame:
    """Read one layer of a twin file, with the dictionary's types.

    Raises
    ------
    LayerError
        The file cannot be read, the layer is unknown or not in the file.
    """
    p = Path(path)
    _check_readable(p)
    spec = layer_spec(name)
    present = {n for n, _ in list_twin_layers(p)}
    if name not in present:
        msg = (f"{p}: the twin has no layer {name!r}; it has: {', '.join(sorted(present))}. "
               f"Import one with `twin layers import {p.name} {name} SOURCE`")
        raise LayerError(msg)
    try:
        gdf = pyogrio.read_dataframe(p, layer=name, use_arrow=True)
    except Exception as err:
        msg = f"{p}: layer {name}: cannot be read ({err})"
        raise LayerError(msg) from err
    out, findings = coerce_fields(gdf, spec, source=str(p))
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise ValidationError(errors, header=f"{p}: layer {name} does not match the dictionary")
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=gdf.crs)


def read_twin(path: str | os.PathLike[str], layers: Iterable[str] | None = None) -> Twin:
    """Read a twin file.

    Parameters
    ----------
    path : path-like
        A ``.twin.gpkg`` made by ``twin init``.
    layers : iterable of str, optional
        Only these layers (default: all).

    Raises
    ------
    LayerError
        The file is missing, empty, not a GeoPackage, corrupt, or lacks twin metadata.
    """
    p = Path(path)
    _check_readable(p)
    version, seq = _history_position(p)   # before the layers: a later edit is seen as later
    meta = _read_meta(p)
    known = load_dictionary()
    present = [n for n, _ in list_twin_layers(p) if n in known]
    wanted = present if layers is None else [n for n in layers if n in present]
    out = {name: read_layer(p, name) for name in wanted}
    obs = None
    with contextlib.suppress(Exception):
        obs = pyogrio.read_dataframe(p, layer=OBSERVATIONS_TABLE)
    twin = Twin(layers=out, meta=meta, observations=obs, path=p)
    if version is not None:
        twin.extras["read_version"] = version
        twin.extras["read_seq"] = seq
    return twin


def _history_position(path: Path) -> tuple[int | None, int]:
    """The newest version of a twin file's history and its last change (also a change made
    outside twin, not yet in a version); (None, 0) without a history. Writing the twin back
    merges with what changed after this (see twin.layers._rewrite)."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = con.execute("SELECT MAX(version) FROM twin_versions").fetchone()[0]
            seq = con.execute("SELECT MAX(seq) FROM twin_history").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None, 0
    return (None if version is None else int(version)), int(seq or 0)


def _write_layer(path: Path, name: str, gdf: gpd.GeoDataFrame, crs: CRS) -> None:
    frame = conform(gdf, name)
    if frame.crs is None or not CRS.from_user_input(frame.crs).equals(crs):
        msg = (f"layer {name}: CRS {frame.crs} differs from the twin's {crs.to_string()}; "
               "reproject it with to_crs before writing")
        raise LayerError(msg)
    spec = layer_spec(name)
    geometry_type = {"Point": "Point", "LineString": "LineString", "Polygon": "Polygon"}
    gtypes = set(frame.geom_type.dropna().unique())
    gt = geometry_type[spec.geometry]
    if any(t.startswith("Multi") for t in gtypes):
        gt = "Multi" + gt
    pyogrio.write_dataframe(frame.reset_index(drop=True), path, layer=name, driver="GPKG",
                            geometry_type=gt, promote_to_multi=gt.startswith("Multi"))


def _remove(tmp: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)


def _stage(twin: Twin, tmp: Path) -> None:
    """Write a twin's layers, metadata and observations to a new GeoPackage ``tmp``."""
    crs = twin.crs
    # no fsync per layer while writing the temporary file; one fsync before the rename keeps
    # the write durable and atomic
    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        order = list(load_dictionary())
        for name in sorted(twin.layers, key=lambda n: order.index(n) if n in order else 99):
            _write_layer(tmp, name, twin.layers[name], crs)
        meta = pd.DataFrame({"key": list(twin.meta),
                             "value": [json.dumps(v, ensure_ascii=False) for v in
                                       twin.meta.values()]})
        pyogrio.write_dataframe(meta, tmp, layer=META_TABLE, driver="GPKG")
        if twin.observations is not None and len(twin.observations):
            pyogrio.write_dataframe(twin.observations, tmp, layer=OBSERVATIONS_TABLE,
                                    driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})


def write_twin(twin: Twin, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a twin to ``path`` atomically.

    The twin is first written to a temporary GeoPackage beside ``path``. A new file (or one
    holding another twin, with ``overwrite``) is then replaced by it (rename). A twin written
    back over the file it was read from is instead committed into that file in place, as one
    version of its edit history, queued behind concurrent edits and merged with what they
    changed since the twin was read (see :mod:`twin.layers._rewrite`).

    Parameters
    ----------
    twin : Twin
    path : path-like
    overwrite : bool
        Replace an existing file. Without it an existing file is an error.

    Raises
    ------
    LayerError
        The path exists (and not ``overwrite``), or a layer does not fit the dictionary.
    EditConflict
        Written back over its file: a feature it changes was changed differently since it
        was read (nothing is written).
    """
    target = Path(path)
    if target.exists() and not overwrite:
        msg = f"{target}: the file exists; choose another path or pass --overwrite"
        raise LayerError(msg)
    if not target.parent.exists():
        msg = f"{target}: the folder {target.parent} does not exist"
        raise LayerError(msg)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.gpkg",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        _stage(twin, tmp)
        if target.exists() and any(func(tmp, target, twin) for func in _COMMITTERS):
            _remove(tmp)
        else:
            for func in _FINALIZERS:
                func(tmp, twin)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    twin.path = target
    return target
