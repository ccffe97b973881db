"""DynamoDB backend: one table shared by every responder and issuer process.

Table layout (a single table, so one IAM grant and one backup cover the store)::

    partition key  issuer_key_sha1 (S)    sort key  serial (S)

    certificates   <issuer sha1 hex> / <serial hex>
                   subject, profile, key_algorithm, requester, ca_backend, status (S)
                   sans (L of S), not_before, not_after, issued_at, revoked_at (S, ISO-8601 UTC)
                   revocation_reason (N), revoked_issuer (S, only while revoked)
    change log     "#changes" / <sequence, zero-padded to 20 digits>
                   sequence (N), change_issuer (S), change_serial (S), logged_at (N, epoch s)
    counters       "#meta" / "change-seq"   seq (N)
                   "#crl" / <issuer sha1 hex>   crl_number (N)

    GSI by-serial          partition serial                          projection ALL
    GSI revoked-by-issuer  partition revoked_issuer, sort serial     projection ALL

Partitions starting with ``#`` are the store's own bookkeeping; issuer keys are hex,
so they can never collide. Because the table's sort key is named ``serial``, the
bookkeeping items also land in ``by-serial``; ``find_serial`` filters them out.

``revoked_issuer`` exists only on revoked certificates, which keeps
``revoked-by-issuer`` sparse: building a CRL reads the revoked entries of one
issuer and nothing else. Both indexes are eventually consistent (DynamoDB offers
nothing else on a GSI), so ``find_serial`` and ``revoked`` can trail a write by
a moment; ``get`` reads the table itself, strongly consistent, as the protocol asks.

Change sequence numbers come from an atomic counter, then the write and its
change entry commit in one transaction. Two writers can therefore commit out of
order (5 after 6), and a reader that already moved its cursor to 6 would never
see 5. ``changes_since`` guards against that by stopping at a gap until the entry
after it is ``settle_s`` old: by then the writer that holds the missing number
has finished or given up (its requests time out well before that). Writers whose
transaction is refused still log their number, so ordinary failures (duplicate
add, revoking twice) leave no gap to wait on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    WaiterError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from pki.reasons import RevocationReason
from pki.store.base import (
    AlreadyRevokedError,
    CertificateExistsError,
    CertificateNotFoundError,
    CertificateRecord,
    CertStatus,
    Change,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

PK = "issuer_key_sha1"
SK = "serial"
SERIAL_INDEX = "by-serial"
REVOKED_INDEX = "revoked-by-issuer"
REVOKED_KEY = "revoked_issuer"

_CHANGES = "#changes"
_META = "#meta"
_CHANGE_COUNTER = "change-seq"
_CRL = "#crl"
_RESERVED_PREFIX = "#"
_SEQUENCE_DIGITS = 20
_CHANGE_BATCH = 10_000

# An OCSP answer has a budget of a few seconds: better ``tryLater`` than a hung client.
# ``total_max_attempts`` counts the first try; botocore's ``max_attempts`` would not.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 3},
)

# Errors that mean this code sent a bad request: hiding them as "try later" would
# turn a bug into an outage nobody can diagnose.
_CALLER_BUGS = frozenset({"ValidationException", "SerializationException"})
_UNREACHABLE = (
    BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    CredentialRetrievalError,
    WaiterError,
)
_CONFLICT_ATTEMPTS = 3


def _stamp(value: datetime) -> AttributeValueTypeDef:
    return {"S": value.astimezone(UTC).isoformat()}


def _text(item: Item, name: str) -> str:
    return item[name]["S"]


def _optional_time(item: Item, name: str) -> datetime | None:
    value = item.get(name)
    return None if value is None else datetime.fromisoformat(value["S"])


def _padded(sequence: int) -> str:
    return f"{sequence:0{_SEQUENCE_DIGITS}d}"


def _record_to_item(record: CertificateRecord) -> Item:
    item: Item = {
        PK: {"S": record.issuer_key_sha1},
        SK: {"S": record.serial},
        "subject": {"S": record.subject},
        "sans": {"L": [{"S": name} for name in record.sans]},
        "not_before": _stamp(record.not_before),
        "not_after": _stamp(record.not_after),
        "profile": {"S": record.profile},
        "key_algorithm": {"S": record.key_algorithm},
        "requester": {"S": record.requester},
        "status": {"S": record.status.value},
        "ca_backend": {"S": record.ca_backend},
    }
    if record.issued_at is not None:
        item["issued_at"] = _stamp(record.issued_at)
    if record.revoked_at is not None:
        item["revoked_at"] = _stamp(record.revoked_at)
    if record.revocation_reason is not None:
        item["revocation_reason"] = {"N": str(int(record.revocation_reason))}
    if record.status is CertStatus.revoked:
        item[REVOKED_KEY] = {"S": record.issuer_key_sha1}
    return item


def _item_to_record(item: Item) -> CertificateRecord:
    reason = item.get("revocation_reason")
    return CertificateRecord(
        issuer_key_sha1=_text(item, PK),
        serial=_text(item, SK),
        subject=_text(item, "subject"),
        sans=tuple(entry["S"] for entry in item["sans"]["L"]),
        not_before=datetime.fromisoformat(_text(item, "not_before")),
        not_after=datetime.fromisoformat(_text(item, "not_after")),
        profile=_text(item, "profile"),
        key_algorithm=_text(item, "key_algorithm"),
        requester=_text(item, "requester"),
        issued_at=_optional_time(item, "issued_at"),
        status=CertStatus(_text(item, "status")),
        revoked_at=_optional_time(item, "revoked_at"),
        revocation_reason=None if reason is None else RevocationReason(int(reason["N"])),
        ca_backend=_text(item, "ca_backend"),
    )


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class DynamoDbStore:
    """A ``CertificateStore`` on one DynamoDB table (layout in the module docstring)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        settle_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        owns_client: bool = False,
    ) -> None:
        """``settle_s`` must exceed how long a writer can take (all its retries included).

        An injected client stays the caller's to close unless ``owns_client``.
        """
        self._client = client
        self._table = table
        self._settle_s = settle_s
        self._clock = clock
        self._owns_client = owns_client

    @classmethod
    def from_environment(cls, table: str) -> DynamoDbStore:
        """Endpoint, region and credentials as every AWS SDK reads them.

        The timeouts are ours, not the SDK's minute-long defaults: see ``_CLIENT_CONFIG``.
        """
        try:
            client: DynamoDBClient = boto3.session.Session().client(
                "dynamodb", config=_CLIENT_CONFIG
            )
        except NoRegionError as exc:
            raise StoreUnavailableError(
                f"DynamoDB table {table}: no AWS region configured (set AWS_REGION)"
            ) from exc
        return cls(client, table, owns_client=True)

    # -- setup ---------------------------------------------------------------

    def ensure_table(self, *, wait_delay_s: int = 2, wait_attempts: int = 60) -> None:
        """Create the table if it is missing, for development and tests.

        Production tables belong to the infrastructure code, which is why this is
        never called implicitly; an existing table is only checked for the indexes.
        """
        with self._reaching("ensure table"):
            try:
                description = self._client.describe_table(TableName=self._table)["Table"]
            except self._client.exceptions.ResourceNotFoundException:
                self._create_table()
            else:
                present = {
                    gsi["IndexName"] for gsi in description.get("GlobalSecondaryIndexes", [])
                }
                missing = {SERIAL_INDEX, REVOKED_INDEX} - present
                if missing:
                    raise StoreUnavailableError(
                        f"DynamoDB table {self._table} lacks index(es) {sorted(missing)}"
                    )
            self._client.get_waiter("table_exists").wait(
                TableName=self._table,
                WaiterConfig={"Delay": wait_delay_s, "MaxAttempts": wait_attempts},
            )

    def _create_table(self) -> None:
        try:
            self._client.create_table(
                TableName=self._table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": PK, "AttributeType": "S"},
                    {"AttributeName": SK, "AttributeType": "S"},
                    {"AttributeName": REVOKED_KEY, "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": PK, "KeyType": "HASH"},
                    {"AttributeName": SK, "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": SERIAL_INDEX,
                        "KeySchema": [{"AttributeName": SK, "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                    {
                        "IndexName": REVOKED_INDEX,
                        "KeySchema": [
                            {"AttributeName": REVOKED_KEY, "KeyType": "HASH"},
                            {"AttributeName": SK, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                ],
            )
        except self._client.exceptions.ResourceInUseException:
            pass  # another process is creating it at the same moment; the waiter covers us

    # -- CertificateStore ----------------------------------------------------

    def add(self, record: CertificateRecord) -> None:
        put_certificate: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": _record_to_item(record),
                "ConditionExpression": "attribute_not_exists(#sk)",
                "ExpressionAttributeNames": {"#sk": SK},
            }
        }
        with self._reaching("add"):
            sequence = self._next_sequence()
            reasons = self._transact(
                [put_certificate, self._change_put(sequence, record.issuer_key_sha1, record.serial)]
            )
            if reasons is not None:
                self._fill_change(sequence, record.issuer_key_sha1, record.serial)
                raise CertificateExistsError(
                    f"certificate {record.serial} of issuer {record.issuer_key_sha1} exists"
                )

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None:
        with self._reaching("get"):
            response = self._client.get_item(
                TableName=self._table,
                Key={PK: {"S": issuer_key_sha1}, SK: {"S": serial}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return None if item is None else _item_to_record(item)

    def find_serial(self, serial: str) -> Sequence[CertificateRecord]:
        with self._reaching("find serial"):
            items = list(
                self._query(
                    {
                        "TableName": self._table,
                        "IndexName": SERIAL_INDEX,
                        "KeyConditionExpression": "#sk = :serial",
                        "FilterExpression": "NOT begins_with(#pk, :reserved)",
                        "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
                        "ExpressionAttributeValues": {
                            ":serial": {"S": serial},
                            ":reserved": {"S": _RESERVED_PREFIX},
                        },
                    }
                )
            )
        return [_item_to_record(item) for item in items]

    def revoke(
        self, issuer_key_sha1: str, serial: str, when: datetime, reason: RevocationReason
    ) -> CertificateRecord:
        mark_revoked: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": {PK: {"S": issuer_key_sha1}, SK: {"S": serial}},
                "UpdateExpression": (
                    "SET #status = :revoked, revoked_at = :when,"
                    " revocation_reason = :reason, #revoked_key = :issuer"
                ),
                "ConditionExpression": "attribute_exists(#sk) AND #status = :good",
                "ExpressionAttributeNames": {
                    "#sk": SK,
                    "#status": "status",
                    "#revoked_key": REVOKED_KEY,
                },
                "ExpressionAttributeValues": {
                    ":revoked": {"S": CertStatus.revoked.value},
                    ":good": {"S": CertStatus.good.value},
                    ":when": _stamp(when),
                    ":reason": {"N": str(int(reason))},
                    ":issuer": {"S": issuer_key_sha1},
                },
                # Tells "missing" from "already revoked" without a second read.
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        with self._reaching("revoke"):
            sequence = self._next_sequence()
            reasons = self._transact(
                [mark_revoked, self._change_put(sequence, issuer_key_sha1, serial)]
            )
            if reasons is not None:
                self._fill_change(sequence, issuer_key_sha1, serial)
                certificate_reason = reasons[0] if reasons else {}
                exists = "Item" in certificate_reason or (
                    # Not every DynamoDB look-alike returns the old item: ask.
                    self.get(issuer_key_sha1, serial) is not None
                )
                if exists:
                    raise AlreadyRevokedError(f"certificate {serial} is already revoked")
                raise CertificateNotFoundError(f"no certificate with serial {serial}")
        record = self.get(issuer_key_sha1, serial)
        if record is None:  # deleted behind our back between the two calls
            raise CertificateNotFoundError(f"no certificate with serial {serial}")
        return record

    def revoked(self, issuer_key_sha1: str) -> Iterator[CertificateRecord]:
        # Read eagerly, like the SQLite store: an outage surfaces here, where the
        # caller handles store errors, not halfway through signing a CRL.
        with self._reaching("list revoked"):
            items = list(
                self._query(
                    {
                        "TableName": self._table,
                        "IndexName": REVOKED_INDEX,
                        "KeyConditionExpression": "#revoked_key = :issuer",
                        "ExpressionAttributeNames": {"#revoked_key": REVOKED_KEY},
                        "ExpressionAttributeValues": {":issuer": {"S": issuer_key_sha1}},
                    }
                )
            )
        return (_item_to_record(item) for item in items)

    def changes_since(self, sequence: int) -> Sequence[Change]:
        changes: list[Change] = []
        expected = sequence + 1
        now = self._clock()
        with self._reaching("read changes"):
            for item in self._query(
                {
                    "TableName": self._table,
                    "KeyConditionExpression": "#pk = :changes AND #sk > :after",
                    "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
                    "ExpressionAttributeValues": {
                        ":changes": {"S": _CHANGES},
                        ":after": {"S": _padded(sequence)},
                    },
                    "ScanIndexForward": True,
                    "ConsistentRead": True,
                    "Limit": _CHANGE_BATCH,
                }
            ):
                number = int(item["sequence"]["N"])
                if number != expected and now - float(item["logged_at"]["N"]) < self._settle_s:
                    break  # a writer may still hold a smaller number: see the module docstring
                changes.append(
                    Change(number, _text(item, "change_issuer"), _text(item, "change_serial"))
                )
                expected = number + 1
                if len(changes) >= _CHANGE_BATCH:
                    break
        return changes

    def next_crl_number(self, issuer_key_sha1: str) -> int:
        with self._reaching("next CRL number"):
            return self._increment(_CRL, issuer_key_sha1, "crl_number")

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- helpers -------------------------------------------------------------

    @contextlib.contextmanager
    def _reaching(self, action: str) -> Iterator[None]:
        """Turn "DynamoDB did not answer" into the one error the responders handle."""
        try:
            yield
        except ClientError as exc:
            code = _error_code(exc)
            if code in _CALLER_BUGS:
                raise
            raise StoreUnavailableError(f"DynamoDB table {self._table}: {action}: {exc}") from exc
        except _UNREACHABLE as exc:
            raise StoreUnavailableError(f"DynamoDB table {self._table}: {action}: {exc}") from exc

    def _query(self, request: QueryInputTypeDef) -> Iterator[Item]:
        while True:
            page = self._client.query(**request)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request = {**request, "ExclusiveStartKey": last}

    def _increment(self, partition: str, key: str, attribute: str) -> int:
        response = self._client.update_item(
            TableName=self._table,
            Key={PK: {"S": partition}, SK: {"S": key}},
            UpdateExpression="ADD #counter :one",
            ExpressionAttributeNames={"#counter": attribute},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"][attribute]["N"])

    def _next_sequence(self) -> int:
        return self._increment(_META, _CHANGE_COUNTER, "seq")

    def _change_item(self, sequence: int, issuer_key_sha1: str, serial: str) -> Item:
        return {
            PK: {"S": _CHANGES},
            SK: {"S": _padded(sequence)},
            "sequence": {"N": str(sequence)},
            "change_issuer": {"S": issuer_key_sha1},
            "change_serial": {"S": serial},
            "logged_at": {"N": f"{self._clock():.3f}"},
        }

    def _change_put(
        self, sequence: int, issuer_key_sha1: str, serial: str
    ) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._table,
                "Item": self._change_item(sequence, issuer_key_sha1, serial),
            }
        }

    def _fill_change(self, sequence: int, issuer_key_sha1: str, serial: str) -> None:
        """Log a refused write's number anyway, so readers need not wait out the gap.

        The entry only makes readers drop a cache entry for nothing. If this put
        fails too, readers fall back to waiting ``settle_s``; the caller's real
        error matters more than this one.
        """
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.put_item(
                TableName=self._table, Item=self._change_item(sequence, issuer_key_sha1, serial)
            )

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> list[dict[str, Any]] | None:
        """Run a transaction whose first item is the certificate write.

        Returns ``None`` on success, or the cancellation reasons when that first
        item's condition failed: the caller decides which named error that is.
        Conflicts with a concurrent transaction on the same items are retried:
        they say nothing about the condition.
        """
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _error_code(exc) != "TransactionCanceledException":
                    raise
                reasons: list[dict[str, Any]] = [
                    dict(reason) for reason in exc.response.get("CancellationReasons", [])
                ]
                codes = [str(reason.get("Code", "None")) for reason in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return reasons
                if "ValidationError" in codes:
                    raise
                if "TransactionConflict" in codes and attempt < _CONFLICT_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                    continue
                self._unavailable(f"transaction cancelled: {codes}", exc)
            else:
                return None
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _unavailable(self, why: str, exc: Exception) -> NoReturn:
        raise StoreUnavailableError(f"DynamoDB table {self._table}: {why}") from exc
