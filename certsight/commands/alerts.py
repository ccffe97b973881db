"""``certsight alerts``: the detectors' findings."""

from __future__ import annotations

from datetime import datetime

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home


@click.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="alerts active on or after this day (event time)",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--status", type=click.Choice(["open", "cleared", "all"]), default="open", show_default=True
)
@click.option("--detector", default=None, help="only this detector")
@home_option
def alerts(
    home: Home, since: datetime | None, output_format: str, status: str, detector: str | None
) -> None:
    """List the detectors' findings, most severe and newest first."""
    from certsight.alerting import print_alerts

    print_alerts(
        home,
        since=since.date() if since else None,
        status=status,
        detector=detector,
        output_format=output_format,
        console=console,
    )
