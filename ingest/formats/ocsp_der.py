"""The CertIDs inside an OCSP request, as the LAKE records them.

The responders have their own parser (they must echo each CertID's encoding);
the ingest only needs the fields, and the package boundary (responders, ingest
and warehouse never import each other) keeps the two separate.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote

from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

HASHES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
NONCE_OID = "1.3.6.1.5.5.7.48.1.2"


class RequestError(ValueError):
    """Not a usable OCSP request; the message is the quarantine reason."""


@dataclass(frozen=True)
class CertIdFields:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial: str


@dataclass(frozen=True)
class DecodedRequest:
    cert_ids: tuple[CertIdFields, ...]
    nonce: bool


def serial_hex(serial: int) -> str:
    if serial >= 0:
        digits = format(serial, "x")
    else:
        digits = serial.to_bytes(((~serial).bit_length() + 8) // 8, "big", signed=True).hex()
    return digits if len(digits) % 2 == 0 else "0" + digits


_SIMPLE = re.compile(r"[A-Za-z0-9+/=_.~-]*")
_ESCAPES = (("%2F", "/"), ("%2f", "/"), ("%2B", "+"), ("%2b", "+"), ("%3D", "="), ("%3d", "="))


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


def decode_get_path(encoded: str) -> bytes:
    """The request in an OCSP GET path (after ``/ocsp/``), in whatever encoding the client
    used: percent-escapes (never ``+`` as space), raw or URL-safe base64, missing padding."""
    text = encoded
    for _ in range(2):
        if "%" not in text:
            break
        try:
            text = unquote_once(text)
        except UnicodeDecodeError:
            raise RequestError("percent-escapes that are not base64") from None
    text = "".join(text.lstrip("/").split()).replace("-", "+").replace("_", "/").rstrip("=")
    if not text:
        raise RequestError("GET path holds no OCSP request")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("GET path is not base64") from None


def decode_request(der: bytes) -> DecodedRequest:
    """pyca/cryptography for the common single-CertID request (about forty times faster),
    asn1crypto for what it refuses (several CertIDs, odd encodings)."""
    fast = _decode_fast(der)
    return fast if fast is not None else _decode_slow(der)


def _decode_fast(der: bytes) -> DecodedRequest | None:
    try:
        request = x509_ocsp.load_der_ocsp_request(der)
        name = request.hash_algorithm.name
        if name not in HASHES.values():
            return None
        nonce = any(isinstance(ext.value, x509.OCSPNonce) for ext in request.extensions)
        return DecodedRequest(
            (
                CertIdFields(
                    name,
                    request.issuer_name_hash.hex(),
                    request.issuer_key_hash.hex(),
                    serial_hex(request.serial_number),
                ),
            ),
            nonce,
        )
    except Exception:  # noqa: BLE001 - any refusal goes to the exact, slower parser
        return None


def _decode_slow(der: bytes) -> DecodedRequest:
    try:
        request = asn1_ocsp.OCSPRequest.load(der, strict=True)
        tbs = request["tbs_request"]
        cert_ids = []
        for entry in tbs["request_list"]:
            cert = entry["req_cert"]
            oid = cert["hash_algorithm"]["algorithm"].dotted
            if oid not in HASHES:
                raise RequestError(f"unknown CertID hash algorithm {oid}")
            cert_ids.append(
                CertIdFields(
                    HASHES[oid],
                    bytes(cert["issuer_name_hash"].native).hex(),
                    bytes(cert["issuer_key_hash"].native).hex(),
                    serial_hex(int(cert["serial_number"].native)),
                )
            )
        extensions = tbs["request_extensions"]
        nonce = extensions.native is not None and any(
            ext["extn_id"].dotted == NONCE_OID for ext in extensions
        )
    except RequestError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types on bad DER
        raise RequestError(f"DER is not an OCSPRequest: {type(exc).__name__}") from None
    if not cert_ids:
        raise RequestError("OCSP request lists no CertID")
    return DecodedRequest(tuple(cert_ids), nonce)
