"""Why a request was refused, as RFC 9457 problem details: one type per cause.

The core raises ``Problem``; the HTTP adapters only serialise it. Each type is a URI
under ``PROBLEM_BASE`` with a slug that clients can switch on (docs/issuance.md lists
them), a fixed title, the HTTP status and a detail that names what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_BASE = "urn:certsight:problem:"  # not dereferenceable: PKI networks are closed
CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


MALFORMED_REQUEST = ProblemType("malformed-request", "The request body cannot be read", 400)
MALFORMED_CSR = ProblemType("malformed-csr", "The CSR is not a PEM PKCS#10 request", 400)
BAD_CSR_SIGNATURE = ProblemType("bad-csr-signature", "The CSR's signature does not verify", 400)
WEAK_KEY = ProblemType("weak-key", "The key is too weak or of an unsupported type", 400)
NAME_NOT_ALLOWED = ProblemType("name-not-allowed", "A name is not allowed", 403)
VALIDITY_OUT_OF_BOUNDS = ProblemType(
    "validity-out-of-bounds", "The validity is outside the profile's bounds", 400
)
UNKNOWN_PROFILE = ProblemType("unknown-profile", "No such profile, or not for this caller", 400)
BACKEND_UNAVAILABLE = ProblemType(
    "backend-unavailable", "No CA backend of the profile could issue", 503
)
BACKEND_REFUSED = ProblemType("backend-refused", "The CA refused the request", 422)
RATE_LIMITED = ProblemType("rate-limited", "Too many requests for this caller", 429)
UNAUTHORIZED = ProblemType("unauthorized", "Authentication is required", 401)
FORBIDDEN = ProblemType("forbidden", "This caller may not do this", 403)
NOT_FOUND = ProblemType("not-found", "No such resource", 404)
SAME_KEY = ProblemType("same-key", "A renewal must use a new key", 400)
ALREADY_REVOKED = ProblemType("already-revoked", "The certificate is already revoked", 409)
BAD_REASON = ProblemType("bad-revocation-reason", "Not an RFC 5280 revocation reason", 400)
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type", "The body must be application/json", 415
)
BODY_TOO_LARGE = ProblemType("body-too-large", "The request body is too large", 413)
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", "Method not allowed here", 405)
STORE_UNAVAILABLE = ProblemType("store-unavailable", "The certificate store cannot be reached", 503)

ALL_TYPES: tuple[ProblemType, ...] = tuple(
    value for value in globals().values() if isinstance(value, ProblemType)
)


class Problem(Exception):
    """A refusal the caller can act on. ``extra`` members go into the JSON as they are
    (RFC 9457 3.2 extension members), e.g. the name and rule a policy refusal cites."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        *,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": self.kind.uri,
            "title": self.kind.title,
            "status": self.kind.status,
            "detail": self.detail,
        }
        if instance:
            document["instance"] = instance
        document.update(self.extra)
        return document
