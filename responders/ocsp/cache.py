"""Pre-signed responses, kept until shortly before nextUpdate (RFC 5019 6).

A source wrapper: a request without a nonce is answered from the cache while its entry
is fresh, else by the inner source, whose successful answer is kept. Requests with a
nonce pass straight through: their response echoes the nonce and is never reused
(RFC 8954 2.1). Entries are replaced ``refresh_margin`` before nextUpdate, so neither
this responder nor an HTTP cache downstream (max-age counts to nextUpdate) ever serves
one after it (RFC 5019 4, 6.2).

Keys are the CertIDs' exact encodings, so two clients that encode the same certificate
differently get their own correctly-echoing entry. An index by (issuer, serial) lets a
write to the store drop every entry that mentions the certificate (``forget``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from responders.ocsp.response import ResponseStatus
from responders.ocsp.source import AdmittedRequest, OcspResult, Source

CacheKey = tuple[bytes, ...]
_SUCCESSFUL = ResponseStatus.successful  # a module global reads faster than the enum member


@dataclass(frozen=True, slots=True)
class CachedResponse:
    result: OcspResult  # served as is on every hit, built once with cache_hit set
    refresh_at: datetime


class CachingSource:
    """Serves pre-signed responses and asks ``inner`` only for missing or aging ones."""

    def __init__(
        self, inner: Source[AdmittedRequest], *, max_entries: int, refresh_margin: timedelta
    ) -> None:
        if max_entries < 1:
            raise ValueError("the response cache needs room for at least one entry")
        self._inner = inner
        self._max = max_entries
        self._refresh_margin = refresh_margin
        self._entries: dict[CacheKey, CachedResponse] = {}
        self._by_serial: dict[tuple[str, str], set[CacheKey]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def response(self, request: AdmittedRequest, now: datetime) -> OcspResult:
        if request.request.nonce is not None:
            return self._inner.response(request, now)
        entry = self._entries.get(request.cache_key)
        if entry is not None and now < entry.refresh_at:
            return entry.result
        result = self._inner.response(request, now)
        if result.status is _SUCCESSFUL and result.next_update is not None:
            self._put(
                request,
                CachedResponse(
                    replace(result, cache_hit=True), result.next_update - self._refresh_margin
                ),
            )
        return result

    def forget(self, issuer_key_sha1: str, serial: str) -> int:
        """Drop every entry that mentions the certificate; returns how many."""
        keys = self._by_serial.pop((issuer_key_sha1, serial), set())
        for key in keys:
            self._entries.pop(key, None)
        return len(keys)

    def _put(self, request: AdmittedRequest, entry: CachedResponse) -> None:
        key = request.cache_key
        if key not in self._entries and len(self._entries) >= self._max:
            self._evict_oldest()
        self._entries[key] = entry
        for serial in request.serials:
            self._by_serial.setdefault((request.issuer_key_sha1, serial), set()).add(key)

    def _evict_oldest(self) -> None:
        # dicts keep insertion order: drop the oldest tenth in one go to amortise the cost.
        doomed = list(self._entries)[: max(1, self._max // 10)]
        for key in doomed:
            self._entries.pop(key, None)
        # Stale index keys are harmless (forget tolerates them); prune to bound memory.
        live = self._entries.keys()
        self._by_serial = {
            k: kept
            for k, keys in self._by_serial.items()
            if (kept := {x for x in keys if x in live})
        }
