"""ACME accounts (RFC 8555 7.3): registration with External Account Binding, lookup
by key, update, deactivation and key rollover, and the grant an account acts under.

An account bound by EAB acts as ``acme:<EAB name>`` with that key's patterns,
profiles and rate limit, read at every request: revoking the EAB key stops its
accounts at once, as revoking a token does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from josepy.jwk import JWK

from issuance.acme.eab import EabKeys
from issuance.acme.jws import SignedRequest, load_jwk, verify_inner
from issuance.acme.problems import (
    ACCOUNT_DOES_NOT_EXIST,
    CONFLICT,
    EXTERNAL_ACCOUNT_REQUIRED,
    INVALID_CONTACT,
    MALFORMED,
    UNAUTHORIZED,
    AcmeError,
)
from issuance.acme.resources import Reply, Urls, account_body
from issuance.acme.settings import AcmeSettings
from issuance.acme.state import AcmeState
from issuance.policy import Grant


def thumbprint(key: JWK) -> str:
    return key.thumbprint().hex()


class Accounts:
    def __init__(
        self,
        store: AcmeState,
        eab: EabKeys,
        settings: AcmeSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._eab = eab
        self._settings = settings
        self._clock = clock

    # -- lookups --------------------------------------------------------------------------
    def row(self, account_id: str) -> dict[str, Any]:
        row = self._store.get("acme_accounts", account_id)
        if row is None:
            raise AcmeError(ACCOUNT_DOES_NOT_EXIST, f"no account {account_id}")
        return row

    def key_of(self, kid: str, urls: Urls) -> JWK:
        """The key of the account a ``kid`` names; deactivated accounts are refused
        (RFC 8555 7.3.6)."""
        account_id = urls.account_id(kid)
        if account_id is None or "/" in account_id:
            raise AcmeError(ACCOUNT_DOES_NOT_EXIST, f"{kid!r} is not an account URL of this server")
        row = self.row(account_id)
        if row["status"] != "valid":
            raise AcmeError(UNAUTHORIZED, f"account {account_id} is {row['status']}")
        return load_jwk(row["jwk"])

    def grant(self, row: dict[str, Any]) -> Grant:
        """What the account may obtain now."""
        kid = row.get("eab_kid")
        if not kid:
            return Grant.build(
                f"acme:account-{row['id']}",
                self._settings.open_allow,
                self._settings.open_profiles,
                self._settings.open_rate_limit,
            )
        key = self._eab.get(str(kid))
        if key is None or key.revoked_at is not None:
            raise AcmeError(
                UNAUTHORIZED,
                f"the external account binding {kid} of this account was revoked: "
                "register a new account with a new EAB key",
            )
        return key.grant()

    # -- newAccount -----------------------------------------------------------------------
    def new_account(self, request: SignedRequest, urls: Urls) -> Reply:
        if request.kid is not None:
            raise AcmeError(MALFORMED, "newAccount is signed with the new key as jwk, not kid")
        payload = _object(request.payload)
        existing = self._store.find("acme_accounts", "thumbprint", thumbprint(request.jwk))
        if existing is not None:
            if existing["status"] != "valid":
                raise AcmeError(UNAUTHORIZED, f"the account of this key is {existing['status']}")
            location = urls.account(str(existing["id"]))
            return Reply(200, account_body(existing, urls), location=location)
        if payload.get("onlyReturnExisting") is True:
            raise AcmeError(ACCOUNT_DOES_NOT_EXIST, "no account has this key")
        contact = _contact(payload.get("contact", []))
        binding = payload.get("externalAccountBinding")
        eab_kid = None
        if binding is not None:
            eab_kid = self._eab.verify(binding, request.jwk, request.url).kid
        elif self._settings.eab_required:
            raise AcmeError(
                EXTERNAL_ACCOUNT_REQUIRED,
                "this server binds accounts to a policy: ask its operator for an EAB key "
                "(certsight acme eab create) and register with it",
            )
        row = {
            "id": uuid.uuid4().hex,
            "thumbprint": thumbprint(request.jwk),
            "jwk": request.jwk.to_partial_json(),
            "status": "valid",
            "contact": contact,
            "eab_kid": eab_kid,
            "created_at": self._clock(),
        }
        if not self._store.insert("acme_accounts", row):  # the same key, registered at once
            return self.new_account(request, urls)
        stored = self.row(str(row["id"]))
        return Reply(201, account_body(stored, urls), location=urls.account(str(row["id"])))

    # -- account URL: read, update, deactivate --------------------------------------------
    def update(self, request: SignedRequest, account_id: str, urls: Urls) -> Reply:
        row = self._own(request, account_id, urls)
        if request.payload is not None:
            payload = _object(request.payload)
            changes: dict[str, Any] = {}
            if payload.get("contact") is not None:  # null: unchanged (certbot sends it)
                changes["contact"] = _contact(payload["contact"])
            status = payload.get("status")
            if status is not None:
                if status != "deactivated":
                    raise AcmeError(MALFORMED, "an account's status can only become deactivated")
                changes["status"] = "deactivated"
            if changes:
                self._store.update("acme_accounts", account_id, changes, when_status=("valid",))
                row = self.row(account_id)
        return Reply(200, account_body(row, urls), location=urls.account(account_id))

    def orders(self, request: SignedRequest, account_id: str, urls: Urls) -> Reply:
        self._own(request, account_id, urls)
        listed = self._store.select("acme_orders", "account_id", account_id)
        return Reply(200, {"orders": [urls.order(str(o["id"])) for o in listed]})

    def _own(self, request: SignedRequest, account_id: str, urls: Urls) -> dict[str, Any]:
        if request.kid != urls.account(account_id):
            raise AcmeError(UNAUTHORIZED, "an account is read and changed only with its own key")
        return self.row(account_id)

    # -- keyChange ------------------------------------------------------------------------
    def key_change(self, request: SignedRequest, urls: Urls) -> Reply:
        if request.kid is None:
            raise AcmeError(MALFORMED, "keyChange is signed by the account (kid)")
        account_id = urls.account_id(request.kid) or ""
        row = self.row(account_id)
        new_key, inner = verify_inner(request.payload, url=request.url)
        inner = _object(inner)
        if inner.get("account") != request.kid:
            raise AcmeError(UNAUTHORIZED, "the inner JWS names another account")
        old_key = load_jwk(inner.get("oldKey"))
        if thumbprint(old_key) != row["thumbprint"]:
            raise AcmeError(UNAUTHORIZED, "oldKey is not the account's current key")
        taken = self._store.find("acme_accounts", "thumbprint", thumbprint(new_key))
        if taken is not None:
            raise AcmeError(
                CONFLICT,
                "the new key belongs to an account already",
                location=urls.account(str(taken["id"])),
            )
        changed = self._store.update(
            "acme_accounts",
            account_id,
            {"jwk": new_key.to_partial_json(), "thumbprint": thumbprint(new_key)},
            when_status=("valid",),
        )
        if not changed:
            raise AcmeError(UNAUTHORIZED, "the account is no longer valid")
        return Reply(200, account_body(self.row(account_id), urls), location=request.kid)


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise AcmeError(MALFORMED, "the payload must be a JSON object")
    return payload


def _contact(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise AcmeError(INVALID_CONTACT, "contact must be a list of mailto: URLs")
    for entry in value:
        if not entry.startswith("mailto:") or "@" not in entry or len(entry) > 320:
            raise AcmeError(INVALID_CONTACT, f"{entry[:80]!r} is not a mailto: URL")
    return list(value)
