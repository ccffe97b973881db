"""The change feed: long-running readers (the responders' caches, the CRL updater) learn
of every write, and a store error never makes them skip one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pki.store.base import Change, StoreUnavailableError
from pki.store.feed import ChangeFeed
from pki.store.sqlite import SqliteStore
from tests.pki.store.test_store_contract import make_record


class FlakyStore(SqliteStore):
    """Answers the change log in batches of one, and fails once on a batch after the first."""

    fail_next_second_batch = False
    _first_seen = 0

    def changes_since(self, sequence: int) -> Sequence[Change]:
        batch = list(super().changes_since(sequence))[:1]
        if self.fail_next_second_batch and sequence > self._first_seen:
            self.fail_next_second_batch = False
            raise StoreUnavailableError("throttled")
        return batch


def test_a_failed_poll_loses_no_change(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.sqlite")
    feed = ChangeFeed(store)
    for serial in ("01", "02", "03"):
        store.add(make_record(serial=serial))
    store._first_seen = store.changes_since(0)[0].sequence
    store.fail_next_second_batch = True
    with pytest.raises(StoreUnavailableError):
        feed.poll()  # read "01", then failed on the next batch
    assert [change.serial for change in feed.poll()] == ["01", "02", "03"]
    assert feed.poll() == []
