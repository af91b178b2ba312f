"""The report's tables of service and emergency results, base → scenario.

Private to :mod:`twin.views.report`: per facility (visits, waiting, utilisation, from
``facilities.parquet`` of :mod:`twin.agents.services`) and per zone (coverage, incidents and
response times, from ``emergency_zones.parquet`` and ``emergency_incidents.parquet`` of
:mod:`twin.agents.emergency`), means over the replications.

Examples
--------
>>> _pair(1.0, 2.0, ".1f")
'1.0 → 2.0'
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from twin.views.i18n import value_label

__all__ = ["services_section"]


class _Runs(Protocol):
    reps: list[Path]


def _e(text: Any) -> str:
    return html.escape(str(text))


_SVC_TEXT = {
    "facilities": ("Facilities: visits, waiting and utilisation (mean over replications)",
                   "公共设施：到访、等候与利用率（各次重复的平均）"),
    "zones": ("Emergency response by zone (incidents of all replications)",
              "各分区应急响应（所有重复中的事件）"),
    "facility": ("Facility", "设施"), "kind": ("Kind", "类型"), "visits": ("Visits/day", "日到访"),
    "wait": ("Wait mean, min", "平均等候（分钟）"), "p90": ("Wait p90, min", "等候P90（分钟）"),
    "util": ("Utilisation", "利用率"), "zone": ("Zone", "分区"),
    "incidents": ("Incidents", "事件数"), "resp": ("Response mean, min", "平均响应（分钟）"),
    "resp90": ("Response p90, min", "响应P90（分钟）"),
    "within": ("Within target", "达标比例"), "cover": ("People within target of a base",
                                                   "基地目标时间内人口比例"),
}


def _st(key: str, lang: str) -> str:
    return _SVC_TEXT[key][1 if lang == "zh" else 0]


def _rep_frames(folder: _Runs, file: str) -> pd.DataFrame | None:
    frames = []
    for k, rep in enumerate(folder.reps):
        if (rep / file).is_file():
            frames.append(pq.read_table(rep / file).to_pandas().assign(_rep=k))
    return pd.concat(frames, ignore_index=True) if frames else None


def _pair(a: Any, b: Any, fmt: str) -> str:
    def one(v: Any) -> str:
        return "–" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)
    return _e(one(a)) if a == b or (b is None) else f"{_e(one(a))} → {_e(one(b))}"


def services_section(base: _Runs, scen: _Runs, lang: str) -> str:
    """Per-facility and per-zone tables of the service and emergency results (base → scenario)."""
    out = []
    fb, fs = _rep_frames(base, "facilities.parquet"), _rep_frames(scen, "facilities.parquet")
    if fs is not None:
        cols = ["visits", "wait_mean_min", "wait_p90_min", "utilisation"]
        ms = fs.groupby(["facility_id", "kind"])[cols].mean()
        mb = fb.groupby(["facility_id", "kind"])[cols].mean() if fb is not None else None
        rows = []
        for key, vals in zip(ms.index.tolist(), ms.to_numpy(float).tolist(), strict=True):
            fid, kind = str(key[0]), str(key[1])
            old = (mb.loc[key].to_numpy(float).tolist() if mb is not None and key in mb.index
                   else [None] * len(cols))
            cells = [_pair(a, v, f) for a, v, f in
                     zip(old, vals, (",.0f", ".1f", ".1f", ".0%"), strict=True)]
            label = value_label("facility_kind", kind, lang)
            rows.append(f"<tr><td>{_e(fid)}</td><td>{_e(label)}</td>"
                        + "".join(f'<td class="n">{c}</td>' for c in cells) + "</tr>")
        head = "".join(f"<th>{_e(_st(k, lang))}</th>" for k in
                       ("facility", "kind", "visits", "wait", "p90", "util"))
        out.append(f"<h3>{_e(_st('facilities', lang))}</h3><table class=\"kpis\"><thead><tr>"
                   f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    zb = _rep_frames(base, "emergency_zones.parquet")
    zs = _rep_frames(scen, "emergency_zones.parquet")
    ib = _rep_frames(base, "emergency_incidents.parquet")
    isc = _rep_frames(scen, "emergency_incidents.parquet")
    if zs is not None:
        def stats(inc: pd.DataFrame | None, zone: str) -> tuple[Any, Any, Any, int]:
            if inc is None or "zone_id" not in inc:
                return None, None, None, 0
            part = inc[inc["zone_id"].astype(str) == zone]
            resp = part.loc[part["reached"].astype(bool), "response_min"].to_numpy(float)
            if len(part) == 0:
                return None, None, None, 0
            within = (float(part["within_target"].astype(bool).mean())
                      if "within_target" in part else None)
            return (float(resp.mean()) if len(resp) else None,
                    float(np.quantile(resp, 0.9)) if len(resp) else None, within, len(part))
        cover_s = zs.groupby("zone_id")["coverage_share"].mean()
        cover_b = zb.groupby("zone_id")["coverage_share"].mean() if zb is not None else None
        rows = []
        for zone in sorted(cover_s.index, key=str):
            sb, ss = stats(ib, str(zone)), stats(isc, str(zone))
            cb = None if cover_b is None else cover_b.get(zone)
            rows.append(f"<tr><td>{_e(zone)}</td><td class=\"n\">{_pair(cb, cover_s[zone], '.0%')}"
                        f"</td><td class=\"n\">{_pair(sb[3], ss[3], 'd')}</td>"
                        f"<td class=\"n\">{_pair(sb[0], ss[0], '.1f')}</td>"
                        f"<td class=\"n\">{_pair(sb[1], ss[1], '.1f')}</td>"
                        f"<td class=\"n\">{_pair(sb[2], ss[2], '.0%')}</td></tr>")
        head = "".join(f"<th>{_e(_st(k, lang))}</th>" for k in
                       ("zone", "cover", "incidents", "resp", "resp90", "within"))
        out.append(f"<h3>{_e(_st('zones', lang))}</h3><table class=\"kpis\"><thead><tr>{head}"
                   f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "".join(out)
