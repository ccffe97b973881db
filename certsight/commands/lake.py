"""``certsight lake``: LAKE maintenance."""

from __future__ import annotations

import json

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


@lake.command("retain")
@click.option("--lake", "lake_uri", default=None, help="LAKE location (default HOME/lake)")
@click.option(
    "--raw",
    "raw",
    multiple=True,
    help="RAW location whose ingested objects may expire (default HOME/raw; repeatable)",
)
@click.option("--dry-run", is_flag=True, help="say what would be done; change nothing")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@home_option
def lake_retain(
    home: Home, lake_uri: str | None, raw: tuple[str, ...], dry_run: bool, output_format: str
) -> None:
    """Apply [privacy]'s retention: pseudonymise old client addresses, delete expired
    LAKE days and ingested RAW objects."""
    from certsight.retaining import lines, retain_home

    report = retain_home(home, utc_now(), lake_uri=lake_uri, raw=list(raw) or None, dry_run=dry_run)
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), indent=1))
        return
    for line in lines(report):
        console.print(line, soft_wrap=True, highlight=False)
