"""Locations as URIs: a local folder or ``s3://bucket/prefix``, through pyarrow's file
systems, so that the same code writes the LAKE here and on S3.

S3 endpoint, region and credentials come from the standard AWS settings
(``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``, keys, profiles).
pyarrow does not read the endpoint variables itself, so they are passed on here.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import pyarrow as pa
from pyarrow import fs as pafs


class StorageError(RuntimeError):
    """A location that cannot be reached or used: the message says which and why."""


@dataclass(frozen=True)
class Location:
    filesystem: pafs.FileSystem
    root: str  # a path inside ``filesystem``: "/abs/folder" or "bucket/prefix"
    uri: str  # as the user wrote it, for messages and manifests
    is_s3: bool

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def uri_of(self, path: str) -> str:
        return f"s3://{path}" if self.is_s3 else path


def s3_filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options: dict[str, object] = {}
    if region:
        options["region"] = region
    if endpoint:
        parsed = urlparse(endpoint)
        options["endpoint_override"] = parsed.netloc or parsed.path
        options["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**options)


def location(uri: str) -> Location:
    if uri.startswith("s3://"):
        rest = uri.removeprefix("s3://").strip("/")
        if not rest:
            raise StorageError(f"{uri}: name a bucket, s3://bucket/prefix")
        return Location(s3_filesystem(), rest, uri, True)
    return Location(pafs.LocalFileSystem(), str(Path(uri).expanduser().absolute()), uri, False)


def open_binary(uri: str) -> IO[bytes]:
    """Read an object by URI, locally or from S3. The S3 stream is buffered: pyarrow's
    input stream has no ``readline``, and readers take a plain object line by line."""
    if uri.startswith("s3://"):
        stream = s3_filesystem().open_input_stream(
            uri.removeprefix("s3://"),
            compression=None,  # bytes as stored; we sniff gzip
        )
        return io.BufferedReader(stream)
    return open(uri, "rb")


def open_random_access(uri: str) -> pa.NativeFile:
    """An object that can be read at any offset, locally or from S3 (by ranged GETs):
    a Parquet reader needs the footer first and then only the row groups it reads."""
    if uri.startswith("s3://"):
        handle: pa.NativeFile = s3_filesystem().open_input_file(uri.removeprefix("s3://"))
        return handle
    return pa.OSFile(uri, "rb")


def open_arrow_stream(uri: str, compressed: bool) -> pa.NativeFile:
    """An Arrow input stream, gzip undone natively (faster than Python's gzip, and it
    lets pyarrow's readers work without holding the GIL)."""
    compression = "gzip" if compressed else None
    if uri.startswith("s3://"):
        stream: pa.NativeFile = s3_filesystem().open_input_stream(
            uri.removeprefix("s3://"), compression=compression
        )
        return stream
    return pa.input_stream(uri, compression=compression)
