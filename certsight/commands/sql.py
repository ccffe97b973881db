"""``certsight sql``: read-only SQL over the warehouse for analysts."""

from __future__ import annotations

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home


@click.command()
@click.argument("query", required=False)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@home_option
def sql(home: Home, query: str | None, output_format: str) -> None:
    """Queries over the warehouse and its LAKE, sandboxed; without QUERY, a prompt."""
    from certsight.querying import interactive, run_query, write_result
    from warehouse.reading import open_warehouse

    with open_warehouse(home.warehouse, lake=True) as con:
        if query is None:
            interactive(con, console)
            return
        names, rows = run_query(con, query)
        write_result(names, rows, output_format, console=console)
