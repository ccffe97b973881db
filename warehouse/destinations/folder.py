"""Report files written to a folder, each whole or not at all.

```toml
[reports]
destination = "reports"          # the default; relative to HOME unless absolute
```
"""

from __future__ import annotations

import os
from pathlib import Path

from warehouse.destinations.base import (
    Context,
    DeliveryError,
    DestinationSettings,
    NonEmpty,
    ReportStore,
)

DEFAULT_FOLDER = "reports"


class FolderSettings(DestinationSettings):
    """``[reports] destination`` when it is a path (no ``scheme://``)."""

    destination: NonEmpty = DEFAULT_FOLDER


def write_atomically(target: Path, data: bytes) -> None:
    """Write a hidden temporary file beside ``target`` and rename it over ``target``:
    a reader sees the old file or the new one, never half of one."""
    temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


class FolderDestination(ReportStore[FolderSettings]):
    """Files in a folder (created if missing), each renamed into place when complete."""

    slug = "folder"
    scheme = None
    settings_model = FolderSettings

    def __init__(
        self, settings: FolderSettings, context: Context, *, name: str | None = None
    ) -> None:
        super().__init__(settings, context, name=name)
        self.folder = context.path(settings.destination)

    @property
    def location(self) -> str:
        return str(self.folder)

    def write(self, name: str, data: bytes, content_type: str) -> str:
        del content_type  # a file system keeps no media type
        target = self.folder / name
        try:
            write_atomically(target, data)
        except OSError as exc:
            raise DeliveryError(self.name, f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)
