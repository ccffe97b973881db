"""The one way to open a DuckDB database for people and pages that only read it: analysts
(``certsight sql``), the dashboards, reports and ``certsight alerts``.

It lives in ``pki`` because that is the one package both ``warehouse`` and ``dashboards``
may import (.importlinter keeps them apart); it imports DuckDB only when called, so the
services that carry ``pki`` never load it.

A DuckDB connection can, by default, read any file the process can (``read_text``,
``read_csv``, ``glob``), write files (``COPY ... TO``, ``EXPORT DATABASE``), create
databases (``ATTACH``), install and load extensions, and change all of that back with
``SET``. A sandboxed connection:

- attaches the database read-only, in a fresh in-memory DuckDB: ``duckdb.connect(path)``
  would hand out whatever instance this process already has open under that path, with
  that instance's settings (locked or not, sandboxed or not), and after a build renamed
  a new file over the path, the old file's contents;
- reaches no file but the database and the folders the caller names
  (``enable_external_access = false`` with ``allowed_directories``), S3 included: a
  registered file system is reached only under those folders too;
- loads and installs no extension, and stores no persistent secret;
- has its configuration locked (``lock_configuration``): no statement can switch any
  of this back, nor change the time zone (UTC), the log or profiling output files.

What DuckDB cannot restrict: inside an allowed folder it does not tell reading from
writing, so ``COPY ... TO`` or ``ATTACH`` naming a file there would write it, and DuckDB 2
runs a ``COPY`` even inside a query (``WITH x AS (COPY ... TO 'f') SELECT 1``). So a
caller that names no folder (alerts, reports, dashboards: they read the marts) gets a
connection that can write no file at all, and code that runs SQL written by a person
with folders in reach must check it first (``certsight sql`` lets only queries through,
checked on DuckDB's own syntax tree). The in-memory database itself stays writable; it
lives and dies with the connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

# Set when the database starts: everything else that matters is set after the attach
# (DuckDB refuses ``allowed_directories`` before it has started) and then locked.
_START_CONFIG: dict[str, str | bool] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_persistent_secrets": False,  # they are files under ~/.duckdb
    "python_enable_replacements": False,  # no Python variable is a table
}


@dataclass(frozen=True)
class Reach:
    """What a sandboxed connection may read besides its database: folders (local paths
    or ``s3://bucket/prefix``) and the fsspec file systems that serve the remote ones."""

    directories: Sequence[str] = ()
    filesystems: Sequence[Any] = ()  # fsspec AbstractFileSystem (s3fs for S3)


def connect_sandboxed(
    database: Path,
    *,
    catalog: str | None = None,
    reach: Callable[[duckdb.DuckDBPyConnection], Reach] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to ``database`` (attached read-only as ``catalog``, default the file's
    stem, which is what DuckDB would name it and what the warehouse's views refer to),
    in UTC, sandboxed as the module says.

    ``reach`` is called on the connection once the database is attached and before the
    sandbox closes, so that it can read from the database what else it needs (the
    warehouse's lake views say where its LAKE is).
    """
    import duckdb

    name = catalog or database.stem
    config: dict[str, str | bool | int | float | list[str]] = {
        **_START_CONFIG,
        # Large sorts and joins spill beside the database, as for a file opened directly
        # (an in-memory DuckDB would spill into the current directory).
        "temp_directory": f"{database}.tmp",
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("set global TimeZone = 'UTC'")
        quoted = name.replace('"', '""')
        con.execute(f'attach $path as "{quoted}" (read_only)', {"path": str(database)})
        con.execute(f'use "{quoted}"')
        granted = reach(con) if reach is not None else Reach()
        for filesystem in granted.filesystems:
            con.register_filesystem(filesystem)
        folders = [
            folder if folder.endswith("/") else f"{folder}/" for folder in granted.directories
        ]
        con.execute("set allowed_directories = $folders", {"folders": folders})
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
