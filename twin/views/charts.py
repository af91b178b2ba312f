"""The report's charts as inline SVG (matplotlib, text kept as text so any script renders).

Each function takes plain series and labels and returns one ``<svg>`` element as text (no XML
declaration, no DOCTYPE, no metadata: nothing that refers to the network).

Examples
--------
>>> svg = line_chart({"base": ([5, 6, 7], [1.0, 3.0, 2.0])}, title="t", xlabel="h", ylabel="v")
>>> svg.startswith("<svg") and "http" not in svg.split(">", 1)[1]
True
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLOURS", "histogram_chart", "line_chart", "svg_text"]

#: Series colours in order (base first).
COLOURS = ("#4a4a4a", "#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0ca678",
           "#d6336c", "#5c7cfa", "#868e96")
_STRIP = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*", re.S),
          re.compile(r"<metadata>.*?</metadata>\s*", re.S))


def svg_text(fig: Figure) -> str:
    """A matplotlib Figure as a bare ``<svg>`` element (deterministic, no external refs)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "twin"}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight")
    text = buf.getvalue()
    for pat in _STRIP:
        text = pat.sub("", text)
    text = text.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    text = text.replace('xlink:href="#', 'href="#')
    return text.strip()


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, title: str,
               xlabel: str, ylabel: str, steps: bool = False, markers: bool = False,
               zero_line: bool = False, dashed: Sequence[str] = ()) -> str:
    """Lines (label -> (x, y)) as SVG; labels in ``dashed`` are drawn dashed, on top.

    Examples
    --------
    >>> "<svg" in line_chart({"a": ([0, 1], [0, 1])}, title="", xlabel="x", ylabel="y")
    True
    """
    fig, ax = _figure()
    for i, (label, (x, y)) in enumerate(series.items()):
        kw: dict[str, Any] = {"color": COLOURS[i % len(COLOURS)],
                              "linewidth": 1.8 if i else 2.2, "label": label}
        if label in dashed:
            kw.update(linestyle=(0, (4, 3)), linewidth=2.6, zorder=5)
        if steps:
            ax.step(x, y, where="post", **kw)
        else:
            ax.plot(x, y, marker="o" if markers else None, markersize=3, **kw)
    if zero_line:
        ax.axhline(0, color="#999", linewidth=0.8)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8)
    ys = [abs(float(v)) for _, y in series.values() for v in y if np.isfinite(v)]
    if ys and max(ys) >= 1e4:
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return svg_text(fig)


def histogram_chart(samples: Mapping[str, ArrayLike], *, title: str, xlabel: str,
                    ylabel: str, bin_width: float = 1.0, quantile: float = 0.99) -> str:
    """Density histograms (label -> values) as step lines over a common binning.

    Examples
    --------
    >>> "<svg" in histogram_chart({"a": [1, 2, 2, 3]}, title="", xlabel="x", ylabel="y")
    True
    """
    arrays = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    everything = np.concatenate([v for v in arrays.values() if v.size] or [np.zeros(1)])
    hi = max(float(np.quantile(everything, quantile)), bin_width)
    edges = np.arange(0.0, hi + bin_width, bin_width)
    series = {}
    for k, v in arrays.items():
        if v.size == 0:
            continue
        dens, _ = np.histogram(v, bins=edges)
        dens = dens / (v.size * bin_width)
        series[k] = (edges.tolist(), [*dens.tolist(), float(dens[-1])])
    return line_chart(series, title=title, xlabel=xlabel, ylabel=ylabel, steps=True)
