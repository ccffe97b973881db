"""Build signed OCSP responses (RFC 6960 4.2.1) and the unsuccessful ones.

The signer is a delegated responder certificate (4.2.2.2) or, for requests
about the issuing CA itself, the root. ResponderID is byKey, which RFC 5019 2.2.3
recommends because it is smaller and survives a change of the signer's name.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki import der
from pki.identity import public_key_bits
from pki.keys import SigningKey, sign
from pki.ocsp_request import NONCE_OID, CertId
from pki.reasons import RevocationReason

BASIC_RESPONSE_OID = "1.3.6.1.5.5.7.48.1.1"
_ECDSA_SHA256 = der.sequence(der.oid("1.2.840.10045.4.3.2"))
_NONCE_OID = der.oid(NONCE_OID)
_BASIC_RESPONSE_OID = der.oid(BASIC_RESPONSE_OID)
_SUCCESSFUL = der.enumerated(0)
_RSA_SHA256 = der.sequence(der.oid("1.2.840.113549.1.1.11"), b"\x05\x00")


class ResponseStatus(enum.IntEnum):
    """OCSPResponseStatus; 4 is not used."""

    successful = 0
    malformedRequest = 1
    internalError = 2
    tryLater = 3
    sigRequired = 5
    unauthorized = 6


class SingleStatus(enum.StrEnum):
    good = "good"
    revoked = "revoked"
    unknown = "unknown"


@dataclass(slots=True)  # built per request: plain slots construct faster than frozen
class SingleAnswer:
    cert_id: CertId
    status: SingleStatus
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None


def unsuccessful(status: ResponseStatus) -> bytes:
    """An OCSPResponse with no responseBytes: unsigned by design (RFC 6960 2.3)."""
    return der.sequence(der.enumerated(status))


class ResponseSigner:
    """Holds one signer's constant parts so that each response costs one signature."""

    def __init__(
        self, signer_cert: x509.Certificate, signer_key: SigningKey, *, include_cert: bool
    ) -> None:
        public_numbers_match = signer_cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == signer_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not public_numbers_match:
            raise ValueError("the OCSP signing key does not match the signer certificate")
        self._key = signer_key
        key_hash = hashlib.sha1(public_key_bits(signer_cert)).digest()  # noqa: S324 - RFC 6960
        self._responder_id = der.explicit(2, der.octet_string(key_hash))
        self._algorithm = (
            _ECDSA_SHA256 if isinstance(signer_key, ec.EllipticCurvePrivateKey) else _RSA_SHA256
        )
        cert_der = signer_cert.public_bytes(serialization.Encoding.DER)
        self._certs = der.explicit(0, der.sequence(cert_der)) if include_cert else b""
        self.not_after = signer_cert.not_valid_after_utc

    def build(
        self,
        answers: Sequence[SingleAnswer],
        *,
        produced_at: datetime,
        this_update: datetime,
        next_update: datetime,
        nonce: bytes | None = None,
    ) -> bytes:
        validity = _validity(this_update, next_update)
        singles = b"".join(
            der.sequence(answer.cert_id.der, _status(answer), validity) for answer in answers
        )
        extensions = b""
        if nonce is not None:
            extensions = der.explicit(
                1, der.sequence(der.sequence(_NONCE_OID, der.octet_string(nonce)))
            )
        tbs = der.sequence(
            self._responder_id,
            der.generalized_time(produced_at),
            der.sequence(singles),
            extensions,
        )
        basic = der.sequence(
            tbs, self._algorithm, der.bit_string(sign(self._key, tbs)), self._certs
        )
        response_bytes = der.sequence(_BASIC_RESPONSE_OID, der.octet_string(basic))
        return der.sequence(_SUCCESSFUL, der.explicit(0, response_bytes))


@functools.lru_cache(maxsize=64)
def _validity(this_update: datetime, next_update: datetime) -> bytes:
    """thisUpdate and nextUpdate of a SingleResponse: shared by every answer of a second."""
    return der.generalized_time(this_update) + der.explicit(0, der.generalized_time(next_update))


def _status(answer: SingleAnswer) -> bytes:
    if answer.status is SingleStatus.good:
        return b"\x80\x00"
    if answer.status is SingleStatus.unknown:
        return b"\x82\x00"
    assert answer.revoked_at is not None
    info = der.generalized_time(answer.revoked_at)
    # RFC 5280 5.3.1: omit the reason rather than say "unspecified".
    if answer.reason is not None and answer.reason is not RevocationReason.unspecified:
        info += der.explicit(0, der.enumerated(answer.reason))
    return der.tlv(0xA1, info)
