"""3D maps: a twin (and its run results) as one self-contained, offline deck.gl page.

:func:`map_data` turns one or two :class:`~twin.views.runs.MapSource` (after, and optionally
before) into the JSON the page's script draws: every layer once (the union of both states'
features by id, with a presence mask and the values that differ), coordinates in metres around
an origin (deck.gl ``METER_OFFSETS``), numbers quantised and base64-packed, categories
dictionary-coded; hourly road volume/capacity, building power load, line loading and water
pressure as one packed array per state; up to ``max_trips`` car trips as paths with timestamps
rebuilt from their route link ids (``":rev"``: the road drawn backwards), time interpolated along
the path length between departure and arrival.

:func:`write_map` writes the page: deck.gl's script is read from the installed pydeck package and
inlined, so nothing is fetched when the page opens.

Examples
--------
>>> # write_map("demo.twin.gpkg", "map.html", lang="zh")
>>> # write_map("runs/bus-line", "map.html", compare="runs/baseline")
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from twin.layers.schemas import layer_spec
from twin.layers.store import OSM_CREDIT, Twin
from twin.views._encode import (
    LocalFrame,
    encode_categories,
    encode_counts,
    encode_lines,
    encode_numbers,
    encode_points,
    encode_polygons,
)
from twin.views.i18n import (
    check_lang,
    intervention_label,
    layer_title,
    localized,
    source_text,
    t,
)
from twin.views.runs import MapSource, as_float, load_source, replication_index

__all__ = ["MAP_LAYERS", "map_data", "write_map"]

#: Layers on the map: geometry kind and the fields their tooltips show (in order).
MAP_LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "zones": ("poly", ("id", "name", "kind", "land_use", "area_m2", "population", "jobs",
                       "source")),
    "buildings": ("poly", ("id", "name", "use", "height_m", "floors", "floor_area_m2",
                           "residents", "jobs", "zone_id", "source")),
    "water_pipes": ("line", ("id", "kind", "diameter_mm", "length_m", "source")),
    "power_lines": ("line", ("id", "kind", "vn_kv", "length_km", "max_i_ka", "source")),
    "roads": ("line", ("id", "name", "highway", "lanes", "speed_kph", "capacity_vph", "oneway",
                       "length_m", "source")),
    "transit_routes": ("line", ("id", "name", "mode", "headway_min", "source")),
    "water_nodes": ("point", ("id", "kind", "elevation_m", "source")),
    "power_nodes": ("point", ("id", "kind", "vn_kv", "capacity_mva", "source")),
    "road_nodes": ("point", ("id", "control", "source")),
    "facilities": ("point", ("id", "kind", "name", "capacity", "units", "source")),
    "sensors": ("point", ("id", "kind", "range_m", "road_id", "source")),
}
# rounding step of numeric fields (default 0.01)
_STEPS = {"height_m": 0.1, "floors": 1, "floor_area_m2": 1, "residents": 1, "jobs": 1,
          "area_m2": 1, "population": 1, "lanes": 1, "speed_kph": 1, "capacity_vph": 1,
          "length_m": 1, "headway_min": 0.1, "length_km": 0.001, "max_i_ka": 0.001,
          "elevation_m": 0.1, "diameter_mm": 1, "range_m": 1, "capacity": 0.1, "units": 1}
STATES = ("before", "after")

# --- service results on the map (twin.agents.services / emergency) ---------------------------
#: Run results shown in a layer's tooltips: the file in the run folder, its id column, and the
#: columns (numbers) joined onto the layer's features by id.
RESULT_FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "facilities": ("facilities.parquet", "facility_id",
                   ("visits", "served", "utilisation", "wait_mean_min", "wait_p90_min",
                    "peak_queue")),
}
_STEPS.update({"visits": 1, "served": 1, "utilisation": 0.001, "wait_mean_min": 0.1,
               "wait_p90_min": 0.1, "peak_queue": 1})


def _with_results(src: MapSource) -> MapSource:
    """The source with run results (facility utilisation, waits) joined onto its layers."""
    if src.folder is None:
        return src
    import pyarrow.parquet as pq

    layers = dict(src.twin.layers)
    for layer, (file, key, cols) in RESULT_FIELDS.items():
        path = src.folder / file
        if layer not in layers or not path.is_file():
            continue
        table = pq.read_table(path).to_pandas()
        have = [c for c in cols if c in table.columns]
        if key not in table.columns or not have:
            continue
        frame = layers[layer].drop(columns=[c for c in have if c in layers[layer].columns])
        values = table.set_index(table[key].astype(str))[have]
        joined = values.reindex(frame["id"].astype(str).to_numpy())
        for c in have:
            frame[c] = joined[c].to_numpy(dtype=float)
        layers[layer] = frame
    twin = Twin(layers=layers, meta=src.twin.meta, observations=src.twin.observations,
                path=src.twin.path, extras=src.twin.extras)
    from dataclasses import replace

    return replace(src, twin=twin)


def _ids(frame: gpd.GeoDataFrame) -> np.ndarray:
    return frame["id"].astype(str).to_numpy() if len(frame) else np.zeros(0, dtype=object)


def _shown(name: str, frame: gpd.GeoDataFrame, highlight: set[str]) -> gpd.GeoDataFrame:
    """Drop features that would only clutter the map (plain buses, uncontrolled nodes)."""
    if len(frame) == 0:
        return frame
    ids = frame["id"].astype(str)
    if name == "road_nodes" and "control" in frame:
        return frame[(frame["control"].astype(str) != "none") | ids.isin(highlight)]
    if name == "power_nodes" and "kind" in frame:
        return frame[(frame["kind"].astype(str) != "bus") | ids.isin(highlight)]
    return frame


def _column(values: pd.Series, numeric: bool, step: float) -> dict[str, Any]:
    if numeric:
        return encode_numbers(as_float(values), step=step)
    return encode_categories(values.to_numpy(dtype=object))


def _same(a: pd.Series, b: pd.Series) -> bool:
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    if not np.array_equal(na, nb):
        return False
    return bool((a[~na].astype(str).to_numpy() == b[~nb].astype(str).to_numpy()).all())


def _layer(name: str, frames: Mapping[str, gpd.GeoDataFrame], frame: LocalFrame,
           highlight: set[str]) -> tuple[dict[str, Any], pd.Index] | None:
    """One layer: the union of the states' features (and its ids), geometry, fields, masks."""
    kind, wanted = MAP_LAYERS[name]
    results = RESULT_FIELDS.get(name, ("", "", ()))[2]
    wanted = (*wanted, *results)
    shown = {s: _shown(name, f, highlight) for s, f in frames.items()}
    if not any(len(f) for f in shown.values()):
        return None
    order = [s for s in ("after", "before") if s in shown]
    union: list[str] = []
    seen: set[str] = set()
    geoms: list[Any] = []
    for s in order:
        f = shown[s]
        for i, g in zip(_ids(f), f.geometry.to_numpy(), strict=True):
            if i not in seen:
                seen.add(i)
                union.append(i)
                geoms.append(g)
    index = pd.Index(union)
    spec = layer_spec(name)
    block: dict[str, Any] = {"n": len(union), "k": kind}
    g = np.asarray(geoms, dtype=object)
    if kind == "poly":
        block["g"] = encode_polygons(g, frame)
    elif kind == "line":
        block["g"] = encode_lines(g, frame)
    else:
        block["g"] = encode_points(g, frame)
    if len(shown) > 1:
        bits = np.zeros(len(union), dtype=np.int64)
        for bit, state in enumerate(STATES):
            if state in shown:
                bits[index.get_indexer(pd.Index(_ids(shown[state])))] |= 1 << bit
        block["m"] = encode_counts(bits)
    cols: dict[str, Any] = {}
    fields = [f for f in wanted if any(f in fr.columns for fr in shown.values())]
    prov = set(spec.provenance_fields())
    for f in fields:
        for col in ([f, f"{f}_source"] if f in prov else [f]):
            if not any(col in fr.columns for fr in shown.values()):
                continue
            numeric = (f in spec.fields and spec.fields[f].type in ("int", "float")
                       and col == f) or f in results
            per: dict[str, pd.Series] = {}
            for state, fr in shown.items():
                vals = fr[col] if col in fr.columns else pd.Series([None] * len(fr))
                per[state] = pd.Series(vals.to_numpy(dtype=object),
                                       index=_ids(fr)).reindex(index)
            step = _STEPS.get(f, 0.01)
            latest = per[order[0]]
            if len(order) > 1:     # features only in "before" keep their values there
                only_before = ~index.isin(_ids(shown["after"]))
                latest = latest.where(~only_before, per["before"])
            entry = {"v": _column(latest, numeric, step)}
            if len(order) > 1 and not _same(latest, per["before"]):
                entry["b"] = _column(per["before"], numeric, step)
            cols[col] = entry
    block["c"] = cols
    hl = index.get_indexer(pd.Index(sorted(highlight & seen)))
    if len(hl):
        block["hl"] = encode_counts(np.sort(hl))
    return block, index


