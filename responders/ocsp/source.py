"""The one interface of the OCSP responder's parts: a request in, a response out.

Shaped like Boulder's ``ocsp/responder.Source``: each behaviour (filtering, caching,
status lookup, signing) is a source that wraps another, so every part can be tested
alone against an in-memory source and ``responder.py`` only wires them. What a request
is depends on how far it got: the DER bytes at the front, an ``AdmittedRequest`` once
the filter has accepted it (RFC 6960 2.3), an ``AnsweredRequest`` once the statuses are
known. The response is always an ``OcspResult``: the bytes to serve and what the HTTP
layer (RFC 5019 6.2 headers) and the access log need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pki.ocsp_request import CertId, OcspRequest
from pki.serials import serial_hex
from responders.ocsp.authority import Authority
from responders.ocsp.response import ResponseStatus, SingleAnswer

RequestT_contra = TypeVar("RequestT_contra", contravariant=True)


class Source(Protocol[RequestT_contra]):
    """Anything that answers an OCSP request; wrappers add behaviour around an inner one.

    ``now`` is passed in rather than read, so a whole chain answers for one instant and
    the tests drive time. A source never raises for a request it cannot answer: every
    failure is an OCSP status (RFC 6960 2.3), because the HTTP layer must not send 5xx.
    """

    def response(self, request: RequestT_contra, now: datetime) -> OcspResult: ...


# Not frozen: frozen dataclasses construct several times slower, and results that are not
# memoised (nonce answers, GET decoding errors in the web layer) are built per request.
@dataclass(slots=True)
class OcspResult:
    """What the HTTP layer needs to answer, and what goes into the access log.

    A result is a value once made: a cache hit or a refused request hands the same object
    to every client that sends those bytes, so nothing may change one after it is returned.
    """

    body: bytes  # the DER OCSPResponse, served as is
    status: ResponseStatus
    cert_ids: tuple[dict[str, Any], ...] = ()  # the access log's view of each CertID
    nonce: bool = False
    cache_hit: bool = False
    this_update: datetime | None = None
    next_update: datetime | None = None
    etag: str | None = None
    error: str | None = None
    # The issuer the response speaks for, so the filter can check it is the one asked about.
    issuer_key_sha1: str | None = None

    @property
    def cacheable(self) -> bool:
        """Only nonce-less successful responses may be shared by HTTP caches."""
        return self.etag is not None


@dataclass(slots=True)  # made once per distinct request bytes, then memoised
class AdmittedRequest:
    """A request the filter accepted: parsed, answerable, all its CertIDs of one issuer."""

    request: OcspRequest
    authority: Authority
    issuer_key_sha1: str
    cache_key: tuple[bytes, ...]  # the CertIDs' exact encodings: each client's are echoed
    serials: tuple[str, ...]  # one per CertID, as the store spells them


@dataclass(slots=True)  # built per signed response: plain slots construct faster than frozen
class AnsweredRequest:
    """An admitted request with each CertID's status, in request order: ready to sign."""

    admitted: AdmittedRequest
    answers: tuple[SingleAnswer, ...]
    # When the oldest of these statuses was read from the store: the most recent time all
    # of them are known to have been correct, so the thisUpdate the signer may claim.
    read_at: datetime


def log_cert_id(cert_id: CertId, issuer_key_sha1: str | None, status: str | None) -> dict[str, Any]:
    """One CertID as the access log records it (docs/access-logs.md); key order is the log's."""
    return {
        "hash_algorithm": cert_id.hash_algorithm,
        "issuer_name_hash": cert_id.issuer_name_hash.hex(),
        "issuer_key_hash": cert_id.issuer_key_hash.hex(),
        "serial": serial_hex(cert_id.serial_number),
        "issuer_key_sha1": issuer_key_sha1,
        "cert_status": status,
    }
