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

A response may claim no more freshness than it has (RFC 6960 4.2.2.1: thisUpdate is "the
most recent time at which the status being indicated is known by the responder to have
been correct"), so each remembered status keeps the time it was read, and the answered
request carries the oldest read among its CertIDs: the signer's thisUpdate. A remembered
status is reused only for ``reuse`` after its read (so what is signed from it still has
most of its validity ahead), and only while ``trust`` says the change feed that would
have reported a change to it is being followed; otherwise the store is read again.

After a read fails, the store is not asked again for ``store_retry`` (a couple of
seconds): requests in between get ``tryLater`` at once (the response cache then serves a
response still within its validity), so an unreachable store costs one request its
timeouts (DynamoDB's: seconds) per interval, not every request, and one log line.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus, StoreError, StoreUnavailableError
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
# A status and the time it was read from the store (the ``now`` of the request that read
# it, taken before the read: never later than the read).
Remembered = tuple[Status, datetime]
_UNKNOWN: Status = (SingleStatus.unknown, None, None)
_GOOD: Status = (SingleStatus.good, None, None)

# The status memo's share of a worker's cache budget (cache.py says why 64 MiB in all). An
# entry is counted at about 580 bytes (730 revoked), so 8 MiB holds some 14,000 statuses:
# nonce requests about the response cache's working set need no store read.
STATUS_MEMO_MAX_BYTES = 8 * MIB
STATUS_MEMO_MAX_ENTRIES = 25_000

# What a remembered status costs beyond its serial's spelling: the key and the memo's
# bookkeeping (most of it: three dicts and a linked list, at their worst right after
# they grow), the (status, read time) pair and the read time itself (shared by the
# CertIDs of one request, counted for each), and for a revocation its own tuple and time
# (good and unknown share one). Measured with tracemalloc, rounded up.
_STATUS_BYTES = 670
_REVOKED_BYTES = 150

# How long after a failed read the store is left alone (see the module docstring): about
# the change feed's poll interval, so a store that comes back is read again as soon.
STORE_RETRY = timedelta(seconds=2)


class CertificateReader(Protocol):
    """The one store call the status lookup makes; every ``CertificateStore`` is one."""

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None: ...


class StatusTrust(Protocol):
    """Whether remembered statuses may still be signed at ``now``: the runtime's
    ``FeedHealth`` (responders/web/feed_health.py), true while the change feed that
    reports writes to the store has succeeded recently enough."""

    def trusted(self, now: datetime) -> bool: ...


class StatusSource:
    """Answers each CertID from ``store`` and passes the answers to ``inner`` to sign."""

    def __init__(
        self,
        inner: Source[AnsweredRequest],
        store: CertificateReader,
        *,
        reuse: timedelta,
        trust: StatusTrust | None = None,
        store_retry: timedelta = STORE_RETRY,
        memo_entries: int = STATUS_MEMO_MAX_ENTRIES,
        memo_bytes: int = STATUS_MEMO_MAX_BYTES,
    ) -> None:
        """``reuse``: how long after its read a remembered status may be signed again
        (zero: never). ``trust``: None when nothing follows the store's changes for this
        source (tests, one-off use): remembered statuses are then bounded by ``reuse``
        alone. ``store_retry``: how long a failed read keeps the store from being asked."""
        if reuse < timedelta(0) or store_retry < timedelta(0):
            raise ValueError("the status reuse and store retry periods cannot be negative")
        self._inner = inner
        self._store = store
        self._reuse = reuse
        self._trust = trust
        self._store_retry = store_retry
        self._retry_at: datetime | None = None  # set by a failed read
        self.memo: BoundedLru[tuple[str, str], Remembered] = BoundedLru(
            max_bytes=memo_bytes, max_entries=memo_entries
        )

    def response(self, request: AdmittedRequest, now: datetime) -> OcspResult:
        reuse = self._trust is None or self._trust.trusted(now)
        issuer = request.issuer_key_sha1
        answers: list[SingleAnswer] = []
        read_at = now
        try:
            for cert_id, serial in zip(request.request.cert_ids, request.serials, strict=True):
                status, when = self._status(issuer, serial, now, reuse=reuse)
                answers.append(SingleAnswer(cert_id, *status))
                read_at = min(read_at, when)
        except StoreError as exc:
            if isinstance(exc, _Resting):  # said when the read failed; once is enough
                error = "store unavailable: not asked again yet"
            else:
                log.warning("certificate store unavailable: %s", exc)
                error = f"store unavailable: {type(exc).__name__}"
            return OcspResult(
                unsuccessful(ResponseStatus.tryLater),
                ResponseStatus.tryLater,
                cert_ids=tuple(
                    log_cert_id(c, request.issuer_key_sha1, None) for c in request.request.cert_ids
                ),
                nonce=request.request.nonce is not None,
                error=error,
            )
        return self._inner.response(AnsweredRequest(request, tuple(answers), read_at), now)

    def forget(self, issuer_key_sha1: str, serial: str) -> None:
        """Drop the remembered status of a certificate that changed in the store."""
        self.memo.pop((issuer_key_sha1, serial))

    def _status(
        self, issuer_key_sha1: str, serial: str, now: datetime, *, reuse: bool
    ) -> Remembered:
        """The remembered status while it may be reused, else the store's, remembered."""
        key = (issuer_key_sha1, serial)
        if reuse:
            remembered = self.memo.get(key)
            # Not one read in the future either: a clock set back must not make a response
            # claim a thisUpdate later than its producedAt.
            if remembered is not None and timedelta(0) <= now - remembered[1] < self._reuse:
                return remembered
        record = self._read(issuer_key_sha1, serial, now)
        if record is None:
            status = _UNKNOWN
        elif record.status is CertStatus.revoked:
            status = (SingleStatus.revoked, record.revoked_at, record.revocation_reason)
        else:
            status = _GOOD
        remembered = (status, now)
        self.memo.put(key, remembered, status_size(serial, status))
        return remembered

    def _read(self, issuer_key_sha1: str, serial: str, now: datetime) -> CertificateRecord | None:
        """The store's record, unless a read failed less than ``store_retry`` ago."""
        retry_at = self._retry_at
        if retry_at is not None:
            # A clock set back by more than the interval must not keep the store unasked.
            if retry_at - self._store_retry <= now < retry_at:
                raise _Resting(f"not asked again before {retry_at.isoformat()}")
            self._retry_at = None
        try:
            return self._store.get(issuer_key_sha1, serial)
        except StoreError:
            self._retry_at = now + self._store_retry
            raise


class _Resting(StoreUnavailableError):
    """The store failed a moment ago and is not asked yet (``STORE_RETRY``)."""


def status_size(serial: str, status: Status) -> int:
    """The bytes a remembered status keeps alive (see the constants)."""
    return _STATUS_BYTES + len(serial) + (_REVOKED_BYTES if status[1] is not None else 0)