def _hourly(table: pd.DataFrame | None, index: pd.Index, hours: Sequence[int],
            step: float) -> dict[str, Any] | None:
    """An hour-major (hours x features) packed array; missing values NaN."""
    if table is None or len(index) == 0:
        return None
    wide = table.reindex(index=index, columns=list(hours))
    return encode_numbers(wide.to_numpy(dtype=float).T.ravel(), step=step)


def _road_table(src: MapSource) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    rh = src.road_hours
    if rh is None or len(rh) == 0:
        return None
    vc = rh.pivot_table(index="road_id", columns="hour", values="vc", aggfunc="max")
    vol = rh.pivot_table(index="road_id", columns="hour", values="volume", aggfunc="sum")
    return vc, vol


def _trips(src: MapSource, roads: pd.Index | None, max_trips: int, seed: int
           ) -> dict[str, Any] | None:
    """Up to ``max_trips`` car trips as route link sequences over the map's roads.

    A link is ``2 x road index (+1 for ":rev")``; the page rebuilds each path from the road
    geometry and interpolates time along its length between departure and arrival.
    """
    trips = src.trips
    if trips is None or roads is None or "route" not in trips.column_names \
            or trips.num_rows == 0:
        return None
    n_route = pc.list_value_length(trips.column("route")).to_numpy(zero_copy_only=False)
    depart = trips.column("depart").to_numpy(zero_copy_only=False).astype(float)
    arrive = trips.column("arrive").to_numpy(zero_copy_only=False).astype(float)
    ok = (np.nan_to_num(n_route) > 0) & np.isfinite(depart) & np.isfinite(arrive) \
        & (arrive > depart)
    if "mode" in trips.column_names:
        ok &= trips.column("mode").to_numpy(zero_copy_only=False).astype(str) == "car"
    cand = np.flatnonzero(ok)
    total = len(cand)
    if total == 0:
        return None
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(cand, size=min(max_trips, total), replace=False))
    routes = trips.column("route").take(pick).to_pylist()
    purpose = (trips.column("purpose").take(pick).to_numpy(zero_copy_only=False).astype(str)
               if "purpose" in trips.column_names else np.full(len(pick), "other"))
    lookup = {rid: i for i, rid in enumerate(roads)}
    counts: list[int] = []
    links: list[int] = []
    keep: list[int] = []
    for j, route in enumerate(routes):
        codes = []
        for link in route:
            rid, _, rev = str(link).partition(":")
            i = lookup.get(rid)
            if i is None:
                break
            codes.append(2 * i + (rev == "rev"))
        else:
            counts.append(len(codes))
            links.extend(codes)
            keep.append(j)
    if not keep:
        return None
    return {"n": len(keep), "total": total, "pl": encode_counts(counts),
            "l": encode_counts(links), "t0": encode_numbers(depart[pick][keep], step=1.0),
            "t1": encode_numbers(arrive[pick][keep], step=1.0),
            "p": encode_categories(purpose[keep])}


