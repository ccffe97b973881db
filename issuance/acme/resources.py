"""ACME resources as clients read them (RFC 8555 7.1): URLs under the directory's base,
and the JSON of accounts, orders, authorizations and challenges from stored rows.

Expiry is applied when a resource is read: a pending authorization past its
``expires`` reads as ``expired``, a pending or ready order as ``invalid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Urls:
    """Absolute URLs under ``base`` (``https://host:8443/acme``)."""

    base: str

    def of(self, path: str) -> str:
        return f"{self.base}/{path}"

    def account(self, account_id: str) -> str:
        return self.of(f"account/{account_id}")

    def order(self, order_id: str) -> str:
        return self.of(f"order/{order_id}")

    def authz(self, authz_id: str) -> str:
        return self.of(f"authz/{authz_id}")

    def challenge(self, authz_id: str, kind: str) -> str:
        return self.of(f"chall/{authz_id}/{kind}")

    def certificate(self, order_id: str) -> str:
        return self.of(f"cert/{order_id}")

    def account_id(self, url: str) -> str | None:
        prefix = self.of("account/")
        return url[len(prefix) :] if url.startswith(prefix) else None


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer sends: status, body (JSON, or PEM text), headers."""

    status: int
    body: dict[str, Any] | str | None = None
    location: str | None = None
    links: tuple[tuple[str, str], ...] = ()  # (url, rel)
    retry_after: int | None = None
    content_type: str = "application/json"
    extra_headers: dict[str, str] = field(default_factory=dict)


def when(moment: datetime | str) -> str:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.strftime(TIME_FORMAT)


def order_status(row: dict[str, Any], now: datetime) -> str:
    status = str(row["status"])
    if status in ("pending", "ready") and datetime.fromisoformat(row["expires_at"]) <= now:
        return "invalid"
    return status


def authz_status(row: dict[str, Any], now: datetime) -> str:
    status = str(row["status"])
    if status in ("pending", "valid") and datetime.fromisoformat(row["expires_at"]) <= now:
        return "expired"
    return status


def account_body(row: dict[str, Any], urls: Urls) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": row["status"],
        "contact": row["contact"],
        "orders": urls.of(f"account/{row['id']}/orders"),
    }
    # Not echoed: externalAccountBinding is a request field (RFC 8555 7.3.4), and the
    # acme library cannot send an account body back when it holds one (update fails).
    return body


def order_body(row: dict[str, Any], urls: Urls, now: datetime) -> dict[str, Any]:
    status = order_status(row, now)
    body: dict[str, Any] = {
        "status": status,
        "expires": when(row["expires_at"]),
        "identifiers": row["identifiers"],
        "authorizations": [urls.authz(a) for a in row["authorizations"]],
        "finalize": urls.of(f"order/{row['id']}/finalize"),
        "profile": row["profile"],
    }
    if row.get("replaces"):
        body["replaces"] = row["replaces"]
    if status == "valid":
        body["certificate"] = urls.certificate(str(row["id"]))
    if status == "invalid":
        body["error"] = row.get("error") or {
            "type": "urn:ietf:params:acme:error:malformed",
            "detail": "the order expired before it was finalized",
        }
    return body


def challenge_body(authz_id: str, challenge: dict[str, Any], urls: Urls) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": challenge["type"],
        "url": urls.challenge(authz_id, challenge["type"]),
        "token": challenge["token"],
        "status": challenge["status"],
    }
    if challenge.get("validated"):
        body["validated"] = challenge["validated"]
    if challenge.get("error"):
        body["error"] = challenge["error"]
    return body


def authz_body(row: dict[str, Any], urls: Urls, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identifier": {"type": row["identifier_type"], "value": row["identifier_value"]},
        "status": authz_status(row, now),
        "expires": when(row["expires_at"]),
        "challenges": [challenge_body(str(row["id"]), c, urls) for c in row["challenges"]],
    }
    if row["wildcard"]:
        body["wildcard"] = True
    return body
