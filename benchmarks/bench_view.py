"""`view`: the 100,000-resident synthetic city's offline map: file size and first frame.

The city is ``synthetic_twin(100_000, seed=1)`` (``--quick``: 10,000 residents), written to a
twin file; one day is simulated (a ``sample`` of the agents, one iteration) so the map has
hourly road v/c, building power load and 2,000 animated car trips. ``twin view`` writes the
page; headless Debian Chromium (Playwright, software WebGL through SwiftShader, every request
blocked) opens it and the time from navigation to the first presented frame with every layer
is taken (median of ``repeat``), with the CPU seconds Chromium's renderer and GPU processes
spent (the wall time depends on what else the machine runs; the CPU seconds much less).

Rows:

- ``view_size``: the map file (MB) against the issue's bar (40 MB), and bytes per building;
- ``view_first_frame``: seconds to the first frame against the bar (10 s);
- ``view_buildings_vs_pydeck``: a buildings-only map, twin's encoding against pydeck's own
  ``Deck.to_html(offline=True)`` of the same extruded footprints (size; ratio > 1: twin smaller);
- ``view_demo``: the demo twin's map (central Helsinki; bar 8 MB) and its first frame.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import row

MB = 1e6


def _chromium_cpu() -> dict[str, float]:
    import psutil

    out = {"gpu": 0.0, "renderer": 0.0}
    for p in psutil.process_iter(["name", "cmdline"]):
        if "chrom" not in (p.info["name"] or ""):
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        kind = "gpu" if "gpu-process" in cmd else "renderer" if "--type=renderer" in cmd \
            else None
        if kind:
            with contextlib.suppress(psutil.Error):
                out[kind] += sum(p.cpu_times()[:2])
    return out


def _first_frames(html: Path, repeat: int) -> dict[str, Any]:
    from twin.views.browser import launch, open_map

    times, gpu, renderer, errors, blocked = [], [], [], [], []
    with launch() as browser:
        for _ in range(max(1, repeat)):
            c0 = _chromium_cpu()
            page, res = open_map(browser, html, width=1200, height=800, timeout_s=300)
            c1 = _chromium_cpu()
            stats = page.evaluate("JSON.stringify(window.__twin.stats)")
            page.close()
            times.append(res.first_frame_s)
            gpu.append(c1["gpu"] - c0["gpu"])
            renderer.append(c1["renderer"] - c0["renderer"])
            errors += res.console_errors
            blocked += res.blocked
    return {"first_frame_s": statistics.median(times),
            "first_frames_s": [round(t, 2) for t in times],
            "chromium_gpu_cpu_s": round(statistics.median(gpu), 2),
            "chromium_renderer_cpu_s": round(statistics.median(renderer), 2),
            "console_errors": len(errors), "blocked_requests": len(blocked),
            "page_stats": stats, "load_average_1min": round(os.getloadavg()[0], 2)}


def _pydeck_buildings(twin: Any, path: Path) -> None:
    import pydeck as pdk
    import shapely

    b = twin.layer("buildings").to_crs(4326)
    geoms = b.geometry.to_numpy()
    parts, idx = shapely.get_parts(geoms, return_index=True)
    area = shapely.area(parts)
    best: dict[int, int] = {}
    for j, (i, a) in enumerate(zip(idx, area, strict=True)):
        if i not in best or a > area[best[i]]:
            best[i] = j
    heights = b["height_m"].to_numpy(float)
    data = [{"polygon": np.round(shapely.get_coordinates(parts[j].exterior), 6).tolist(),
             "h": round(float(heights[i]), 1)} for i, j in best.items()]
    lon, lat = np.mean(b.total_bounds[[0, 2]]), np.mean(b.total_bounds[[1, 3]])
    deck = pdk.Deck(layers=[pdk.Layer("PolygonLayer", data, get_polygon="polygon",
                                      extruded=True, get_elevation="h",
                                      get_fill_color=[230, 140, 90])],
                    initial_view_state=pdk.ViewState(longitude=lon, latitude=lat, zoom=13),
                    map_style=None, map_provider=None)
    deck.to_html(str(path), offline=True, notebook_display=False)


def bench_view(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """The 100k synthetic city's map: size (bar 40 MB) and first frame (bar 10 s)."""
    from twin.agents.simulate import simulate, write_day
    from twin.layers.osm import demo_twin
    from twin.layers.store import Twin, read_twin, write_twin
    from twin.layers.synthetic import synthetic_twin
    from twin.views import write_map
    from twin.views.runs import MapSource

    warnings.simplefilter("ignore")
    residents = 10_000 if quick else 100_000
    sample = 0.1 if quick else 0.03
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        twin_path = write_twin(synthetic_twin(residents, seed=1), folder / "city.twin.gpkg")
        twin = read_twin(twin_path)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_day(simulate(twin, seed=1, iterations=1, sample=sample), folder / "day")
        t_sim = time.perf_counter() - t0
        t0 = time.perf_counter()
        html = write_map(folder / "day", folder / "map.html")
        t_write = time.perf_counter() - t0
        n_build = len(twin.layer("buildings"))
        size = html.stat().st_size
        frames = _first_frames(html, repeat)
        common = {"residents": residents, "buildings": n_build,
                  "roads": len(twin.layer("roads")), "sample": sample,
                  "build_twin_s": round(t_build, 1), "simulate_s": round(t_sim, 1),
                  "write_map_s": round(t_write, 2)}
        rows.append(row("view_size", "MB", size / MB, "bar (issue 5)", 40.0,
                        bytes_per_building=round(size / n_build), **common))
        rows.append(row("view_first_frame", "seconds", frames.pop("first_frame_s"),
                        "bar (issue 5)", 10.0, renderer="Debian Chromium headless, "
                        "SwiftShader WebGL", viewport="1200x800", **frames, **common))
        # buildings only: twin's page vs pydeck's own offline page
        only = Twin(layers={"buildings": twin.layer("buildings")}, meta=twin.meta)
        ours = write_map(MapSource(twin=only, label="buildings"), folder / "b.html")
        peer = folder / "pydeck.html"
        _pydeck_buildings(twin, peer)
        rows.append(row("view_buildings_vs_pydeck", "MB", ours.stat().st_size / MB,
                        "pydeck Deck.to_html(offline=True)", peer.stat().st_size / MB,
                        buildings=n_build,
                        twin_data_bytes_per_building=round(
                            (ours.stat().st_size - _bundle_size()) / n_build),
                        peer_data_bytes_per_building=round(
                            (peer.stat().st_size - _bundle_size()) / n_build)))
        # the demo twin (layers only, and with a simulated day)
        demo = write_twin(demo_twin(), folder / "demo.twin.gpkg")
        demo_t = read_twin(demo)
        write_day(simulate(demo_t, seed=1, iterations=1, sample=0.3 if quick else 1.0),
                  folder / "demo-day")
        for label, src in (("layers only", demo), ("with a simulated day", folder / "demo-day")):
            page = write_map(src, folder / "demo.html")
            f = _first_frames(page, repeat)
            rows.append(row("view_demo", "MB", page.stat().st_size / MB, "bar (issue 5)", 8.0,
                            content=label, first_frame_s=round(f["first_frame_s"], 2),
                            chromium_gpu_cpu_s=f["chromium_gpu_cpu_s"],
                            chromium_renderer_cpu_s=f["chromium_renderer_cpu_s"],
                            console_errors=f["console_errors"],
                            blocked_requests=f["blocked_requests"],
                            load_average_1min=f["load_average_1min"]))
    return rows


def _bundle_size() -> int:
    from twin.views.template import deck_bundle

    return len(deck_bundle().encode("utf-8"))


BENCHMARKS = {"view": bench_view}
