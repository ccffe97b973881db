"""A LAKE on S3 (moto's server on loopback): DuckDB reads it through s3fs, no httpfs."""

from __future__ import annotations

from pathlib import Path

import boto3
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.conftest import NETWORKS, write_enterprise
from tests.warehouse.lakefixture import LakeWriter


def test_build_reads_a_lake_on_s3(aws_env: str, tmp_path: Path) -> None:
    local = tmp_path / "staging-lake"
    writer = LakeWriter(local)
    write_enterprise(writer)
    writer.flush()
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="pki-lake")
    for path in local.rglob("*.parquet"):
        s3.upload_file(str(path), "pki-lake", f"prod/{path.relative_to(local).as_posix()}")
    home = tmp_path / "home"
    home.mkdir()
    (home / "networks.csv").write_text(NETWORKS)

    result = CliRunner().invoke(
        main, ["build", "--home", str(home), "--lake", "s3://pki-lake/prod"]
    )

    assert result.exit_code == 0, result.output
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from alerts where status = 'open'").fetchone() == (5,)
        assert con.execute(
            "select sum(requests) from fact_validation_daily where server = 'api.corp'"
        ).fetchone() == (120,)
    finally:
        con.close()
    # the profile dbt used names the endpoint but never a credential
    profile = (home / ".warehouse" / "profiles" / "profiles.yml").read_text()
    assert aws_env in profile and "testing" not in profile
