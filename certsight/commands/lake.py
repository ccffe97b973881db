"""``certsight lake``: LAKE maintenance."""

from __future__ import annotations

import click

from certsight.commands.common import console, home_option, utc_now
from certsight.settings import Home
from ingest.schema import TABLES


@click.group()
def lake() -> None:
    """LAKE maintenance."""


@lake.command("compact")
@click.option("--lake", "lake_dir", default=None, help="LAKE location (default HOME/lake)")
@click.option(
    "--table",
    type=click.Choice(sorted(TABLES)),
    default=None,
    help="only this table (default: all)",
)
@home_option
def lake_compact(home: Home, lake_dir: str | None, table: str | None) -> None:
    """Merge each partition's small Parquet files into few large ones, atomically."""
    from certsight.ingesting import lake_for
    from ingest.compact import compact

    done = compact(lake_for(home, lake_dir), utc_now(), table=table)
    for item in done:
        console.print(
            f"{item.table}/{item.partition}: {item.files_before} files -> "
            f"{item.files_after} ({item.rows} rows)"
        )
    console.print(f"{len(done)} partition(s) compacted")
