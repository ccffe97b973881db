"""``certsight ingest``: RAW logs, certificates and CRLs into the LAKE."""

from __future__ import annotations

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home


@click.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--lake",
    "lake_dir",
    default=None,
    help="LAKE location (default HOME/lake); a local folder in this version",
)
@home_option
def ingest(home: Home, sources: tuple[str, ...], lake_dir: str | None) -> None:
    """Read RAW logs into the Parquet LAKE, exactly once (default source: HOME/raw)."""
    from certsight.ingesting import run_ingest

    run_ingest(home, list(sources), lake_dir, console=console)
