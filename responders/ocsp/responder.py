"""The OCSP responder: request bytes in, response bytes and log fields out.

No HTTP, no AWS, no wall clock: the store, the authorities and the clock are passed
in, so the Lambda handler, the local server and the tests drive the same code. Every
failure becomes an OCSP status (RFC 6960 2.3), never an exception.

This module only wires the parts (source.py describes the interface), outermost first:

    FilterSource   admit the request (malformedRequest / unauthorized), check the answer
    CachingSource  pre-signed responses until shortly before nextUpdate (RFC 5019 6)
    StatusSource   each certificate's status from the store (tryLater if it is down)
    SigningSource  the authority's signer builds the DER response (nonces: RFC 8954)

``trust`` is what follows the store's writes for this responder (the runtime's
``FeedHealth``): while it says the change feed is failing for too long, remembered
statuses are not signed again (statuses.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pki.store.base import CertificateStore
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.cache import (
    RESPONSE_CACHE_MAX_BYTES,
    RESPONSE_CACHE_MAX_ENTRIES,
    BoundedLru,
    CachingSource,
)
from responders.ocsp.filtering import MEMO_MAX_BYTES, MEMO_MAX_ENTRIES, FilterSource
from responders.ocsp.signing import SigningSource
from responders.ocsp.source import OcspResult
from responders.ocsp.statuses import (
    STATUS_MEMO_MAX_BYTES,
    STATUS_MEMO_MAX_ENTRIES,
    StatusSource,
    StatusTrust,
)

__all__ = ["Clock", "OcspResponder", "OcspResult", "ResponderSettings"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ResponderSettings:
    validity: timedelta = timedelta(hours=1)
    refresh_margin: timedelta = timedelta(minutes=10)
    # Each cache is bounded by bytes and entries; the defaults and why are in the modules.
    response_cache_bytes: int = RESPONSE_CACHE_MAX_BYTES
    response_cache_entries: int = RESPONSE_CACHE_MAX_ENTRIES
    status_memo_bytes: int = STATUS_MEMO_MAX_BYTES
    status_memo_entries: int = STATUS_MEMO_MAX_ENTRIES
    request_memo_bytes: int = MEMO_MAX_BYTES
    request_memo_entries: int = MEMO_MAX_ENTRIES

    def __post_init__(self) -> None:
        if self.validity <= timedelta(minutes=1):
            raise ValueError("OCSP validity must exceed one minute")
        if not timedelta(0) <= self.refresh_margin < self.validity:
            raise ValueError("refresh margin must be shorter than the validity")

    @property
    def status_reuse(self) -> timedelta:
        """How long after its read a remembered status may be signed again: half the time
        a response spends in the cache, so a response signed from a remembered status is
        still cached for at least the other half before it is refreshed (defaults: 25
        minutes). Its thisUpdate is the read time either way (signing.py)."""
        return (self.validity - self.refresh_margin) / 2


class OcspResponder:
    """The composed sources behind the two calls the web layer makes."""

    def __init__(
        self,
        authorities: AuthorityIndex,
        store: CertificateStore,
        clock: Clock,
        settings: ResponderSettings | None = None,
        *,
        trust: StatusTrust | None = None,
    ) -> None:
        settings = settings or ResponderSettings()
        self._clock = clock
        self._statuses = StatusSource(
            SigningSource(settings.validity),
            store,
            reuse=settings.status_reuse,
            trust=trust,
            memo_entries=settings.status_memo_entries,
            memo_bytes=settings.status_memo_bytes,
        )
        self._cache = CachingSource(
            self._statuses,
            refresh_margin=settings.refresh_margin,
            max_entries=settings.response_cache_entries,
            max_bytes=settings.response_cache_bytes,
        )
        self._front = FilterSource(
            self._cache,
            authorities,
            memo_entries=settings.request_memo_entries,
            memo_bytes=settings.request_memo_bytes,
        )

    @property
    def caches(self) -> Mapping[str, BoundedLru[Any, Any]]:
        """Every cache of the responder by name, for metrics and the tests of their bounds."""
        return {
            "requests": self._front.memo,
            "responses": self._cache.entries,
            "statuses": self._statuses.memo,
        }

    def respond(self, data: bytes, now: datetime | None = None) -> OcspResult:
        """The response to one DER OCSPRequest, as of ``now`` (the clock's when omitted)."""
        return self._front.response(data, now or self._clock())

    def forget(self, issuer_key_sha1: str, serial: str) -> None:
        """Drop what is remembered about a certificate that changed in the store."""
        self._cache.forget(issuer_key_sha1, serial)
        self._statuses.forget(issuer_key_sha1, serial)
