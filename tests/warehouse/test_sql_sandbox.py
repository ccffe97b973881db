"""Every connection that serves analysts, dashboards and reports is a sandbox: it reads the
warehouse (and, for `certsight sql`, the LAKE its views name, locally or on S3) and
nothing else; it writes nothing, loads no extension, and no statement can undo that.

Driven through `certsight sql` and through the connections the other readers open
(`warehouse.reading.open_warehouse` for alerts and reports, the dashboards' cached
connection), on a warehouse built by the real build. Nothing is fetched: the extension
statements name local files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import boto3
import duckdb
import pytest
from click.testing import CliRunner, Result

from certsight.cli import main
from tests.warehouse.conftest import NETWORKS, built_scenario, write_enterprise
from tests.warehouse.lakefixture import LakeWriter

Opener = Callable[[Path], AbstractContextManager[duckdb.DuckDBPyConnection]]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = built_scenario(tmp_path_factory.mktemp("sandbox")).home
    # what an analyst must not reach though it sits in the home: the CA's key
    (home / "pki").mkdir()
    (home / "pki" / "issuing-ca.key").write_text("SECRET-KEY-MATERIAL\n")
    (home / "pki" / "accounts.csv").write_text("account,token\nacme,SECRET-TOKEN\n")
    return home


def sql(home: Path, query: str, output_format: str = "csv") -> Result:
    return CliRunner().invoke(main, ["sql", "--home", str(home), "--format", output_format, query])


def refused(result: Result) -> str:
    """The one line `certsight sql` prints for what the sandbox forbids: no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: not allowed"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def lake_rows(home: Path, table: str) -> int:
    """Counted without certsight: DuckDB straight on the Parquet files."""
    pattern = str(home / "lake" / table / "dt=*" / "*.parquet")
    found = duckdb.connect().execute("select count(*) from read_parquet(?)", [pattern]).fetchone()
    assert found is not None
    return int(found[0])


# -- certsight sql -----------------------------------------------------------------------


def test_ordinary_queries_over_marts_staging_and_lake_keep_working(home: Path) -> None:
    expected = lake_rows(home, "ocsp_requests")
    assert expected > 0
    lake = sql(home, "select count(*) as n from lake.ocsp_requests", "json")
    assert lake.exit_code == 0, lake.output
    assert json.loads(lake.output) == [{"n": expected}]
    staged = sql(home, "select count(*) as n from staging.stg_ocsp_requests")
    assert staged.output.splitlines() == ["n", str(expected)], staged.output
    # a LAKE table the ingest has not written yet reads the build's empty stand-in
    assert sql(home, "select count(*) as n from lake.quarantine").output.splitlines() == ["n", "0"]
    marts = sql(home, "use lake; select count(*) as n from main.alerts where status = 'open'")
    assert marts.output.splitlines() == ["n", "5"], marts.output
    for query in (
        "describe alerts",
        "summarize fact_validation_daily",
        "pivot alerts on severity in ('high', 'critical') using count(*)",
        "explain analyze select count(*) from lake.certificates",
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) "
        "select sum(n) from r",
    ):
        result = sql(home, query)
        assert result.exit_code == 0, (query, result.output)


@pytest.mark.parametrize(
    "query",
    [
        "select content from read_text('{home}/pki/issuing-ca.key')",
        "select * from read_csv('{home}/pki/accounts.csv')",
        "select * from '{home}/pki/accounts.csv'",
        "select * from read_blob('{home}/lake/../pki/issuing-ca.key')",
        "select * from glob('{home}/pki/*')",
        "select content from read_text('/etc/hostname')",
    ],
    ids=["read_text", "read_csv", "replacement-scan", "read_blob-dotdot", "glob", "etc"],
)
def test_no_file_outside_the_warehouse_and_the_lake_is_read(home: Path, query: str) -> None:
    result = sql(home, query.format(home=home))
    line = refused(result)
    assert "SECRET" not in result.output
    assert "certsight sql reads the warehouse and its LAKE" in line


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("copy (select 1) to '{out}/x.csv'", "COPY statements"),
        ("copy (select 1) to '{lake}/x.parquet'", "COPY statements"),
        ("with w as (copy (select 1) to '{lake}/y.csv') select 1", "COPY inside a query"),
        ("explain analyze copy (select 1) to '{lake}/z.csv'", "runs queries only"),
        ("copy alerts to '{lake}/pivot.csv'", "COPY statements"),
        ("copy (pivot alerts on severity) to '{lake}/p.csv'", "PIVOT"),
        ("export database '{out}/dump'", "EXPORT statements"),
        ("attach '{out}/new.duckdb' as n", "ATTACH statements"),
        ("attach '{lake}/new.duckdb' as n", "ATTACH statements"),
        ("delete from alerts", "DELETE statements"),
        ("create table memory.main.t as select 1", "CREATE statements"),
        ("with d as (delete from alerts returning *) select count(*) from d", "DELETE inside"),
        ("select * from query('select 1')", "query() runs SQL from text"),
        ("select 1; copy (select 1) to '{out}/late.csv'", "COPY statements"),
    ],
    ids=[
        "copy-out",
        "copy-into-lake",
        "copy-in-cte",
        "explain-analyze-copy",
        "copy-table",
        "copy-pivot",
        "export",
        "attach-out",
        "attach-in-lake",
        "delete",
        "create",
        "delete-in-cte",
        "query-from-text",
        "second-statement",
    ],
)
def test_nothing_is_written_anywhere(home: Path, query: str, why: str) -> None:
    root = home.parent
    before = snapshot(root)
    lake = home / "lake" / "ocsp_requests"
    result = sql(home, query.format(out=root, lake=lake))
    assert why in refused(result)
    assert snapshot(root) == before  # no file appeared or changed, warehouse included


