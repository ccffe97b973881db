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
    """The query failed or was refused; the message is DuckDB's, without a traceback, and
    one line when the sandbox refused it."""


SANDBOX = "certsight sql reads the warehouse and its LAKE, nothing else (docs/warehouse.md)"
QUERIES_ONLY = (
    "certsight sql is read-only and runs queries only "
    "(SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, USE)"
)
_READING_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
"""Query nodes of DuckDB's syntax tree that only read. Others write, and DuckDB 2 accepts
some inside a SELECT: ``WITH x AS (COPY ... TO 'file') SELECT ...`` writes the file."""
_SQL_FROM_TEXT = frozenset({"query", "query_table", "json_execute_serialized_sql"})
"""Table functions that run SQL handed to them as a string, which no check here can see."""


def run_query(
    con: duckdb.DuckDBPyConnection, query: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the statements of ``query`` and return the last one's rows.

    The connection is sandboxed (``pki.duckdb_sandbox``), but DuckDB lets a statement
    write inside the LAKE folders it may read, so every statement is checked before any
    runs: queries only, as DuckDB parses them.
    """
    import duckdb

    try:
        statements = con.extract_statements(query)
        for statement in statements:
            _admit(con, statement)
        names: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for statement in statements:
            cursor = con.execute(statement)
            description = cursor.description or []  # None after a statement without rows
            names = [column[0] for column in description]
            rows = cursor.fetchall() if description else []
        return names, rows
    except duckdb.PermissionException as error:
        raise QueryError(f"not allowed: {_first_line(error)}; {SANDBOX}") from error
    except duckdb.Error as error:
        message = str(error).strip()
        if "the configuration has been locked" in message:
            raise QueryError(
                f"not allowed: {_first_line(error)}; the sandbox's settings are fixed"
            ) from error
        raise QueryError(message) from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def _admit(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
    """Raise QueryError unless ``statement`` only reads."""
    from duckdb import StatementType

    kind = statement.type
    if kind == StatementType.SELECT:
        _admit_query(con, statement.query)
    elif kind == StatementType.EXPLAIN:
        _admit_query(con, _explained(statement.query))
    elif kind == StatementType.SET:
        if [word for _, word in _tokens(statement.query)[:1]] != ["use"]:
            raise QueryError("not allowed: SET and RESET; the sandbox's settings are fixed")
    elif kind == StatementType.MULTI:
        raise QueryError(
            "not allowed: a PIVOT that looks its columns up first runs as several "
            "statements, which certsight sql cannot check; name them: PIVOT t ON c IN ('a', 'b')"
        )
    else:
        named = "INSTALL and LOAD" if kind == StatementType.LOAD else kind.name
        raise QueryError(f"not allowed: {named} statements; {QUERIES_ONLY}")


def _admit_query(con: duckdb.DuckDBPyConnection, text: str) -> None:
    """A SELECT that DuckDB's own parser shows to hold nothing but reading query nodes
    and no function running SQL from text."""
    found = con.execute("select json_serialize_sql($text)", {"text": text}).fetchone()
    tree = orjson.loads(found[0]) if found else {"error": True}
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        raise QueryError(f"not allowed: {QUERIES_ONLY}")
    nodes: set[str] = set()
    functions: set[str] = set()
    _collect(tree, nodes, functions)
    if nodes - _READING_NODES:
        writes = ", ".join(sorted(n.removesuffix("_QUERY_NODE") for n in nodes - _READING_NODES))
        raise QueryError(f"not allowed: {writes} inside a query; {QUERIES_ONLY}")
    if functions & _SQL_FROM_TEXT:
        named = ", ".join(f"{f}()" for f in sorted(functions & _SQL_FROM_TEXT))
        raise QueryError(f"not allowed: {named} runs SQL from text; write the query itself")


def _collect(tree: Any, nodes: set[str], functions: set[str]) -> None:
    """The query node types and function names anywhere in a serialized syntax tree."""
    if isinstance(tree, dict):
        kind = tree.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE"):
            nodes.add(kind)
        name = tree.get("function_name")
        if isinstance(name, str):
            functions.add(name.lower())
        for value in tree.values():
            _collect(value, nodes, functions)
    elif isinstance(tree, list):
        for value in tree:
            _collect(value, nodes, functions)


def _tokens(text: str) -> list[tuple[int, str]]:
    """The statement's tokens (start, lower-case text), comments left out."""
    import duckdb

    found = [t for t in duckdb.tokenize(text) if t[1] != duckdb.token_type.comment]
    ends = [start for start, _ in found[1:]] + [len(text)]
    return [
        (start, text[start:end].strip().lower())
        for (start, _), end in zip(found, ends, strict=True)
    ]


def _explained(text: str) -> str:
    """The statement an ``EXPLAIN [ANALYZE] [(options)]`` is about: EXPLAIN ANALYZE runs
    it, so it must pass like any other. Anything unexpected gives "", which is refused."""
    tokens = _tokens(text)
    words = [word for _, word in tokens]
    at = 1 if words[:1] == ["explain"] else len(words)
    if words[at : at + 1] == ["analyze"]:
        at += 1
    if words[at : at + 1] == ["("] and words[at + 1 : at + 2] not in (["select"], ["with"]):
        depth = 0
        for index in range(at, len(words)):  # skip the options: (ANALYZE, FORMAT JSON)
            depth += {"(": 1, ")": -1}.get(words[index], 0)
            if depth == 0:
                at = index + 1
                break
        else:
            at = len(words)
    return text[tokens[at][0] :] if at < len(tokens) else ""


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
