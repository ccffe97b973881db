"""Open a RAW object, undo gzip, and tell its format from its content (never its name)."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.storage import open_binary, open_random_access

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


class TruncatedObjectError(Exception):
    """The object ends in the middle of a gzip stream: everything before it was read."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"truncated or corrupt gzip after line {line}: {detail}")
        self.line = line


@dataclass(frozen=True)
class Opened:
    # json-lines, cloudfront (any of its layouts: cloudfront_layout), pem, der, empty,
    # corrupt or unknown
    format: str
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
        names = _first_record_keys(uri, compressed)
        kind = "cloudfront" if names is not None and is_cloudfront(names) else "json-lines"
        return Opened(kind, compressed)
    if text.startswith((b"#Version", b"#Fields")):
        return Opened("cloudfront", compressed)
    if head.startswith(PARQUET_MAGIC):
        columns = None if compressed else _parquet_columns(uri)
        return Opened("cloudfront" if columns and is_cloudfront(columns) else "unknown", compressed)
    if text.startswith(b"-----BEGIN"):
        return Opened("pem", compressed)
    if head[:1] == b"\x30":
        return Opened("der", compressed)
    return Opened("unknown", compressed)


def cloudfront_layout(uri: str, compressed: bool) -> str:
    """How an object :func:`sniff` called ``cloudfront`` is laid out: ``w3c`` (legacy
    logs, and v2's W3C output), ``json`` or ``parquet`` (standard logging v2)."""
    head, _ = _head(uri)
    text = (head or b"").lstrip()
    if text.startswith(b"{"):
        return "json"
    return "parquet" if text.startswith(PARQUET_MAGIC) else "w3c"


def cloudfront_key(name: str) -> str:
    """One spelling for a CloudFront field, whichever output names it: the W3C and JSON
    ``cs(User-Agent)``, the real-time ``cs-user-agent`` and Parquet's ``cs_user_agent``
    are all ``cs_user_agent``; ``timestamp(ms)`` is ``timestamp_ms``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


# Fields only CloudFront logs carry (in cloudfront_key's spelling); an object with three
# or more of them, and no responder record's ``log`` kind, is a CloudFront log. Three:
# any selection certsight can read has cs-method, cs-uri-stem and sc-status.
_CLOUDFRONT_KEYS = frozenset(
    {
        "date",
        "time",
        "timestamp_ms",
        "x_edge_location",
        "c_ip",
        "cs_method",
        "cs_host",
        "cs_uri_stem",
        "sc_status",
        "sc_bytes",
        "cs_user_agent",
        "x_edge_result_type",
        "x_edge_request_id",
        "x_host_header",
        "time_taken",
    }
)


def is_cloudfront(names: Iterable[str]) -> bool:
    """Do these record keys or column names make a CloudFront log?"""
    keys = {cloudfront_key(name) for name in names}
    return "log" not in keys and len(keys & _CLOUDFRONT_KEYS) >= 3


FIRST_RECORD_LIMIT = 1 << 20  # a JSON record longer than this is not a log record


def _first_record_keys(uri: str, compressed: bool) -> list[str] | None:
    """The keys of the first record of a JSON-lines object; None when its first
    non-blank line is not a JSON object (the responder-log reader says why)."""
    try:
        with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
            line = b""
            while not line.strip():
                line = handle.readline(FIRST_RECORD_LIMIT)
                if not line:
                    return None
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return list(record) if isinstance(record, dict) else None


def _parquet_columns(uri: str) -> list[str] | None:
    """The column names in a Parquet object's footer; None when there is no readable one."""
    try:
        with open_random_access(uri) as handle:
            return list(pq.read_schema(handle).names)
    except (pa.ArrowException, OSError):
        return None


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
