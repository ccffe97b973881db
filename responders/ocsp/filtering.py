"""The front of the responder: admit only requests it may answer, serve only fitting responses.

Before: the bytes must decode to a request certsight can echo (``check_answerable``),
every CertID must use a supported hash algorithm and name one issuer served here, and
all CertIDs the same one (one response has one signer). Otherwise the answer is the
unsigned ``malformedRequest`` or ``unauthorized`` of RFC 6960 2.3, and nothing behind
the filter runs. After: a successful response from the inner source must speak for the
issuer asked about and must not be past its nextUpdate (RFC 5019 4), or it is withheld.

The admission decision depends only on the request bytes, so it is memoised per bytes:
a repeated GET (the common case, RFC 5019 5) skips parsing and the issuer search, and
the memo lives here because the filter is what it remembers. Only admitted requests
without a nonce are remembered: a refusal (malformed, or an issuer not served here) is
cheap to decide again and costs its sender nothing to vary, so remembering refusals
would let anyone fill the memo with garbage; a nonce makes every request unique
(RFC 8954). The memo is bounded by bytes and entries (``BoundedLru``, cache.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from pki.identity import HASH_OIDS
from pki.ocsp_request import CertId, MalformedRequestError, check_answerable, parse_request
from pki.serials import serial_hex
from responders.ocsp.authority import Authority, AuthorityIndex
from responders.ocsp.cache import MIB, BoundedLru
from responders.ocsp.response import ResponseStatus, unsuccessful
from responders.ocsp.source import AdmittedRequest, OcspResult, Source, log_cert_id

log = logging.getLogger(__name__)

# The CertID hashes answered (RFC 6960 4.1.1 names SHA-1; RFC 5019 2.1.1 requires it).
SUPPORTED_HASHES: frozenset[str] = frozenset(HASH_OIDS.values())
_SUCCESSFUL = ResponseStatus.successful  # a module global reads faster than the enum member

# The memo's share of a worker's cache budget (cache.py says why 64 MiB in all): at about
# 1.2 KB per remembered request (one CertID), 16 MiB remembers some 14,000 distinct
# requests, as many as the response cache holds responses, so a request whose response is
# cached is usually not parsed either.
MEMO_MAX_BYTES = 16 * MIB
MEMO_MAX_ENTRIES = 25_000

# What a remembered request costs beyond its bytes (the key) and its CertIDs' encodings:
# the parsed request, the admission and the memo's bookkeeping; then per CertID its parsed
# form (hashes, serial and its hex spelling). Measured with tracemalloc, rounded up.
_MEMO_BYTES = 620
_MEMO_BYTES_PER_CERT_ID = 450


class FilterSource:
    """Admits raw request bytes into ``inner`` and checks what comes back."""

    def __init__(
        self,
        inner: Source[AdmittedRequest],
        authorities: AuthorityIndex,
        *,
        memo_entries: int = MEMO_MAX_ENTRIES,
        memo_bytes: int = MEMO_MAX_BYTES,
        hash_algorithms: Collection[str] = SUPPORTED_HASHES,
    ) -> None:
        self._inner = inner
        self._authorities = authorities
        self._hash_algorithms = frozenset(hash_algorithms)
        # Request bytes -> the admitted request; never a refusal (see the module docstring).
        self.memo: BoundedLru[bytes, AdmittedRequest] = BoundedLru(
            max_bytes=memo_bytes, max_entries=memo_entries
        )

    def response(self, request: bytes, now: datetime) -> OcspResult:
        admitted = self.memo.get(request)
        if admitted is None:
            decided = self._decide(request)
            if isinstance(decided, OcspResult):
                return decided
            admitted = decided
            if admitted.request.nonce is None:
                self.memo.put(request, admitted, memo_size(request, admitted))
        result = self._inner.response(admitted, now)
        if result.status is _SUCCESSFUL and (
            result.issuer_key_sha1 != admitted.issuer_key_sha1
            or result.next_update is None
            or now >= result.next_update
        ):
            return _withheld(admitted, result, now)
        return result

    def _decide(self, data: bytes) -> AdmittedRequest | OcspResult:
        try:
            request = check_answerable(parse_request(data))
        except MalformedRequestError as exc:
            return OcspResult(
                unsuccessful(ResponseStatus.malformedRequest),
                ResponseStatus.malformedRequest,
                error=str(exc),
            )
        found = [self._find(cert_id) for cert_id in request.cert_ids]
        first = found[0]
        if first is None or any(hit is None or hit[0] is not first[0] for hit in found):
            # RFC 6960 2.3: not authoritative for (all of) these certificates.
            return OcspResult(
                unsuccessful(ResponseStatus.unauthorized),
                ResponseStatus.unauthorized,
                cert_ids=tuple(
                    log_cert_id(cid, hit[1] if hit else None, None)
                    for cid, hit in zip(request.cert_ids, found, strict=True)
                ),
                nonce=request.nonce is not None,
                error="issuer not served by this responder",
            )
        return AdmittedRequest(
            request=request,
            authority=first[0],
            issuer_key_sha1=first[1],
            cache_key=tuple(cert_id.der for cert_id in request.cert_ids),
            serials=tuple(serial_hex(c.serial_number) for c in request.cert_ids),
        )

    def _find(self, cert_id: CertId) -> tuple[Authority, str] | None:
        """The issuer of a CertID; an unsupported hash cannot identify one, so it is
        refused like an unknown issuer."""
        if cert_id.hash_algorithm not in self._hash_algorithms:
            return None
        return self._authorities.find(cert_id)


def memo_size(data: bytes, admitted: AdmittedRequest) -> int:
    """The bytes a remembered request keeps alive (see the constants)."""
    return (
        _MEMO_BYTES
        + len(data)
        + sum(len(c.der) + _MEMO_BYTES_PER_CERT_ID for c in admitted.request.cert_ids)
    )


def _withheld(admitted: AdmittedRequest, result: OcspResult, now: datetime) -> OcspResult:
    """A successful response that does not fit the request is a bug behind the filter:
    serving it would tell a client a wrong or expired status, so answer internalError."""
    if result.issuer_key_sha1 != admitted.issuer_key_sha1:
        error = "response for another issuer"
    else:
        error = "response past its nextUpdate"
    log.error(
        "withheld an OCSP response for %s: %s (nextUpdate %s, now %s)",
        admitted.issuer_key_sha1,
        error,
        result.next_update,
        now,
    )
    return OcspResult(
        unsuccessful(ResponseStatus.internalError),
        ResponseStatus.internalError,
        cert_ids=tuple(
            log_cert_id(cid, admitted.issuer_key_sha1, None) for cid in admitted.request.cert_ids
        ),
        nonce=admitted.request.nonce is not None,
        error=error,
    )
