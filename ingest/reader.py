"""Open a RAW object, undo gzip, and tell its format from its content (never its name)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"


class TruncatedObjectError(Exception):
    """The object ends in the middle of a gzip stream: everything before it was read."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"truncated or corrupt gzip after line {line}: {detail}")
        self.line = line


@dataclass(frozen=True)
class Opened:
    format: str  # json-lines, cloudfront, pem, der, empty, unknown
    compressed: bool


def _head(path: Path) -> tuple[bytes, bool]:
    with path.open("rb") as handle:
        start = handle.read(2)
    if start == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(512), True
        except (EOFError, OSError, zlib.error):
            return b"", True
    with path.open("rb") as handle:
        return handle.read(512), False


def sniff(path: Path) -> Opened:
    head, compressed = _head(path)
    text = head.lstrip()
    if not text:
        return Opened("empty", compressed)
    if text.startswith(b"{"):
        return Opened("json-lines", compressed)
    if text.startswith((b"#Version", b"#Fields")):
        return Opened("cloudfront", compressed)
    if text.startswith(b"-----BEGIN"):
        return Opened("pem", compressed)
    if head[:1] == b"\x30":
        return Opened("der", compressed)
    return Opened("unknown", compressed)


def lines(path: Path, compressed: bool) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) pairs; a broken gzip tail raises TruncatedObjectError
    after every complete line before it has been yielded."""
    number = 0
    if not compressed:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
        return
    try:
        with gzip.open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
    except (EOFError, OSError, zlib.error) as exc:
        raise TruncatedObjectError(number, str(exc) or type(exc).__name__) from None


MAX_WHOLE_OBJECT = 512 * 1024 * 1024


def read_all(path: Path, compressed: bool) -> bytes:
    """A whole (certificate or CRL) object; CRLs of millions of entries still fit."""
    if path.stat().st_size > MAX_WHOLE_OBJECT:
        raise TruncatedObjectError(0, f"object larger than {MAX_WHOLE_OBJECT} bytes")
    if not compressed:
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(MAX_WHOLE_OBJECT + 1)
    except (EOFError, OSError, zlib.error) as exc:
        raise TruncatedObjectError(0, str(exc) or type(exc).__name__) from None
