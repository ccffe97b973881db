"""The LAKE's Glue catalog: generated from ingest/schema.py, checked against the Parquet
the ingest really writes, projected by day, and the Athena examples of docs/athena.md.

The catalog is synthesised once per module (jsii synthesis is the slow part); the
Parquet side is written through ``ingest.lake.Lake.stage``, the ingest's own writer, so
a change to the writer's types that the catalog does not follow fails here."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from infra.constructs.lake_catalog import (
    FIRST_HISTORY_DAY,
    FIRST_LOGGED_DAY,
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    LakeCatalog,
    lake_database_name,
)
from infra.glue_schema import (
    COMMENT_LIMIT,
    UnsupportedLakeType,
    glue_comment,
    glue_type,
    table_columns,
)
from infra.guardrails import apply_guardrails, enable_nag
from ingest.lake import Lake, new_run_id
from ingest.schema import TABLES, TIMESTAMP, Column, Table

ACCOUNT = "111122223333"
DATABASE = "certsight_prod_lake"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "athena.md"
# A day in the life of the LAKE, and a day no logged table can hold but an imported
# root CA's notBefore easily is.
RECENT = datetime(2026, 11, 28, 10, 30, 15, 123456, tzinfo=UTC)
ANCIENT = datetime(1996, 5, 1, 0, 0, tzinfo=UTC)


# -- synthesis --------------------------------------------------------------------------
class _Synthesised:
    def __init__(self, template: Template, imported: Template, catalog: LakeCatalog) -> None:
        self.template = template
        self.imported = imported
        self.catalog = catalog

    def table(self, name: str, template: Template | None = None) -> dict[str, Any]:
        """The Properties of the Glue table called ``name`` (found by its Name, never by
        logical id)."""
        found = [
            resource["Properties"]
            for resource in (template or self.template).find_resources("AWS::Glue::Table").values()
            if resource["Properties"]["TableInput"]["Name"] == name
        ]
        assert len(found) == 1, f"{len(found)} Glue tables named {name}"
        properties: dict[str, Any] = found[0]
        return properties


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory: pytest.TempPathFactory) -> _Synthesised:
    """Two stacks in one app (one synthesis): the catalog over a bucket of the same stack
    with guardrails and cdk-nag on, and one over an imported bucket with no prefix."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    enable_nag(app)
    env = cdk.Environment(account=ACCOUNT, region="eu-west-1")

    stack = cdk.Stack(app, "LakeCatalogTest", env=env)
    apply_guardrails(stack, "analytics")
    bucket = s3.Bucket(
        stack,
        "Lake",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        server_access_logs_prefix="access-logs/",
    )
    catalog = LakeCatalog(
        stack, "Catalog", lake_bucket=bucket, prefix="/lake/", database_name=DATABASE
    )

    other = cdk.Stack(app, "LakeCatalogImported", env=env)
    apply_guardrails(other, "analytics")
    LakeCatalog(
        other,
        "Catalog",
        lake_bucket=s3.Bucket.from_bucket_name(other, "Lake", "example-lake"),
        prefix="",
        database_name="certsight_dev_lake",
    )
    return _Synthesised(Template.from_stack(stack), Template.from_stack(other), catalog)


# -- what the ingest writes -------------------------------------------------------------
def _sample(data_type: pa.DataType) -> Any:
    """A non-null value of every type the LAKE uses (a new type fails here on purpose:
    the round trip below must cover it)."""
    if data_type == TIMESTAMP:
        return RECENT
    if pa.types.is_list(data_type):
        return [_sample(data_type.value_type)]
    samples: dict[pa.DataType, Any] = {
        pa.string(): "x",
        pa.int32(): 200,
        pa.int64(): 7,
        pa.float64(): 1.5,
        pa.bool_(): True,
    }
    return samples[data_type]


def _one_row(table: Table, when: datetime = RECENT) -> pa.Table:
    row = {c.name: _sample(c.type) for c in table.columns}
    row[table.time_column] = when
    return pa.Table.from_pylist([row], schema=table.schema)


def _written(lake_dir: Path, table: Table, when: datetime = RECENT) -> Path:
    """The Parquet file the ingest's writer makes for one row of ``table``."""
    lake = Lake.at(str(lake_dir))
    run_id = new_run_id(datetime.now(UTC))
    (relative,) = lake.stage(run_id, table, _one_row(table, when))
    return lake_dir / "_staging" / run_id / relative


