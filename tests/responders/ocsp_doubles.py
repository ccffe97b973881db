"""In-memory collaborators and request builders for testing each OCSP source alone
(responders/ocsp/source.py): a recording inner source, a memory store, admitted requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asn1crypto import ocsp as asn1_ocsp

from pki.ocsp_request import OcspRequest, parse_request
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import CertificateRecord, CertStatus, StoreUnavailableError
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.response import ResponseStatus
from responders.ocsp.source import AdmittedRequest, AnsweredRequest, OcspResult
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import (
    cert_id,
    load,
    multi_request,
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
