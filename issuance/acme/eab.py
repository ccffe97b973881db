"""External Account Binding keys (RFC 8555 7.3.4): how an ACME account is bound to a
policy, the way an API token is.

An operator runs ``certsight acme eab create --name web --allow '*.corp.example'`` and
hands the key id and HMAC key to the team running the ACME client. The account that
registers with them obtains what the key allows, and its certificates name
``acme:web`` as their requester. Unlike a token, the HMAC key must be stored as it is
(the server recomputes the MAC), in the 0600 state file; it is never logged.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from josepy.errors import DeserializationError
from josepy.jwa import JWASignature
from josepy.jwk import JWK, JWKOct

from issuance.acme.problems import MALFORMED, UNAUTHORIZED, AcmeError
from issuance.acme.state import AcmeState
from issuance.policy import Grant
from issuance.tokens import TokenError, check_terms

HMAC_BYTES = 32


class EabError(TokenError):
    """An EAB key cannot be created or revoked as asked; the message says why. A kind
    of TokenError: the CLI shows it as a one-line user error, as it does for tokens."""


@dataclass(frozen=True)
class EabKey:
    kid: str
    name: str
    allow: tuple[str, ...]
    profiles: tuple[str, ...]
    rate_limit: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def requester(self) -> str:
        return f"acme:{self.name}"

    def grant(self) -> Grant:
        return Grant.build(self.requester, self.allow, self.profiles, self.rate_limit)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _option_safe_key() -> str:
    """A random HMAC key whose base64url does not start with '-': pasted after
    certbot's ``--eab-hmac-key`` (or acme.sh's), such a key is read as an option and the
    client stops with a usage error. Redrawing one key in 64 costs under 0.03 bits."""
    while True:
        key = b64url(secrets.token_bytes(HMAC_BYTES))
        if not key.startswith("-"):
            return key


class EabKeys:
    def __init__(self, store: AcmeState) -> None:
        self._store = store

    def create(
        self,
        *,
        name: str,
        allow: Iterable[str],
        profiles: Iterable[str],
        rate_limit: str,
        now: datetime,
    ) -> tuple[str, str]:
        """A new key: (key id, base64url HMAC key), the only time the key is shown."""
        patterns = check_terms(
            name, allow, rate_limit, holder=("EAB", "an EAB key"), error=EabError
        )
        kid = "kid-" + secrets.token_urlsafe(16)
        hmac_key = _option_safe_key()
        inserted = self._store.insert(
            "acme_eab",
            {
                "kid": kid,
                "name": name,
                "hmac_key": hmac_key,
                "allow": list(patterns),
                "profiles": list(profiles),
                "rate_limit": rate_limit,
                "created_at": now,
            },
        )
        if not inserted:
            raise EabError(f"an EAB key named {name!r} exists; revoke it or choose another name")
        return kid, hmac_key

    def list(self) -> list[EabKey]:
        return [_key(row) for row in self._store.all("acme_eab")]

    def get(self, kid: str) -> EabKey | None:
        row = self._store.get("acme_eab", kid)
        return _key(row) if row is not None else None

    def revoke(self, name: str, now: datetime) -> EabKey:
        row = self._store.find("acme_eab", "name", name)
        if row is None:
            raise EabError(f"no EAB key named {name!r}")
        if row["revoked_at"]:
            raise EabError(f"EAB key {name!r} is already revoked")
        self._store.update("acme_eab", str(row["kid"]), {"revoked_at": now})
        found = self.get(str(row["kid"]))
        assert found is not None
        return found

    def verify(self, binding: Any, account_jwk: JWK, url: str) -> EabKey:
        """Check ``externalAccountBinding`` of a newAccount (RFC 8555 7.3.4): a JWS by
        the HMAC key over the account's JWK, for this URL. Returns the bound key."""
        if not isinstance(binding, dict) or set(binding) != {"protected", "payload", "signature"}:
            raise AcmeError(MALFORMED, "externalAccountBinding must be a flattened JWS")
        try:
            header = json.loads(b64url_decode(binding["protected"]))
            payload = json.loads(b64url_decode(binding["payload"]))
            signature = b64url_decode(binding["signature"])
        except (ValueError, TypeError):
            raise AcmeError(
                MALFORMED, "externalAccountBinding is not valid base64url JSON"
            ) from None
        if not isinstance(header, dict) or header.get("alg") not in ("HS256", "HS384", "HS512"):
            raise AcmeError(MALFORMED, "externalAccountBinding must be signed with HS256/384/512")
        if "nonce" in header or header.get("url") != url:
            raise AcmeError(UNAUTHORIZED, "externalAccountBinding must carry this URL and no nonce")
        key = self.get(str(header.get("kid", "")))
        if key is None:
            raise AcmeError(UNAUTHORIZED, "the external account key id is unknown")
        if key.revoked_at is not None:
            raise AcmeError(UNAUTHORIZED, f"the external account key {key.kid} was revoked")
        row = self._store.get("acme_eab", key.kid)
        assert row is not None
        mac_key = JWKOct(key=b64url_decode(str(row["hmac_key"])))
        algorithm = JWASignature.from_json(header["alg"])
        signed = (binding["protected"] + "." + binding["payload"]).encode("ascii")
        if not algorithm.verify(mac_key.key, signed, signature):
            raise AcmeError(UNAUTHORIZED, "the externalAccountBinding MAC does not verify")
        try:
            bound = JWK.from_json(payload)
        except (DeserializationError, TypeError, AttributeError, ValueError):
            bound = None
        if not isinstance(bound, JWK):
            raise AcmeError(MALFORMED, "the externalAccountBinding payload is not a JWK")
        if bound.thumbprint() != account_jwk.thumbprint():
            raise AcmeError(
                UNAUTHORIZED, "the externalAccountBinding binds another key than the account's"
            )
        return key


def _key(row: dict[str, Any]) -> EabKey:
    return EabKey(
        kid=str(row["kid"]),
        name=str(row["name"]),
        allow=tuple(row["allow"]),
        profiles=tuple(row["profiles"]),
        rate_limit=str(row["rate_limit"]),
        created_at=datetime.fromisoformat(str(row["created_at"])),
        revoked_at=datetime.fromisoformat(str(row["revoked_at"])) if row["revoked_at"] else None,
    )
