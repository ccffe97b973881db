"""One writer at a time per LAKE: two ingests reading the same new objects would
both write them, and a compaction must not swap a partition an ingest is adding to."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path


class LakeBusyError(RuntimeError):
    """Another ingest or compaction holds the LAKE for longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive(root: Path, *, timeout_s: float = 600.0) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "_lock").open("a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LakeBusyError(
                        f"{root} is held by another ingest or compaction for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
