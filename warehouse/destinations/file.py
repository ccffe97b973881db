"""Alerts appended to a JSON-lines file: what log shippers tail.

```toml
[alerts]
jsonl = "alerts.jsonl"           # relative to HOME unless absolute
jsonl_min_severity = "low"       # optional, overrides [alerts] min_severity
```
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from warehouse.alert import Alert, dumps
from warehouse.destinations.base import (
    AlertSink,
    AlertSinkSettings,
    Context,
    DeliveryError,
    NonEmpty,
    Severity,
    encode_alerts,
)

log = logging.getLogger(__name__)


class JsonLinesSettings(AlertSinkSettings):
    """The ``jsonl*`` keys of ``[alerts]``: the file exists as a sink when ``jsonl`` is set."""

    path: NonEmpty = Field(alias="jsonl")
    min_severity: Severity | None = Field(None, alias="jsonl_min_severity")


class JsonLinesSink(AlertSink[JsonLinesSettings]):
    """Appends one JSON object per alert to a file and fsyncs before returning.

    A line is either complete or absent: all lines go out in one append, and a
    torn last line left by a crash is closed with a newline before new lines are
    added after it, so a crash costs at most that one line, never the next one.
    """

    slug = "jsonl"
    settings_model = JsonLinesSettings

    def __init__(
        self, settings: JsonLinesSettings, context: Context, *, name: str | None = None
    ) -> None:
        super().__init__(settings, context, name=name)
        self.path = context.path(settings.path)

    def __repr__(self) -> str:
        return f"JsonLinesSink({str(self.path)!r})"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        encoded, rejected = encode_alerts(alerts)
        keys = [alert.key for alert, _ in encoded]
        if encoded:
            payload = b"".join(dumps(document) + b"\n" for _, document in encoded)
            try:
                self._append(payload)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise DeliveryError(self.name, f"cannot append to {self.path}: {reason}") from exc
            log.debug("appended %d alerts to %s", len(keys), self.path)
        if rejected:
            raise DeliveryError(self.name, "; ".join(rejected), delivered=keys)

    def _append(self, payload: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                payload = b"\n" + payload
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if not existed:
            _fsync_dir(self.path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
