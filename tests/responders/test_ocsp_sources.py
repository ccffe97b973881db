"""Each OCSP source alone, in front of an in-memory inner source or store.

The responder is a chain of wrappers (responders/ocsp/source.py); these tests pin what
each one adds, so a change to one is caught here rather than only end to end.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.x509 import ocsp

import responders.ocsp.filtering as filtering
from pki.ocsp_request import OcspRequest, parse_request
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import CertificateRecord, CertStatus, StoreUnavailableError
from responders.ocsp.authority import AuthorityIndex, load_authorities
from responders.ocsp.cache import CachingSource
from responders.ocsp.filtering import FilterSource
from responders.ocsp.response import ResponseStatus, SingleAnswer, SingleStatus, unsuccessful
from responders.ocsp.signing import SigningSource
from responders.ocsp.source import AdmittedRequest, AnsweredRequest, OcspResult
from responders.ocsp.statuses import StatusSource
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import (
    cert_id,
    load,
    multi_request,
    request_der,
    verify_signature,
)

NOW = datetime(2026, 6, 1, 12, 0, 30, 250_000, tzinfo=UTC)
HOUR = timedelta(hours=1)


# -- in-memory collaborators ------------------------------------------------------
class Recorder:
    """An inner source that remembers what it was asked and answers with ``answer``."""

    def __init__(self, answer: Callable[[AdmittedRequest, datetime], OcspResult]) -> None:
        self.requests: list[AdmittedRequest] = []
        self._answer = answer

    def response(self, request: AdmittedRequest, now: datetime) -> OcspResult:
        self.requests.append(request)
        return self._answer(request, now)


class AnsweredRecorder:
    def __init__(self) -> None:
        self.requests: list[AnsweredRequest] = []

    def response(self, request: AnsweredRequest, now: datetime) -> OcspResult:
        self.requests.append(request)
        return signed(request.admitted, now)


def signed(
    request: AdmittedRequest, now: datetime, *, issuer: str | None = None, body: bytes = b""
) -> OcspResult:
    """A successful answer as a signing source would give it, without signing."""
    return OcspResult(
        body or b"signed at " + now.isoformat().encode(),
        ResponseStatus.successful,
        this_update=now,
        next_update=now + HOUR,
        etag=None if request.request.nonce else '"etag"',
        nonce=request.request.nonce is not None,
        issuer_key_sha1=request.issuer_key_sha1 if issuer is None else issuer,
    )


def record(issuer_key_sha1: str, serial: str, *, revoked: bool = False) -> CertificateRecord:
    return CertificateRecord(
        issuer_key_sha1=issuer_key_sha1,
        serial=serial,
        subject="CN=x",
        sans=("x",),
        not_before=NOW - HOUR,
        not_after=NOW + 24 * HOUR,
        profile="server",
        status=CertStatus.revoked if revoked else CertStatus.good,
        revoked_at=NOW - HOUR if revoked else None,
        revocation_reason=RevocationReason.keyCompromise if revoked else None,
    )


class MemoryStore:
    """Just the one call the status lookup makes; counts reads, can be made to fail."""

    def __init__(self, *records: CertificateRecord) -> None:
        self.records = {(r.issuer_key_sha1, r.serial): r for r in records}
        self.reads = 0
        self.down = False

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None:
        self.reads += 1
        if self.down:
            raise StoreUnavailableError("no route to the table")
        return self.records.get((issuer_key_sha1, serial))


# -- requests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def authorities(pki_home: PkiHome) -> AuthorityIndex:
    return load_authorities(pki_home.home.pki)


def serial_request(home: PkiHome, *serials: int, nonce: bytes | None = None) -> bytes:
    """A request for arbitrary serials of the issuing CA (SHA-1 CertIDs)."""
    template = cert_id(load(home.good), load(home.home.pki.issuing_cert)).native
    ids = [asn1_ocsp.CertId({**template, "serial_number": s}) for s in serials]
    return multi_request(ids, nonce)


def admitted(authorities: AuthorityIndex, data: bytes) -> AdmittedRequest:
    """An admitted request made without the filter, so the inner sources are tested alone."""
    request: OcspRequest = parse_request(data)
    hit = authorities.find(request.cert_ids[0])
    assert hit is not None
    return AdmittedRequest(
        request=request,
        authority=hit[0],
        issuer_key_sha1=hit[1],
        cache_key=tuple(c.der for c in request.cert_ids),
        serials=tuple(serial_hex(c.serial_number) for c in request.cert_ids),
    )


def issuing_key(authorities: AuthorityIndex) -> str:
    return authorities.authorities[0].issuer_key_sha1


# -- the filter ----------------------------------------------------------------------
def test_filter_admits_a_served_issuer_and_returns_the_inner_answer(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    data = serial_request(pki_home, 7, 8)
    result = FilterSource(inner, authorities, memo_entries=10).response(data, NOW)
    [request] = inner.requests
    assert request.authority.name == "issuing-ca"
    assert request.issuer_key_sha1 == issuing_key(authorities)
    assert request.serials == ("07", "08")
    assert request.cache_key == tuple(c.der for c in parse_request(data).cert_ids)
    assert result.status is ResponseStatus.successful and result.body.startswith(b"signed")


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"", "empty request"), (b"\x30\x03\x02\x01\x01", "DER is not an OCSPRequest: ValueError")],
)
def test_filter_answers_malformed_request_without_asking_inner(
    authorities: AuthorityIndex, data: bytes, error: str
) -> None:
    inner = Recorder(signed)
    result = FilterSource(inner, authorities, memo_entries=10).response(data, NOW)
    assert result.status is ResponseStatus.malformedRequest
    assert result.body == unsuccessful(ResponseStatus.malformedRequest)
    assert result.error == error
    assert inner.requests == []


def test_filter_refuses_an_issuer_it_does_not_serve(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    template = cert_id(load(pki_home.good), load(pki_home.home.pki.issuing_cert)).native
    stranger = asn1_ocsp.CertId({**template, "issuer_key_hash": b"\x01" * 20})
    result = FilterSource(inner, authorities, memo_entries=10).response(
        multi_request([stranger]), NOW
    )
    assert result.status is ResponseStatus.unauthorized
    assert result.body == unsuccessful(ResponseStatus.unauthorized)
    assert result.error == "issuer not served by this responder"
    assert result.cert_ids[0]["issuer_key_sha1"] is None
    assert result.cert_ids[0]["serial"] == pki_home.good_serial
    assert inner.requests == []


def test_filter_refuses_hash_algorithms_it_does_not_support(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    good, issuer = load(pki_home.good), load(pki_home.home.pki.issuing_cert)
    inner = Recorder(signed)
    md5 = FilterSource(inner, authorities, memo_entries=10).response(
        multi_request([cert_id(good, issuer, "md5")]), NOW
    )
    assert md5.status is ResponseStatus.unauthorized
    # The index knows the issuer by SHA-1, but this filter answers SHA-256 CertIDs only.
    only_256 = FilterSource(inner, authorities, memo_entries=10, hash_algorithms={"sha256"})
    assert only_256.response(request_der(good, issuer), NOW).status is ResponseStatus.unauthorized
    assert inner.requests == []


def test_filter_refuses_cert_ids_of_two_issuers_in_one_request(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    layout = pki_home.home.pki
    issuing, root = load(layout.issuing_cert), load(layout.root_cert)
    data = multi_request([cert_id(load(pki_home.good), issuing), cert_id(issuing, root)])
    inner = Recorder(signed)
    result = FilterSource(inner, authorities, memo_entries=10).response(data, NOW)
    assert result.status is ResponseStatus.unauthorized
    # Both issuers are served, and the log says which each CertID named.
    assert [c["issuer_key_sha1"] for c in result.cert_ids] == [
        a.issuer_key_sha1 for a in authorities.authorities
    ]
    assert inner.requests == []


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every request the filter parses."""
    seen: list[bytes] = []

    def counting(data: bytes) -> OcspRequest:
        seen.append(data)
        return parse_request(data)

    monkeypatch.setattr(filtering, "parse_request", counting)
    return seen


