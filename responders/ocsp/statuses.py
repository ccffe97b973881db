"""Each admitted CertID's status, read from the certificate store and remembered.

A source wrapper: it looks up every CertID of an admitted request and hands the
answered request to the inner (signing) source. A serial the store does not hold is
``unknown`` (RFC 6960 2.2). Statuses are remembered per (issuer, serial) so nonce
requests, which are signed fresh every time, do not read the store every time; the
runtime's change feed calls ``forget`` on every write, as it does for the response
cache, so a remembered status is never staler than a cached response. A store that
cannot answer makes the response ``tryLater`` (RFC 6960 2.3), never an exception.
The memo is bounded by bytes and entries (``BoundedLru``, cache.py); only statuses the
store gave are remembered, never a failure to read one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus, StoreError
from responders.ocsp.cache import MIB, BoundedLru
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

# The status memo's share of a worker's cache budget (cache.py says why 64 MiB in all). An
# entry is counted at about 580 bytes (730 revoked), so 8 MiB holds some 14,000 statuses:
# nonce requests about the response cache's working set need no store read.
STATUS_MEMO_MAX_BYTES = 8 * MIB
STATUS_MEMO_MAX_ENTRIES = 25_000

# What a remembered status costs beyond its serial's spelling: the key and the memo's
# bookkeeping (most of it: three dicts and a linked list, at their worst right after
# they grow), and for a revocation its own tuple and time (good and unknown share one).
# Measured with tracemalloc, rounded up.
_STATUS_BYTES = 560
_REVOKED_BYTES = 150


class CertificateReader(Protocol):
    """The one store call the status lookup makes; every ``CertificateStore`` is one."""

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None: ...


class StatusSource:
    """Answers each CertID from ``store`` and passes the answers to ``inner`` to sign."""

    def __init__(
        self,
        inner: Source[AnsweredRequest],
        store: CertificateReader,
        *,
        memo_entries: int = STATUS_MEMO_MAX_ENTRIES,
        memo_bytes: int = STATUS_MEMO_MAX_BYTES,
    ) -> None:
        self._inner = inner
        self._store = store
        self.memo: BoundedLru[tuple[str, str], Status] = BoundedLru(
            max_bytes=memo_bytes, max_entries=memo_entries
        )

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
        self.memo.pop((issuer_key_sha1, serial))

    def _status(self, issuer_key_sha1: str, serial: str) -> Status:
        key = (issuer_key_sha1, serial)
        status = self.memo.get(key)
        if status is None:
            record = self._store.get(issuer_key_sha1, serial)
            if record is None:
                status = _UNKNOWN
            elif record.status is CertStatus.revoked:
                status = (SingleStatus.revoked, record.revoked_at, record.revocation_reason)
            else:
                status = _GOOD
            self.memo.put(key, status, status_size(serial, status))
        return status


def status_size(serial: str, status: Status) -> int:
    """The bytes a remembered status keeps alive (see the constants)."""
    return _STATUS_BYTES + len(serial) + (_REVOKED_BYTES if status[1] is not None else 0)
