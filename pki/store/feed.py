"""Follow the store's change log, so long-running readers learn of revocations fast."""

from __future__ import annotations

from pki.store.base import CertificateStore, Change


class ChangeFeed:
    def __init__(self, store: CertificateStore, *, from_start: bool = False) -> None:
        """``from_start=False`` skips history: a fresh reader has nothing cached to drop."""
        self._store = store
        self._cursor = 0
        if not from_start:
            self.poll()

    def poll(self) -> list[Change]:
        """Every change since the last successful poll. The cursor moves only when all of
        them were read: a store error on a later batch must not lose the earlier ones."""
        changes: list[Change] = []
        cursor = self._cursor
        batch = self._store.changes_since(cursor)
        while batch:
            changes.extend(batch)
            cursor = batch[-1].sequence
            batch = self._store.changes_since(cursor)
        self._cursor = cursor
        return changes
