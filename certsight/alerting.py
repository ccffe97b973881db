"""``certsight alerts``: the findings, as a table for people or JSON for tools."""

from __future__ import annotations

import sys
from datetime import date

import orjson
from rich.console import Console
from rich.table import Table

from certsight.settings import Home
from warehouse.alert_rows import read_alerts
from warehouse.reading import open_warehouse

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def print_alerts(
    home: Home,
    *,
    since: date | None,
    status: str,
    detector: str | None,
    output_format: str,
    console: Console,
) -> None:
    with open_warehouse(home.warehouse) as con:
        found = read_alerts(
            con, since=since, detector=detector, status=None if status == "all" else status
        )
    if output_format == "json":
        sys.stdout.write(
            orjson.dumps(
                [{**a.to_json(), "status": s} for a, s in found], option=orjson.OPT_INDENT_2
            ).decode()
            + "\n"
        )
        return
    table = Table(
        "severity",
        "detector",
        "first seen",
        "last seen",
        "client",
        "server",
        "serial",
        "count",
        "status",
    )
    for alert, alert_status in found:
        table.add_row(
            f"[{_STYLE.get(alert.severity, '')}]{alert.severity}[/]",
            alert.detector,
            alert.first_seen.strftime("%Y-%m-%d %H:%M"),
            alert.last_seen.strftime("%Y-%m-%d %H:%M"),
            alert.client_ip or "",
            alert.server or "",
            alert.serial or "",
            str(alert.count),
            alert_status,
        )
    console.print(table)
    console.print(f"{len(found)} alert(s)")
