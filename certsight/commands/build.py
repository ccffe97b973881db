"""``certsight build``: the warehouse and its detectors from the LAKE."""

from __future__ import annotations

from pathlib import Path

import click

from certsight.commands.common import console, errors, home_option
from certsight.settings import Home


@click.command()
@click.option(
    "--networks",
    "networks_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CIDR table cidr,zone,site,owner (default HOME/networks.csv, else the last build's)",
)
@click.option("--lake", "lake_uri", default=None, help="LAKE location (default HOME/lake)")
@click.option("--full-refresh", is_flag=True, help="rebuild every day of history (alerts are kept)")
@click.option("--test", "run_tests", is_flag=True, help="also run the models' data and unit tests")
@click.option(
    "--learning-days",
    default=7,
    show_default=True,
    type=click.IntRange(0, 365),
    help="days of traffic learned before new_edge alerts are raised",
)
@home_option
def build(
    home: Home,
    networks_csv: Path | None,
    lake_uri: str | None,
    full_refresh: bool,
    run_tests: bool,
    learning_days: int,
) -> None:
    """Run the warehouse models and the detectors: LAKE -> HOME/warehouse.duckdb."""
    from certsight.building import run_build, summary

    report = run_build(
        home,
        lake_uri=lake_uri,
        networks_csv=networks_csv,
        full_refresh=full_refresh,
        run_tests=run_tests,
        learning_days=learning_days,
        console=errors,
    )
    console.print(summary(report))