@pytest.mark.parametrize(
    "query",
    [
        "install '{out}/spatial.duckdb_extension'",
        "load '{out}/spatial.duckdb_extension'",
        "set enable_external_access = true",
        "reset enable_external_access",
        "set lock_configuration = false",
        "set allowed_directories = ['/']",
        "set log_query_path = '{out}/queries.log'",
        "pragma enable_profiling",
        "pragma profiling_output = '{out}/profile.json'",
        "call enable_logging(storage = 'file', storage_path = '{out}/logs')",
        "set enable_external_access = true; select content from read_text('/etc/hostname')",
    ],
    ids=[
        "install",
        "load",
        "set-access",
        "reset-access",
        "unlock",
        "allow-root",
        "log-file",
        "profiling",
        "profile-file",
        "log-storage",
        "undo-then-read",
    ],
)
def test_no_extension_and_no_setting_undoes_the_sandbox(home: Path, query: str) -> None:
    root = home.parent
    before = snapshot(root)
    refused(sql(home, query.format(out=root)))
    assert snapshot(root) == before
    # and the next connection is as closed as the first
    refused(sql(home, "select content from read_text('/etc/hostname')"))


def test_the_prompt_refuses_and_goes_on(home: Path) -> None:
    out = home.parent / "prompt.csv"
    result = CliRunner().invoke(
        main,
        ["sql", "--home", str(home)],
        input=f"copy (select 1) to '{out}';\nselect 41 + 1 as answer;\n",
    )
    assert result.exit_code == 0, result.output
    assert "error: not allowed: COPY statements" in result.output
    assert "42" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


# -- the connections of alerts, reports and dashboards ------------------------------------


@contextmanager
def dashboard_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The dashboards' connection as a page gets it: the cached one, a cursor, `use`."""
    from dashboards.ui import _connection

    stat = path.stat()
    con = _connection(str(path), (stat.st_ino, stat.st_mtime_ns))
    cursor = con.cursor()
    try:
        cursor.execute("use warehouse")
        yield cursor
    finally:
        cursor.close()
        _connection.clear()


def report_connection(path: Path) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """What `certsight report` and `certsight alerts` read through."""
    from warehouse.reading import open_warehouse

    return open_warehouse(path)


OPENERS = pytest.mark.parametrize(
    "opener", [report_connection, dashboard_connection], ids=["reports", "dashboards"]
)


@OPENERS
def test_reader_connections_read_the_marts_in_utc(home: Path, opener: Opener) -> None:
    with opener(home / "warehouse.duckdb") as con:
        assert con.execute("select count(*) from alerts where status = 'open'").fetchone() == (5,)
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)


@OPENERS
@pytest.mark.parametrize(
    "statement",
    [
        "select content from read_text('{home}/pki/issuing-ca.key')",
        "select * from read_csv('/etc/passwd')",
        "copy (select 1) to '{out}/x.csv'",
        # without the LAKE in reach, not even its folders can be written (or read)
        "copy (select 1) to '{home}/lake/ocsp_requests/x.csv'",
        "select count(*) from lake.ocsp_requests",
        "attach '{out}/new.duckdb' as n",
        "export database '{out}/dump'",
        "install '{out}/spatial.duckdb_extension'",
        "load '{out}/spatial.duckdb_extension'",
    ],
    ids=["key", "passwd", "copy", "copy-lake", "lake", "attach", "export", "install", "load"],
)
def test_reader_connections_reach_no_file(home: Path, opener: Opener, statement: str) -> None:
    root = home.parent
    before = snapshot(root)
    with opener(home / "warehouse.duckdb") as con, pytest.raises(duckdb.PermissionException):
        con.execute(statement.format(home=home, out=root))
    assert snapshot(root) == before


