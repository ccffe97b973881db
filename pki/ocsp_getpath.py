"""Decode an OCSP GET request from its URL path (RFC 6960 A.1, RFC 5019 5).

The one GET-path decoder: the responders use it on the path they were sent, the
ingest on the path a CDN logged (after undoing the log format's own escaping).

Real clients disagree on the encoding: Java percent-encodes ``/ + =``, Windows
CryptoAPI sends raw base64 whose ``/`` look like path separators, some send the
URL-safe alphabet or drop the padding, and a CDN may encode once more. Percent-escapes
are undone (never ``+`` to space: ``+`` is base64), at most ``MAX_ESCAPE_LAYERS``
times, then the text is read as base64.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

from pki.ocsp_request import MalformedRequestError

MAX_GET_PATH = 8192  # characters; RFC 5019 requests are a few hundred
# The client's own escaping, a CDN's on top of it, and one more for proxies that
# re-encode what they forward: deeper nesting is no longer a plausible client.
MAX_ESCAPE_LAYERS = 3

_SIMPLE = re.compile(r"[A-Za-z0-9+/=_.~-]*")
_ESCAPES = (("%2F", "/"), ("%2f", "/"), ("%2B", "+"), ("%2b", "+"), ("%3D", "="), ("%3d", "="))


class GetDecodeError(MalformedRequestError):
    """The path holds no decodable OCSP request; the message says why."""


def unquote_once(text: str, errors: str = "strict") -> str:
    """Percent-decode once, ``+`` untouched. Base64 paths only ever escape ``/ + =`` (and
    ``%`` when encoded twice): those are replaced directly, a dozen times faster than
    ``urllib.parse.unquote``, which handles everything else."""
    if "%" not in text:
        return text
    stripped = text
    for escape, _ in (*_ESCAPES, ("%25", "%")):
        stripped = stripped.replace(escape, "")
    if not _SIMPLE.fullmatch(stripped):
        return unquote(text, errors=errors)
    for escape, char in _ESCAPES:
        text = text.replace(escape, char)
    return text.replace("%25", "%")  # last, so that %252F becomes %2F, decoded once


def decode_get_request(encoded: str) -> bytes:
    """The DER request in an OCSP GET path (the part after ``/ocsp/``)."""
    if len(encoded) > MAX_GET_PATH:
        raise GetDecodeError(f"GET request path longer than {MAX_GET_PATH} characters")
    text = encoded
    for _ in range(MAX_ESCAPE_LAYERS):
        if "%" not in text:
            break
        try:
            text = unquote_once(text)
        except UnicodeDecodeError:
            raise GetDecodeError("GET path has percent-escapes that are not base64") from None
    # A DER SEQUENCE starts with 0x30, i.e. base64 "M": leading slashes are separators.
    text = "".join(text.lstrip("/").split())
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    if not text:
        raise GetDecodeError("GET path holds no OCSP request")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GetDecodeError("GET path is not base64") from None