def _hive_type_of_parquet(path: Path) -> list[tuple[str, str]]:
    """(column, Hive type) read from the Parquet file's own schema (physical and logical
    types, as Athena's reader sees them), independently of infra.glue_schema."""
    schema = pq.ParquetFile(path).schema
    columns: dict[str, str] = {}
    for index in range(len(schema)):
        leaf = schema.column(index)
        logical = json.loads(leaf.logical_type.to_json())
        physical = leaf.physical_type
        if physical == "BYTE_ARRAY":
            kind = "string" if logical["Type"] == "String" else "binary"
        elif physical == "INT64" and logical["Type"] == "Timestamp":
            assert logical["isAdjustedToUTC"], f"{leaf.path}: a local time"
            assert logical["timeUnit"] in {"milliseconds", "microseconds"}, leaf.path
            kind = "timestamp"
        elif physical == "INT32" and logical["Type"] == "Date":
            kind = "date"
        else:
            assert logical["Type"] in {"None", "Int"}, f"{leaf.path}: {logical}"
            kind = {
                "BOOLEAN": "boolean",
                "INT32": "int",
                "INT64": "bigint",
                "FLOAT": "float",
                "DOUBLE": "double",
            }[physical]
        top, *rest = leaf.path.split(".")
        if rest == ["list", "element"]:
            kind = f"array<{kind}>"
        else:
            assert not rest, f"{leaf.path}: a nesting this check does not read"
        columns[top] = kind
    return list(columns.items())


def _glue_columns(properties: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (c["Name"], c["Type"]) for c in properties["TableInput"]["StorageDescriptor"]["Columns"]
    ]


