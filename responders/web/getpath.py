"""Decode an OCSP GET request from the URL path (RFC 6960 A.1, RFC 5019 5).

Real clients disagree on the encoding: Java percent-encodes ``/ + =``, Windows
CryptoAPI sends raw base64 whose ``/`` look like path separators, some send the
URL-safe alphabet or drop the padding, and a CDN may encode once more. Decode
percent-escapes (never ``+`` to space: ``+`` is base64), then base64.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

MAX_GET_PATH = 8192


class GetDecodeError(ValueError):
    pass


def decode_get_request(encoded: str) -> bytes:
    if len(encoded) > MAX_GET_PATH:
        raise GetDecodeError(f"GET request path longer than {MAX_GET_PATH} characters")
    text = encoded
    # A DER SEQUENCE starts with 0x30, i.e. base64 "M": leading slashes are separators.
    for _ in range(3):  # at most a CDN's encoding on top of the client's own
        if "%" not in text:
            break
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise GetDecodeError("GET path has percent-escapes that are not base64") from None
    text = "".join(text.lstrip("/").split())
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    if not text:
        raise GetDecodeError("GET request without an OCSP request in the path")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GetDecodeError(f"GET path is not base64: {exc}") from None
