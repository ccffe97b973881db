"""The LAKE in the Glue Data Catalog, so Athena (and anything reading Glue) can query it.

Every table is generated from ``ingest/schema.py``: the ingest and the catalog cannot
disagree about a column, because there is only one list of columns. Partitions are
projected (Athena computes ``dt=YYYY-MM-DD`` locations from table properties), so no
crawler, ``MSCK REPAIR TABLE`` or ``ALTER TABLE ADD PARTITION`` ever runs: a day is
queryable as soon as the ingest has written its first file.

The L1 ``CfnDatabase``/``CfnTable`` are used rather than the ``glue.S3Table`` L2: the
column types come as Hive strings from ``infra.glue_schema`` (the one mapping, tested
against the Parquet the ingest writes), and every table property Athena reads is
spelled out here, where a reviewer sees it, instead of being derived by the L2.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.glue_schema import (
    PARTITION_COLUMN,
    PARTITION_COMMENT,
    PARTITION_TYPE,
    glue_comment,
    table_columns,
)
from ingest.schema import TABLES, Table

PARQUET_SERDE: Final = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

# Tables partitioned by a time certsight (or its CDN) records as things happen: their
# days cannot precede the first logs ingested.
LOGGED_TIME_COLUMNS: Final = frozenset({"event_time", "ingested_at"})

FIRST_LOGGED_DAY: Final = date(2020, 1, 1)
"""Default first projected day of the logged tables (requests, downloads, quarantine).
Before certsight existed: a LAKE backfilled with older CDN logs passes an earlier day."""

FIRST_HISTORY_DAY: Final = date(1950, 1, 1)
"""First projected day of the tables partitioned by a certificate's own times
(certificates by issuance, issuers by notBefore, revocations by revocation date):
imported CA certificates and CRL entries may be decades old, and X.509's UTCTime
starts in 1950. A narrower range would hide those rows from Athena silently."""

# Glue database names: lowercase letters, digits and '_' (Athena's own rule; a hyphen
# forces quoting in every query).
_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,254}$")


def lake_database_name(env_name: str) -> str:
    """The Glue database of an environment's LAKE, e.g. ``certsight_prod_lake``
    (environment names may hold '-', which Glue database names should not)."""
    return f"certsight_{env_name.replace('-', '_')}_lake"


def projection_range(table: Table, first_logged_day: date = FIRST_LOGGED_DAY) -> str:
    """``projection.dt.range`` of ``table``: from the first day it can hold, to NOW (the
    day of the query: a day the ingest writes today is visible without a deployment)."""
    first = first_logged_day if table.time_column in LOGGED_TIME_COLUMNS else FIRST_HISTORY_DAY
    return f"{first.isoformat()},NOW"


def projection_parameters(
    table: Table, first_logged_day: date = FIRST_LOGGED_DAY
) -> dict[str, str]:
    """The table properties that let Athena project ``dt`` partitions: one per UTC day
    in ``yyyy-MM-dd``, at the default Hive location ``<table>/dt=<day>/`` (so no
    ``storage.location.template`` is needed)."""
    key = f"projection.{PARTITION_COLUMN}"
    return {
        "projection.enabled": "true",
        f"{key}.type": "date",
        f"{key}.format": "yyyy-MM-dd",
        f"{key}.range": projection_range(table, first_logged_day),
        f"{key}.interval": "1",
        f"{key}.interval.unit": "DAYS",
    }


class LakeCatalog(Construct):
    """One Glue database and one external Parquet table per LAKE table.

    Catalog entries are metadata generated from code and hold no data (that is in the
    LAKE bucket, which its own stack retains), so they are removed with the stack: a
    retained database would block the next deployment with its fixed name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake_bucket: s3.IBucket,
        prefix: str,
        database_name: str,
        first_logged_day: date = FIRST_LOGGED_DAY,
    ) -> None:
        super().__init__(scope, construct_id)
        if not _DATABASE_NAME.match(database_name):
            raise ValueError(
                f"Glue database name {database_name!r}: lowercase letters, digits and '_', "
                "starting with a letter (lake_database_name() makes one)"
            )
        account = Stack.of(self).account
        root = _location_root(lake_bucket, prefix)

        self.database_name = database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name,
                description=(
                    "certsight LAKE: tables generated from ingest/schema.py, "
                    "partitions projected by day (docs/athena.md)"
                ),
                location_uri=root,
            ),
        )

        self.tables: dict[str, glue.CfnTable] = {}
        for table in TABLES.values():
            cfn_table = glue.CfnTable(
                self,
                f"Table-{table.name}",
                catalog_id=account,
                database_name=database_name,
                table_input=_table_input(table, f"{root}{table.name}/", first_logged_day),
            )
            # The table names the database by string (no Ref), so order it explicitly.
            cfn_table.node.add_dependency(self.database)
            self.tables[table.name] = cfn_table


def _location_root(bucket: s3.IBucket, prefix: str) -> str:
    """``s3://BUCKET/PREFIX/`` (``s3://BUCKET/`` for an empty prefix), whatever slashes
    the caller put around the prefix: a double slash is a different S3 key."""
    cleaned = prefix.strip("/")
    return f"s3://{bucket.bucket_name}/{cleaned}/" if cleaned else f"s3://{bucket.bucket_name}/"


def _table_input(
    table: Table, location: str, first_logged_day: date
) -> glue.CfnTable.TableInputProperty:
    return glue.CfnTable.TableInputProperty(
        name=table.name,
        description=glue_comment(
            f"{table.grain}. Partitioned by {PARTITION_COLUMN}, the UTC day of "
            f"{table.time_column}.",
            limit=2048,  # Glue's table description limit
        ),
        table_type="EXTERNAL_TABLE",
        parameters={
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            **projection_parameters(table, first_logged_day),
        },
        partition_keys=[
            glue.CfnTable.ColumnProperty(
                name=PARTITION_COLUMN, type=PARTITION_TYPE, comment=PARTITION_COMMENT
            )
        ],
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            location=location,
            input_format=PARQUET_INPUT,
            output_format=PARQUET_OUTPUT,
            serde_info=glue.CfnTable.SerdeInfoProperty(
                serialization_library=PARQUET_SERDE,
                parameters={"serialization.format": "1"},
            ),
            columns=[
                glue.CfnTable.ColumnProperty(name=name, type=kind, comment=comment)
                for name, kind, comment in table_columns(table)
            ],
        ),
    )
