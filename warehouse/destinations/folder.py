"""Report files written to a folder, each whole or not at all.

```toml
[reports]
destination = "reports"          # the default; relative to HOME unless absolute
```
"""

from __future__ import annotations

from pathlib import Path

from pki.store.objects import FolderObjectStore, ObjectStoreError
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
    """A reader sees the old file or the new one, never half of one (``pki.store.objects``
    writes, fsyncs and renames); ``OSError`` when it cannot be written."""
    try:
        FolderObjectStore(target.parent).put(target.name, data, "application/octet-stream")
    except ObjectStoreError as exc:
        raise OSError(str(exc)) from exc


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
        try:
            return FolderObjectStore(self.folder).put(name, data, content_type)
        except ObjectStoreError as exc:
            raise DeliveryError(self.name, str(exc)) from exc
