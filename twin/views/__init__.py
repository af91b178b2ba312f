"""Views: offline 3D maps (deck.gl, inlined) and the stakeholder report, in English and Chinese.

- :func:`write_map`: one self-contained HTML map of a twin file or a run folder, with
  before / after / difference when compared with another run;
- :func:`write_report`: the report of scenario runs (comparison table, charts, maps,
  provenance);
- :func:`load_source`, :func:`map_data`: the pieces, for other front ends;
- :mod:`twin.views.browser`: headless Chromium screenshots and first-frame times (Playwright).

Only this package imports pydeck (whose bundled deck.gl script the pages inline).

Examples
--------
>>> from twin.views import write_map, write_report
>>> # write_map("demo.twin.gpkg", "map.html", lang="zh")
>>> # write_report("runs/baseline", ["runs/bus-line"], "report.html")
"""

from twin.views.deck import MAP_LAYERS, map_data, write_map
from twin.views.report import write_report
from twin.views.runs import MapSource, load_source

__all__ = ["MAP_LAYERS", "MapSource", "load_source", "map_data", "write_map", "write_report"]
