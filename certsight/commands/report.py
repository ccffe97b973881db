"""``certsight report``: an offline HTML report per audience and period."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from certsight.commands.common import errors, home_option, utc_now
from certsight.settings import Home
from dashboards.reports.model import PERIODS
from dashboards.settings import AUDIENCES


@click.command()
@click.option(
    "--audience", type=click.Choice(AUDIENCES), required=True, help="whose report to write"
)
@click.option(
    "--period",
    type=click.Choice(PERIODS),
    default=None,
    help="week: the 7 days ending on END; month: the 1st of END's month to END "
    "(default: week for pki and cyber, month for management)",
)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="DATE",
    help="last UTC day of the period, YYYY-MM-DD (default: the last day with traffic)",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write this HTML file, its CSVs beside it as <stem>-<table>.csv "
    "(default: [reports] destination, HOME/reports)",
)
@home_option
def report(
    home: Home, audience: str, period: str | None, end: datetime | None, out_file: Path | None
) -> None:
    """An offline HTML report for an audience, with CSV files of its tables."""
    from certsight.reporting import make_report

    for location in make_report(
        home,
        audience=audience,
        period=period,
        end=end.date() if end else None,
        out=out_file,
        now=utc_now(),
        notes=errors,
    ):
        click.echo(location)
