"""How DuckDB reaches the LAKE, for the build and for readers alike: S3 through s3fs, and
the folders a finished warehouse's lake views read.

DuckDB's httpfs extension is not bundled and may not be downloaded (air-gapped sites), so
S3 goes through s3fs (fsspec) registered with DuckDB, configured from the standard AWS
settings. Kept apart from ``warehouse.build`` so that ``certsight sql`` reaches an S3 LAKE
the way the build does without importing the build (pyarrow, dbt).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

LAKE_SCHEMA = "lake"
"""The warehouse schema with one view per LAKE table (``warehouse.build``)."""

_SCAN = re.compile(r"read_parquet\('((?:[^']|'')*)'")
_WILDCARDS = re.compile(r"[*?\[{]")


def s3fs_options() -> dict[str, object]:
    """s3fs's arguments from the standard AWS settings; credentials are left to botocore,
    so none is ever written anywhere (the dbt profile names these options only)."""
    options: dict[str, object] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


def s3_filesystem() -> Any:
    """The fsspec file system through which DuckDB reads ``s3://`` paths."""
    import s3fs

    return s3fs.S3FileSystem(**s3fs_options())


def register_s3(con: duckdb.DuckDBPyConnection) -> None:
    con.register_filesystem(s3_filesystem())


def lake_scans(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The paths (globs) the current database's lake views read, as the build wrote them:
    ``read_parquet('<LAKE>/<table>/dt=*/*.parquet', ...)``, or an empty file of the
    table's schema under the build's work folder for a table not written yet."""
    rows = con.execute(
        "select sql from duckdb_views() "
        "where database_name = current_database() and schema_name = $schema",
        {"schema": LAKE_SCHEMA},
    ).fetchall()
    return [match.replace("''", "'") for (sql,) in rows for match in _SCAN.findall(sql or "")]


def folder_of(scan: str) -> str:
    """The folder a scan reads under: the path up to its first wildcard, or the file's
    folder; with a trailing slash, so that ``/lake/a/`` does not also grant ``/lake/ab``."""
    wildcard = _WILDCARDS.search(scan)
    head = scan[: wildcard.start()] if wildcard else scan
    return head[: head.rfind("/") + 1]
