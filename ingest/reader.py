"""Open a RAW object, undo gzip, and tell its format from its content (never its name)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ingest.storage import open_binary

GZIP_MAGIC = b"\x1f\x8b"


class TruncatedObjectError(Exception):
    """The object ends in the middle of a gzip stream: everything before it was read."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"truncated or corrupt gzip after line {line}: {detail}")
        self.line = line


@dataclass(frozen=True)
class Opened:
    format: str  # json-lines, cloudfront, pem, der, empty, corrupt, unknown
    compressed: bool


def _head(uri: str) -> tuple[bytes | None, bool]:
    """The first bytes after any gzip layer; None when the gzip cannot even start."""
    with open_binary(uri) as raw:
        start = raw.read(2)
        if start != GZIP_MAGIC:
            return start + raw.read(510), False
    try:
        with open_binary(uri) as raw, gzip.open(raw, "rb") as handle:
            return handle.read(512), True
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return None, True


def sniff(uri: str) -> Opened:
    head, compressed = _head(uri)
    if head is None:
        return Opened("corrupt", compressed)
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


def decompressed(raw: IO[bytes], compressed: bool) -> IO[bytes]:
    return gzip.open(raw, "rb") if compressed else raw  # type: ignore[return-value]


def lines(uri: str, compressed: bool) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) pairs; a broken gzip tail raises TruncatedObjectError
    after every complete line before it has been yielded."""
    number = 0
    try:
        with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise TruncatedObjectError(number, str(exc) or type(exc).__name__) from None


MAX_WHOLE_OBJECT = 512 * 1024 * 1024


def read_all(uri: str, compressed: bool) -> bytes:
    """A whole (certificate or CRL) object; CRLs of millions of entries still fit."""
    try:
        with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
            data: bytes = handle.read(MAX_WHOLE_OBJECT + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise TruncatedObjectError(0, str(exc) or type(exc).__name__) from None
    if len(data) > MAX_WHOLE_OBJECT:
        raise TruncatedObjectError(0, f"object larger than {MAX_WHOLE_OBJECT} bytes")
    return data


BLOCK = 64 * 1024 * 1024
CHUNK = 1024 * 1024


def decompressed_blocks(uri: str, compressed: bool) -> Iterator[tuple[int, list[bytes]]]:
    """Lines a block at a time, as ``(number of the first line, lines without "\\n")``:
    vectorised readers work on blocks, and memory stays bounded by the block size.
    A gzip stream cut short yields every complete line before the cut, then the cut
    line itself, then raises TruncatedObjectError."""
    number = 1
    pending: list[bytes] = []
    size = 0
    carry = b""

    def complete_lines() -> list[bytes]:
        nonlocal carry
        lines = (carry + b"".join(pending)).split(b"\n")
        carry = lines.pop()
        pending.clear()
        return lines

    try:
        with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
            while True:
                chunk = handle.read(CHUNK)  # small reads: a cut loses at most one chunk
                if not chunk:
                    break
                pending.append(chunk)
                size += len(chunk)
                if size >= BLOCK:
                    lines = complete_lines()
                    size = 0
                    yield number, lines
                    number += len(lines)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        lines = complete_lines()
        if carry:
            lines.append(carry)  # the cut line: its reader quarantines it
        if lines:
            yield number, lines
            number += len(lines)
        raise TruncatedObjectError(number - 1, str(exc) or type(exc).__name__) from None
    lines = complete_lines()
    if carry:
        lines.append(carry)
    if lines:
        yield number, lines
