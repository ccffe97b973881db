"""Read-only access to the finished warehouse, for `certsight sql`, `alerts` and reports.

Each reader opens the file read-only for as long as it needs it: builds write a separate
file and rename it over this one, so a reader never blocks a build (docs/warehouse.md).
The connection is sandboxed (``pki.duckdb_sandbox``): it reaches the warehouse and, when
asked, the folders of the LAKE its lake views read (locally or on S3), nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use: the CLI names this module's error on every start
    import duckdb

    from pki.duckdb_sandbox import Reach


class WarehouseMissingError(FileNotFoundError):
    """No warehouse yet: the message says how to make one."""


@contextmanager
def open_warehouse(path: Path, *, lake: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, sandboxed. ``lake``: the ``lake.*`` views (and the staging views
    over them) can be read too. Only analysts need that; alerts and reports read the
    marts, and without a folder within reach their connection can write no file at all
    (DuckDB does not tell reading from writing inside an allowed folder)."""
    if not path.exists():
        raise WarehouseMissingError(f"{path} does not exist yet: run `certsight build` first")
    from pki.duckdb_sandbox import connect_sandboxed

    con = connect_sandboxed(path, reach=lake_reach if lake else None)
    try:
        yield con
    finally:
        con.close()


def lake_reach(con: duckdb.DuckDBPyConnection) -> Reach:
    """The LAKE folders this warehouse's lake views read, and s3fs when they are on S3
    (the same file system the build reads them with). A view reading anything else (a
    relative path, a bucket's root) gets no folder, so it fails rather than opening more
    than the LAKE."""
    from pki.duckdb_sandbox import Reach
    from warehouse.lake_access import folder_of, lake_scans, s3_filesystem

    scans = lake_scans(con)
    folders = sorted({folder_of(scan) for scan in scans})
    folders = [
        folder
        for folder in folders
        if (folder.startswith("/") and folder != "/")
        or (folder.startswith("s3://") and folder.count("/") > 3)
    ]
    on_s3 = any(folder.startswith("s3://") for folder in folders)
    return Reach(directories=folders, filesystems=[s3_filesystem()] if on_s3 else [])
