"""A report as one self-contained HTML page, and its tables as CSV files.

The page must open from an e-mail attachment, offline and without warnings: inline CSS,
charts as inline SVG, no script, no web font, no link or image to fetch. Every value
from the warehouse passes through ``html.escape``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from dashboards.privacy import safe_csv
from dashboards.reports.model import Figure, Kpi, Report, Section, Table
from dashboards.reports.svg import WIDTH, chart_svg
from dashboards.settings import AUDIENCE_TITLES

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; margin: 0; background: #fff; font-size: 14px; line-height: 1.45; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 19px; margin: 32px 0 4px; padding-top: 12px; border-top: 2px solid #d0d7de; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta { margin: 0 0 12px; padding: 0; list-style: none; color: #424a53; }
.meta b { display: inline-block; min-width: 110px; color: #1f2328; }
.intro, .caption, .note, .empty { color: #59636e; }
.notice { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; margin: 12px 0; }
nav ol { margin: 4px 0 0; padding-left: 20px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.kpi { border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; min-width: 190px;
       flex: 1 1 190px; }
.kpi .label { color: #59636e; font-size: 12px; }
.kpi .value { font-size: 22px; font-weight: 600; }
.kpi .delta { font-size: 12px; color: #424a53; }
.kpi .help { font-size: 11px; color: #6e7781; margin-top: 4px; }
figure { margin: 16px 0; }
figure svg { max-width: 100%; height: auto; }
table.data { border-collapse: collapse; width: 100%; font-size: 12px; }
table.data th, table.data td { border-bottom: 1px solid #d8dee4; padding: 3px 6px;
       text-align: left; vertical-align: top; }
table.data th { background: #f6f8fa; }
table.data td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
footer { margin-top: 36px; padding-top: 12px; border-top: 1px solid #d0d7de;
         color: #59636e; font-size: 12px; }
@media print { h2 { break-before: auto; } figure, .kpis { break-inside: avoid; } }
"""


def csv_name(stem: str, table: Table) -> str:
    return f"{stem}-{table.name}.csv"


def csv_files(report: Report, stem: str) -> dict[str, bytes]:
    """``{file name: CSV}`` of every table, every row."""
    return {csv_name(stem, table): safe_csv(table.frame) for table in report.tables}


