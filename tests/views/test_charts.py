"""Charts as inline SVG: no external references, text kept as text."""

from __future__ import annotations

import re

from twin.views.charts import histogram_chart, line_chart


def test_line_chart_is_bare_svg_with_text() -> None:
    svg = line_chart({"基准": ([0, 1, 2], [0, 5e4, 1e5]), "b": ([0, 1, 2], [1, 2, 3])},
                     title="逐时交通流量", xlabel="hour", ylabel="veh", markers=True,
                     zero_line=True)
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert "DOCTYPE" not in svg
    assert "<metadata" not in svg
    assert "逐时交通流量" in svg                         # text, not glyph paths
    assert "100,000" in svg                            # thousands separated
    assert not re.search(r'(src|href)\s*=\s*["\']?https?://', svg)


def test_histogram_drops_the_tail_and_is_deterministic() -> None:
    a = histogram_chart({"x": [1, 2, 2, 3, 1000]}, title="t", xlabel="min", ylabel="share",
                        quantile=0.8)
    b = histogram_chart({"x": [1, 2, 2, 3, 1000]}, title="t", xlabel="min", ylabel="share",
                        quantile=0.8)
    assert a == b
    assert "<svg" in histogram_chart({"empty": []}, title="t", xlabel="x", ylabel="y")
