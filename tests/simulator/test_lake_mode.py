"""LAKE mode lays the tables out as the ingest does, with the ingest's schemas."""

from __future__ import annotations

import json
import re

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.lake import Lake
from ingest.schema import TABLES
from tests.simulator.conftest import LAKE_TABLES, Simulated

PART = re.compile(r"part-\d{8}T\d{12}Z-[0-9a-f]{8}-\d{4}-\d+\.parquet")


def same_schema(found: pa.Schema, declared: pa.Schema) -> bool:
    """Equal names, types, nullability and metadata; a list's item may be called
    ``element`` once it went through Parquet (the ingest's own files say so too)."""

    def same_type(a: pa.DataType, b: pa.DataType) -> bool:
        if pa.types.is_list(a) and pa.types.is_list(b):
            return bool(a.value_type == b.value_type)
        return bool(a == b)

    return (
        found.names == declared.names
        and found.metadata == declared.metadata
        and all(
            same_type(f.type, d.type) and f.nullable == d.nullable
            for f, d in zip(found, declared, strict=True)
        )
    )


def test_files_declare_exactly_the_lake_schemas(lake_run: Simulated) -> None:
    for table in LAKE_TABLES:
        files = sorted((lake_run.lake / table).rglob("*.parquet"))
        assert files, table
        for path in files:
            assert path.parent.name.startswith("dt=") and PART.fullmatch(path.name)
            schema = pq.read_schema(path)
            assert same_schema(schema, TABLES[table].schema), path
            if table != "certificates":  # no list column: identical, metadata included
                assert schema.equals(TABLES[table].schema, check_metadata=True), path
            assert "dt" not in schema.names
            metadata = pq.ParquetFile(path).metadata
            codecs = {
                metadata.row_group(0).column(c).compression for c in range(metadata.num_columns)
            }
            assert codecs == {"ZSTD"}
        read = Lake.at(str(lake_run.lake)).read(table)
        assert read.num_rows == lake_run.summary.rows[table]


def test_rows_are_in_time_order_within_each_file_and_day(lake_run: Simulated) -> None:
    for table in ("ocsp_requests", "crl_fetches", "artifact_downloads"):
        for path in (lake_run.lake / table).rglob("*.parquet"):
            times = pq.read_table(path, columns=[TABLES[table].time_column]).column(0)
            assert pc.all(pc.greater_equal(times[1:], times[:-1])).as_py() is not False
            day = path.parent.name.removeprefix("dt=")
            days = set(pc.strftime(times, format="%Y-%m-%d").to_pylist())
            assert days == {day}


def test_a_committed_run_with_a_manifest(lake_run: Simulated) -> None:
    lake = Lake.at(str(lake_run.lake))
    (run,) = lake.manifests()
    listed = {
        path.relative_to(lake_run.lake).as_posix() for path in lake_run.lake.rglob("*.parquet")
    }
    assert set(run.files) == listed
    assert run.sources[0]["format"] == "simulate"
    assert run.sources[0]["records_read"] == lake_run.summary.requests
    assert not list((lake_run.lake / "_staging").iterdir())


def test_duckdb_reads_it_with_hive_partitions(lake_run: Simulated) -> None:
    con = duckdb.connect()
    found = con.execute(
        f"select typeof(dt), typeof(event_time), typeof(client_ip), count(*), "
        f"count(distinct source) from read_parquet('{lake_run.lake}/ocsp_requests/**/*.parquet', "
        "hive_partitioning = true) group by all"
    ).fetchall()
    assert found == [
        ("DATE", "TIMESTAMP WITH TIME ZONE", "VARCHAR", lake_run.summary.rows["ocsp_requests"], 2)
    ]


def test_truth_and_networks_beside_the_lake(lake_run: Simulated) -> None:
    truth = json.loads((lake_run.home / "simulation" / "truth.json").read_text())
    assert truth == lake_run.truth
    assert set(truth) >= {"seed", "start", "end", "learning_days", "incidents"}
    header = (lake_run.home / "networks.csv").read_text().splitlines()[0]
    assert header == "cidr,zone,site,owner"
