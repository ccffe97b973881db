"""ACME errors (RFC 8555 6.7, RFC 9773 7.4): one named type per cause, each with the
HTTP status it is served with. The core raises ``AcmeError``; only the HTTP layer
turns it into ``application/problem+json`` (with a fresh Replay-Nonce)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from issuance import problems as issuance_problems
from issuance.problems import Problem

ERROR_BASE = "urn:ietf:params:acme:error:"


@dataclass(frozen=True)
class AcmeErrorType:
    code: str
    status: int

    @property
    def uri(self) -> str:
        return ERROR_BASE + self.code


ACCOUNT_DOES_NOT_EXIST = AcmeErrorType("accountDoesNotExist", 400)
ALREADY_REVOKED = AcmeErrorType("alreadyRevoked", 400)
ALREADY_REPLACED = AcmeErrorType("alreadyReplaced", 409)
BAD_CSR = AcmeErrorType("badCSR", 400)
BAD_NONCE = AcmeErrorType("badNonce", 400)
BAD_PUBLIC_KEY = AcmeErrorType("badPublicKey", 400)
BAD_REVOCATION_REASON = AcmeErrorType("badRevocationReason", 400)
BAD_SIGNATURE_ALGORITHM = AcmeErrorType("badSignatureAlgorithm", 400)
CONNECTION = AcmeErrorType("connection", 400)
DNS = AcmeErrorType("dns", 400)
EXTERNAL_ACCOUNT_REQUIRED = AcmeErrorType("externalAccountRequired", 401)
INCORRECT_RESPONSE = AcmeErrorType("incorrectResponse", 403)
MALFORMED = AcmeErrorType("malformed", 400)
NOT_FOUND = AcmeErrorType("malformed", 404)  # RFC 8555 has no type of its own for 404
TOO_LARGE = AcmeErrorType("malformed", 413)
UNSUPPORTED_MEDIA = AcmeErrorType("malformed", 415)
METHOD_NOT_ALLOWED = AcmeErrorType("malformed", 405)
CONFLICT = AcmeErrorType("malformed", 409)
ORDER_NOT_READY = AcmeErrorType("orderNotReady", 403)
RATE_LIMITED = AcmeErrorType("rateLimited", 429)
REJECTED_IDENTIFIER = AcmeErrorType("rejectedIdentifier", 400)
SERVER_INTERNAL = AcmeErrorType("serverInternal", 500)
UNAVAILABLE = AcmeErrorType("serverInternal", 503)
TLS = AcmeErrorType("tls", 400)
UNAUTHORIZED = AcmeErrorType("unauthorized", 403)
UNSUPPORTED_IDENTIFIER = AcmeErrorType("unsupportedIdentifier", 400)
INVALID_CONTACT = AcmeErrorType("invalidContact", 400)


class AcmeError(Exception):
    """A refusal an ACME client can act on; ``extra`` members go into the document as
    they are (``algorithms`` for badSignatureAlgorithm, ``identifier``)."""

    def __init__(
        self,
        kind: AcmeErrorType,
        detail: str,
        *,
        retry_after: int | None = None,
        location: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        self.location = location
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "type": self.kind.uri,
            "detail": self.detail,
            "status": self.kind.status,
            **self.extra,
        }


# How the issuance core's refusals read to an ACME client: the policy's name refusals
# are rejectedIdentifier, CSR and key faults badCSR, a CA that cannot issue serverInternal.
_FROM_ISSUANCE: dict[str, AcmeErrorType] = {
    issuance_problems.NAME_NOT_ALLOWED.slug: REJECTED_IDENTIFIER,
    issuance_problems.MALFORMED_CSR.slug: BAD_CSR,
    issuance_problems.BAD_CSR_SIGNATURE.slug: BAD_CSR,
    issuance_problems.WEAK_KEY.slug: BAD_CSR,
    issuance_problems.SAME_KEY.slug: BAD_CSR,
    issuance_problems.MALFORMED_REQUEST.slug: MALFORMED,
    issuance_problems.VALIDITY_OUT_OF_BOUNDS.slug: MALFORMED,
    issuance_problems.UNKNOWN_PROFILE.slug: UNAUTHORIZED,
    issuance_problems.RATE_LIMITED.slug: RATE_LIMITED,
    issuance_problems.FORBIDDEN.slug: UNAUTHORIZED,
    issuance_problems.UNAUTHORIZED.slug: UNAUTHORIZED,
    issuance_problems.NOT_FOUND.slug: NOT_FOUND,
    issuance_problems.ALREADY_REVOKED.slug: ALREADY_REVOKED,
    issuance_problems.BAD_REASON.slug: BAD_REVOCATION_REASON,
    issuance_problems.BACKEND_REFUSED.slug: SERVER_INTERNAL,
    issuance_problems.BACKEND_UNAVAILABLE.slug: UNAVAILABLE,
    issuance_problems.STORE_UNAVAILABLE.slug: UNAVAILABLE,
}


def from_problem(problem: Problem) -> AcmeError:
    """The ACME error for a refusal of the issuance core, its detail kept."""
    kind = _FROM_ISSUANCE.get(problem.kind.slug, SERVER_INTERNAL)
    extra: dict[str, Any] = {}
    name = problem.extra.get("name")
    if kind is REJECTED_IDENTIFIER and name:
        extra["subproblems"] = [
            {
                "type": kind.uri,
                "detail": problem.detail,
                "identifier": {"type": _identifier_type(str(name)), "value": str(name)},
            }
        ]
    return AcmeError(kind, problem.detail, retry_after=problem.retry_after, **extra)


def _identifier_type(name: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return "dns"
    return "ip"
