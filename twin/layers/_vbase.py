"""Shared pieces of validation: thresholds, the report, and helpers for listing findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin._errors import Finding

MAX_LISTED = 20
#: Share of road nodes in the largest strongly connected part below which the graph is an error.
MIN_STRONG_SHARE = 0.5
#: Dead ends this close to the hull of the road network are at the edge of the extract (m).
EDGE_TOLERANCE_M = 30.0
#: Road length_m and geometry length may differ by this share (and 5 m) before a warning.
LENGTH_TOLERANCE = 0.2
#: Zones overlapping by more than this share of the smaller zone are reported.
ZONE_OVERLAP_SHARE = 0.01

_GEOM_TYPES = {"Point": (0, 4), "LineString": (1, 5), "Polygon": (3, 6)}
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
_FIX_HINT = ("repair it with `twin layers validate --fix` (make_valid) or QGIS "
             "Vector > Geometry Tools > Fix Geometries")


@dataclass
class Report:
    """The result of :func:`validate_twin`: every finding, with counts and a verdict.

    Examples
    --------
    >>> r = Report([Finding("warning", "dead_end", "3 dead ends", layer="roads")])
    >>> r.ok, Report(r.findings, strict=True).ok
    (True, False)
    >>> r.to_dict()["warnings"]
    1
    """

    findings: list[Finding] = field(default_factory=list)
    strict: bool = False
    path: str | None = None

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (and, with ``strict``, no warnings)."""
        return not self.errors and not (self.strict and self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: verdict, counts and every finding."""
        return {
            "path": self.path,
            "ok": self.ok,
            "strict": self.strict,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def format(self) -> str:
        """Text: findings grouped by layer, one line each, then a summary line.

        Examples
        --------
        >>> print(Report([Finding("error", "crs", "no CRS", layer="roads")]).format())
        roads: 1 error(s), 0 warning(s)
          error [crs] roads: no CRS
        FAILED: 1 error(s), 0 warning(s)
        """
        lines: list[str] = []
        if self.path:
            lines.append(f"twin {self.path}")
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.layer or "twin", []).append(f)
        for layer, items in groups.items():
            n_err = sum(f.severity == "error" for f in items)
            lines.append(f"{layer}: {n_err} error(s), {len(items) - n_err} warning(s)")
            lines += ["  " + f.format() for f in items]
        verdict = "OK" if self.ok else "FAILED"
        if self.strict and self.warnings and not self.errors:
            verdict += " (strict: warnings count as errors)"
        lines.append(f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


# --- helpers ----------------------------------------------------------------------------------

def _ids(gdf: pd.DataFrame) -> pd.Series:
    """Feature ids as text; a missing id is shown as ``row N``."""
    if "id" in gdf.columns:
        ids = gdf["id"]
        present = pd.Series(_present(ids), index=ids.index)
        if bool(present.all()):
            text = ids.dtype == object and pd.api.types.infer_dtype(ids) == "string"
            return ids if text else ids.astype(str)
        rows = pd.Series(np.arange(len(gdf)), index=gdf.index)[~present]
        return ids.astype(str).where(present, "row " + rows.astype(str))
    return pd.Series("row " + pd.Series(np.arange(len(gdf))).astype(str).to_numpy(),
                     index=gdf.index, dtype=object)


def _listed(severity: str, rule: str, layer: str, field_name: str | None, ids: pd.Series,
            messages: pd.Series | str, source: str | None, *, summary: str) -> list[Finding]:
    """One finding per feature (the first MAX_LISTED), then one finding for the rest."""
    n = len(ids)
    if n == 0:
        return []
    head_ids = ids.iloc[:MAX_LISTED].tolist()
    msgs = ([messages] * len(head_ids) if isinstance(messages, str)
            else messages.iloc[:MAX_LISTED].tolist())
    out = [Finding(severity, rule, m, layer, fid, field_name, source)
           for fid, m in zip(head_ids, msgs, strict=True)]
    if n > MAX_LISTED:
        more = ids.iloc[MAX_LISTED:MAX_LISTED + 10].tolist()
        out.append(Finding(severity, rule, f"... and {n - MAX_LISTED} more features {summary} "
                           f"(next ids: {', '.join(map(str, more))})", layer, None, field_name,
                           source))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


_NULLS = [None, np.nan, pd.NA, pd.NaT]


def _present(col: pd.Series) -> np.ndarray:
    """``col.notna()`` as an array."""
    return col.notna().to_numpy()


def _as_numeric(col: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("float64")
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.astype("float64")
    return pd.to_numeric(col, errors="coerce").astype("float64")


_BOOL_TEXT = {"true", "false", "yes", "no", "1", "0", "t", "f", "y", "n", "1.0", "0.0"}


def _geoms(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(gdf.geometry.array, dtype=object)


def _usable(geoms: np.ndarray) -> np.ndarray:
    """Mask of geometries that are present, not empty and valid."""
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    ok[ok] = shapely.is_valid(geoms[ok])
    return ok


# --- layer rules ------------------------------------------------------------------------------

