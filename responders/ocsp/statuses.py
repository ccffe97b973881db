"""Each admitted CertID's status, read from the certificate store and remembered.

A source wrapper: it looks up every CertID of an admitted request and hands the
answered request to the inner (signing) source. A serial the store does not hold is
``unknown`` (RFC 6960 2.2). Statuses are remembered per (issuer, serial) so nonce
requests, which are signed fresh every time, do not read the store every time; the
runtime's change feed calls ``forget`` on every write, as it does for the response
cache, so a remembered status is never staler than a cached response. A store that
cannot answer makes the response ``tryLater`` (RFC 6960 2.3), never an exception.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus, StoreError
from responders.ocsp.response import ResponseStatus, SingleAnswer, SingleStatus, unsuccessful
from responders.ocsp.source import (
    AdmittedRequest,
    AnsweredRequest,
    OcspResult,
    Source,
    log_cert_id,
)

log = logging.getLogger(__name__)

Status = tuple[SingleStatus, datetime | None, RevocationReason | None]
_UNKNOWN: Status = (SingleStatus.unknown, None, None)
_GOOD: Status = (SingleStatus.good, None, None)


class CertificateReader(Protocol):
    """The one store call the status lookup makes; every ``CertificateStore`` is one."""

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None: ...


class StatusSource:
    """Answers each CertID from ``store`` and passes the answers to ``inner`` to sign."""

    def __init__(
        self, inner: Source[AnsweredRequest], store: CertificateReader, *, memo_entries: int
    ) -> None:
        self._inner = inner
        self._store = store
        self._memo_entries = memo_entries
        self._statuses: dict[tuple[str, str], Status] = {}

    def response(self, request: AdmittedRequest, now: datetime) -> OcspResult:
        try:
            answers = tuple(
                SingleAnswer(cert_id, *self._status(request.issuer_key_sha1, serial))
                for cert_id, serial in zip(request.request.cert_ids, request.serials, strict=True)
            )
        except StoreError as exc:
            log.warning("certificate store unavailable: %s", exc)
            return OcspResult(
                unsuccessful(ResponseStatus.tryLater),
                ResponseStatus.tryLater,
                cert_ids=tuple(
                    log_cert_id(c, request.issuer_key_sha1, None) for c in request.request.cert_ids
                ),
                nonce=request.request.nonce is not None,
                error=f"store unavailable: {type(exc).__name__}",
            )
        return self._inner.response(AnsweredRequest(request, answers), now)

    def forget(self, issuer_key_sha1: str, serial: str) -> None:
        """Drop the remembered status of a certificate that changed in the store."""
        self._statuses.pop((issuer_key_sha1, serial), None)

    def _status(self, issuer_key_sha1: str, serial: str) -> Status:
        key = (issuer_key_sha1, serial)
        status = self._statuses.get(key)
        if status is None:
            record = self._store.get(issuer_key_sha1, serial)
            if record is None:
                status = _UNKNOWN
            elif record.status is CertStatus.revoked:
                status = (SingleStatus.revoked, record.revoked_at, record.revocation_reason)
            else:
                status = _GOOD
            if len(self._statuses) >= self._memo_entries:
                self._statuses.clear()
            self._statuses[key] = status
        return status