# -- the catalog ------------------------------------------------------------------------
def test_one_table_per_lake_table_in_one_database(synthesised: _Synthesised) -> None:
    synthesised.template.resource_count_is("AWS::Glue::Database", 1)
    synthesised.template.has_resource_properties(
        "AWS::Glue::Database",
        {"CatalogId": ACCOUNT, "DatabaseInput": Match.object_like({"Name": DATABASE})},
    )
    tables = synthesised.template.find_resources("AWS::Glue::Table")
    names = sorted(t["Properties"]["TableInput"]["Name"] for t in tables.values())
    assert names == sorted(TABLES)
    (database,) = synthesised.template.find_resources("AWS::Glue::Database")
    for resource in tables.values():
        assert resource["Properties"]["DatabaseName"] == DATABASE
        # named by string, not Ref: only DependsOn makes CloudFormation create it first
        assert database in resource.get("DependsOn", [])
        assert resource["Properties"]["CatalogId"] == ACCOUNT
    assert synthesised.catalog.database_name == DATABASE
    assert sorted(synthesised.catalog.tables) == sorted(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_glue_columns_are_the_parquet_the_ingest_writes(
    synthesised: _Synthesised, tmp_path: Path, name: str
) -> None:
    """Names, order and types of the Glue columns equal the Parquet file's own schema."""
    written = _hive_type_of_parquet(_written(tmp_path, TABLES[name]))
    properties = synthesised.table(name)
    assert _glue_columns(properties) == written
    assert "dt" not in {column for column, _ in written}
    keys = properties["TableInput"]["PartitionKeys"]
    assert [(k["Name"], k["Type"]) for k in keys] == [("dt", "string")]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_comments_are_the_schema_docs_within_glue_limit(
    synthesised: _Synthesised, name: str
) -> None:
    columns = synthesised.table(name)["TableInput"]["StorageDescriptor"]["Columns"]
    docs = {c.name: c.doc for c in TABLES[name].columns}
    for column in columns:
        assert len(column["Comment"].encode()) <= COMMENT_LIMIT
        assert column["Comment"] == glue_comment(docs[column["Name"]])
        assert column["Comment"]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_is_parquet_at_its_lake_folder(synthesised: _Synthesised, name: str) -> None:
    descriptor = synthesised.table(name)["TableInput"]["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert descriptor["InputFormat"] == PARQUET_INPUT
    assert descriptor["OutputFormat"] == PARQUET_OUTPUT
    # s3://<the bucket>/lake/<table>/: the prefix's slashes are normalised, never doubled.
    assert _joined(descriptor["Location"]) == f"s3://<bucket>/lake/{name}/"
    imported = synthesised.table(name, synthesised.imported)
    location = imported["TableInput"]["StorageDescriptor"]["Location"]
    assert location == f"s3://example-lake/{name}/"
    assert synthesised.table(name)["TableInput"]["TableType"] == "EXTERNAL_TABLE"


def _joined(value: Any) -> str:
    """A Fn::Join of literals and the bucket's Ref, with the Ref shown as <bucket>."""
    separator, parts = value["Fn::Join"]
    joined: str = separator.join(
        p if isinstance(p, str) else "<bucket>" if list(p) == ["Ref"] else repr(p) for p in parts
    )
    return joined


@pytest.mark.parametrize("name", sorted(TABLES))
def test_dt_is_projected_by_day_on_every_table(synthesised: _Synthesised, name: str) -> None:
    parameters = synthesised.table(name)["TableInput"]["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.interval"] == "1"
    assert parameters["projection.dt.interval.unit"] == "DAYS"
    start, end = parameters["projection.dt.range"].split(",")
    assert end == "NOW"
    date.fromisoformat(start)
    # Hive's own dt=<day> folders: Athena's default location, no template to drift.
    assert "storage.location.template" not in parameters


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_day_the_ingest_writes_is_inside_the_projected_range(
    synthesised: _Synthesised, tmp_path: Path, name: str
) -> None:
    """A row of the table's oldest plausible day lands in a dt= folder Athena projects:
    an imported 1996 root CA (issuers), certificate or CRL entry must not vanish."""
    table = TABLES[name]
    logged = table.time_column in {"event_time", "ingested_at"}
    oldest = datetime.combine(FIRST_LOGGED_DAY, datetime.min.time(), UTC) if logged else ANCIENT
    folder = _written(tmp_path, table, oldest).parent.name
    day = date.fromisoformat(folder.removeprefix("dt="))
    start = synthesised.table(name)["TableInput"]["Parameters"]["projection.dt.range"].split(",")[0]
    assert date.fromisoformat(start) <= day
    if not logged:
        assert date.fromisoformat(start) <= FIRST_HISTORY_DAY


def test_catalog_passes_cdk_nag_and_guardrails(synthesised: _Synthesised) -> None:
    """Synthesis with cdk-nag on raised nothing (the fixture), and the catalog adds no
    role and no IAM user of its own."""
    synthesised.template.resource_count_is("AWS::IAM::Role", 0)
    synthesised.template.resource_count_is("AWS::IAM::User", 0)


def test_database_names_glue_accepts() -> None:
    assert lake_database_name("prod") == "certsight_prod_lake"
    assert lake_database_name("eu-test-2") == "certsight_eu_test_2_lake"
    stack = cdk.Stack(cdk.App(), "Names")
    bucket = s3.Bucket.from_bucket_name(stack, "Lake", "example-lake")
    for bad in ("certsight-prod-lake", "Certsight", "1lake", ""):
        with pytest.raises(ValueError, match="Glue database name"):
            LakeCatalog(
                stack, f"C{len(bad)}{bad}", lake_bucket=bucket, prefix="lake", database_name=bad
            )


# -- glue_schema ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arrow", "hive"),
    [
        (pa.string(), "string"),
        (pa.int16(), "smallint"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.float64(), "double"),
        (pa.bool_(), "boolean"),
        (pa.date32(), "date"),
        (TIMESTAMP, "timestamp"),
        (pa.timestamp("ms"), "timestamp"),
        (pa.decimal128(12, 2), "decimal(12,2)"),
        (pa.list_(pa.string()), "array<string>"),
        (
            pa.list_(pa.struct([("name", pa.string()), ("hits", pa.list_(pa.int64()))])),
            "array<struct<name:string,hits:array<bigint>>>",
        ),
        (pa.map_(pa.string(), pa.float64()), "map<string,double>"),
    ],
)
def test_glue_type_of_arrow_types(arrow: pa.DataType, hive: str) -> None:
    assert glue_type(arrow) == hive


@pytest.mark.parametrize(
    ("arrow", "says"),
    [
        (pa.uint32(), "no Glue mapping"),
        (pa.null(), "no Glue mapping"),
        (pa.dictionary(pa.int32(), pa.string()), "no Glue mapping"),
        (pa.list_(pa.string(), 3), "no Glue mapping"),  # fixed size
        (pa.timestamp("ns", tz="UTC"), "timestamp\\[ns\\]"),
        (pa.timestamp("us", tz="Europe/Paris"), "Europe/Paris"),
        (pa.struct([("Mixed-Case", pa.string())]), "Mixed-Case"),
        (pa.map_(pa.list_(pa.string()), pa.string()), "map key"),
    ],
)
def test_glue_type_refuses_what_it_does_not_know(arrow: pa.DataType, says: str) -> None:
    with pytest.raises(UnsupportedLakeType, match=says):
        glue_type(arrow, where="ocsp_requests.new_column")


def test_a_new_lake_column_of_unknown_type_fails_naming_it() -> None:
    table = Table(
        "example",
        "one row per example",
        "event_time",
        (
            Column("event_time", TIMESTAMP, "when"),
            Column("odd", pa.uint64(), "an unsigned counter"),
        ),
    )
    with pytest.raises(UnsupportedLakeType, match=r"example\.odd"):
        table_columns(table)


def test_table_columns_leave_dt_to_the_partition_key() -> None:
    table = Table(
        "example",
        "one row per example",
        "event_time",
        (
            Column("event_time", TIMESTAMP, "when"),
            Column("dt", pa.string(), "the day, as written by an older ingest"),
            Column("count", pa.int64(), "how many"),
        ),
    )
    assert [(n, t) for n, t, _ in table_columns(table)] == [
        ("event_time", "timestamp"),
        ("count", "bigint"),
    ]


def test_long_comments_are_cut_at_a_word_within_the_limit() -> None:
    doc = "the responder's own time, " * 20 + "end"
    comment = glue_comment(doc)
    assert len(comment.encode()) <= COMMENT_LIMIT
    assert comment.endswith("...")
    assert doc.startswith(comment.removesuffix("..."))
    kept = comment.removesuffix("...")
    assert doc[len(kept)] in " ,", "cut inside a word"
    assert kept[-1] not in " ,"
    assert glue_comment("short\n  and   plain") == "short and plain"
    wide = glue_comment("µ" * 300)  # two bytes each: the limit holds in bytes too
    assert len(wide.encode()) <= COMMENT_LIMIT and wide.endswith("...")


# -- readers ----------------------------------------------------------------------------
def test_duckdb_reads_the_lake_by_the_glue_column_names(tmp_path: Path) -> None:
    """A sanity check of the layout Glue describes: Hive dt= folders of Parquet read by
    the Glue column list's names, with dt as the partition column."""
    table = TABLES["ocsp_requests"]
    staged = _written(tmp_path, table)
    root = staged.parent.parent  # <staging>/<run>/ocsp_requests
    names = [name for name, _, _ in table_columns(table)]
    select = ", ".join(f'"{n}"' for n in [*names, "dt"])
    connection = duckdb.connect()
    rows = connection.execute(
        f"select {select} from read_parquet(?, hive_partitioning = true) where dt = '2026-11-28'",
        [f"{root}/*/*.parquet"],
    ).fetchall()
    assert len(rows) == 1
    assert str(rows[0][-1]) == "2026-11-28"
    assert rows[0][names.index("http_status")] == 200


# -- docs/athena.md ---------------------------------------------------------------------
def _doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def test_docs_have_five_to_eight_queries_naming_lake_tables_with_dt() -> None:
    queries = _doc_queries()
    assert 5 <= len(queries) <= 8
    for query in queries:
        named = set(re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_.]*)", query, flags=re.I))
        lake = {n.rsplit(".", 1)[-1] for n in named} & set(TABLES)
        assert lake, f"no LAKE table in:\n{query}"
        assert re.search(r"\bdt\s*(?:>=|>|=|<|<=|between|in)", query), f"no dt predicate:\n{query}"


