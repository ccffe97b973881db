"""The few DER encoders an OCSP response needs (X.690 8 and 10).

Responses are assembled from bytes rather than through an object model because
the responder must echo each request's CertID octet for octet (clients compare
the encoding, parameters included) and because signing live at line rate leaves
no room for an object tree per response.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:  # the common case, inlined: this runs ~20 times per signed response
        return bytes((tag, size)) + content
    return bytes((tag,)) + length(size) + content


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def octet_string(value: bytes) -> bytes:
    return tlv(0x04, value)


def bit_string(value: bytes) -> bytes:
    return tlv(0x03, b"\x00" + value)


def enumerated(value: int) -> bytes:
    return tlv(0x0A, bytes((value,)))


def explicit(number: int, content: bytes) -> bytes:
    """Context-specific constructed tag ``[number] EXPLICIT``."""
    return tlv(0xA0 | number, content)


@functools.lru_cache(maxsize=64)
def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


_TIMES: dict[int, bytes] = {}


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime in UTC, whole seconds, ``Z`` (RFC 5280 4.1.2.5.2).

    Responses signed in the same second share their times, so each second is
    formatted once (keyed by its epoch second, cheaper than truncating a datetime).
    """
    second = math.floor(moment.timestamp())
    encoded = _TIMES.get(second)
    if encoded is None:
        if len(_TIMES) > 1024:
            _TIMES.clear()
        text = datetime.fromtimestamp(second, UTC).strftime("%Y%m%d%H%M%SZ")
        encoded = tlv(0x18, text.encode("ascii"))
        _TIMES[second] = encoded
    return encoded


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the element at ``offset``; ValueError if cut."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER element")
    tag = data[offset]
    first = data[offset + 1]
    start = offset + 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("unsupported DER length")
        size = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + size
    if end > len(data):
        raise ValueError("truncated DER element")
    return tag, start, end
