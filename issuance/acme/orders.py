"""Orders, authorizations and challenges (RFC 8555 7.1.3-7.1.6, 7.4, 7.5): the ACME
state machine, and finalize through ``IssuanceService`` so that an ACME certificate is
checked, signed, stored and announced exactly like one from the issuance API.

Names are checked against the account's grant and the enterprise's rules at newOrder
(rejectedIdentifier before any challenge is offered) and again by the service at
finalize. Validation runs on a worker thread; the client polls the authorization.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.acme.accounts import Accounts
from issuance.acme.ari import IssuerIndex, parse_cert_id
from issuance.acme.jws import SignedRequest
from issuance.acme.problems import (
    ALREADY_REPLACED,
    BAD_CSR,
    MALFORMED,
    NOT_FOUND,
    ORDER_NOT_READY,
    REJECTED_IDENTIFIER,
    SERVER_INTERNAL,
    UNAUTHORIZED,
    UNSUPPORTED_IDENTIFIER,
    AcmeError,
    from_problem,
)
from issuance.acme.resources import (
    Reply,
    Urls,
    authz_body,
    authz_status,
    challenge_body,
    order_body,
    order_status,
)
from issuance.acme.settings import AcmeSettings
from issuance.acme.state import MAX_TOGETHER, AcmeState, Write
from issuance.acme.validation import Challenge, Validator, key_authorization
from issuance.patterns import normalise_name
from issuance.problems import Problem
from issuance.requests import read_csr
from issuance.service import IssuanceService, IssueRequest
from issuance.views import CertificateView
from pki.names import NameError_

log = logging.getLogger(__name__)
DEAD = ("invalid", "deactivated", "expired", "revoked")
_CHANGE_ATTEMPTS = 5


class Orders:
    def __init__(
        self,
        *,
        store: AcmeState,
        accounts: Accounts,
        service: IssuanceService,
        issuers: IssuerIndex,
        validator: Validator,
        executor: Executor,
        settings: AcmeSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._service = service
        self._issuers = issuers
        self._validator = validator
        self._executor = executor
        self._settings = settings
        self._clock = clock

    # -- newOrder -------------------------------------------------------------------------
    def new_order(self, request: SignedRequest, urls: Urls) -> Reply:
        account = self._account(request, urls)
        grant = self._accounts.grant(account)
        payload = request.payload
        if not isinstance(payload, dict):
            raise AcmeError(MALFORMED, "newOrder takes a JSON object with identifiers")
        if payload.get("notBefore") or payload.get("notAfter"):
            raise AcmeError(
                MALFORMED, "notBefore/notAfter are not supported: the profile sets validity"
            )
        identifiers = _identifiers(payload.get("identifiers"))
        profile = payload.get("profile") or (grant.profiles[0] if grant.profiles else "")
        if not isinstance(profile, str):
            raise AcmeError(MALFORMED, "profile must be a string")
        settings = self._service.profiles.get(profile)
        try:
            grant.check_profile(profile)
            if settings is None:
                raise AcmeError(MALFORMED, f"no profile {profile!r}")
            names = [value for _kind, value in identifiers]
            if len(names) > settings.max_names:
                raise AcmeError(
                    REJECTED_IDENTIFIER,
                    f"{len(names)} identifiers; profile {profile} allows {settings.max_names}",
                )
            self._service.policy.check(names, grant)
        except Problem as problem:
            raise from_problem(problem) from None
        replaces = payload.get("replaces")
        if replaces is not None:
            self._check_replaces(replaces, names, grant.requester, account)
        now = self._clock()
        expires = now + timedelta(hours=self._settings.order_lifetime_hours)
        order_id = uuid.uuid4().hex
        authz_ids = []
        for kind, value in identifiers:
            authz_id = uuid.uuid4().hex
            wildcard = value.startswith("*.")
            offered = (
                ["dns-01"]
                if wildcard
                else ["http-01"]
                if kind == "ip"
                else ["http-01", "dns-01", "tls-alpn-01"]
            )
            self._store.insert(
                "acme_authz",
                {
                    "id": authz_id,
                    "account_id": account["id"],
                    "order_id": order_id,
                    "identifier_type": kind,
                    "identifier_value": value[2:] if wildcard else value,
                    "wildcard": int(wildcard),
                    "status": "pending",
                    "expires_at": expires,
                    "challenges": [
                        {"type": t, "token": secrets.token_urlsafe(32), "status": "pending"}
                        for t in offered
                    ],
                },
            )
            authz_ids.append(authz_id)
        row = {
            "id": order_id,
            "account_id": account["id"],
            "status": "pending",
            "identifiers": [{"type": k, "value": v} for k, v in identifiers],
            "profile": profile,
            "authorizations": authz_ids,
            "expires_at": expires,
            "replaces": replaces,
            "created_at": now,
        }
        self._store.insert("acme_orders", row)
        stored = self._order_row(order_id)
        return Reply(201, order_body(stored, urls, now), location=urls.order(order_id))

    def _check_replaces(
        self, replaces: Any, names: list[str], requester: str, account: dict[str, Any]
    ) -> None:
        """RFC 9773 5: the certificate replaced is known, was obtained under the same
        binding, shares a name, and no other live order replaces it."""
        if not isinstance(replaces, str):
            raise AcmeError(MALFORMED, "replaces must be a certID string")
        aki, serial = parse_cert_id(replaces)
        try:
            view = self._service.certificate(self._issuers.issuer_of(aki), serial)
        except Problem:
            raise AcmeError(
                MALFORMED, f"replaces names no certificate of this server: {replaces}"
            ) from None
        if view.requester != requester:
            raise AcmeError(
                UNAUTHORIZED, "replaces names a certificate this account did not obtain"
            )
        if not set(view.names) & set(names):
            raise AcmeError(
                MALFORMED, "the order shares no identifier with the certificate it replaces"
            )
        for other in self._store.select("acme_orders", "replaces", replaces):
            if order_status(other, self._clock()) != "invalid":
                raise AcmeError(
                    ALREADY_REPLACED, f"order {other['id']} already replaces {replaces}"
                )
        del account

    # -- reading --------------------------------------------------------------------------
    def order(self, request: SignedRequest, order_id: str, urls: Urls) -> Reply:
        row = self._owned("acme_orders", order_id, request, urls)
        if row["status"] == "processing" and row.get("service_order"):
            row = self._collect(row)
        reply = order_body(row, urls, self._clock())
        retry = 2 if reply["status"] in ("processing", "pending") else None
        return Reply(200, reply, location=urls.order(order_id), retry_after=retry)

    def authz(self, request: SignedRequest, authz_id: str, urls: Urls) -> Reply:
        row = self._owned("acme_authz", authz_id, request, urls)
        payload = request.payload
        if isinstance(payload, dict) and payload.get("status") == "deactivated":
            self._change_authz(
                authz_id, lambda _row: {"status": "deactivated"}, when_status=("pending", "valid")
            )
            row = self._authz_row(authz_id)
        elif payload is not None:
            raise AcmeError(MALFORMED, "an authorization takes POST-as-GET or status deactivated")
        body = authz_body(row, urls, self._clock())
        retry = 2 if body["status"] == "pending" else None
        return Reply(200, body, location=urls.authz(authz_id), retry_after=retry)

    # -- challenges -----------------------------------------------------------------------
    def challenge(self, request: SignedRequest, authz_id: str, kind: str, urls: Urls) -> Reply:
        row = self._owned("acme_authz", authz_id, request, urls)
        challenge = next((c for c in row["challenges"] if c["type"] == kind), None)
        if challenge is None:
            raise AcmeError(NOT_FOUND, f"authorization {authz_id} offers no {kind} challenge")
        up = ((urls.authz(authz_id), "up"),)
        if request.payload is None:  # POST-as-GET
            return Reply(200, challenge_body(authz_id, challenge, urls), links=up)
        if not isinstance(request.payload, dict):
            raise AcmeError(MALFORMED, "answer a challenge with an empty JSON object")
        if authz_status(row, self._clock()) == "pending" and challenge["status"] == "pending":
            challenge["status"] = "processing"
            if self._store.update(
                "acme_authz", authz_id, {"challenges": row["challenges"]}, when_status=("pending",)
            ):
                account = self._accounts.row(str(row["account_id"]))
                thumb = bytes.fromhex(str(account["thumbprint"]))
                self._executor.submit(
                    self._validate, authz_id, kind, key_authorization(challenge["token"], thumb)
                )
        row = self._authz_row(authz_id)
        current = next(c for c in row["challenges"] if c["type"] == kind)
        return Reply(200, challenge_body(authz_id, current, urls), links=up, retry_after=2)

    def _validate(self, authz_id: str, kind: str, key_authz: str) -> None:
        identifier = authz_id
        try:
            row = self._authz_row(authz_id)
            identifier = str(row["identifier_value"])
            challenge = Challenge(
                kind=kind,
                token=key_authz.split(".", 1)[0],
                identifier_type=str(row["identifier_type"]),
                identifier=str(row["identifier_value"]),
            )
            error = self._validator.validate(challenge, key_authz)
        except Exception:  # a bug must not leave the challenge processing forever
            log.exception("ACME: validating %s of authorization %s failed", kind, authz_id)
            error = AcmeError(MALFORMED, "the validation failed inside the server")

        def outcome(row: dict[str, Any]) -> dict[str, Any]:
            for entry in row["challenges"]:
                if entry["type"] == kind:
                    entry["status"] = "invalid" if error else "valid"
                    if error:
                        entry["error"] = error.body()
                    else:
                        entry["validated"] = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"challenges": row["challenges"], "status": "invalid" if error else "valid"}

        try:
            self._change_authz(authz_id, outcome, when_status=("pending",))
        except Exception:  # on a worker thread: nobody else would see it
            log.exception("ACME: recording %s of authorization %s failed", kind, authz_id)
            return
        if error:
            log.warning("ACME: %s for %s failed: %s", kind, identifier, error.detail)

    def _change_authz(
        self,
        authz_id: str,
        changes_of: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        when_status: tuple[str, ...],
    ) -> bool:
        """Write an authorization's new status and what it means for its order in one
        transaction, so no client sees the last authorization valid while the order is
        still pending (RFC 8555 7.1.6; ``poll_and_finalize`` finalizes at once and would
        get orderNotReady). The pending siblings and the order's status are conditions
        of the write: two validators finishing an order's last two authorizations at
        once cannot both read the other as pending and leave the order pending -- one
        transaction fails and is redone on fresh rows."""
        for _attempt in range(_CHANGE_ATTEMPTS):
            row = self._store.get("acme_authz", authz_id)
            if row is None or row["status"] not in when_status:
                return False
            changes = changes_of(row)
            order = self._order_row(str(row["order_id"]))
            siblings = [
                found
                for key in order["authorizations"]
                if key != authz_id and (found := self._store.get("acme_authz", key)) is not None
            ]
            pending = [
                Write("acme_authz", str(sibling["id"]), ("pending",))
                for sibling in siblings
                if sibling["status"] == "pending"
            ]
            # Beyond one transaction's rows (DynamoDB), or with a sibling gone, the
            # settling read below is the safety net: the order still ends ready.
            unchecked = len(pending) > MAX_TOGETHER - 2 or len(siblings) + 1 < len(
                order["authorizations"]
            )
            writes = [Write("acme_authz", authz_id, when_status, changes)]
            writes += pending[: MAX_TOGETHER - 2]
            now = self._clock()
            statuses = [authz_status({**row, **changes}, now)]
            statuses += [authz_status(sibling, now) for sibling in siblings]
            settled = _order_change(statuses, str(order["status"]))
            writes.append(Write("acme_orders", str(order["id"]), (str(order["status"]),), settled))
            if self._store.update_together(writes):
                if unchecked:
                    self._settle_order(str(order["id"]))
                return True
        raise AcmeError(SERVER_INTERNAL, f"authorization {authz_id} keeps changing; try again")

    def _settle_order(self, order_id: str) -> None:
        """pending -> ready when every authorization is valid; -> invalid when one failed
        (for state written by an older version, or an order of more authorizations than
        one transaction holds)."""
        order = self._order_row(order_id)
        now = self._clock()
        statuses = [authz_status(self._authz_row(a), now) for a in order["authorizations"]]
        settled = _order_change(statuses, str(order["status"]))
        if settled:
            self._store.update(
                "acme_orders", order_id, settled, when_status=(str(order["status"]),)
            )

    # -- finalize and download ------------------------------------------------------------
    def finalize(self, request: SignedRequest, order_id: str, urls: Urls) -> Reply:
        row = self._owned("acme_orders", order_id, request, urls)
        account = self._accounts.row(str(row["account_id"]))
        grant = self._accounts.grant(account)
        status = order_status(row, self._clock())
        if status == "pending":  # every authorization valid, written by an older version
            self._settle_order(order_id)
            row = self._order_row(order_id)
            status = order_status(row, self._clock())
        if status != "ready":
            raise AcmeError(ORDER_NOT_READY, f"the order is {status}, not ready")
        payload = request.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("csr"), str):
            raise AcmeError(MALFORMED, 'finalize takes {"csr": base64url DER}')
        pem = _csr_pem(payload["csr"])
        try:
            read = read_csr(pem)
        except Problem as problem:
            raise AcmeError(BAD_CSR, problem.detail) from None
        ordered = {str(i["value"]) for i in row["identifiers"]}
        if set(read.names) != ordered:
            raise AcmeError(
                BAD_CSR,
                f"the CSR names {', '.join(sorted(read.names))}; the order is for "
                f"{', '.join(sorted(ordered))}",
            )
        if not self._store.update(
            "acme_orders", order_id, {"status": "processing"}, when_status=("ready",)
        ):
            raise AcmeError(ORDER_NOT_READY, "the order is being finalized already")
        try:
            result = self._service.issue(
                IssueRequest(csr=pem, profile=str(row["profile"]), sans=None, validity_days=None),
                grant,
            )
        except Problem as problem:
            error = from_problem(problem)
            if error.kind is BAD_CSR:  # the client can fix the CSR and finalize again
                self._store.update("acme_orders", order_id, {"status": "ready"})
            else:
                self._store.update(
                    "acme_orders", order_id, {"status": "invalid", "error": error.body()}
                )
            raise error from None
        if isinstance(result, CertificateView):
            self._store.update(
                "acme_orders",
                order_id,
                {"status": "valid", "issuer": result.issuer, "serial": result.serial},
            )
        else:
            self._store.update("acme_orders", order_id, {"service_order": result.order_id})
        return self.order(request, order_id, urls)

    def _collect(self, row: dict[str, Any]) -> dict[str, Any]:
        """An order whose CA answers later: ask the service again."""
        account = self._accounts.row(str(row["account_id"]))
        requester = self._accounts.grant(account).requester
        try:
            result = self._service.order(str(row["service_order"]), requester)
        except Problem as problem:
            error = from_problem(problem)
            self._store.update(
                "acme_orders", str(row["id"]), {"status": "invalid", "error": error.body()}
            )
            return self._order_row(str(row["id"]))
        if isinstance(result, CertificateView):
            self._store.update(
                "acme_orders",
                str(row["id"]),
                {"status": "valid", "issuer": result.issuer, "serial": result.serial},
            )
        elif result.status == "invalid":
            self._store.update(
                "acme_orders", str(row["id"]), {"status": "invalid", "error": result.problem}
            )
        return self._order_row(str(row["id"]))

    def certificate(self, request: SignedRequest, order_id: str, urls: Urls) -> Reply:
        row = self._owned("acme_orders", order_id, request, urls, what="certificate")
        if row["status"] != "valid":
            raise AcmeError(NOT_FOUND, f"order {order_id} has no certificate yet")
        view = self._service.certificate(str(row["issuer"]), str(row["serial"]))
        pem = (view.certificate or "") + (view.chain or "")
        return Reply(200, pem, content_type="application/pem-certificate-chain")

    # -- helpers --------------------------------------------------------------------------
    def _account(self, request: SignedRequest, urls: Urls) -> dict[str, Any]:
        if request.kid is None:
            raise AcmeError(MALFORMED, "this request is signed by the account (kid), not a jwk")
        return self._accounts.row(urls.account_id(request.kid) or "")

    def _owned(
        self, table: str, key: str, request: SignedRequest, urls: Urls, what: str | None = None
    ) -> dict[str, Any]:
        account = self._account(request, urls)
        row = self._store.get(table, key)
        if row is None or row["account_id"] != account["id"]:
            raise AcmeError(
                NOT_FOUND, f"no {what or table.removeprefix('acme_')} {key} for this account"
            )
        return row

    def _order_row(self, order_id: str) -> dict[str, Any]:
        row = self._store.get("acme_orders", order_id)
        if row is None:
            raise AcmeError(NOT_FOUND, f"no order {order_id}")
        return row

    def _authz_row(self, authz_id: str) -> dict[str, Any]:
        row = self._store.get("acme_authz", authz_id)
        if row is None:
            raise AcmeError(NOT_FOUND, f"no authorization {authz_id}")
        return row


def _order_change(statuses: list[str], order_status_now: str) -> dict[str, Any]:
    """The order's change given its authorizations' statuses (RFC 8555 7.1.6): invalid
    when one is dead, ready when all are valid, else nothing."""
    failed = next((s for s in statuses if s in DEAD), None)
    if failed and order_status_now in ("pending", "ready"):
        error = {
            "type": "urn:ietf:params:acme:error:unauthorized",
            "detail": f"an authorization of this order is {failed}",
        }
        return {"status": "invalid", "error": error}
    if not failed and order_status_now == "pending" and all(s == "valid" for s in statuses):
        return {"status": "ready"}
    return {}


def _identifiers(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not value:
        raise AcmeError(MALFORMED, "identifiers must be a non-empty list")
    found: list[tuple[str, str]] = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise AcmeError(MALFORMED, 'each identifier is {"type": ..., "value": ...}')
        kind, text = entry.get("type"), str(entry["value"])
        if kind not in ("dns", "ip"):
            raise AcmeError(
                UNSUPPORTED_IDENTIFIER, f"identifier type {kind!r} is not supported (dns, ip)"
            )
        try:
            name = normalise_name(text)
        except NameError_:
            raise AcmeError(
                REJECTED_IDENTIFIER, f"{text[:100]!r} is not a DNS name or IP address"
            ) from None
        if (kind == "ip") != _is_ip(name):
            raise AcmeError(MALFORMED, f"identifier {name} is not of type {kind}")
        if (kind, name) not in found:
            found.append((kind, name))
    return found


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _csr_pem(text: str) -> str:
    try:
        der = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        csr = x509.load_der_x509_csr(der)
    except (ValueError, TypeError):
        raise AcmeError(BAD_CSR, "csr is not base64url DER PKCS#10") from None
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
