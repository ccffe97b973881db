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
        changes: list[Change] = []
        batch = self._store.changes_since(self._cursor)
        while batch:
            changes.extend(batch)
            self._cursor = batch[-1].sequence
            batch = self._store.changes_since(self._cursor)
        return changes
