"""The three calls the agent makes to certsight's issuance API (docs/issuance.md):
issue with a token, renew over mutual TLS, read a certificate's renewal window.

An answer ``202`` (a CA that issues asynchronously) is collected from its order with
the same credentials, as long as the server's Retry-After says, within a bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from certsight_agent.clock import parse
from certsight_agent.transport import Answer, ApiError, JsonClient

MAX_ORDER_WAIT_SECONDS = 600


@dataclass(frozen=True)
class Issued:
    issuer: str
    serial: str
    names: tuple[str, ...]
    profile: str
    not_before: datetime
    not_after: datetime
    renewal_start: datetime
    renewal_end: datetime
    certificate: str
    chain: str
    status: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Issued:
        try:
            renewal = body.get("renewal") or {}
            return cls(
                issuer=str(body["issuer"]),
                serial=str(body["serial"]),
                names=tuple(str(n) for n in body.get("names") or ()),
                profile=str(body.get("profile", "")),
                not_before=parse(body["not_before"]),
                not_after=parse(body["not_after"]),
                renewal_start=parse(renewal["start"]),
                renewal_end=parse(renewal["end"]),
                certificate=str(body.get("certificate") or ""),
                chain=str(body.get("chain") or ""),
                status=str(body.get("status", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(200, "malformed-answer", f"the server's answer lacks {exc}") from None


class IssuanceClient:
    """One server, one set of credentials: a token (enroll) or a client certificate
    (renew, status)."""

    def __init__(self, client: JsonClient, *, token: str | None = None) -> None:
        self._client = client
        self._token = token

    def issue(self, csr_pem: str, profile: str | None, sans: list[str] | None) -> Issued:
        body: dict[str, Any] = {"csr": csr_pem}
        if profile:
            body["profile"] = profile
        if sans:
            body["sans"] = sans
        return self._collect(self._call("POST", "/v1/certificates", body))

    def renew(self, csr_pem: str) -> Issued:
        return self._collect(self._call("POST", "/v1/certificates/renew", {"csr": csr_pem}))

    def status(self, issuer: str, serial: str) -> Issued:
        answer = self._call("GET", f"/v1/certificates/{issuer}/{serial}")
        return Issued.from_body(answer.body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        return self._client.request(method, path, body=body, token=self._token)

    def _collect(self, answer: Answer) -> Issued:
        waited = 0
        while answer.status == 202:
            order = str(answer.body.get("order", ""))
            retry = max(1, min(int(answer.body.get("retry_after") or 2), 60))
            if not order or waited + retry > MAX_ORDER_WAIT_SECONDS:
                raise ApiError(202, "order-pending", f"order {order} still pending")
            time.sleep(retry)
            waited += retry
            answer = self._call("GET", f"/v1/orders/{order}")
        if answer.body.get("status") == "invalid":
            problem = answer.body.get("problem") or {}
            raise ApiError(
                int(problem.get("status") or 422),
                str(problem.get("type", "")),
                str(problem.get("detail", "the order failed")),
            )
        return Issued.from_body(answer.body)


def client_for(
    server: str,
    *,
    user_agent: str,
    ca_bundle: Path | None,
    token: str | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> IssuanceClient:
    transport = JsonClient(
        server, user_agent=user_agent, ca_bundle=ca_bundle, client_cert=cert, client_key=key
    )
    return IssuanceClient(transport, token=token)