def _bounds(twins: Sequence[Twin]) -> tuple[float, float, float, float]:
    boxes = []
    for tw in twins:
        for name in ("zones", "roads", "buildings"):
            layer = tw.layer(name)
            if len(layer):
                boxes.append(layer.total_bounds)
    if not boxes:
        for tw in twins:
            for layer in tw.layers.values():
                if len(layer):
                    boxes.append(layer.total_bounds)
    if not boxes:
        return (0.0, 0.0, 1.0, 1.0)
    b = np.vstack(boxes)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()),
            float(b[:, 3].max()))


def _title(src: MapSource, lang: str) -> tuple[str, str, list[str]]:
    sc = src.scenario or {}
    if sc:
        title = localized(sc.get("title"), lang) or str(sc.get("name", src.label))
        own = [i for i in sc.get("interventions") or [] if i.get("origin") == sc.get("name")]
        items = [intervention_label(i, lang) for i in own]
        return title, localized(sc.get("description"), lang), items
    name = str(src.twin.meta.get("name") or src.label)
    return t("map_title", lang, name=name), localized(src.twin.meta.get("description"),
                                                       lang), []


def _state_label(src: MapSource, lang: str) -> str:
    sc = src.scenario or {}
    label = localized(sc.get("title"), lang) if sc else src.label
    year = (sc.get("horizon") or {}).get("year")
    if year:
        label += f" ({year})"
    k = replication_index(src.folder)
    if k is not None:
        label += f" ({t('replication', lang, k=k)})"
    return label or src.label


