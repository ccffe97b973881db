"""Text columns without a Python object per row.

Log lines and LAKE columns are built from Arrow string arrays: fixed-width fields
(times, random ids) are written as bytes by numpy and wrapped as Arrow strings
without copying row by row, and variable fields are joined by Arrow's compute
kernels. ``pyarrow.compute.strftime`` would do the times too, but at about half a
microsecond per value it would dominate the whole simulation.
"""

from __future__ import annotations

import binascii

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.config import DAY_US, from_us

URL_SAFE = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8
)
_ZERO = ord("0")


def fixed_width(matrix: np.ndarray) -> pa.Array:
    """Each row of a ``(n, width)`` uint8 matrix as one ASCII string."""
    rows, width = matrix.shape
    offsets = np.arange(rows + 1, dtype=np.int32) * width
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.Array.from_buffers(
        pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def token_matrix(
    rng: np.random.Generator, count: int, length: int, suffix: bytes = b""
) -> np.ndarray:
    """Random URL-safe base64 ids as a ``(count, length + len(suffix))`` byte matrix
    (CloudFront's and Lambda's request ids look like this); rows can be picked with
    numpy indexing before they become strings. Base64 of random bytes, four
    characters per three bytes, so a row's width is rounded up to a multiple of four
    and the suffix written over its end."""
    width = length + len(suffix)
    chunk = -(-width // 4) * 3
    text = binascii.b2a_base64(rng.bytes(count * chunk), newline=False).translate(_URL_SAFE)
    matrix = np.frombuffer(text, np.uint8).reshape(count, chunk // 3 * 4)[:, :width].copy()
    if suffix:
        matrix[:, length:] = np.frombuffer(suffix, np.uint8)
    return matrix


def _digits(matrix: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    for position in range(width):
        matrix[:, column + position] = _ZERO + (values // 10 ** (width - 1 - position)) % 10


def clock_times(moments_us: np.ndarray, *, fraction: bool) -> pa.Array:
    """``HH:MM:SS`` (CloudFront) or ``HH:MM:SS.ffffff`` of each moment, UTC."""
    in_day = moments_us % DAY_US
    seconds = in_day // 1_000_000
    width = 15 if fraction else 8
    matrix = np.empty((len(moments_us), width), np.uint8)
    _digits(matrix, 0, seconds // 3600, 2)
    matrix[:, 2] = ord(":")
    _digits(matrix, 3, seconds // 60 % 60, 2)
    matrix[:, 5] = ord(":")
    _digits(matrix, 6, seconds % 60, 2)
    if fraction:
        matrix[:, 8] = ord(".")
        _digits(matrix, 9, in_day % 1_000_000, 6)
    return fixed_width(matrix)


def day_text(moment_us: int) -> str:
    return from_us(moment_us).strftime("%Y-%m-%d")


def iso_times(moments_us: np.ndarray) -> pa.Array:
    """The LAKE's spelling, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, of moments within one day."""
    if not len(moments_us):
        return pa.array([], pa.string())
    day = day_text(int(moments_us[0]))
    return pc.binary_join_element_wise(day + "T", clock_times(moments_us, fraction=True), "Z", "")


def millis(micros: np.ndarray) -> pa.Array:
    """Microseconds as milliseconds with three decimals, exactly: ``1891`` -> ``1.891``."""
    whole = pa.array(micros // 1000).cast(pa.string())
    part = micros % 1000
    matrix = np.empty((len(micros), 3), np.uint8)
    _digits(matrix, 0, part, 3)
    return pc.binary_join_element_wise(whole, fixed_width(matrix), ".")


def numbers(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())
