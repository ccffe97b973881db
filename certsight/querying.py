"""``certsight sql``: analysts' SQL over the warehouse, read-only, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import orjson
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # duckdb is imported when a query runs, not on every CLI start
    import duckdb

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 500  # a terminal table longer than this is unreadable: use csv or json


class QueryError(ValueError):
    """The query failed; the message is DuckDB's, without a traceback."""


def run_query(
    con: duckdb.DuckDBPyConnection, query: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    try:
        cursor = con.execute(query)
        description = cursor.description or []  # None after a statement without rows
        if not description:
            return [], []
        names = [column[0] for column in description]
        return names, cursor.fetchall()
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from error


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict | list | tuple):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return value


def write_result(
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    output_format: str,
    *,
    console: Console,
    stream: IO[str] | None = None,
) -> None:
    out = stream or sys.stdout
    if output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_text(v) for v in row] for row in rows)
    elif output_format == "json":
        records = [dict(zip(names, (_json_value(v) for v in row), strict=True)) for row in rows]
        out.write(
            orjson.dumps(
                records,
                option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
                default=str,
            ).decode()
            + "\n"
        )
    else:
        table = Table(*names, show_lines=False)
        for row in rows[:TABLE_ROWS]:
            table.add_row(*(_text(v) for v in row))
        console.print(table)
        more = len(rows) - TABLE_ROWS
        console.print(
            f"{len(rows)} row(s)"
            + (f"; {more} not shown, use --format csv or json" if more > 0 else "")
        )


def interactive(con: duckdb.DuckDBPyConnection, console: Console) -> None:
    """A small prompt: statements end with ';', `.tables` lists the marts, Ctrl-D leaves."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    console.print(
        "certsight sql (read-only). End statements with ';'. .tables lists tables; Ctrl-D quits."
    )
    buffer: list[str] = []
    while True:
        try:
            line = input("sql> " if not buffer else "...> ")
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            buffer.clear()
            continue
        if not buffer and line.strip() in (".tables", "\\d"):
            line = (
                "select table_schema as schema, table_name as name, table_type as type "
                "from information_schema.tables order by 1, 2;"
            )
        if not buffer and line.strip() in (".quit", ".exit", "\\q"):
            return
        buffer.append(line)
        if line.rstrip().endswith(";"):
            query = "\n".join(buffer)
            buffer.clear()
            try:
                names, rows = run_query(con, query)
            except QueryError as error:
                console.print(f"[red]error:[/red] {error}")
                continue
            if names:
                write_result(names, rows, "table", console=console)
