"""ACME state on one DynamoDB table, for several issuance hosts sharing it.

Layout (partition key ``pk`` only):

* a resource: ``pk = "<table>#<key>"``, the row as JSON in ``doc``, its ``status``, a
  ``version`` for compare-and-set, ``seq`` (insertion order) and, for orders, ``lk1``
  (``account_id``) and ``lk2`` (``replaces``) under the GSIs ``acme-lk1`` / ``acme-lk2``;
* a unique column's pointer (account key thumbprint, EAB name):
  ``pk = "<table>.<column>#<value>"`` -> ``ref``, written in the same transaction as
  the row, so two registrations of one key cannot both win;
* a nonce: ``pk = "nonce#<value>"`` with ``exp``; taking it is a delete that returns
  the old item, so it succeeds once. ``exp`` doubles as the table's TTL attribute.

Expired orders and authorizations are not deleted here (``purge`` only applies to
SQLite); a TTL on ``ttl`` would need the infrastructure's table definition.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from issuance.acme.state import Write
from issuance.acme.store import COLUMNS, KEYS, TABLES, stamp
from pki.store.base import StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

UNIQUE = {("acme_accounts", "thumbprint"), ("acme_eab", "name")}
LISTED = {("acme_orders", "account_id"): "lk1", ("acme_orders", "replaces"): "lk2"}
INDEXES = {"lk1": "acme-lk1", "lk2": "acme-lk2"}
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
_CAS_ATTEMPTS = 5
_TRANSACTION_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems


class DynamoAcmeStore:
    def __init__(self, client: DynamoDBClient, table: str, *, owns_client: bool = False):
        self._client = client
        self._table = table
        self._owns = owns_client

    @classmethod
    def from_environment(cls, table: str) -> DynamoAcmeStore:
        if not table:
            raise ValueError("[acme] state dynamodb:// needs a table name: dynamodb://TABLE")
        try:
            client: DynamoDBClient = boto3.session.Session().client("dynamodb", config=_CONFIG)
        except NoRegionError as exc:
            raise StoreUnavailableError(f"DynamoDB table {table}: set AWS_REGION") from exc
        return cls(client, table, owns_client=True)

    def ensure_table(self) -> None:
        """Create the table when missing (development and tests; production tables
        belong to the infrastructure code)."""
        try:
            self._client.describe_table(TableName=self._table)
            return
        except self._client.exceptions.ResourceNotFoundException:
            pass
        self._client.create_table(
            TableName=self._table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "lk1", "AttributeType": "S"},
                {"AttributeName": "lk2", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": attribute, "KeyType": "HASH"},
                        {"AttributeName": "seq", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for attribute, index in INDEXES.items()
            ],
        )
        self._client.get_waiter("table_exists").wait(TableName=self._table)

    # -- resources ------------------------------------------------------------------------
    def insert(self, table: str, row: dict[str, Any]) -> bool:
        _check(table)
        key = str(row[KEYS.get(table, "id")])
        item = _item(table, key, row, version=1)
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        for column in (c for t, c in UNIQUE if t == table):
            writes.append(self._pointer_put(table, column, str(row[column]), key))
        return self._transact(writes)

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        _check(table)
        with self._reaching():
            found = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": f"{table}#{key}"}}, ConsistentRead=True
            ).get("Item")
        return _row(found) if found else None

    def find(self, table: str, column: str, value: str) -> dict[str, Any] | None:
        _check(table)
        if (table, column) in UNIQUE:
            with self._reaching():
                pointer = self._client.get_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"{table}.{column}#{value}"}},
                    ConsistentRead=True,
                ).get("Item")
            return self.get(table, pointer["ref"]["S"]) if pointer else None
        if column == KEYS.get(table, "id"):
            return self.get(table, value)
        found = self.select(table, column, value)
        return found[0] if found else None

    def select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        _check(table)
        attribute = LISTED.get((table, column))
        if attribute is None:
            return [row for row in self.all(table) if str(row.get(column)) == value]
        rows = []
        for item in self._pages(
            "query",
            IndexName=INDEXES[attribute],
            KeyConditionExpression=f"{attribute} = :v",
            ExpressionAttributeValues={":v": {"S": f"{table}#{value}"}},
        ):
            fresh = self.get(table, item["pk"]["S"].split("#", 1)[1])  # GSIs lag: re-read
            if fresh is not None and str(fresh.get(column)) == value:
                rows.append(fresh)
        return rows

    def all(self, table: str) -> list[dict[str, Any]]:
        _check(table)
        items = list(
            self._pages(
                "scan",
                FilterExpression="t = :t",
                ExpressionAttributeValues={":t": {"S": table}},
            )
        )
        items.sort(key=lambda item: int(item["seq"]["N"]))
        return [_row(item) for item in items]

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        when_status: tuple[str, ...] | None = None,
    ) -> bool:
        """Read, merge, write back on the version read; a concurrent writer makes the
        write fail and it is tried again on the fresh row (status checked again)."""
        _check(table)
        for _attempt in range(_CAS_ATTEMPTS):
            with self._reaching():
                found = self._client.get_item(
                    TableName=self._table, Key={"pk": {"S": f"{table}#{key}"}}, ConsistentRead=True
                ).get("Item")
            if found is None:
                return False
            row = _row(found)
            if when_status and row.get("status") not in when_status:
                return False
            version = int(found["version"]["N"])
            merged = {**row, **json.loads(json.dumps(_plain(changes)))}
            item = _item(table, key, merged, version=version + 1, seq=found["seq"]["N"])
            writes: list[TransactWriteItemTypeDef] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": {"N": str(version)}},
                    }
                }
            ]
            for column in (c for t, c in UNIQUE if t == table and c in changes):
                old, new = str(row[column]), str(changes[column])
                if old != new:
                    writes.append(self._pointer_put(table, column, new, key))
                    writes.append(
                        {
                            "Delete": {
                                "TableName": self._table,
                                "Key": {"pk": {"S": f"{table}.{column}#{old}"}},
                            }
                        }
                    )
            if self._transact(writes):
                return True
            if len(writes) > 1:
                return False  # the new unique value is taken (or a racing change): refused
        raise StoreUnavailableError(f"DynamoDB table {self._table}: {key} keeps changing")

    def update_together(self, writes: Sequence[Write]) -> bool:
        """One TransactWriteItems: every row is read and its status checked; a changed
        row is put back on the version read, a condition-only row is a ConditionCheck on
        it. A version moved meanwhile: read again and retry, as ``update`` does."""
        if len(writes) > _TRANSACTION_ITEMS:
            raise ValueError(
                f"{len(writes)} rows in one DynamoDB transaction; at most {_TRANSACTION_ITEMS}"
            )
        for write in writes:
            _check(write.table)
            if any((write.table, column) in UNIQUE for column in write.changes):
                raise ValueError("update_together does not move unique lookups; use update")
        for _attempt in range(_CAS_ATTEMPTS):
            items: list[TransactWriteItemTypeDef] = []
            for write in writes:
                item = self._together_item(write)
                if item is None:
                    return False
                items.append(item)
            if self._transact(items, transaction=True):
                return True
        raise StoreUnavailableError(f"DynamoDB table {self._table}: rows keep changing")

    def _together_item(self, write: Write) -> TransactWriteItemTypeDef | None:
        """The transaction item for ``write``; None when its status does not match now
        (read first, so a refused condition is told apart from a version that moved)."""
        key = {"pk": {"S": f"{write.table}#{write.key}"}}
        with self._reaching():
            found = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get(
                "Item"
            )
        if found is None:
            return None
        row = _row(found)
        if row.get("status") not in write.when_status:
            return None
        if not write.changes:
            return {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": key,
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": found["version"]["N"]}},
                }
            }
        version = int(found["version"]["N"])
        merged = {**row, **json.loads(json.dumps(_plain(dict(write.changes))))}
        return {
            "Put": {
                "TableName": self._table,
                "Item": _item(
                    write.table, write.key, merged, version=version + 1, seq=found["seq"]["N"]
                ),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        }

    # -- nonces ---------------------------------------------------------------------------
    def add_nonce(self, value: str, expires_at: datetime) -> None:
        seconds = str(int(expires_at.timestamp()) + 1)
        with self._reaching():
            self._client.put_item(
                TableName=self._table,
                Item={"pk": {"S": f"nonce#{value}"}, "exp": {"N": seconds}},
            )

    def take_nonce(self, value: str, now: datetime) -> bool:
        with self._reaching():
            old = self._client.delete_item(
                TableName=self._table, Key={"pk": {"S": f"nonce#{value}"}}, ReturnValues="ALL_OLD"
            ).get("Attributes")
        return old is not None and int(old["exp"]["N"]) > now.timestamp()

    def purge(self, now: datetime, *, keep_orders_until: datetime) -> None:
        """Nothing to do here: the table's TTL on ``exp`` removes expired nonces."""

    def close(self) -> None:
        if self._owns:
            self._client.close()

    # -- helpers --------------------------------------------------------------------------
    def _pointer_put(
        self, table: str, column: str, value: str, key: str
    ) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": f"{table}.{column}#{value}"}, "ref": {"S": key}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(
        self, writes: list[TransactWriteItemTypeDef], *, transaction: bool = False
    ) -> bool:
        """True when written; False when a condition failed (key taken, version moved)."""
        try:
            with self._reaching(conditions_ok=True):
                if len(writes) == 1 and not transaction:
                    put = writes[0]["Put"]
                    self._client.put_item(**put)
                else:
                    self._client.transact_write_items(TransactItems=writes)
        except _ConditionFailed:
            return False
        return True

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            with self._reaching():
                call = getattr(self._client, operation)
                page = call(
                    TableName=self._table,
                    **request,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _reaching(self, *, conditions_ok: bool = False) -> contextlib.AbstractContextManager[None]:
        return _reaching(self._table, conditions_ok=conditions_ok)


class _ConditionFailed(Exception):
    pass


@contextlib.contextmanager
def _reaching(table: str, *, conditions_ok: bool = False) -> Iterator[None]:
    """AWS failures as ``StoreUnavailableError`` (the ACME app answers 503
    serverInternal); a failed condition as ``_ConditionFailed`` where one is expected;
    a request this code got wrong (ValidationException) surfaces as it is."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if conditions_ok and code in (
            "ConditionalCheckFailedException",
            "TransactionCanceledException",
        ):
            raise _ConditionFailed from exc
        if code in ("ValidationException", "SerializationException"):
            raise
        raise StoreUnavailableError(f"DynamoDB table {table}: {code}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailableError(f"DynamoDB table {table}: {exc}") from exc


def _check(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"not an ACME table: {table}")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: stamp(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _item(
    table: str, key: str, row: dict[str, Any], *, version: int, seq: str | None = None
) -> dict[str, AttributeValueTypeDef]:
    plain = _plain(row)
    item: dict[str, AttributeValueTypeDef] = {
        "pk": {"S": f"{table}#{key}"},
        "t": {"S": table},
        "doc": {"S": json.dumps(plain)},
        "version": {"N": str(version)},
        "seq": {"N": seq or str(time.time_ns())},
    }
    if plain.get("status") is not None:
        item["status"] = {"S": str(plain["status"])}
    for (owner, column), attribute in LISTED.items():
        if owner == table and plain.get(column):
            item[attribute] = {"S": f"{table}#{plain[column]}"}
    return item


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """The row as the SQLite store returns it: times as ISO text, JSON columns as
    lists and objects (kept as JSON inside ``doc``)."""
    row: dict[str, Any] = json.loads(item["doc"]["S"])
    for column in COLUMNS[item["t"]["S"]]:
        row.setdefault(column, None)
    return row
