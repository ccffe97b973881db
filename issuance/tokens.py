"""API tokens: bearer secrets bound to name patterns, profiles and a rate limit.

A token is shown once, when it is created; only its SHA-256 is stored (a token is 256
random bits, so a fast hash is as good as a slow one and keeps every API call cheap).
Tokens live in ``HOME/issuance/issuance.sqlite`` beside the pending orders, so that
``certsight token create`` and a running ``certsight serve issuance`` see the same
tokens without a restart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from issuance.patterns import parse_pattern
from issuance.policy import Grant
from issuance.settings import check_rate_limit
from issuance.statedb import StateDb

TOKEN_PREFIX = "cst_"  # noqa: S105 - a prefix that secret scanners can match, not a secret
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class TokenError(ValueError):
    """A token cannot be created or changed as asked; the message says why."""


def check_terms(
    name: str,
    allow: Iterable[str],
    rate_limit: str,
    *,
    holder: tuple[str, str],
    error: type[TokenError] = TokenError,
) -> tuple[str, ...]:
    """The terms every credential bound to a policy shares (API tokens, ACME EAB keys): a
    name, at least one valid name pattern, a rate limit. Returns the patterns; ``holder``
    names the credential in messages (``("token", "a token")``)."""
    if not _NAME.fullmatch(name):
        raise error(
            f"{holder[0]} name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    patterns = tuple(allow)
    if not patterns:
        raise error(f"{holder[1]} needs at least one --allow pattern")
    for pattern in patterns:
        parse_pattern(pattern)  # PatternError names the bad one
    try:
        check_rate_limit(rate_limit)
    except ValueError as exc:
        raise error(str(exc)) from None
    return patterns


@dataclass(frozen=True)
class TokenInfo:
    """A token as ``token list`` shows it: never the secret, never its hash."""

    name: str
    allow: tuple[str, ...]
    profiles: tuple[str, ...]
    rate_limit: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def grant(self) -> Grant:
        return _grant(self.name, self.allow, self.profiles, self.rate_limit)


@functools.lru_cache(maxsize=1024)
def _grant(name: str, allow: tuple[str, ...], profiles: tuple[str, ...], rate: str) -> Grant:
    """Patterns parsed once per token version, not at every request (they cannot change
    without the cache key changing: a token's row is only ever inserted or revoked)."""
    return Grant.build(f"api:{name}", allow, profiles, rate)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenStore:
    def __init__(self, db: StateDb) -> None:
        self._db = db

    def create(
        self,
        *,
        name: str,
        allow: Iterable[str],
        profiles: Iterable[str],
        rate_limit: str,
        now: datetime,
        expires_days: int | None = None,
    ) -> str:
        """Store a new token and return its secret: the only time anyone sees it."""
        patterns = check_terms(name, allow, rate_limit, holder=("token", "a token"))
        if expires_days is not None and expires_days < 1:
            raise TokenError("--expires must be at least 1 day")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now + timedelta(days=expires_days) if expires_days else None
        inserted = self._db.insert_token(
            name=name,
            token_hash=_digest(token),
            allow=json.dumps(patterns),
            profiles=json.dumps(tuple(profiles)),
            rate_limit=rate_limit,
            created_at=now,
            expires_at=expires,
        )
        if not inserted:
            raise TokenError(f"a token named {name!r} exists; revoke it or choose another name")
        return token

    def authenticate(self, token: str, now: datetime) -> TokenInfo | None:
        """The token's record when it is known, not revoked and not expired."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        row = self._db.token_by_hash(_digest(token))
        if row is None:
            return None
        info = _info(row)
        return info if info.state(now) == "active" else None

    def grant_of(self, name: str, now: datetime) -> Grant | None:
        """The grant of the token called ``name`` while it is active (for renewals, which
        carry no token but act for the one that obtained the certificate)."""
        row = self._db.token_by_name(name)
        if row is None:
            return None
        info = _info(row)
        return info.grant() if info.state(now) == "active" else None

    def list(self) -> list[TokenInfo]:
        return [_info(row) for row in self._db.tokens()]

    def revoke(self, name: str, now: datetime) -> TokenInfo:
        if not self._db.revoke_token(name, now):
            known = self._db.token_by_name(name)
            if known is None:
                raise TokenError(f"no token named {name!r}")
            raise TokenError(f"token {name!r} is already revoked")
        row = self._db.token_by_name(name)
        assert row is not None
        return _info(row)


def _info(row: dict[str, object]) -> TokenInfo:
    def when(value: object) -> datetime | None:
        return datetime.fromisoformat(str(value)) if value else None

    created = when(row["created_at"])
    assert created is not None
    return TokenInfo(
        name=str(row["name"]),
        allow=tuple(json.loads(str(row["allow"]))),
        profiles=tuple(json.loads(str(row["profiles"]))),
        rate_limit=str(row["rate_limit"]),
        created_at=created,
        expires_at=when(row["expires_at"]),
        revoked_at=when(row["revoked_at"]),
    )
