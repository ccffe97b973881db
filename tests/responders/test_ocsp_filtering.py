"""The filter source alone: what it admits, refuses and remembers, in front of a
recording inner source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import pytest
from asn1crypto import ocsp as asn1_ocsp

import responders.ocsp.filtering as filtering
from pki.ocsp_request import OcspRequest, parse_request
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.filtering import FilterSource
from responders.ocsp.response import ResponseStatus, unsuccessful
from responders.ocsp.source import AdmittedRequest, OcspResult
from tests.conftest import PkiHome
from tests.responders.ocsp_doubles import (
    HOUR,
    NOW,
    Recorder,
    issuing_key,
    serial_request,
    signed,
)
from tests.responders.test_ocsp_core import (
    cert_id,
    load,
    multi_request,
    request_der,
)


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
    # Refusals are decided afresh: remembering them would let garbage fill the memo.
    assert parses == [data, b"junk", b"junk", b"junk"]
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