def _provenance(twin: Twin) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in MAP_LAYERS:
        layer = twin.layer(name)
        if len(layer) and "source" in layer.columns:
            counts = layer["source"].astype(str).value_counts()
            out[name] = {str(k): int(v) for k, v in counts.items()}
    return out


def _credits(twins: Sequence[Twin], lang: str = "en"
             ) -> tuple[list[str], list[dict[str, str]]]:
    credits: list[str] = []
    sources: list[dict[str, str]] = []
    for tw in twins:
        for s in tw.meta.get("sources") or []:
            entry = {k: source_text(s[k], lang) if k in ("name", "licence", "note")
                     else str(s[k]) for k in ("name", "licence", "attribution", "note", "file")
                     if s.get(k)}
            if entry not in sources:
                sources.append(entry)
            if s.get("attribution") and s["attribution"] not in credits:
                credits.append(str(s["attribution"]))
        osm = any(len(layer) and "source" in layer.columns
                  and (layer["source"].astype(str) == "osm").any()
                  for layer in tw.layers.values())
        if osm and OSM_CREDIT["attribution"] not in credits:
            credits.append(OSM_CREDIT["attribution"])
    return credits, sources


def map_data(after: MapSource, before: MapSource | None = None, *, lang: str = "en",
             max_trips: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The JSON the map page draws: layers, hourly results, trips and labels.

    Parameters
    ----------
    after : MapSource
        What the map shows ("after" when ``before`` is given).
    before : MapSource, optional
        The comparison (usually the base run): adds before / after / difference.
    lang : {"en", "zh"}
    max_trips : int
        Car trips animated per state (a uniform sample, drawn from ``seed``).

    Examples
    --------
    >>> import shapely
    >>> from twin.layers.store import new_meta
    >>> from twin.views.runs import MapSource
    >>> z = gpd.GeoDataFrame({"id": ["z1"], "kind": ["new_zone"], "source": ["user"]},
    ...                      geometry=[shapely.box(0, 0, 100, 100)], crs=3067)
    >>> tw = Twin(layers={"zones": z}, meta=new_meta("tiny", 3067))
    >>> d = map_data(MapSource(twin=tw, label="tiny"))
    >>> d["meta"]["states"], d["layers"]["zones"]["n"]
    (['after'], 1)
    """
    check_lang(lang)
    srcs = {"after": after} if before is None else {"before": before, "after": after}
    srcs = {k: _with_results(v) for k, v in srcs.items()}
    twins = [s.twin for s in srcs.values()]
    crs = after.twin.crs
    frame = LocalFrame.around(crs, _bounds(twins))
    highlight: dict[str, set[str]] = {}
    for s in srcs.values():
        for name, ids in (s.twin.extras.get("highlight") or {}).items():
            highlight.setdefault(name, set()).update(str(i) for i in ids)
    layers: dict[str, Any] = {}
    indexes: dict[str, pd.Index] = {}
    for name in MAP_LAYERS:
        frames = {st: s.twin.layer(name).to_crs(crs) if s.twin.crs != crs
                  else s.twin.layer(name) for st, s in srcs.items()}
        built = _layer(name, frames, frame, highlight.get(name, set()))
        if built is not None:
            layers[name], indexes[name] = built
    hours_all = [s.hours for s in srcs.values() if s.hours is not None]
    hours = (min(h[0] for h in hours_all), max(h[1] for h in hours_all)) if hours_all else None
    dyn: dict[str, dict[str, Any]] = {}
    trips: dict[str, Any] = {}
    for st, s in srcs.items():
        rt = _road_table(s)
        if rt is not None and "roads" in indexes and hours is not None:
            hrs = list(range(*hours))
            dyn.setdefault("vc", {})[st] = _hourly(rt[0], indexes["roads"], hrs, 0.01)
            dyn.setdefault("volume", {})[st] = _hourly(rt[1], indexes["roads"], hrs, 1.0)
        for key, table, layer, step in (("kw", s.building_kw, "buildings", 0.1),
                                        ("loading", s.line_loading, "power_lines", 0.1),
                                        ("pressure", s.node_pressure, "water_nodes", 0.1)):
            if table is not None and layer in indexes:
                enc = _hourly(table, indexes[layer], list(range(24)), step)
                if enc is not None:
                    dyn.setdefault(key, {})[st] = enc
        tr = _trips(s, indexes.get("roads"), max_trips, seed)
        if tr is not None:
            trips[st] = tr
    title, description, items = _title(after, lang)
    credits, sources = _credits(twins, lang)
    west, south = frame.lonlat(np.array([_bounds(twins)[:2]]))[0]
    east, north = frame.lonlat(np.array([_bounds(twins)[2:]]))[0]
    default_t = None
    if hours is not None:
        default_t = 8 * 3600 if hours[0] <= 8 < hours[1] else hours[0] * 3600
    meta = {
        "lang": lang, "title": title, "description": description, "interventions": items,
        "origin": list(frame.origin), "bounds": [west, south, east, north],
        "states": list(srcs), "labels": {st: _state_label(s, lang) for st, s in srcs.items()},
        "hours": list(hours) if hours else None, "time": default_t,
        "credits": credits, "sources": sources, "provenance": _provenance(after.twin),
        "layers_only": all(s.folder is None for s in srcs.values()),
        "notes": [n for s in srcs.values() for n in s.notes],
        "titles": {name: layer_title(name, lang) for name in layers},
    }
    return {"meta": meta, "layers": layers, "dyn": dyn, "trips": trips}


def write_map(source: str | os.PathLike[str] | MapSource, out: str | os.PathLike[str], *,
              compare: str | os.PathLike[str] | MapSource | None = None, lang: str = "en",
              twin: str | os.PathLike[str] | None = None, max_trips: int = 2000,
              seed: int = 0) -> Path:
    """Write one self-contained, offline HTML map of a twin file or a run folder.

    Parameters
    ----------
    source : path-like or MapSource
        A twin file, a day-result folder, a scenario run folder (``DIR/<name>``) or one of its
        ``rep-<k>`` folders.
    out : path-like
        The HTML file (written to a temporary file, then renamed).
    compare : path-like or MapSource, optional
        What to compare with (usually the base run): adds before / after / difference.
    lang : {"en", "zh"}
        Language of every label, legend and tooltip.
    twin : path-like, optional
        The twin file ``source``'s results belong to, when the folder does not say.
    max_trips : int
        Car trips animated per state.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    LayerError
        A source cannot be read.
    TwinError
        ``lang`` is not supported.

    Examples
    --------
    >>> import tempfile, geopandas as gpd, shapely
    >>> from twin.layers.store import new_meta
    >>> z = gpd.GeoDataFrame({"id": ["z1"], "kind": ["old_district"], "source": ["user"]},
    ...                      geometry=[shapely.box(0, 0, 500, 500)], crs=3067)
    >>> src = MapSource(twin=Twin(layers={"zones": z}, meta=new_meta("tiny", 3067)), label="t")
    >>> p = write_map(src, tempfile.mkdtemp() + "/map.html", lang="zh")
    >>> "<script src=" in p.read_text(encoding="utf-8")
    False
    """
    check_lang(lang)
    after = source if isinstance(source, MapSource) else load_source(source, twin=twin)
    before = (compare if isinstance(compare, MapSource) or compare is None
              else load_source(compare))
    data = map_data(after, before, lang=lang, max_trips=max_trips, seed=seed)
    from twin.views.template import map_page, write_text_atomic

    return write_text_atomic(Path(out), map_page(data, lang))


def data_json(data: Mapping[str, Any]) -> str:
    """Compact JSON of :func:`map_data`, safe inside a ``<script>`` element.

    Examples
    --------
    >>> data_json({"a": "</script>"})
    '{"a":"<\\\\/script>"}'
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")
