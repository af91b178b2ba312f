"""What a map shows, read from a twin file or a run folder.

A *source* is one of

- a twin file (``NAME.twin.gpkg``): the layers alone;
- a day-simulation folder (``twin.agents.simulate.write_day``: ``kpis.json``, ``trips.parquet``,
  ``links.gpkg``, ``activities.parquet``, ``run.json``), whose twin is the file ``run.json``
  names;
- a replication folder of a scenario run (``DIR/<name>/rep-<k>/``), whose twin is the run's
  base twin with the resolved scenario (``scenario.json``) applied again, so the map shows the
  intervention's features (``twin.extras["highlight"]``);
- a scenario folder (``DIR/<name>/``): its first complete replication.

Utility results (``power.parquet``, ``water.parquet``; ``twin.network.utilities``) are read when
the folder (or its ``utilities/`` subfolder) has them; each building's hourly power load is
computed from the day's activities (``twin.network.utilities.hourly_demand``).

Examples
--------
>>> # src = load_source("runs/bus-line"); src.label, len(src.trips)
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin._errors import LayerError, TwinError
from twin.layers.store import Twin, read_twin

__all__ = ["MapSource", "find_replications", "load_source", "read_json", "road_hours"]

_REP = re.compile(r"^rep-(\d+)$")
TRIP_COLUMNS = ("agent", "kind", "purpose", "mode", "depart", "arrive", "duration", "route")


@dataclass
class MapSource:
    """A twin and, when read from a run, its results (all optional).

    Attributes
    ----------
    twin : Twin
        The layers (with a scenario's interventions applied) and ``extras["highlight"]``.
    label : str
        What the map calls it (the scenario name, or the twin's name).
    scenario : dict or None
        The resolved scenario (``scenario.json``).
    folder : Path or None
        The day-result folder read.
    replications : int
        Complete replications found beside ``folder`` (0: not a scenario run).
    trips : pyarrow.Table or None
        The day's trips (``TRIP_COLUMNS``).
    road_hours : DataFrame or None
        ``road_id, hour, vc, volume``: per road and hour, the higher volume/capacity of its
        two directions and the volume of both.
    building_kw : DataFrame or None
        Power load (kW) per building id (rows) and hour (columns 0..23).
    line_loading : DataFrame or None
        Power line loading (%) per line id and hour.
    node_pressure : DataFrame or None
        Water pressure (m) per water node id and hour.
    notes : list of str
        What could not be read, and why.
    """

    twin: Twin
    label: str
    scenario: dict[str, Any] | None = None
    folder: Path | None = None
    replications: int = 0
    trips: pa.Table | None = None
    road_hours: pd.DataFrame | None = None
    building_kw: pd.DataFrame | None = None
    line_loading: pd.DataFrame | None = None
    node_pressure: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def hours(self) -> tuple[int, int] | None:
        """First and last-plus-one simulated hour (None without hourly results)."""
        if self.road_hours is not None and len(self.road_hours):
            h = self.road_hours["hour"].to_numpy()
            return int(h.min()), int(h.max()) + 1
        if self.building_kw is not None or self.line_loading is not None:
            return 0, 24
        return None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` ({} when missing or not an object).

    Examples
    --------
    >>> read_json(Path("/nonexistent.json"))
    {}
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def find_replications(folder: str | os.PathLike[str]) -> list[Path]:
    """Complete replication folders (``rep-<k>`` with ``kpis.json``) of a scenario folder, by k.

    Examples
    --------
    >>> find_replications("/nonexistent")
    []
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    reps = []
    for p in root.iterdir():
        m = _REP.match(p.name)
        if m and p.is_dir() and (p / "kpis.json").is_file():
            reps.append((int(m.group(1)), p))
    return [p for _, p in sorted(reps)]


def _is_day_folder(folder: Path) -> bool:
    return any((folder / n).is_file() for n in ("kpis.json", "trips.parquet", "links.gpkg"))


def road_hours(links: str | os.PathLike[str]) -> pd.DataFrame:
    """Per road and hour from a day's ``links.gpkg``: max v/c of both directions, volume sum.

    Examples
    --------
    >>> # road_hours("out/links.gpkg").columns.tolist() -> ['road_id', 'hour', 'vc', 'volume']
    """
    import pyogrio

    try:
        lh = pyogrio.read_dataframe(links, columns=["road_id", "hour", "vc", "volume"],
                                    read_geometry=False)
    except Exception as err:  # pyogrio raises its own error types
        msg = f"{links}: cannot read the link results ({err}); rerun the simulation"
        raise LayerError(msg) from err
    lh["road_id"] = lh["road_id"].astype(str)
    out = lh.groupby(["road_id", "hour"], sort=True).agg(vc=("vc", "max"),
                                                        volume=("volume", "sum"))
    return out.reset_index()


def _read_trips(path: Path) -> pa.Table:
    schema = pq.read_schema(path)
    cols = [c for c in TRIP_COLUMNS if c in schema.names]
    return pq.read_table(path, columns=cols)


def _twin_for(folder: Path, scenario: dict[str, Any], twin: Twin | str | os.PathLike[str] | None
              ) -> Twin:
    if isinstance(twin, Twin):
        base = twin
    elif twin is not None:
        base = read_twin(twin)
    else:
        base = None
    if scenario:
        from twin.scenarios.runner import load_base_twin, prepare_twin
        from twin.scenarios.spec import scenario_from_dict

        if base is None:
            ref = str(scenario.get("twin") or "demo")
            cache = next((p / "_cache" for p in (folder, *folder.parents)
                          if (p / "_cache").is_dir()), None)
            base = load_base_twin(ref, cache)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return prepare_twin(scenario_from_dict(scenario), base)
    if base is not None:
        return base
    run = read_json(folder / "run.json")
    ref = str(run.get("input") or (run.get("engine_run") or {}).get("input") or "")
    if ref and Path(ref).is_file():
        return read_twin(ref)
    msg = (f"{folder}: cannot find the twin these results belong to (run.json names "
           f"{ref or 'no input file'}); give it with --twin FILE.twin.gpkg")
    raise LayerError(msg)


def _utilities(src: MapSource, folder: Path) -> None:
    for where in (folder, folder / "utilities"):
        power, water = where / "power.parquet", where / "water.parquet"
        if power.is_file() and src.line_loading is None:
            src.line_loading = _hourly_table(power, ("loading_pct", "loading"), "line")
        if water.is_file() and src.node_pressure is None:
            src.node_pressure = _hourly_table(water, ("pressure_m", "pressure"), "node")


def _hourly_table(path: Path, names: tuple[str, ...], kind: str) -> pd.DataFrame | None:
    """An id x hour table from a long (id, hour, value) or wide (id, 0..23) Parquet file."""
    frame = pq.read_table(path).to_pandas()
    idcol = next((c for c in ("id", f"{kind}_id", "line_id", "node_id", "element") if c in
                  frame.columns), None)
    value = next((c for c in names if c in frame.columns), None)
    if idcol is not None and value is not None and "hour" in frame.columns:
        if "kind" in frame.columns:    # power: branches, not buses; water: nodes, not pipes
            kinds = frame["kind"].astype(str)
            frame = frame[kinds != "bus"] if kind == "line" else frame[kinds == "node"]
        wide = frame.pivot_table(index=idcol, columns="hour", values=value, aggfunc="max")
    else:
        hours = [c for c in frame.columns if str(c).isdigit()]
        if not hours:
            return None
        wide = frame.set_index(idcol or frame.columns[0])[hours]
        wide.columns = [int(c) for c in hours]
    wide.index = wide.index.astype(str)
    return wide.astype(float)


def _building_kw(twin: Twin, folder: Path, src: MapSource) -> None:
    acts = folder / "activities.parquet"
    if not acts.is_file() or len(twin.layer("buildings")) == 0:
        return
    from twin.network.utilities import hourly_demand

    try:
        table = pq.read_table(acts).to_pandas()
        power, _ = hourly_demand(twin, table)
    except (TwinError, KeyError, ValueError) as err:
        src.notes.append(f"building power load not computed: {err}")
        return
    src.building_kw = power * 1000.0


def load_source(source: str | os.PathLike[str], *,
                twin: Twin | str | os.PathLike[str] | None = None,
                building_power: bool = True) -> MapSource:
    """Read a twin file or a run folder for a map.

    Parameters
    ----------
    source : path-like
        A twin file, a day-result folder, a replication folder, or a scenario folder.
    twin : Twin or path-like, optional
        The twin the results belong to, when the folder does not say (a scenario run's twin
        is otherwise rebuilt from its ``scenario.json``).
    building_power : bool
        Compute each building's hourly power load from the day's activities.

    Returns
    -------
    MapSource

    Raises
    ------
    LayerError
        ``source`` does not exist, is neither a twin file nor a run folder, or its twin cannot
        be found.

    Examples
    --------
    >>> load_source("/nonexistent")
    Traceback (most recent call last):
    ...
    twin._errors.LayerError: /nonexistent: no such file or folder; give a twin file ...
    """
    path = Path(source)
    if not path.exists():
        msg = (f"{path}: no such file or folder; give a twin file (NAME.twin.gpkg) or a run "
               "folder (from `twin simulate` or `twin run`)")
        raise LayerError(msg)
    if path.is_file():
        t = read_twin(path) if twin is None else (twin if isinstance(twin, Twin)
                                                  else read_twin(twin))
        return MapSource(twin=t, label=str(t.meta.get("name") or path.stem))
    reps = find_replications(path)
    folder = reps[0] if reps else path
    if not reps and not _is_day_folder(path):
        msg = (f"{path}: not a run folder (no kpis.json, trips.parquet or links.gpkg, and no "
               "rep-<k>/ inside); give a twin file or a folder written by `twin simulate` or "
               "`twin run`")
        raise LayerError(msg)
    scenario = read_json(folder / "scenario.json")
    t = _twin_for(folder, scenario, twin)
    label = str(scenario.get("name") or t.meta.get("name") or path.name)
    src = MapSource(twin=t, label=label, scenario=scenario or None, folder=folder,
                    replications=len(reps))
    if (folder / "trips.parquet").is_file():
        src.trips = _read_trips(folder / "trips.parquet")
    if (folder / "links.gpkg").is_file():
        src.road_hours = road_hours(folder / "links.gpkg")
    if building_power:
        _building_kw(t, folder, src)
    _utilities(src, folder)
    return src


def replication_index(folder: Path | None) -> int | None:
    """``k`` of a ``rep-<k>`` folder (None otherwise).

    Examples
    --------
    >>> replication_index(Path("runs/x/rep-3"))
    3
    """
    if folder is None:
        return None
    m = _REP.match(folder.name)
    return int(m.group(1)) if m else None


def as_float(values: Any) -> np.ndarray:
    """Numbers of any column as floats (text and None become NaN).

    Examples
    --------
    >>> as_float(["1", None, 2]).tolist()
    [1.0, nan, 2.0]
    """
    return np.asarray(pd.to_numeric(pd.Series(list(values) if not isinstance(values, pd.Series)
                                              else values), errors="coerce"), dtype=float)
