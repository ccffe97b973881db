"""Pre-signed responses, kept until shortly before nextUpdate (RFC 5019 6), and the
bounded cache that every memory of the responder is kept in.

A source wrapper: a request without a nonce is answered from the cache while its entry
is fresh, else by the inner source, whose successful answer is kept. Requests with a
nonce pass straight through: their response echoes the nonce and is never reused
(RFC 8954 2.1). Entries are replaced ``refresh_margin`` before nextUpdate, so neither
this responder nor an HTTP cache downstream (max-age counts to nextUpdate) ever serves
one after it (RFC 5019 4, 6.2). When the inner source cannot give a new response
(``tryLater``: the store does not answer), an entry past its refresh point is still
served until its nextUpdate: it says no more than it did when it was signed, and its
thisUpdate is when its statuses were read (signing.py). Past nextUpdate the ``tryLater``
is the answer.

Keys are the CertIDs' exact encodings, so two clients that encode the same certificate
differently get their own correctly-echoing entry. An index by (issuer, serial) lets a
write to the store drop every entry that mentions the certificate (``forget``).

Every cache of the responder (this one, the filter's memo of request bytes, the status
memo) is a ``BoundedLru``: bounded by bytes and by entries, because a worker lives as
long as the service and anyone on the internet chooses what it is asked. The bytes are
estimates of what an entry keeps alive, calibrated against tracemalloc by
tests/responders/test_bounded_caches.py, which also checks they never undercount.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from cachetools import LRUCache

from responders.ocsp.response import ResponseStatus
from responders.ocsp.source import AdmittedRequest, OcspResult, Source

MIB = 1024 * 1024

# The budget of one worker (a uvicorn worker process or a Lambda container): 64 MiB and
# 100,000 entries for all three caches together. A worker starts at about 90 MB (Python,
# cryptography, asn1crypto, uvloop), so full caches add at most two thirds to it: `serve
# --workers 8` stays under 1.3 GB, and a Lambda function of 512 MB keeps room to work.
# Most of the budget is for signed responses, because a hit there saves building and
# signing a response where the other two save a parse or a store read. A response to one CertID
# is counted at about 3 KB (EC signer, its certificate included; 3.6 KB with RSA), so
# 40 MiB holds some 14,000 of them per worker: the responses clients ask for again within
# a validity period (behind a CDN the origin sees each about once per validity per edge).
# The entry bound only binds for small entries. ResponderSettings overrides all six bounds.
RESPONSE_CACHE_MAX_BYTES = 40 * MIB
RESPONSE_CACHE_MAX_ENTRIES = 50_000

# What a cached response costs beyond its DER body and its CertIDs' encodings (measured
# with tracemalloc, rounded up): the OcspResult and its entry, the ETag, the two dates
# and the cache's own bookkeeping; then per CertID its access-log view, the bytes object
# of its encoding and its place in the (issuer, serial) index.
_RESPONSE_BYTES = 1100
_RESPONSE_BYTES_PER_CERT_ID = 1100

CacheKey = tuple[bytes, ...]
Certificate = tuple[str, str]  # (issuer key SHA-1, serial): what the store calls one
_SUCCESSFUL = ResponseStatus.successful  # a module global reads faster than the enum member
_TRY_LATER = ResponseStatus.tryLater

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Segment(LRUCache[K, tuple[V, int]], Generic[K, V]):
    """One LRU segment of a ``BoundedLru``: bytes bounded by cachetools (each item carries
    its size), entries bounded here, and every eviction reported to the owner."""

    def __init__(self, max_bytes: int, max_entries: int, evicted: Callable[[K, V], None]) -> None:
        super().__init__(max_bytes, getsizeof=_item_size)
        self.max_entries = max_entries
        self._evicted = evicted

    def __setitem__(self, key: K, item: tuple[V, int]) -> None:
        super().__setitem__(key, item)
        while len(self) > self.max_entries:
            self.popitem()

    def popitem(self) -> tuple[K, tuple[V, int]]:
        key, item = super().popitem()
        self._evicted(key, item[0])
        return key, item


def _item_size(item: tuple[object, int]) -> int:
    return item[1]


class BoundedLru(Generic[K, V]):
    """A least-recently-used map bounded by bytes and by entries, in two segments.

    Why two (a segmented LRU): an entry enters *probation*, and only a second use moves
    it to the *protected* segment, which may hold up to four fifths of each bound. Room
    for a new entry is made by evicting from probation, so a flood of requests that are
    each asked once (random serials of a served issuer are valid and cost nothing to
    make) only displaces other once-asked entries, never the set that clients repeat.
    While the protected segment has room, probation may use it, so a cache of once-asked
    entries still fills to its bounds.

    ``put`` takes the entry's size from the caller, who knows what the key and value keep
    alive. ``on_evict`` hears of every entry evicted to make room (not of ``pop``), so an
    owner can keep a side index in step. Not thread-safe: a worker answers on one thread.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        max_entries: int,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_bytes < 1 or max_entries < 1:
            raise ValueError("a cache needs room for at least one entry")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._on_evict = on_evict
        # Probation always keeps a fifth of each bound, so the largest entry is a fifth.
        self.max_item_bytes = max(1, max_bytes // 5)
        protected_entries = max_entries - max(1, max_entries // 5)
        self._promote = protected_entries > 0 and max_bytes - self.max_item_bytes > 0
        self._protected = _Segment[K, V](
            max_bytes - self.max_item_bytes, protected_entries, self._evicted
        )
        self._probation = _Segment[K, V](max_bytes, max_entries, self._evicted)

    def __len__(self) -> int:
        return len(self._protected) + len(self._probation)

    def __contains__(self, key: K) -> bool:
        """Whether ``key`` is held; unlike ``get`` this does not count as a use."""
        return key in self._protected or key in self._probation

    @property
    def currsize(self) -> int:
        """The bytes held, as the entries' sizes add up."""
        return int(self._protected.currsize + self._probation.currsize)

    def get(self, key: K) -> V | None:
        try:  # the hot path, a hit on a repeated request: one lookup, no membership test
            return self._protected[key][0]
        except KeyError:
            pass
        item = self._probation.get(key)
        if item is None:
            return None
        if self._promote:
            del self._probation[key]
            self._protected[key] = item  # may evict the protected segment's oldest
        return item[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Keep ``value`` under ``key``, evicting the least recently used as needed;
        whether it is kept: not when bigger than ``max_item_bytes`` (nor any older value
        under ``key``, which would be stale)."""
        if size > self.max_item_bytes:
            displaced = self.pop(key)
            if displaced is not None and self._on_evict is not None:
                self._on_evict(key, displaced)
            return False
        item = (value, size)
        if key in self._protected:
            self._protected[key] = item
        else:
            self._probation[key] = item
        probation, protected = self._probation, self._protected
        while probation and (
            probation.currsize + protected.currsize > self.max_bytes
            or len(probation) + len(protected) > self.max_entries
        ):
            probation.popitem()
        return key in self  # always, by the room probation keeps; the caller indexes on it

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None. Not an eviction: ``on_evict`` is not called."""
        item = self._protected.pop(key, None) or self._probation.pop(key, None)
        return None if item is None else item[0]

    def _evicted(self, key: K, value: V) -> None:
        if self._on_evict is not None:
            self._on_evict(key, value)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    result: OcspResult  # served as is on every hit, built once with cache_hit set
    refresh_at: datetime
    certificates: tuple[Certificate, ...]  # the entry's places in the index, to leave them


class CachingSource:
    """Serves pre-signed responses and asks ``inner`` only for missing or aging ones."""

    def __init__(
        self,
        inner: Source[AdmittedRequest],
        *,
        refresh_margin: timedelta,
        max_entries: int = RESPONSE_CACHE_MAX_ENTRIES,
        max_bytes: int = RESPONSE_CACHE_MAX_BYTES,
    ) -> None:
        if max_entries < 1:
            raise ValueError("the response cache needs room for at least one entry")
        self._inner = inner
        self._refresh_margin = refresh_margin
        self.entries: BoundedLru[CacheKey, CachedResponse] = BoundedLru(
            max_bytes=max_bytes, max_entries=max_entries, on_evict=self._unindex
        )
        # Bounded with the entries: every key in it belongs to a held entry.
        self._by_serial: dict[Certificate, set[CacheKey]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def response(self, request: AdmittedRequest, now: datetime) -> OcspResult:
        if request.request.nonce is not None:
            return self._inner.response(request, now)
        entry = self.entries.get(request.cache_key)
        if entry is not None and now < entry.refresh_at:
            return entry.result
        result = self._inner.response(request, now)
        if result.status is _SUCCESSFUL and result.next_update is not None:
            self._put(request, result, result.next_update - self._refresh_margin)
        elif (
            result.status is _TRY_LATER
            and entry is not None
            and entry.result.next_update is not None
            and now < entry.result.next_update
        ):
            return entry.result  # still within its validity: better than tryLater
        return result

    def forget(self, issuer_key_sha1: str, serial: str) -> int:
        """Drop every entry that mentions the certificate; returns how many."""
        keys = self._by_serial.pop((issuer_key_sha1, serial), set())
        for key in keys:
            entry = self.entries.pop(key)
            if entry is not None:
                self._unindex(key, entry)  # the entry's other certificates
        return len(keys)

    def _put(self, request: AdmittedRequest, result: OcspResult, refresh_at: datetime) -> None:
        key = request.cache_key
        issuer = request.issuer_key_sha1
        entry = CachedResponse(
            replace(result, cache_hit=True),
            refresh_at,
            tuple((issuer, serial) for serial in request.serials),
        )
        if self.entries.put(key, entry, response_size(key, entry)):
            for certificate in entry.certificates:
                self._by_serial.setdefault(certificate, set()).add(key)

    def _unindex(self, key: CacheKey, entry: CachedResponse) -> None:
        for certificate in entry.certificates:
            keys = self._by_serial.get(certificate)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_serial[certificate]


def response_size(key: CacheKey, entry: CachedResponse) -> int:
    """The bytes a cached response keeps alive, index included (see the constants)."""
    return (
        _RESPONSE_BYTES
        + len(entry.result.body)
        + sum(len(der) + _RESPONSE_BYTES_PER_CERT_ID for der in key)
    )