def test_filter_parses_repeated_bytes_once(
    pki_home: PkiHome, authorities: AuthorityIndex, parses: list[bytes]
) -> None:
    inner = Recorder(signed)
    source = FilterSource(inner, authorities, memo_entries=10)
    data = serial_request(pki_home, 7)
    for _ in range(3):
        source.response(data, NOW)
        source.response(b"junk", NOW)
    assert parses == [data, b"junk"]  # refusals are remembered too
    assert inner.requests[0] is inner.requests[1] is inner.requests[2]


def test_filter_does_not_remember_nonce_requests(
    pki_home: PkiHome, authorities: AuthorityIndex, parses: list[bytes]
) -> None:
    source = FilterSource(Recorder(signed), authorities, memo_entries=10)
    data = serial_request(pki_home, 7, nonce=b"\x04\x02ab")
    source.response(data, NOW)
    source.response(data, NOW)
    assert parses == [data, data]


def test_filter_memo_is_bounded(
    pki_home: PkiHome, authorities: AuthorityIndex, parses: list[bytes]
) -> None:
    source = FilterSource(Recorder(signed), authorities, memo_entries=2)
    first, second, third = (serial_request(pki_home, n) for n in (1, 2, 3))
    for data in (first, second, third, third, first):
        source.response(data, NOW)
    assert parses == [first, second, third, first]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda r, now: signed(r, now, issuer="0" * 40), "response for another issuer"),
        (lambda r, now: signed(r, now - HOUR), "response past its nextUpdate"),
        (lambda r, now: signed(r, now - 2 * HOUR), "response past its nextUpdate"),
    ],
)
def test_filter_withholds_a_response_that_does_not_fit(
    pki_home: PkiHome,
    authorities: AuthorityIndex,
    answer: Callable[[AdmittedRequest, datetime], OcspResult],
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FilterSource(Recorder(answer), authorities, memo_entries=10)
    with caplog.at_level(logging.ERROR, logger=filtering.__name__):
        result = source.response(serial_request(pki_home, 7), NOW)
    assert result.status is ResponseStatus.internalError
    assert result.body == unsuccessful(ResponseStatus.internalError)
    assert result.error == error
    assert result.cert_ids[0]["issuer_key_sha1"] == issuing_key(authorities)
    assert not result.cacheable
    assert error in caplog.text


def test_filter_passes_unsuccessful_answers_through(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    later = OcspResult(unsuccessful(ResponseStatus.tryLater), ResponseStatus.tryLater)
    source = FilterSource(Recorder(lambda r, now: later), authorities, memo_entries=10)
    assert source.response(serial_request(pki_home, 7), NOW) is later


# -- the response cache ------------------------------------------------------------
def test_cache_serves_until_the_refresh_margin_then_asks_again(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7))
    first = cache.response(request, NOW)
    assert not first.cache_hit
    hit = cache.response(request, NOW + timedelta(minutes=49, seconds=59))
    assert hit.cache_hit and (hit.body, hit.etag) == (first.body, first.etag)
    assert (hit.this_update, hit.next_update) == (first.this_update, first.next_update)
    assert len(inner.requests) == 1
    refreshed = cache.response(request, NOW + timedelta(minutes=50))
    assert not refreshed.cache_hit and refreshed.body != first.body
    assert len(inner.requests) == 2
    assert cache.response(request, NOW + timedelta(minutes=51)).body == refreshed.body


def test_cache_passes_nonce_requests_through_and_keeps_nothing(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7, nonce=b"\x04\x02ab"))
    assert not cache.response(request, NOW).cache_hit
    assert not cache.response(request, NOW).cache_hit
    assert len(inner.requests) == 2 and len(cache) == 0


