"""Pre-signed responses, kept until shortly before nextUpdate (RFC 5019 6).

Keys are the CertIDs' exact encodings, so two clients that encode the same
certificate differently get their own correctly-echoing entry. An index by
(issuer, serial) lets a revocation drop every entry that mentions the serial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from responders.ocsp.response import SingleAnswer

CacheKey = tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: bytes
    answers: tuple[SingleAnswer, ...]
    issuer_key_sha1: str
    this_update: datetime
    next_update: datetime
    refresh_at: datetime
    etag: str
    log_cert_ids: tuple[dict[str, Any], ...]  # built once, logged on every hit


class ResponseCache:
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("the response cache needs room for at least one entry")
        self._max = max_entries
        self._entries: dict[CacheKey, CachedResponse] = {}
        self._by_serial: dict[tuple[str, str], set[CacheKey]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: datetime) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None or now >= entry.refresh_at:
            return None
        return entry

    def put(self, key: CacheKey, entry: CachedResponse, serials: Iterable[str]) -> None:
        if key not in self._entries and len(self._entries) >= self._max:
            self._evict_oldest()
        self._entries[key] = entry
        for serial in serials:
            self._by_serial.setdefault((entry.issuer_key_sha1, serial), set()).add(key)

    def invalidate(self, issuer_key_sha1: str, serial: str) -> int:
        keys = self._by_serial.pop((issuer_key_sha1, serial), set())
        for key in keys:
            self._entries.pop(key, None)
        return len(keys)

    def clear(self) -> None:
        self._entries.clear()
        self._by_serial.clear()

    def _evict_oldest(self) -> None:
        # dicts keep insertion order: drop the oldest tenth in one go to amortise the cost.
        doomed = list(self._entries)[: max(1, self._max // 10)]
        for key in doomed:
            self._entries.pop(key, None)
        # Stale index keys are harmless (invalidate tolerates them); prune to bound memory.
        live = self._entries.keys()
        self._by_serial = {
            k: kept
            for k, keys in self._by_serial.items()
            if (kept := {x for x in keys if x in live})
        }
