"""The stakeholder report: one offline HTML file per set of scenario runs.

For each scenario folder (``twin run`` writes ``DIR/<name>/rep-<k>/``) the report compares its
replications with the base's, pair by pair (:func:`twin.scenarios.compare.compare`): means,
the mean difference and its 95% interval, "not significant" where the interval spans zero; the
cost table and the public cash flow per financing model. Charts: hourly traffic volume, the
travel-time distribution, power (line loading, or building demand) by hour, the cash flows.
The 3D maps (each scenario against its base, before / after / difference) are embedded with one
copy of deck.gl. The provenance section says what is OpenStreetMap, derived, synthetic or
user-given, layer by layer and field by field.

When a scenario folder's run summary (``DIR/summary.json``) names a different base for it (a
base run under the scenario's horizon), that base is used, and the report says so.

Examples
--------
>>> # write_report("runs/baseline", ["runs/bus-line", "runs/new-clinic"], "report.html")
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from twin import __version__
from twin._errors import ScenarioError
from twin.layers.schemas import layer_spec
from twin.views._report_services import services_section
from twin.views.charts import histogram_chart, line_chart
from twin.views.i18n import (
    check_lang,
    field_label,
    intervention_label,
    kpi_label,
    layer_title,
    localized,
    source_text,
    strings,
    t,
    unit_label,
    value_label,
)
from twin.views.runs import MapSource, find_replications, load_source, read_json

__all__ = ["format_number", "report_html", "write_report"]

_GROUPS = ("livelihood", "economy", "government_safety", "other")
_MODELS = ("chosen", "public", "BOT", "PPP")


def format_number(v: Any) -> str:
    """A number for a table: thousands separated, a few significant digits, "–" for none.

    Examples
    --------
    >>> format_number(22253745.6), format_number(0.91062), format_number(None)
    ('22,253,746', '0.911', '–')
    >>> format_number(-12.3456)
    '-12.35'
    """
    if v is None or isinstance(v, bool):
        return "–" if v is None else str(v)
    f = float(v)
    if not np.isfinite(f):
        return "–"
    if f == 0:
        return "0"
    a = abs(f)
    if a >= 1000:
        return f"{f:,.0f}"
    if a >= 100:
        return f"{f:,.1f}"
    if a >= 1:
        return f"{f:.2f}"
    return f"{f:.3g}"


@dataclass
class _Folder:
    """One scenario (or base) folder and what the charts need from it."""

    path: Path
    name: str
    title: str
    reps: list[Path]
    scenario: dict[str, Any] = field(default_factory=dict)
    source: MapSource | None = None


def _folder(path: Path, lang: str) -> _Folder:
    reps = find_replications(path)
    if not reps:
        msg = (f"{path}: no complete replication (rep-<k>/ with kpis.json); run it with "
               "`twin run SCENARIO.yaml --out DIR` and give DIR/<name>")
        raise ScenarioError(msg)
    sc = read_json(reps[0] / "scenario.json")
    name = str(sc.get("name") or path.name)
    title = localized(sc.get("title"), lang) or name
    year = (sc.get("horizon") or {}).get("year")
    if year:
        title += f" ({year})"
    return _Folder(path=path, name=name, title=title, reps=reps, scenario=sc)


def _base_for(scen: Path, given: Path) -> tuple[Path, bool]:
    """The base a scenario was run against (from DIR/summary.json), else the given one."""
    summary = read_json(scen.parent / "summary.json")
    entry = (summary.get("scenarios") or {}).get(scen.name) or {}
    for info in (summary.get("scenarios") or {}).values():
        if isinstance(info, Mapping) and info.get("folder") == scen.name:
            entry = info
            break
    base = entry.get("base") if isinstance(entry, Mapping) else None
    if base and (scen.parent / base).resolve() != given.resolve() \
            and find_replications(scen.parent / base):
        return scen.parent / str(base), True
    return given, False


# --- data for the charts ---------------------------------------------------------------------

def _hourly_volume(folder: _Folder) -> tuple[list[int], list[float]] | None:
    import pyogrio

    frames = []
    for rep in folder.reps:
        p = rep / "links.gpkg"
        if p.is_file():
            lh = pyogrio.read_dataframe(p, columns=["hour", "volume"], read_geometry=False)
            frames.append(lh.groupby("hour")["volume"].sum())
    if not frames:
        return None
    mean = pd.concat(frames, axis=1).fillna(0.0).mean(axis=1).sort_index()
    return [int(h) for h in mean.index], [float(v) for v in mean.to_numpy()]


def _durations(folder: _Folder, cap: int = 400_000) -> np.ndarray | None:
    parts = []
    for rep in folder.reps:
        p = rep / "trips.parquet"
        if p.is_file() and "duration" in pq.read_schema(p).names:
            d = pq.read_table(p, columns=["duration"]).column("duration")
            parts.append(d.to_numpy(zero_copy_only=False).astype(float) / 60.0)
    if not parts:
        return None
    out = np.concatenate(parts)
    if len(out) > cap:
        out = np.random.default_rng(0).choice(out, cap, replace=False)
    return out


def _power_by_hour(src: MapSource | None) -> tuple[str, list[float]] | None:
    if src is None:
        return None
    if src.line_loading is not None and len(src.line_loading):
        return "loading", [float(src.line_loading[h].max()) if h in src.line_loading else
                           float("nan") for h in range(24)]
    if src.building_kw is not None and len(src.building_kw):
        return "demand", [float(src.building_kw[h].sum()) / 1000.0 for h in range(24)]
    return None


# --- HTML pieces -----------------------------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text))


def _kpi_table(result: Mapping[str, Any], lang: str) -> str:
    rows = []
    by_group: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, r in result.get("kpis", {}).items():
        g = r.get("group") if r.get("group") in _GROUPS else "other"
        by_group.setdefault(g, []).append((name, r))
    for g in _GROUPS:
        items = sorted(by_group.get(g, []))
        if not items:
            continue
        rows.append(f'<tr class="grp"><th colspan="7">{_e(t("group_" + g, lang))}</th></tr>')
        for name, r in items:
            sig = r.get("significant")
            ci = ("–" if r.get("ci_low") is None else
                  f"[{format_number(r['ci_low'])}, {format_number(r['ci_high'])}]")
            cls = ""
            if sig is None:
                note = t("one_replication", lang)
                cls = "ns"
            elif not sig:
                note = t("not_significant", lang)
                cls = "ns"
            else:
                better = r.get("better")
                d = float(r.get("diff") or 0.0)
                if better in ("lower", "higher"):
                    good = (d < 0) == (better == "lower")
                    note = t("better" if good else "worse", lang)
                    cls = "good" if good else "bad"
                else:
                    note = t("significant", lang)
            rows.append(
                f'<tr class="{cls}"><td>{_e(kpi_label(name, lang))}<br><code>{_e(name)}</code>'
                f'</td><td>{_e(unit_label(str(r.get("unit", "")), lang))}</td>'
                f'<td class="n">{format_number(r.get("base_mean"))}</td>'
                f'<td class="n">{format_number(r.get("scenario_mean"))}</td>'
                f'<td class="n d">{format_number(r.get("diff"))}</td>'
                f'<td class="n">{_e(ci)}</td><td class="note">{_e(note)}</td></tr>')
    head = "".join(f"<th>{_e(t(k, lang))}</th>" for k in
                   ("kpi", "unit", "base_mean", "scenario_mean", "diff", "ci95", "note"))
    return (f'<table class="kpis"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def _cost_labels(own: Sequence[Mapping[str, Any]], lang: str) -> dict[str, str]:
    """The cost table's item labels (English, as :func:`twin.scenarios.finance.cost_items`
    writes them) in ``lang``."""
    out = {}
    for i, entry in enumerate(own):
        english = str(entry.get("label") or f"{entry.get('type')} #{i + 1}")
        out[english] = intervention_label(entry, lang) if entry.get("label") or entry.get(
            "labels") else english
    return out


def _costs(costs: Mapping[str, Any] | None, lang: str,
           labels: Mapping[str, str] | None = None) -> str:
    if not costs:
        return f'<p class="muted">{_e(t("no_costs", lang))}</p>'
    cur = str(costs.get("currency", ""))
    head = "".join(f"<th>{_e(t(k, lang))}</th>" for k in
                   ("cost_item", "financing", "capex", "opex_per_year", "life_years"))
    items = "".join(
        f"<tr><td>{_e((labels or {}).get(str(i['label']), i['label']))}</td>"
        f"<td>{_e(_model(str(i['financing']), lang))}</td>"
        f'<td class="n">{format_number(i["capex"])}</td>'
        f'<td class="n">{format_number(i["opex_per_year"])}</td>'
        f'<td class="n">{format_number(i["life_years"])}</td></tr>'
        for i in costs.get("items", []))
    ci = ("" if costs.get("npv_ci_low") is None else
          f" [{format_number(costs['npv_ci_low'])}, {format_number(costs['npv_ci_high'])}]")
    ri = costs.get("regional_impact") or {}
    pay = costs.get("payback_year")
    rows = [("capex", format_number(costs.get("capex")), cur),
            ("opex_per_year", format_number(costs.get("opex_per_year")), cur),
            ("benefit_per_year", format_number(costs.get("benefit_per_year")), cur),
            ("pv_costs", format_number(costs.get("pv_costs")), cur),
            ("pv_benefits", format_number(costs.get("pv_benefits")), cur),
            ("npv", format_number(costs.get("npv")) + ci, cur),
            ("bcr", format_number(costs.get("bcr")), ""),
            ("payback_year", str(pay) if pay else t("not_within", lang), "")]
    appraisal = "".join(f'<tr><td>{_e(t(k, lang))}</td><td class="n">{_e(v)}</td>'
                        f"<td>{_e(u)}</td></tr>" for k, v, u in rows)
    if ri:
        label = t("regional_output", lang, m=ri.get("multiplier"))
        appraisal += (f'<tr class="assume"><td>{_e(label)}</td>'
                      f'<td class="n">{format_number(ri.get("output"))}</td>'
                      f"<td>{_e(cur)}</td></tr>")
    note = t("discount_note", lang, r=f"{float(costs.get('discount_rate', 0)):.1%}",
             year=costs.get("price_year", ""), currency=cur)
    return (f'<table class="costs"><thead><tr>{head}</tr></thead><tbody>{items}</tbody></table>'
            f'<table class="appraisal"><tbody>{appraisal}</tbody></table>'
            f'<p class="muted">{_e(note)} {_e(t("regional_note", lang))}</p>')


def _model(model: str, lang: str) -> str:
    return t(f"model_{model}", lang) if model in _MODELS else model


def _cash_chart(name: str, costs: Mapping[str, Any] | None, lang: str) -> str:
    if not costs or not costs.get("public_cash_flow"):
        return ""
    years = list(costs["years"])
    flows = costs["public_cash_flow"]
    series = {t(f"model_{m}", lang): (years, list(flows[m])) for m in _MODELS if m in flows}
    return line_chart(series, title=t("chart_cash", lang, name=name),
                      xlabel=t("chart_year_x", lang),
                      ylabel=t("chart_cash_y", lang, currency=costs.get("currency", "")),
                      markers=True, zero_line=True, dashed=[t("model_chosen", lang)])


def _sources(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str)


def _src_label(value: str, lang: str) -> str:
    return value_label("source", value, lang) if value else t("no_data", lang)


def _share(v: float) -> str:
    return "<1%" if 0 < v < 0.005 else f"{v:.0%}"


def _provenance(twin_sources: Sequence[tuple[str, MapSource]], lang: str) -> str:
    out = [f'<p>{_e(t("provenance_intro", lang))}</p>',
           f'<p>{_e(t("provenance_sim", lang))}</p>']
    tw = twin_sources[0][1].twin
    rows = []
    for name in ("zones", "buildings", "roads", "road_nodes", "facilities", "sensors",
                 "transit_routes", "power_nodes", "power_lines", "water_nodes", "water_pipes",
                 "paths"):
        layer = tw.layer(name)
        if len(layer) == 0:
            continue
        by_src: dict[str, int] = (
            {str(k): int(v) for k, v in _sources(layer["source"]).value_counts().items()}
            if "source" in layer else {})
        counts = ", ".join(f"{_src_label(k, lang)} {v:,}" for k, v in by_src.items())
        fields = []
        for f in layer_spec(name).provenance_fields():
            col = f"{f}_source"
            if col in layer.columns:
                shares = _sources(layer[col]).value_counts(normalize=True)
                txt = ", ".join(f"{_src_label(str(k), lang)} {_share(float(v))}"
                                for k, v in shares.items())
                fields.append(f"{_e(field_label(f, lang))}: {_e(txt)}")
        rows.append(f"<tr><td>{_e(layer_title(name, lang))}</td><td class='n'>{len(layer):,}"
                    f"</td><td>{_e(counts)}</td><td>{'<br>'.join(fields)}</td></tr>")
    head = "".join(f"<th>{_e(t(k, lang))}</th>" for k in ("layer", "count", "f_source", "field"))
    out.append(f'<table class="prov"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
               "</tbody></table>")
    srcs = []
    for s in tw.meta.get("sources") or []:
        bits = [source_text(s.get("name", ""), lang)]
        if s.get("attribution"):
            bits.append(str(s["attribution"]))
        if s.get("licence"):
            bits.append(f"{t('licence', lang)}: {source_text(s['licence'], lang)}")
        if s.get("note"):
            bits.append(source_text(s["note"], lang))
        srcs.append("<li>" + _e(" — ".join(bits)) + "</li>")
    out.append(f"<h3>{_e(t('sources_licences', lang))}</h3><ul>{''.join(srcs)}</ul>")
    added = []
    for lab, s in twin_sources[1:]:
        n = sum(int((lyr["source"].astype(str) == "user").sum()) for lyr in s.twin.layers.values()
                if len(lyr) and "source" in lyr.columns)
        base_n = sum(int((lyr["source"].astype(str) == "user").sum())
                     for lyr in tw.layers.values() if len(lyr) and "source" in lyr.columns)
        if n > base_n:
            added.append(f"<li>{_e(lab)}: {n - base_n:,} {_e(value_label('source', 'user', lang))}"
                         f" {_e(t('features', lang))}</li>")
    if added:
        out.append(f"<ul>{''.join(added)}</ul>")
    return "\n".join(out)


def _min_pressure_by_hour(folder: _Folder, junctions: set[str]) -> list[float] | None:
    """Lowest pressure by hour at the junctions with a demand (the ``min_pressure_m`` KPI's
    nodes: no reservoir or tank), mean over the replications. Without the twin's junction
    ids (no water_nodes layer), the nodes with a demand."""
    per_rep = []
    for rep in folder.reps:
        path = next((p for p in (rep / "water.parquet", rep / "utilities" / "water.parquet")
                     if p.is_file()), None)
        if path is None:
            continue
        names = set(pq.read_schema(path).names)
        if not {"id", "hour", "pressure_m"} <= names:
            continue
        w = pq.read_table(path, columns=[c for c in ("kind", "id", "hour", "pressure_m",
                                                      "demand_lps") if c in names]).to_pandas()
        keep = pd.Series(np.isfinite(w["pressure_m"].to_numpy(float)), index=w.index)
        if junctions:
            keep &= w["id"].astype(str).isin(junctions)
        if "kind" in w:
            keep &= w["kind"].astype(str) == "node"
        if "demand_lps" in w:
            keep &= pd.to_numeric(w["demand_lps"], errors="coerce").fillna(0.0) > 1e-9
        by_hour = w[keep].groupby("hour")["pressure_m"].min()
        per_rep.append(by_hour.reindex(range(24)).to_numpy(float))
    if not per_rep or not np.isfinite(np.vstack(per_rep)).any():
        return None
    with np.errstate(all="ignore"):
        stack = np.vstack(per_rep)
        counts = np.isfinite(stack).sum(axis=0)
        mean = np.where(counts > 0, np.nansum(stack, axis=0) / np.maximum(counts, 1), np.nan)
    return [float(v) for v in mean]


def _junctions(src: MapSource) -> set[str]:
    nodes = src.twin.layer("water_nodes")
    if len(nodes) == 0 or "kind" not in nodes:
        return set()
    return set(nodes.loc[nodes["kind"].astype(str) == "junction", "id"].astype(str))


def _settings_note(differ: Sequence[Mapping[str, Any]], lang: str) -> str:
    """A warning when base and scenario ran with different settings (sample, hours, …)."""
    def show(values: Sequence[Any]) -> str:
        return " / ".join(str(v)[:12] for v in values)

    if not differ:
        return ""
    what = "; ".join(t("setting_values", lang, setting=t(f"setting_{d['setting']}", lang),
                       base=show(d["base"]), scenario=show(d["scenario"])) for d in differ)
    return f'<p class="warn">{_e(t("settings_differ", lang, what=what))}</p>'


def _wants_map(choice: bool | Sequence[str], folder: _Folder) -> bool:
    if isinstance(choice, bool):
        return choice
    return folder.name in choice or folder.path.name in choice


def report_html(base_dir: str | os.PathLike[str], scenario_dirs: Sequence[str | os.PathLike[str]],
                *, lang: str = "en", maps: bool | Sequence[str] = True,
                max_trips: int = 1000) -> str:
    """The report page (see :func:`write_report`)."""
    from twin.scenarios.compare import compare
    from twin.views.deck import map_data
    from twin.views.template import page

    check_lang(lang)
    if not scenario_dirs:
        msg = "give at least one scenario folder after the base folder"
        raise ScenarioError(msg)
    if not isinstance(maps, bool):
        maps = [str(m) for m in maps]
    given = Path(base_dir)
    base = _folder(given, lang)
    scens = [_folder(Path(p), lang) for p in scenario_dirs]
    if not isinstance(maps, bool):
        unknown = sorted(set(maps) - {n for f in scens for n in (f.name, f.path.name)})
        if unknown:
            msg = (f"no scenario {unknown[0]!r} among the report's folders to map; give one "
                   f"of: {', '.join(f.name for f in scens)}")
            raise ScenarioError(msg)
    sources: dict[Path, MapSource] = {}
    with_power: set[Path] = set()

    def source(f: _Folder, power: bool = False) -> MapSource:
        """The folder's map source; the buildings' hourly power (slow) only when asked."""
        key = f.path.resolve()
        if key not in sources or (power and key not in with_power):
            sources[key] = load_source(f.path, building_power=power)
            if power:
                with_power.add(key)
        return sources[key]

    sections, toc, cash, maps_data = [], [], [], []
    bases = {base.path.resolve(): base}
    reps = 0
    for i, sc in enumerate(scens):
        bpath, auto = _base_for(sc.path, base.path)
        b = bases.setdefault(bpath.resolve(), _folder(bpath, lang) if auto else base)
        result = compare(b.path, sc.path)
        reps = max(reps, int(result.get("replications", 0)))
        desc = localized(sc.scenario.get("description"), lang)
        own = [x for x in sc.scenario.get("interventions") or [] if x.get("origin") == sc.name]
        items = "".join(f"<li>{_e(intervention_label(x, lang))}</li>" for x in own)
        note = t("base_note", lang, base=b.title) + " · " + t(
            "paired_reps", lang, n=result.get("replications", 0))
        warn = _settings_note(result.get("settings_differ") or [], lang)
        sections.append(
            f'<section id="s{i}"><h2>{_e(sc.title)}</h2>'
            + (f'<p>{_e(desc)}</p>' if desc else "")
            + (f"<p><b>{_e(t('intervention', lang))}</b></p><ul>{items}</ul>" if items else "")
            + f'<p class="muted">{_e(note)}</p>{warn}'
            f"<h3>{_e(t('comparison', lang))}</h3>{_kpi_table(result, lang)}"
            + services_section(b, sc, lang)
            + f"<h3>{_e(t('costs', lang))}</h3>"
            + _costs(result.get("costs"), lang, _cost_labels(own, lang)) + "</section>")
        toc.append(f'<li><a href="#s{i}">{_e(sc.title)}</a></li>')
        chart = _cash_chart(sc.title, result.get("costs"), lang)
        if chart:
            cash.append(f'<figure class="chart">{chart}</figure>')
        if _wants_map(maps, sc):
            maps_data.append((sc.title, map_data(source(sc, power=True), source(b, power=True),
                                                 lang=lang, max_trips=max_trips)))
    folders = [*bases.values(), *scens]
    charts = []
    vols = {f.title: v for f in folders if (v := _hourly_volume(f)) is not None}
    charts.append(line_chart(vols, title=t("chart_volume", lang), xlabel=t("chart_hour_x", lang),
                             ylabel=t("chart_volume_y", lang), markers=True) if vols else "")
    durs = {f.title: d for f in folders if (d := _durations(f)) is not None and len(d)}
    charts.append(histogram_chart(durs, title=t("chart_travel", lang),
                                  xlabel=t("chart_travel_x", lang),
                                  ylabel=t("chart_travel_y", lang)) if durs else "")
    power = {}
    for f in folders:
        p = _power_by_hour(source(f))
        if p is None:   # no power flow results: the buildings' demand instead
            p = _power_by_hour(source(f, power=True))
        if p is not None:
            power[f.title] = p
    if power:
        loading = any(k == "loading" for k, _ in power.values())
        series = {k: (list(range(24)), v) for k, (kind, v) in power.items()
                  if kind == ("loading" if loading else "demand")}
        charts.append(line_chart(
            series, title=t("chart_loading" if loading else "chart_demand", lang),
            xlabel=t("chart_hour_x", lang),
            ylabel=t("chart_loading_y" if loading else "chart_demand_y", lang), markers=True))
    press = {f.title: low for f in folders
             if (low := _min_pressure_by_hour(f, _junctions(source(f)))) is not None}
    if press:
        charts.append(line_chart({k: (list(range(24)), v) for k, v in press.items()},
                                 title=t("chart_pressure", lang),
                                 xlabel=t("chart_hour_x", lang),
                                 ylabel=t("chart_pressure_y", lang), markers=True))
    charts_html = "".join(f'<figure class="chart">{c}</figure>' if c else
                          f'<p class="muted">{_e(t("no_chart", lang))}</p>' for c in charts)
    provenance = _provenance([(base.title, source(base)),
                              *[(s.title, source(s)) for s in scens]], lang)
    name = str(source(base).twin.meta.get("name") or base.title)
    head = (f'<header><h1>{_e(t("report_title", lang, name=name))}</h1>'
            f'<p>{_e(t("report_intro", lang, n=reps))}</p>'
            f'<p class="muted">{_e(t("generated", lang, version=__version__))}</p>'
            f'<nav><b>{_e(t("scenarios", lang))}</b><ol>{"".join(toc)}</ol></nav></header>')
    body = [head, *sections, f'<section id="charts"><h2>{_e(t("charts", lang))}</h2>'
            f"{charts_html}{''.join(cash)}</section>"]
    scripts: dict[str, Any] = {}
    code = ""
    if maps_data:
        scripts["twin-strings"] = strings(lang)
        opts = "".join(f'<option value="{i}">{_e(title)}</option>'
                       for i, (title, _) in enumerate(maps_data))
        body.append(f'<section id="maps"><h2>{_e(t("maps", lang))}</h2><label>'
                    f'{_e(t("map_choose", lang))} <select id="twin-map-choose">{opts}</select>'
                    '</label><div id="twin-map" class="twin-map twin-map-report"></div></section>')
        for i, (_, data) in enumerate(maps_data):
            scripts[f"twin-map-{i}"] = data
        code = _read_template("report.js")
    body.append(f'<section id="provenance"><h2>{_e(t("provenance_title", lang))}</h2>'
                f"{provenance}</section>")
    return page(title=t("report_title", lang, name=name), lang=lang,
                body='<main class="report">' + "\n".join(body) + "</main>",
                css=_read_template("report.css"), scripts=scripts, code=code,
                deck=bool(maps_data))


def _read_template(name: str) -> str:
    return (Path(__file__).with_name("templates") / name).read_text(encoding="utf-8")


def write_report(base_dir: str | os.PathLike[str],
                 scenario_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 *, lang: str = "en", maps: bool | Sequence[str] = True,
                 max_trips: int = 1000) -> Path:
    """Write the stakeholder report: comparisons, charts, 3D maps, provenance; offline HTML.

    Parameters
    ----------
    base_dir : path-like
        The base run folder (``DIR/baseline``).
    scenario_dirs : sequence of path-like
        Scenario run folders (``DIR/<name>``), each compared with its base.
    out : path-like
        The HTML file (written to a temporary file, then renamed).
    lang : {"en", "zh"}
    maps : bool or sequence of str
        Embed a 3D map per scenario (before / after / difference against its base); False:
        none; scenario names (or folder names): only theirs (a smaller, quicker page, as
        ``twin demo`` writes it).
    max_trips : int
        Car trips animated per map and state.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ScenarioError
        A folder has no complete replication, no scenario folder was given, or ``maps``
        names a scenario the report does not have.

    Examples
    --------
    >>> write_report("runs/baseline", [], "report.html")
    Traceback (most recent call last):
    ...
    twin._errors.ScenarioError: give at least one scenario folder after the base folder
    """
    from twin.views.template import write_text_atomic

    text = report_html(base_dir, scenario_dirs, lang=lang, maps=maps, max_trips=max_trips)
    return write_text_atomic(Path(out), text)
