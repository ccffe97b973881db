"""Read-only access to the finished warehouse, for `certsight sql`, `alerts` and dashboards.

Each reader opens the file read-only for as long as it needs it: builds write a separate
file and rename it over this one, so a reader never blocks a build (docs/warehouse.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use: the CLI names this module's error on every start
    import duckdb


class WarehouseMissingError(FileNotFoundError):
    """No warehouse yet: the message says how to make one."""


@contextmanager
def open_warehouse(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if not path.exists():
        raise WarehouseMissingError(f"{path} does not exist yet: run `certsight build` first")
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()
