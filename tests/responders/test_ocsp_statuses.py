"""The status lookup alone, over an in-memory store: order, memo, outage."""

from __future__ import annotations

import logging

import pytest

from pki.reasons import RevocationReason
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.response import ResponseStatus, SingleStatus, unsuccessful
from responders.ocsp.statuses import StatusSource
from tests.conftest import PkiHome
from tests.responders.ocsp_doubles import (
    HOUR,
    NOW,
    AnsweredRecorder,
    MemoryStore,
    admitted,
    issuing_key,
    record,
    serial_request,
)


# -- the status lookup ---------------------------------------------------------------
def test_statuses_come_from_the_store_in_request_order(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    key = issuing_key(authorities)
    store = MemoryStore(record(key, "07"), record(key, "08", revoked=True))
    inner = AnsweredRecorder()
    request = admitted(authorities, serial_request(pki_home, 8, 9, 7))
    StatusSource(inner, store, reuse=HOUR, memo_entries=10).response(request, NOW)
    [answered] = inner.requests
    assert answered.admitted is request
    assert [a.status for a in answered.answers] == [
        SingleStatus.revoked,
        SingleStatus.unknown,
        SingleStatus.good,
    ]
    assert [a.cert_id for a in answered.answers] == list(request.request.cert_ids)
    revoked = answered.answers[0]
    assert (revoked.revoked_at, revoked.reason) == (NOW - HOUR, RevocationReason.keyCompromise)


def test_statuses_are_remembered_until_forgotten(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    key = issuing_key(authorities)
    store = MemoryStore(record(key, "07"))
    inner = AnsweredRecorder()
    source = StatusSource(inner, store, reuse=HOUR, memo_entries=10)
    request = admitted(authorities, serial_request(pki_home, 7))
    source.response(request, NOW)
    store.records[(key, "07")] = record(key, "07", revoked=True)
    source.response(request, NOW)
    assert store.reads == 1
    source.forget(key, "07")
    source.response(request, NOW)
    assert store.reads == 2
    assert [r.answers[0].status for r in inner.requests] == [
        SingleStatus.good,
        SingleStatus.good,  # remembered, though the store changed
        SingleStatus.revoked,
    ]


def test_status_memo_is_bounded(pki_home: PkiHome, authorities: AuthorityIndex) -> None:
    store = MemoryStore()
    source = StatusSource(AnsweredRecorder(), store, reuse=HOUR, memo_entries=2)
    for serial in (1, 2, 3, 3, 1):
        source.response(admitted(authorities, serial_request(pki_home, serial)), NOW)
    assert store.reads == 4


def test_store_outage_answers_try_later(
    pki_home: PkiHome, authorities: AuthorityIndex, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    store.down = True
    inner = AnsweredRecorder()
    request = admitted(authorities, serial_request(pki_home, 7, 8, nonce=b"\x04\x02ab"))
    with caplog.at_level(logging.WARNING):
        result = StatusSource(inner, store, reuse=HOUR, memo_entries=10).response(request, NOW)
    assert result.status is ResponseStatus.tryLater
    assert result.body == unsuccessful(ResponseStatus.tryLater)
    assert result.error == "store unavailable: StoreUnavailableError"
    assert result.nonce and not result.cacheable
    assert [(c["serial"], c["issuer_key_sha1"], c["cert_status"]) for c in result.cert_ids] == [
        ("07", issuing_key(authorities), None),
        ("08", issuing_key(authorities), None),
    ]
    assert "certificate store unavailable: no route to the table" in caplog.text
    assert inner.requests == []
