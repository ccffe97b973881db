"""The dashboards' Altair charts as inline SVG, offline: vl-convert runs Vega-Lite in
process, so nothing is fetched and the report needs no script to show them.

Three adjustments for a report, made on a copy: a fixed width (the pages stretch charts
to their container, an SVG has no container), time axes in UTC whatever the machine's
time zone (the report says its period is UTC), and element ids made unique per chart so
that several SVGs can share one HTML page.
"""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import vl_convert

WIDTH = 720
# The Vega-Lite version Altair writes its specs for, when vl-convert bundles it.
_ALTAIR_VL = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
VL_VERSION: str | None = _ALTAIR_VL if _ALTAIR_VL in vl_convert.get_vegalite_versions() else None
_POSITION = ("x", "y", "x2", "y2")
_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')


def chart_svg(chart: alt.TopLevelMixin, *, prefix: str, width: int = WIDTH) -> str:
    """The chart as an ``<svg>`` element for inline use in HTML."""
    if getattr(chart, "width", alt.Undefined) in (alt.Undefined, "container"):
        chart = chart.properties(width=width)  # a copy: the caller's chart is unchanged
    spec = chart.to_dict()
    _utc_time(spec)
    svg: str = vl_convert.vegalite_to_svg(spec, vl_version=VL_VERSION, allowed_base_urls=[])
    return _scoped(svg, prefix)


def _utc_time(spec: dict[str, Any]) -> None:
    """Parse and label every temporal field in UTC. Altair writes naive timestamps as
    local time strings; vl-convert would read them in the machine's time zone."""
    fields: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            encoding = node.get("encoding")
            if isinstance(encoding, dict):
                for channel, definition in encoding.items():
                    if not isinstance(definition, dict):
                        continue
                    if definition.get("type") == "temporal" and "field" in definition:
                        fields.add(str(definition["field"]))
                        if channel in _POSITION:
                            scale = definition.setdefault("scale", {})
                            if isinstance(scale, dict):
                                scale.setdefault("type", "utc")
            for key, value in node.items():
                if key != "datasets":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    for rows in spec.get("datasets", {}).values():
        for row in rows:
            for name in fields & row.keys():
                value = row[name]
                if isinstance(value, str) and _NAIVE_TIME.fullmatch(value):
                    row[name] = value + "Z"


def _scoped(svg: str, prefix: str) -> str:
    """Ids prefixed (gradients and clip paths would otherwise collide between charts),
    and no xlink namespace: HTML parses inline SVG without it."""
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    return svg.replace("xlink:href=", "href=")