def test_docs_queries_parse_as_athena_and_use_real_columns() -> None:
    """Each example parses with sqlglot's Athena dialect, names only LAKE tables and
    their columns (Glue's list plus dt), and filters every LAKE scan on dt."""
    # Not a dependency of the project (yet): the test runs where sqlglot is installed.
    sqlglot = pytest.importorskip("sqlglot")
    exp = pytest.importorskip("sqlglot.expressions")
    qualify = pytest.importorskip("sqlglot.optimizer.qualify").qualify

    schema = {
        name: {**{c: t for c, t, _ in table_columns(table)}, "dt": "string"}
        for name, table in TABLES.items()
    }
    for query in _doc_queries():
        tree = sqlglot.parse_one(query, read="athena")
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            assert table.name in ctes or table.name in TABLES, f"{table.name}: not a LAKE table"
        qualify(tree.copy(), schema=schema, dialect="athena", validate_qualify_columns=True)
        for select in tree.find_all(exp.Select):
            scans = [
                t
                for t in select.find_all(exp.Table)
                if t.name in TABLES and t.find_ancestor(exp.Select) is select
            ]
            if not scans:
                continue
            where = select.args.get("where")
            assert where is not None, f"a LAKE scan without where:\n{select.sql('athena')}"
            filtered = {c.table for c in where.find_all(exp.Column) if c.name == "dt"}
            for scan in scans:
                assert scan.alias_or_name in filtered or (len(scans) == 1 and "" in filtered), (
                    f"{scan.name} is read without a dt predicate:\n{select.sql('athena')}"
                )