def render_html(report: Report, stem: str, *, width: int = WIDTH) -> str:
    f = report.filters
    title = f"certsight · {report.title} · {f.start:%Y-%m-%d} – {f.end:%Y-%m-%d}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(report.title)}</h1>",
        _meta(report),
        *(f'<p class="notice">{escape(notice)}</p>' for notice in report.notices),
        _contents(report),
    ]
    charts = 0
    for section in report.sections:
        html, charts = _section(report, section, stem, width, charts)
        parts.append(html)
    parts += [_footer(report), "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _when(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return str(value)


def _meta(report: Report) -> str:
    f = report.filters
    window = report.window
    lines = [
        ("Audience", AUDIENCE_TITLES[report.audience]),
        (
            "Period",
            f"{f.start:%Y-%m-%d} – {f.end:%Y-%m-%d} (UTC days, both included; "
            f"{f.days} days, {report.period} ending {f.end:%Y-%m-%d})",
        ),
        (
            "Data freshness",
            f"newest event {_when(window.get('newest_event'))}; "
            f"warehouse built {_when(window.get('built_at'))}",
        ),
        ("Generated", _when(report.generated_at)),
    ]
    items = "".join(f"<li><b>{escape(k)}</b> {escape(v)}</li>" for k, v in lines)
    return f'<ul class="meta">{items}</ul>'


def _anchor(report: Report, section: Section) -> str:
    return f"{report.audience}-{section.key}"


def _contents(report: Report) -> str:
    if len(report.sections) < 2:
        return ""
    items = "".join(
        f'<li><a href="#{escape(_anchor(report, s))}">{escape(s.title)}</a></li>'
        for s in report.sections
    )
    return f"<nav><b>Contents</b><ol>{items}</ol></nav>"


def _section(
    report: Report, section: Section, stem: str, width: int, charts: int
) -> tuple[str, int]:
    parts = [
        f'<section id="{escape(_anchor(report, section))}">',
        f"<h2>{escape(section.title)}</h2>",
        f'<p class="intro">{escape(section.intro)}</p>',
    ]
    if section.kpis:
        parts.append('<div class="kpis">' + "".join(_kpi(k) for k in section.kpis) + "</div>")
    for figure in section.figures:
        charts += 1
        parts.append(_figure(figure, f"c{charts}", width))
    parts.extend(f'<p class="note">{escape(note)}</p>' for note in section.notes)
    parts.extend(_table(table, stem) for table in section.tables)
    parts.append("</section>")
    return "\n".join(parts), charts


def _kpi(kpi: Kpi) -> str:
    parts = [
        f'<div class="label">{escape(kpi.label)}</div>',
        f'<div class="value">{escape(kpi.value)}</div>',
    ]
    if kpi.previous is not None:
        moved = f"; change {kpi.delta}" if kpi.delta is not None else ""
        parts.append(f'<div class="delta">previous period {escape(kpi.previous + moved)}</div>')
    if kpi.help:
        parts.append(f'<div class="help">{escape(kpi.help)}</div>')
    return '<div class="kpi">' + "".join(parts) + "</div>"


def _figure(figure: Figure, prefix: str, width: int) -> str:
    if figure.chart is None:
        return f'<h3>{escape(figure.title)}</h3>\n<p class="empty">{escape(figure.empty)}</p>'
    try:
        svg = chart_svg(figure.chart, prefix=prefix, width=width)
    except alt.MaxRowsError:
        return (
            f'<h3>{escape(figure.title)}</h3>\n<p class="empty">Too many points to draw; '
            "the table's CSV holds them.</p>"
        )
    return f'<figure role="img" aria-label="{escape(figure.title)}">{svg}</figure>'


def _numeric(value: Any) -> bool:
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | Decimal | np.number
    ):
        return False
    return not (isinstance(value, float | np.floating) and math.isnan(value))


def cell(value: Any) -> str:
    """A value as the report shows it (not escaped yet)."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(cell(v) for v in value)
    if value is None or value is pd.NaT:
        return "–"
    if isinstance(value, float | np.floating) and math.isnan(value):
        return "–"
    if value is pd.NA:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, datetime):  # pandas Timestamps too
        if value.tzinfo is not None:
            return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return f"{value:%Y-%m-%d}"
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{float(value):,.2f}".rstrip("0").rstrip(".")
    return str(value)


def _table(table: Table, stem: str) -> str:
    frame = table.frame
    parts = [f"<h3>{escape(table.title)}</h3>"]
    if table.caption:
        parts.append(f'<p class="caption">{escape(table.caption)}</p>')
    if frame.empty:
        parts.append(f'<p class="empty">{escape(table.empty)}</p>')
        return "\n".join(parts)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.head(table.shown).itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="n">{escape(cell(v))}</td>'
            if _numeric(v)
            else f"<td>{escape(cell(v))}</td>"
            for v in values
        )
        rows.append(f"<tr>{cells}</tr>")
    parts.append(
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )
    name = csv_name(stem, table)
    total = len(frame)
    if total > table.shown:
        note = f"Showing {table.shown:,} of {total:,} rows; all rows are in {name}."
    else:
        note = f"{total:,} row{'s' if total != 1 else ''}; also in {name}."
    parts.append(f'<p class="note">{escape(note)}</p>')
    return "\n".join(parts)


def _footer(report: Report) -> str:
    if report.pseudonymised:
        privacy = (
            "Client addresses appear as pseudonyms (client-…, a keyed hash): the same client "
            "has the same pseudonym in every report and CSV of this installation."
        )
    else:
        privacy = (
            "Client addresses appear as they are (privacy.pseudonymise_exports = false): "
            "this report shows who relies on whom; handle it as personal data."
        )
    return (
        f"<footer><p>{escape(privacy)}</p><p>Dates and times are UTC. Written by certsight "
        "report from the warehouse marts; the dashboards show the same numbers for the same "
        "period.</p></footer>"
    )
