"""The LAKE reads the same in other engines: DuckDB here (Athena and Spark read the same
plain Parquet types: strings, integers, doubles, booleans, UTC microsecond timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingest.lake import Lake
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw


def test_duckdb_reads_the_lake_with_its_partitions(pki_home: PkiHome, tmp_path: Path) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 6)
    lake = Lake.at(str(tmp_path / "lake"))
    ingest(find_sources([str(tmp_path / "raw")]), lake, lambda: datetime.now(UTC))
    pattern = f"{tmp_path}/lake/ocsp_requests/**/*.parquet"
    con = duckdb.connect()
    found = con.execute(
        "SELECT count(*), count(DISTINCT dt), typeof(min(event_time)), typeof(min(http_status)),"
        " typeof(bool_or(nonce)) FROM read_parquet(?, hive_partitioning=true)",
        [pattern],
    ).fetchone()
    assert found == (expected, 3, "TIMESTAMP WITH TIME ZONE", "INTEGER", "BOOLEAN")
    statuses = dict(
        con.execute(
            "SELECT cert_status, count(*) FROM read_parquet(?, hive_partitioning=true) "
            "GROUP BY ALL",
            [pattern],
        ).fetchall()
    )
    assert statuses.get("good", 0) > 0 and statuses.get("revoked", 0) > 0