@OPENERS
@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("set enable_external_access = true", "locked"),
        ("reset enable_external_access", "locked"),
        ("set lock_configuration = false", "locked"),
        ("set allowed_directories = ['/']", "locked"),
        ("set allowed_paths = ['/etc/passwd']", "locked"),
        ("set autoload_known_extensions = true", "locked"),
        ("set autoinstall_known_extensions = true", "locked"),
        ("set log_query_path = '{out}/queries.log'", "locked"),
        ("pragma enable_profiling", "locked"),
        ("set profiling_output = '{out}/profile.json'", "locked"),
        ("call enable_logging(storage = 'file', storage_path = '{out}/logs')", "locked"),
        ("set TimeZone = 'Europe/Paris'", "locked"),
        ("create persistent secret s (type http)", "Persistent secrets are disabled"),
        ("delete from alerts", "read-only"),
        ("create table t as select 1", "read-only"),
    ],
)
def test_reader_connections_cannot_be_unlocked_or_written(
    home: Path, opener: Opener, statement: str, error: str
) -> None:
    root = home.parent
    before = snapshot(root)
    with opener(home / "warehouse.duckdb") as con:
        with pytest.raises(duckdb.Error, match=error):
            con.execute(statement.format(out=root))
        # still closed after the attempt
        with pytest.raises(duckdb.PermissionException):
            con.execute("select * from read_text('/etc/hostname')")
    assert snapshot(root) == before


def test_python_variables_are_not_tables(home: Path) -> None:
    """DuckDB's replacement scans would read any DataFrame in the caller's frames."""
    import pandas as pd

    secrets = pd.DataFrame({"key": ["SECRET"]})
    assert len(secrets) == 1
    with report_connection(home / "warehouse.duckdb") as con, pytest.raises(duckdb.Error):
        con.execute("select * from secrets")


# -- an S3 LAKE (moto's server on loopback) -------------------------------------------------


def test_sql_reads_an_s3_lake_and_nothing_else_there(aws_env: str, tmp_path: Path) -> None:
    local = tmp_path / "staging-lake"
    writer = LakeWriter(local)
    write_enterprise(writer)
    writer.flush()
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="pki-lake")
    s3.create_bucket(Bucket="other")
    for path in local.rglob("*.parquet"):
        s3.upload_file(str(path), "pki-lake", f"prod/{path.relative_to(local).as_posix()}")
    some = next(local.rglob("*.parquet"))
    s3.upload_file(str(some), "other", "private/x.parquet")
    s3.upload_file(str(some), "pki-lake", "staging-area/x.parquet")
    home = tmp_path / "home"
    home.mkdir()
    (home / "networks.csv").write_text(NETWORKS)
    built = CliRunner().invoke(main, ["build", "--home", str(home), "--lake", "s3://pki-lake/prod"])
    assert built.exit_code == 0, built.output
    expected = (
        duckdb.connect()
        .execute(
            "select count(*) from read_parquet(?)",
            [str(local / "ocsp_requests" / "dt=*" / "*.parquet")],
        )
        .fetchone()
    )

    result = sql(home, "select count(*) as n from lake.ocsp_requests", "json")

    assert result.exit_code == 0, result.output
    assert expected is not None and json.loads(result.output) == [{"n": expected[0]}]
    staged = sql(home, "select count(*) as n from staging.stg_certificates")
    assert staged.exit_code == 0, staged.output

    def keys() -> set[str]:
        listed = s3.list_objects_v2(Bucket="pki-lake").get("Contents", [])
        return {item["Key"] for item in listed}

    before = keys()
    for query in (
        "select count(*) from read_parquet('s3://other/private/x.parquet')",
        "select count(*) from read_parquet('s3://pki-lake/staging-area/x.parquet')",
        "select * from glob('s3://pki-lake/**')",
    ):
        assert "s3://" in refused(sql(home, query))
    for query in (
        "copy (select 1 as a) to 's3://pki-lake/prod/ocsp_requests/dt=2026-11-30/x.parquet'",
        "with w as (copy (select 1 as a) to 's3://pki-lake/prod/ocsp_requests/y.parquet') select 1",
    ):
        refused(sql(home, query))
    assert keys() == before
