"""The LAKE's Arrow types as the Glue Data Catalog spells them (Hive type strings).

Glue and Athena do not read a Parquet file's schema: they trust the table definition.
A column declared with the wrong type fails (or, worse, reads as nulls) only when an
analyst queries it, long after the deployment. So the Glue tables are generated from
``ingest/schema.py``, the one definition the ingest writes with, and any Arrow type
this module does not know is refused at synthesis instead of being guessed.

Pure: no CDK here, so the mapping is tested and reused (docs, other readers) alone.
"""

from __future__ import annotations

import re
from typing import Final

import pyarrow as pa

from ingest.schema import Table

PARTITION_COLUMN: Final = "dt"
"""The Hive partition key of every LAKE table (``<table>/dt=YYYY-MM-DD/``)."""

PARTITION_TYPE: Final = "string"
"""``dt`` as Glue sees it. Athena advises string partition keys (a ``date`` key is
slower to prune); ISO days compare correctly as text (``dt >= '2026-11-01'``)."""

PARTITION_COMMENT: Final = "UTC day of the table's time column, YYYY-MM-DD (Hive partition)"

COMMENT_LIMIT: Final = 255
"""Glue's maximum length of a column comment."""

# Athena folds identifiers to lowercase and Hive DDL takes letters, digits and '_' only:
# a LAKE column named otherwise would be unreachable or silently renamed.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

_PLAIN: Final[dict[pa.DataType, str]] = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.date32(): "date",
    pa.binary(): "binary",
    pa.large_binary(): "binary",
}

# Parquet stores these as INT64 with a timestamp logical type that Athena reads natively.
# Seconds become milliseconds in Parquet anyway; nanoseconds are not safe in Athena.
_TIMESTAMP_UNITS: Final = frozenset({"ms", "us"})
_UTC_NAMES: Final = frozenset({"UTC", "+00:00", "Etc/UTC"})


class UnsupportedLakeType(TypeError):
    """A LAKE column whose Arrow type has no known, tested Glue equivalent."""


def glue_type(data_type: pa.DataType, *, where: str = "column") -> str:
    """The Hive type string Glue and Athena use for ``data_type``.

    ``where`` names the column in the error, so a refused type says which LAKE column
    needs a decision (add the mapping here, with a test, or change the column)."""
    plain = _PLAIN.get(data_type)
    if plain is not None:
        return plain
    if pa.types.is_timestamp(data_type):
        return _timestamp(data_type, where)
    if pa.types.is_decimal(data_type) and data_type.precision <= 38:
        return f"decimal({data_type.precision},{data_type.scale})"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return f"array<{glue_type(data_type.value_type, where=f'{where}[]')}>"
    if pa.types.is_map(data_type):
        key = glue_type(data_type.key_type, where=f"{where}.key")
        if key.startswith(("array<", "map<", "struct<")):
            raise UnsupportedLakeType(f"{where}: a map key must be a primitive type, not {key}")
        value = glue_type(data_type.item_type, where=f"{where}.value")
        return f"map<{key},{value}>"
    if pa.types.is_struct(data_type):
        fields = []
        for field in data_type:
            _check_identifier(field.name, f"{where}.{field.name}")
            fields.append(f"{field.name}:{glue_type(field.type, where=f'{where}.{field.name}')}")
        if not fields:
            raise UnsupportedLakeType(f"{where}: a struct without fields has no Hive type")
        return f"struct<{','.join(fields)}>"
    raise UnsupportedLakeType(
        f"{where}: the Arrow type {data_type} has no Glue mapping in infra/glue_schema.py; "
        "add one (with a test that Athena reads it as written) or use a supported type"
    )


def _timestamp(data_type: pa.TimestampType, where: str) -> str:
    if data_type.unit not in _TIMESTAMP_UNITS:
        raise UnsupportedLakeType(
            f"{where}: timestamp[{data_type.unit}] is not read reliably by Athena; "
            "use microseconds or milliseconds"
        )
    if data_type.tz is not None and data_type.tz not in _UTC_NAMES:
        raise UnsupportedLakeType(
            f"{where}: timestamp with time zone {data_type.tz!r}: the LAKE keeps UTC only "
            "(Hive timestamps carry no zone)"
        )
    return "timestamp"


def _check_identifier(name: str, where: str) -> None:
    if not _IDENTIFIER.match(name):
        raise UnsupportedLakeType(
            f"{where}: {name!r} is not a Glue/Athena column name "
            "(lowercase letters, digits and '_', not starting with a digit)"
        )


def glue_comment(text: str, limit: int = COMMENT_LIMIT) -> str:
    """``text`` on one line, within Glue's comment limit, cut at a word with '...'.

    The limit is counted in UTF-8 bytes, which is never less than Glue's count of
    characters, so a doc with non-ASCII letters cannot exceed it either way."""
    flat = " ".join(text.split())
    if len(flat.encode()) <= limit:
        return flat
    room = limit - len("...")
    cut = flat.encode()[:room].decode(errors="ignore")
    head, space, _ = cut.rpartition(" ")
    kept = head if space and len(head) >= room // 2 else cut
    return kept.rstrip(" ,;:-") + "..."


def table_columns(table: Table) -> list[tuple[str, str, str]]:
    """(name, Glue type, comment) of every data column of ``table``, in the order the
    ingest writes them. ``dt`` is left out: it is the partition key, and Hive refuses a
    data column named like a partition column."""
    columns = []
    for column in table.columns:
        if column.name == PARTITION_COLUMN:
            continue
        where = f"{table.name}.{column.name}"
        _check_identifier(column.name, where)
        columns.append((column.name, glue_type(column.type, where=where), glue_comment(column.doc)))
    return columns
