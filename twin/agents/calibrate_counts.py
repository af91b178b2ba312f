"""Reading hourly traffic counts and storing them in the twin file (re-exported by
:mod:`twin.agents.calibrate`).

Examples
--------
>>> _hour("08:30"), _hour("2026-05-04T17:00"), _hour("25")
((8, None), (17, '2026-05-04'), (None, None))
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin._errors import Finding, LayerError, ValidationError
from twin.layers.store import Twin

__all__ = ["COUNT_KINDS", "import_counts", "read_counts"]

#: Sensor kinds whose observations are vehicle counts.
COUNT_KINDS = ("traffic_counter", "camera")
_HHMM = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*$")


def _hour(value: Any) -> tuple[int | None, str | None]:
    """Hour of day (0-23) and the date, if the value holds one; (None, None) if malformed."""
    if isinstance(value, int | np.integer) or (isinstance(value, float | np.floating)
                                                and float(value).is_integer()):
        h = int(value)
        return (h, None) if 0 <= h <= 23 else (None, None)
    text = str(value).strip()
    m = _HHMM.match(text)
    if m:
        h = int(m.group(1))
        mins = int(m.group(2) or 0)
        return (h, None) if 0 <= h <= 23 and 0 <= mins <= 59 else (None, None)
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None, None
    if pd.isna(ts) or not re.search(r"\d{1,2}:\d{2}", text):
        return None, None
    return int(ts.hour), ts.date().isoformat()


def read_counts(path: str | Path, twin: Twin) -> pd.DataFrame:
    """Read and check a counts CSV against the twin's sensors.

    Columns: ``sensor_id``, ``hour`` (0-23, ``HH:MM`` or a date-time such as
    ``2026-05-04T08:00``), ``count`` (vehicles in that hour, >= 0) and optionally ``date``
    (``YYYY-MM-DD``).

    Returns
    -------
    DataFrame
        sensor_id (str), hour (int), count (float), date (str or None).

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, unknown sensor ids, sensors that do not count
        traffic, malformed hours or dates, negative or non-numeric counts, duplicate rows.

    Examples
    --------
    >>> # read_counts("counts.csv", read_twin("demo.twin.gpkg")).head()
    """
    p = Path(path)
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        msg = f"{p}: cannot read the counts ({err}); give a CSV with sensor_id, hour, count"
        raise LayerError(msg) from err
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in ("sensor_id", "hour", "count") if c not in raw.columns]
    if missing:
        msg = (f"{p}: missing column(s) {', '.join(missing)}; a counts CSV has sensor_id, hour, "
               f"count and optionally date (it has: {', '.join(raw.columns)})")
        raise LayerError(msg)
    sensors = twin.layer("sensors")
    kinds = dict(zip(sensors["id"].astype(str), sensors["kind"].astype(str), strict=True)) \
        if len(sensors) else {}
    findings: list[Finding] = []

    def bad(row: int, fld: str, rule: str, message: str) -> None:
        findings.append(Finding("error", rule, message, layer="sensor_observations",
                                feature=f"row {row + 2}", field=fld, source=src))

    ids = raw["sensor_id"].astype(str).str.strip()
    hours: list[int | None] = []
    dates: list[str | None] = []
    counts = pd.to_numeric(raw["count"].str.strip(), errors="coerce")
    for i in range(len(raw)):
        sid = ids.iloc[i]
        if sid not in kinds:
            near = sorted(kinds)[:8]
            bad(i, "sensor_id", "unknown_sensor",
                f"sensor {sid!r} is not in the twin's sensors layer (sensors: "
                f"{', '.join(near)}{', ...' if len(kinds) > 8 else ''}); add it with `twin "
                "layers edit` or fix the id")
        elif kinds[sid] not in COUNT_KINDS:
            bad(i, "sensor_id", "not_a_counter",
                f"sensor {sid!r} is a {kinds[sid]} sensor; counts need a "
                f"{' or '.join(COUNT_KINDS)}")
        h, d = _hour(raw["hour"].iloc[i])
        if h is None:
            bad(i, "hour", "time", f"malformed hour {raw['hour'].iloc[i]!r}: give 0-23, HH:MM "
                "or a date-time such as 2026-05-04T08:00")
        hours.append(h)
        if "date" in raw.columns and str(raw["date"].iloc[i]).strip():
            text = str(raw["date"].iloc[i]).strip()
            try:
                d = pd.Timestamp(text).date().isoformat()
            except (ValueError, TypeError):
                bad(i, "date", "time", f"malformed date {text!r}: give YYYY-MM-DD")
        dates.append(d)
        c = counts.iloc[i]
        if pd.isna(c) or not np.isfinite(c):
            bad(i, "count", "type", f"count {raw['count'].iloc[i]!r} is not a number")
        elif c < 0:
            bad(i, "count", "range", f"count {c:g} is negative; counts are vehicles per hour "
                ">= 0")
    out = pd.DataFrame({"sensor_id": ids.to_numpy(), "hour": hours,
                        "count": counts.to_numpy(float), "date": dates})
    if not findings:
        dup = out.duplicated(["sensor_id", "hour", "date"], keep="first")
        for k in np.flatnonzero(dup.to_numpy()).tolist():
            bad(k, "hour", "duplicate", f"sensor {out['sensor_id'].iloc[k]} hour "
                f"{out['hour'].iloc[k]} (date {out['date'].iloc[k]}) is given twice")
    if findings:
        raise ValidationError(findings, header=f"{p}: the counts do not fit the twin")
    if len(out) == 0:
        msg = f"{p}: no counts in the file"
        raise LayerError(msg)
    out["hour"] = out["hour"].astype(int)
    return out


def import_counts(twin_path: str | Path, csv: str | Path, *, replace: bool = False,
                  author: str | None = None) -> tuple[Twin, pd.DataFrame]:
    """Add the counts of a CSV to the twin file's ``sensor_observations`` table.

    Rows for the same sensor, hour and date replace earlier ones (``replace``: the whole table).
    The twin is written back atomically, its edit history kept.

    Returns
    -------
    (twin, counts)

    Examples
    --------
    >>> # import_counts("demo.twin.gpkg", "counts.csv")[1].shape
    """
    from twin.layers.store import read_twin, write_twin

    twin = read_twin(twin_path)
    counts = read_counts(csv, twin)
    old = twin.observations
    if old is not None and len(old) and not replace:
        keep = old[["sensor_id", "hour", "count", "date"]].copy() if "date" in old else \
            old.assign(date=None)[["sensor_id", "hour", "count", "date"]]
        keep["sensor_id"] = keep["sensor_id"].astype(str)
        keep["hour"] = pd.to_numeric(keep["hour"], errors="coerce").astype(int)
        merged = pd.concat([keep, counts], ignore_index=True)
        counts_all = merged.drop_duplicates(["sensor_id", "hour", "date"], keep="last")
    else:
        counts_all = counts
    twin.observations = counts_all.reset_index(drop=True)
    twin.extras["history"] = {"author": author, "message": f"imported counts from "
                              f"{Path(csv).name} ({len(counts)} rows)"}
    write_twin(twin, twin_path, overwrite=True)
    return twin, counts
