"""Authenticate an ACME request (RFC 8555 6.2-6.5): a flattened JWS whose protected
header names the algorithm, a nonce this server issued, the URL it was sent to, and
either the account (``kid``) or a new key (``jwk``).

Checked in the RFC's order, each failure its own error type: the body's shape
(malformed), the algorithm (badSignatureAlgorithm, with the ones accepted), the URL
(unauthorized), the nonce (badNonce), the key or account (malformed /
accountDoesNotExist), then the signature. Parsing and verifying are josepy's and
``acme.jws``'s; the rules are here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acme import jws as acme_jws
from josepy.errors import DeserializationError
from josepy.errors import Error as JoseError
from josepy.jwk import JWK, JWKEC, JWKRSA

from issuance.acme.eab import b64url_decode
from issuance.acme.problems import (
    BAD_NONCE,
    BAD_PUBLIC_KEY,
    BAD_SIGNATURE_ALGORITHM,
    MALFORMED,
    UNAUTHORIZED,
    AcmeError,
)

# Asymmetric algorithms only (RFC 8555 6.2: no "none", no MAC); EdDSA is not in josepy.
ALGORITHMS = ("RS256", "ES256", "ES384", "ES512", "PS256")
_KEY_TYPES = {"RS256": JWKRSA, "PS256": JWKRSA}


@dataclass(frozen=True)
class SignedRequest:
    """What a verified request carries: its payload (None for POST-as-GET), the key
    that signed, and the account URL when it was signed by ``kid``."""

    payload: Any
    jwk: JWK
    kid: str | None
    url: str
    raw_payload: bytes
    jws: acme_jws.JWS


def parse_request(
    body: bytes,
    *,
    url: str,
    take_nonce: Callable[[str], bool],
    account_key: Callable[[str], JWK],
) -> SignedRequest:
    """Verify ``body`` as sent to ``url``. ``take_nonce`` consumes a nonce (false when
    unknown, used or expired); ``account_key`` returns the key of an account URL or
    raises accountDoesNotExist / unauthorized."""
    document = _json(body, "the body")
    if not isinstance(document, dict) or set(document) != {"protected", "payload", "signature"}:
        raise AcmeError(
            MALFORMED,
            "the body must be a flattened JWS: protected, payload and signature, nothing else",
        )
    header = _protected(document["protected"])
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise AcmeError(
            BAD_SIGNATURE_ALGORITHM,
            f"algorithm {alg!r} is not accepted; use one of {', '.join(ALGORITHMS)}",
            algorithms=list(ALGORITHMS),
        )
    if header.get("url") != url:
        raise AcmeError(
            UNAUTHORIZED, f"the JWS url {header.get('url')!r} is not the URL it was sent to: {url}"
        )
    nonce = header.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise AcmeError(BAD_NONCE, "the protected header carries no nonce")
    has_jwk, has_kid = "jwk" in header, "kid" in header
    if has_jwk == has_kid:
        raise AcmeError(MALFORMED, "the protected header must carry exactly one of jwk and kid")
    try:
        signed = acme_jws.JWS.from_json(document)
    except (DeserializationError, AssertionError, ValueError, TypeError) as exc:
        raise AcmeError(MALFORMED, f"the JWS cannot be read: {exc}") from None
    # Consumed before the signature is checked: a replay fails even when well signed,
    # and a forged request still burns the nonce it guessed.
    if not take_nonce(nonce):
        raise AcmeError(BAD_NONCE, "the nonce is unknown, used or expired: take a fresh one")
    if has_jwk:
        key = signed.signature.combined.jwk
        kid = None
        if key is None:
            raise AcmeError(MALFORMED, "the jwk cannot be read")
    else:
        kid = str(header["kid"])
        key = account_key(kid)
    expected = _KEY_TYPES.get(alg, JWKEC)
    if not isinstance(key, expected):
        raise AcmeError(BAD_PUBLIC_KEY, f"a {alg} signature needs a {expected.__name__} key")
    try:
        valid = signed.verify(key)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise AcmeError(MALFORMED, "the JWS signature does not verify")
    raw = signed.payload
    payload: Any = None if raw == b"" else _json(raw, "the payload")
    return SignedRequest(payload=payload, jwk=key, kid=kid, url=url, raw_payload=raw, jws=signed)


def verify_inner(document: Any, *, url: str) -> tuple[JWK, Any]:
    """The inner JWS of a keyChange (RFC 8555 7.3.5): signed by the new key carried as
    ``jwk``, for the same URL, without a nonce. Returns the new key and its payload."""
    if not isinstance(document, dict) or set(document) != {"protected", "payload", "signature"}:
        raise AcmeError(MALFORMED, "the keyChange payload must be a flattened JWS")
    header = _protected(document["protected"])
    if header.get("alg") not in ALGORITHMS:
        raise AcmeError(
            BAD_SIGNATURE_ALGORITHM,
            f"algorithm {header.get('alg')!r} is not accepted",
            algorithms=list(ALGORITHMS),
        )
    if header.get("url") != url:
        raise AcmeError(MALFORMED, "the inner JWS must carry the same url as the outer one")
    if "nonce" in header or "kid" in header or "jwk" not in header:
        raise AcmeError(MALFORMED, "the inner JWS carries the new key as jwk, and no nonce or kid")
    try:
        signed = acme_jws.JWS.from_json(document)
        key = signed.signature.combined.jwk
        valid = key is not None and signed.verify(key)
    except (JoseError, AssertionError, ValueError, TypeError):
        valid, key = False, None
    if not valid or key is None:
        raise AcmeError(MALFORMED, "the inner JWS signature does not verify with its jwk")
    return key, _json(signed.payload, "the inner payload")


def load_jwk(document: Any) -> JWK:
    """A JWK from its JSON (stored accounts, keyChange's oldKey), or malformed."""
    try:
        key = JWK.from_json(document)
    except (DeserializationError, TypeError, AttributeError, ValueError):
        raise AcmeError(MALFORMED, "not a JSON Web Key") from None
    if not isinstance(key, JWK):
        raise AcmeError(MALFORMED, "not a JSON Web Key")
    return key


def _protected(text: Any) -> dict[str, Any]:
    try:
        header = json.loads(b64url_decode(text))
    except (ValueError, TypeError):
        raise AcmeError(MALFORMED, "the protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise AcmeError(MALFORMED, "the protected header must be a JSON object")
    return header


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AcmeError(MALFORMED, f"{what} is not JSON") from None
