"""The kinds of chart pages and reports draw, as Vega-Lite specs through Altair: the
browser draws them on the dashboards, vl-convert turns them into SVG for reports, both
offline. Which chart of which data is a figure of ``dashboards.figures``."""

from __future__ import annotations

from typing import cast

import altair as alt
import pandas as pd

WIDTH = "container"
SEVERITY_COLOURS = alt.Scale(
    domain=["critical", "high", "medium", "low"],
    range=["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0"],
)


def _base(table: pd.DataFrame, title: str, height: int) -> alt.Chart:
    return alt.Chart(table, title=title, height=height)


def stacked_bars(
    table: pd.DataFrame,
    x: str,
    y: str,
    colour: str,
    title: str,
    *,
    temporal: bool = True,
    height: int = 260,
    scale: alt.Scale | None = None,
) -> alt.Chart:
    colour_channel = alt.Color(f"{colour}:N", scale=scale) if scale else alt.Color(f"{colour}:N")
    chart = (
        _base(table, title, height)
        .mark_bar()
        .encode(
            # A day's bar spans its day (UTC), not a hairline at midnight.
            x=alt.X(
                f"utcyearmonthdate({x}):T",
                title=None,
                axis=alt.Axis(format="%b %d", labelOverlap=True),
            )
            if temporal
            else alt.X(f"{x}:O", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            y=alt.Y(f"{y}:Q", title=y.replace("_", " "), axis=alt.Axis(tickMinStep=1)),  # counts
            color=colour_channel,
            tooltip=[x, colour, y],
        )
    )
    return cast(alt.Chart, chart)


def lines(
    table: pd.DataFrame, x: str, y: str, colour: str | None, title: str, *, height: int = 260
) -> alt.Chart:
    encoding = {
        "x": alt.X(
            f"utcyearmonthdate({x}):T",
            title=None,
            axis=alt.Axis(format="%b %d", labelOverlap=True),
        ),
        "y": alt.Y(f"{y}:Q", title=y.replace("_", " ")),
        "tooltip": [x, y, *([colour] if colour else [])],
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N")
    return cast(alt.Chart, _base(table, title, height).mark_line(point=True).encode(**encoding))


def bars(
    table: pd.DataFrame, category: str, value: str, title: str, *, height: int = 220
) -> alt.Chart:
    chart = (
        _base(table, title, height)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
            x=alt.X(f"{value}:Q", title=value.replace("_", " "), axis=alt.Axis(tickMinStep=1)),
            tooltip=[category, value],
        )
    )
    return cast(alt.Chart, chart)


def heatmap(table: pd.DataFrame, x: str, y: str, value: str, title: str) -> alt.LayerChart:
    """Cells coloured on a log scale (traffic spans orders of magnitude), one row step per
    category so no label is dropped, and the number in each cell, white on dark ones."""
    dark = float(table[value].quantile(0.8)) if not table.empty else 0.0
    base = alt.Chart(table, title=title, height=alt.Step(28)).encode(
        x=alt.X(f"{x}:N", title=x.replace("_", " "), axis=alt.Axis(labelAngle=-30)),
        y=alt.Y(f"{y}:N", title=y.replace("_", " "), axis=alt.Axis(labelOverlap=False)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(type="log", scheme="blues")),
        tooltip=[x, y, value],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=",.0f"),
        color=alt.condition(alt.datum[value] > dark, alt.value("white"), alt.value("black")),
    )
    return cast(alt.LayerChart, cells + text)


def grouped_bars_with_rule(
    table: pd.DataFrame,
    category: str,
    value: str,
    group: str,
    rule: float,
    rule_label: str,
    title: str,
    *,
    height: int = 220,
) -> alt.LayerChart:
    """Horizontal bars per category, one per group side by side, and a dashed vertical
    rule at a reference value named in its label (a target the bars are read against)."""
    bars_layer = (
        _base(table, title, height)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, axis=alt.Axis(labelLimit=240)),
            yOffset=alt.YOffset(f"{group}:N"),
            x=alt.X(f"{value}:Q", title=value.replace("_", " ")),
            color=alt.Color(f"{group}:N", title=None),
            tooltip=[category, group, value],
        )
    )
    reference = pd.DataFrame({value: [rule], "label": [rule_label]})
    line = (
        alt.Chart(reference)
        .mark_rule(strokeDash=[6, 4], color="#b2182b")
        .encode(x=alt.X(f"{value}:Q"), tooltip=["label"])
    )
    text = (
        alt.Chart(reference)
        .mark_text(align="left", dx=4, dy=-6, color="#b2182b", fontSize=10)
        .encode(x=alt.X(f"{value}:Q"), y=alt.value(0), text="label:N")
    )
    return cast(alt.LayerChart, bars_layer + line + text)
