"""The ``CertificateStore`` contract, held to by every backend alike."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pki.reasons import RevocationReason
from pki.store.base import (
    AlreadyRevokedError,
    CertificateExistsError,
    CertificateNotFoundError,
    CertificateRecord,
    CertificateStore,
    CertStatus,
    StoreUnavailableError,
)
from pki.store.dynamodb import DynamoDbStore
from pki.store.factory import open_store

ISSUER_A = "a" * 40
ISSUER_B = "b" * 40
NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_record(issuer: str = ISSUER_A, serial: str = "01", **changes: Any) -> CertificateRecord:
    record = CertificateRecord(
        issuer_key_sha1=issuer,
        serial=serial,
        subject=f"CN=host-{serial}.example",
        sans=(f"host-{serial}.example", "192.0.2.7"),
        not_before=NOON,
        not_after=NOON + timedelta(days=47),
        profile="tls-server",
        key_algorithm="ec-p256",
        requester="alice",
        issued_at=NOON - timedelta(minutes=1),
    )
    return replace(record, **changes)


def test_add_then_get_round_trips(store: CertificateStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    record = make_record(
        not_before=datetime(2025, 3, 1, 14, 0, 0, 123456, tzinfo=plus_two),
        sans=("a.example", "b.example", "2001:db8::1"),
        profile="tls-client",
        ca_backend="external",
    )
    store.add(record)

    got = store.get(ISSUER_A, "01")

    assert got == record
    assert got is not None
    assert got.sans == ("a.example", "b.example", "2001:db8::1")
    assert got.not_before == datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert got.not_before.utcoffset() == timedelta(0)
    assert got.profile == "tls-client"
    assert got.status is CertStatus.good


def test_round_trips_empty_sans_and_absent_optionals(store: CertificateStore) -> None:
    record = make_record(sans=(), key_algorithm="", requester="", issued_at=None)
    store.add(record)

    assert store.get(ISSUER_A, "01") == record


def test_adding_a_taken_key_fails(store: CertificateStore) -> None:
    store.add(make_record())

    with pytest.raises(CertificateExistsError):
        store.add(make_record(subject="CN=other"))
    assert store.get(ISSUER_A, "01") == make_record()


def test_get_of_a_missing_certificate_is_none(store: CertificateStore) -> None:
    store.add(make_record(serial="01"))

    assert store.get(ISSUER_A, "02") is None
    assert store.get(ISSUER_B, "01") is None


def test_find_serial_spans_issuers(store: CertificateStore) -> None:
    in_a = make_record(ISSUER_A, "7f")
    in_b = make_record(ISSUER_B, "7f", subject="CN=other issuer")
    store.add(in_a)
    store.add(in_b)
    store.add(make_record(ISSUER_A, "80"))

    found = store.find_serial("7f")

    assert sorted(found, key=lambda r: r.issuer_key_sha1) == [in_a, in_b]
    assert store.find_serial("81") == []


def test_find_serial_ignores_the_store_bookkeeping(store: CertificateStore) -> None:
    store.add(make_record())
    store.next_crl_number(ISSUER_A)

    assert store.find_serial(ISSUER_A) == []
    assert store.find_serial("change-seq") == []
    assert store.find_serial(f"{1:020d}") == []


def test_revoke_marks_and_returns_the_record(store: CertificateStore) -> None:
    store.add(make_record())
    when = NOON + timedelta(days=3)

    revoked = store.revoke(ISSUER_A, "01", when, RevocationReason.keyCompromise)

    expected = make_record().revoked(when, RevocationReason.keyCompromise)
    assert revoked == expected
    assert revoked.status is CertStatus.revoked
    assert revoked.revoked_at == when
    assert revoked.revocation_reason is RevocationReason.keyCompromise
    assert store.get(ISSUER_A, "01") == expected


def test_revoking_twice_fails(store: CertificateStore) -> None:
    store.add(make_record())
    store.revoke(ISSUER_A, "01", NOON, RevocationReason.superseded)

    with pytest.raises(AlreadyRevokedError):
        store.revoke(ISSUER_A, "01", NOON + timedelta(hours=1), RevocationReason.keyCompromise)
    got = store.get(ISSUER_A, "01")
    assert got is not None
    assert got.revoked_at == NOON
    assert got.revocation_reason is RevocationReason.superseded


def test_revoking_a_missing_certificate_fails(store: CertificateStore) -> None:
    store.add(make_record(ISSUER_B, "01"))

    with pytest.raises(CertificateNotFoundError):
        store.revoke(ISSUER_A, "01", NOON, RevocationReason.unspecified)
    assert store.get(ISSUER_A, "01") is None


def test_revoked_lists_only_that_issuers_revoked_certificates(store: CertificateStore) -> None:
    for issuer in (ISSUER_A, ISSUER_B):
        for serial in ("01", "02", "03"):
            store.add(make_record(issuer, serial))
    store.revoke(ISSUER_A, "03", NOON, RevocationReason.keyCompromise)
    store.revoke(ISSUER_A, "01", NOON, RevocationReason.cessationOfOperation)
    store.revoke(ISSUER_B, "02", NOON, RevocationReason.superseded)

    in_a = {(r.serial, r.revocation_reason) for r in store.revoked(ISSUER_A)}
    in_b = {(r.serial, r.revocation_reason) for r in store.revoked(ISSUER_B)}

    assert in_a == {
        ("01", RevocationReason.cessationOfOperation),
        ("03", RevocationReason.keyCompromise),
    }
    assert in_b == {("02", RevocationReason.superseded)}
    assert list(store.revoked("c" * 40)) == []


def test_a_record_added_as_revoked_is_listed(store: CertificateStore) -> None:
    record = make_record().revoked(NOON, RevocationReason.cACompromise)
    store.add(record)

    assert list(store.revoked(ISSUER_A)) == [record]


def test_changes_come_in_order_and_resume_after_the_cursor(store: CertificateStore) -> None:
    start = store.changes_since(0)
    cursor = start[-1].sequence if start else 0

    store.add(make_record(ISSUER_A, "01"))
    store.add(make_record(ISSUER_B, "02"))
    store.revoke(ISSUER_A, "01", NOON, RevocationReason.keyCompromise)
    changes = store.changes_since(cursor)

    assert [(c.issuer_key_sha1, c.serial) for c in changes] == [
        (ISSUER_A, "01"),
        (ISSUER_B, "02"),
        (ISSUER_A, "01"),
    ]
    sequences = [c.sequence for c in changes]
    assert sequences == sorted(set(sequences))
    assert all(s > cursor for s in sequences)
    assert store.changes_since(sequences[-1]) == []
    assert store.changes_since(sequences[0]) == changes[1:]

    store.add(make_record(ISSUER_A, "03"))
    later = store.changes_since(sequences[-1])
    assert [(c.issuer_key_sha1, c.serial) for c in later] == [(ISSUER_A, "03")]
    assert later[0].sequence > sequences[-1]


def test_crl_numbers_increase_per_issuer(store: CertificateStore) -> None:
    a = [store.next_crl_number(ISSUER_A) for _ in range(3)]
    b = [store.next_crl_number(ISSUER_B) for _ in range(2)]
    a.append(store.next_crl_number(ISSUER_A))

    assert a == sorted(set(a))
    assert b == sorted(set(b))
    assert a[0] >= 1
    assert b[0] >= 1
    assert b[0] <= a[1]  # issuer B did not consume issuer A's numbers


def test_dynamodb_waits_out_a_gap_a_writer_may_still_fill(
    dynamo_store: DynamoDbStore, table_name: str
) -> None:
    client = boto3.session.Session().client("dynamodb")
    now = [0.0]
    patient = DynamoDbStore(client, table_name, settle_s=30, clock=lambda: now[0])
    try:
        dynamo_store.add(make_record(serial="01"))
        first = dynamo_store.changes_since(0)
        # A writer that took a number and has not committed yet.
        client.update_item(
            TableName=table_name,
            Key={"issuer_key_sha1": {"S": "#meta"}, "serial": {"S": "change-seq"}},
            UpdateExpression="ADD seq :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        dynamo_store.add(make_record(serial="02"))

        now[0] = time.time()
        assert patient.changes_since(first[-1].sequence) == []
        now[0] += 31
        late = patient.changes_since(first[-1].sequence)
        assert [c.serial for c in late] == ["02"]
        assert late[0].sequence == first[-1].sequence + 2
    finally:
        client.close()


def test_dynamodb_refused_writes_leave_no_gap(dynamo_store: DynamoDbStore) -> None:
    dynamo_store.add(make_record(serial="01"))
    with pytest.raises(CertificateExistsError):
        dynamo_store.add(make_record(serial="01"))
    with pytest.raises(CertificateNotFoundError):
        dynamo_store.revoke(ISSUER_A, "02", NOON, RevocationReason.unspecified)
    dynamo_store.add(make_record(serial="03"))

    changes = dynamo_store.changes_since(0)

    assert [c.sequence for c in changes] == [1, 2, 3, 4]
    assert changes[-1].serial == "03"


def test_unreachable_dynamodb_is_unavailable() -> None:
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1}),
    )
    store = DynamoDbStore(client, "nowhere")
    try:
        with pytest.raises(StoreUnavailableError):
            store.get(ISSUER_A, "01")
        with pytest.raises(StoreUnavailableError):
            store.add(make_record())
    finally:
        client.close()


def test_missing_table_is_unavailable(table_name: str) -> None:
    store = DynamoDbStore.from_environment(table_name)
    try:
        with pytest.raises(StoreUnavailableError):
            store.get(ISSUER_A, "01")
    finally:
        store.close()


def test_open_store_reaches_dynamodb_through_the_environment(table_name: str) -> None:
    store = open_store(f"dynamodb://{table_name}")
    try:
        assert isinstance(store, DynamoDbStore)
        store.ensure_table(wait_delay_s=1)
        store.add(make_record())
        assert store.get(ISSUER_A, "01") == make_record()
    finally:
        store.close()