def test_cache_keeps_only_successful_answers(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    later = OcspResult(unsuccessful(ResponseStatus.tryLater), ResponseStatus.tryLater)
    inner = Recorder(lambda r, now: later)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7))
    assert cache.response(request, NOW) is later
    assert cache.response(request, NOW) is later
    assert len(inner.requests) == 2 and len(cache) == 0


def test_cache_forgets_every_entry_that_mentions_a_certificate(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    alone, pair, other = (
        admitted(authorities, serial_request(pki_home, *serials))
        for serials in ((7,), (7, 8), (9,))
    )
    for request in (alone, pair, other):
        cache.response(request, NOW)
    assert cache.forget(issuing_key(authorities), "07") == 2
    assert cache.forget("f" * 40, "09") == 0  # the same serial under another issuer
    assert not cache.response(alone, NOW).cache_hit
    assert not cache.response(pair, NOW).cache_hit
    assert cache.response(other, NOW).cache_hit


def test_cache_evicts_the_oldest_when_full(pki_home: PkiHome, authorities: AuthorityIndex) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    requests = [admitted(authorities, serial_request(pki_home, n)) for n in range(11)]
    for request in requests:
        cache.response(request, NOW)
    assert len(cache) == 10
    assert cache.response(requests[-1], NOW).cache_hit
    assert not cache.response(requests[0], NOW).cache_hit


def test_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        CachingSource(Recorder(signed), max_entries=0, refresh_margin=timedelta(0))


# -- the status lookup ---------------------------------------------------------------
def test_statuses_come_from_the_store_in_request_order(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    key = issuing_key(authorities)
    store = MemoryStore(record(key, "07"), record(key, "08", revoked=True))
    inner = AnsweredRecorder()
    request = admitted(authorities, serial_request(pki_home, 8, 9, 7))
    StatusSource(inner, store, memo_entries=10).response(request, NOW)
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
    source = StatusSource(inner, store, memo_entries=10)
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
    source = StatusSource(AnsweredRecorder(), store, memo_entries=2)
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
        result = StatusSource(inner, store, memo_entries=10).response(request, NOW)
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


# -- signing ---------------------------------------------------------------------------
def answered(request: AdmittedRequest, *statuses: SingleStatus) -> AnsweredRequest:
    answers = []
    for cid, status in zip(request.request.cert_ids, statuses, strict=True):
        if status is SingleStatus.revoked:
            answers.append(SingleAnswer(cid, status, NOW - HOUR, RevocationReason.superseded))
        else:
            answers.append(SingleAnswer(cid, status))
    return AnsweredRequest(request, tuple(answers))


def test_signing_builds_a_verifiable_response_with_an_etag(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    data = request_der(load(pki_home.revoked), load(pki_home.home.pki.issuing_cert))
    request = admitted(authorities, data)
    result = SigningSource(HOUR).response(answered(request, SingleStatus.revoked), NOW)
    parsed = ocsp.load_der_ocsp_response(result.body)
    verify_signature(parsed)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_reason is x509.ReasonFlags.superseded
    assert parsed.this_update_utc == NOW.replace(microsecond=0) == result.this_update
    assert parsed.next_update_utc == NOW.replace(microsecond=0) + HOUR == result.next_update
    assert result.etag == '"' + hashlib.sha256(result.body).hexdigest()[:32] + '"'
    assert result.cacheable and not result.nonce and not result.cache_hit
    assert result.issuer_key_sha1 == request.issuer_key_sha1
    assert result.cert_ids[0]["cert_status"] == "revoked"
    assert result.cert_ids[0]["serial"] == pki_home.revoked_serial


def test_signing_echoes_a_nonce_and_gives_no_etag(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    nonce = bytes(range(16))
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert), nonce=nonce)
    request = admitted(authorities, data)
    signer = SigningSource(HOUR)
    first = signer.response(answered(request, SingleStatus.good), NOW)
    parsed = ocsp.load_der_ocsp_response(first.body)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert first.nonce and first.etag is None and not first.cacheable
    assert [c["cert_status"] for c in first.cert_ids] == ["good"]


def test_signing_answers_every_cert_id_in_order(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    request = admitted(authorities, serial_request(pki_home, 7, 8, 9))
    statuses = (SingleStatus.good, SingleStatus.unknown, SingleStatus.revoked)
    result = SigningSource(HOUR).response(answered(request, *statuses), NOW)
    singles = asn1_ocsp.OCSPResponse.load(result.body).basic_ocsp_response["tbs_response_data"][
        "responses"
    ]
    assert [s["cert_status"].name for s in singles] == ["good", "unknown", "revoked"]
    assert tuple(s["cert_id"].dump() for s in singles) == request.cache_key
