"""What a failed exchange with an ACME CA means for the order.

The acme package, josepy and requests each fail in their own way; the issuance service
only understands the three backend errors (unavailable: try the next CA; refused: the
order ends; config: fix the settings). The classification, and the ``ClientNetwork``
subclass that keeps the HTTP status it needs, are kept here, apart from the order flow in
``acme_upstream``, so that the reasons for each debatable case sit next to the tables.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import requests
from acme import errors, messages
from acme.client import ClientNetwork
from josepy.errors import Error as JoseError

from issuance.backends.base import (
    BackendConfigError,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
)
from issuance.backends.settings import AcmeBackendSettings

# Problem types (RFC 8555 section 6.7) by what the issuance service should do next.
# rateLimited counts as "unavailable": a rate limit judges how many requests this account
# or these names made lately, not this request, and it lifts by itself (the CA says when
# in Retry-After). Falling back to the profile's next CA is what a throttled CA calls for,
# as base.py puts "throttled" with the unreachable; whereas "refused" would fail the order
# even though another CA, or the same one an hour later, would issue it.
RETRYABLE_PROBLEMS = frozenset({"serverInternal", "rateLimited", "badNonce"})
# Whatever the stage, these mean the account or its key cannot work with this CA.
ACCOUNT_PROBLEMS = frozenset(
    {"externalAccountRequired", "accountDoesNotExist", "badPublicKey", "badSignatureAlgorithm"}
)
# At registration, the CA judges the account (the EAB, the contact), not an order.
REGISTRATION_PROBLEMS = frozenset(
    {"unauthorized", "malformed", "invalidContact", "unsupportedContact", "invalidEmail"}
)


class ServerError(errors.ClientError):
    """The CA answered 5xx. ``messages.Error`` does not keep the HTTP status, and a 5xx
    with a problem document of a type we do not know must still mean "try later"."""

    def __init__(self, status: int, problem: messages.Error) -> None:
        super().__init__(status, problem)
        self.status = status
        self.problem = problem


class Network(ClientNetwork):
    """``ClientNetwork`` that tells a server failure (5xx) from a refusal (4xx)."""

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as problem:
            if response.status_code >= 500:
                raise ServerError(response.status_code, problem) from problem
            raise


def network_reason(exc: requests.exceptions.RequestException) -> str:
    """The OS's words (``Connection refused``) rather than urllib3's page of wrappers."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return found.group(1).strip()
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed (is ca_bundle right?)"
    return type(exc).__name__


def describe_problem(problem: messages.Error) -> str:
    """``code for identifier: detail`` for the problem and its subproblems."""

    def one(p: messages.Error) -> str:
        code = p.code or p.typ
        where = f" for {p.identifier.value}" if p.identifier is not None else ""
        detail = p.detail or p.title or p.description or "no detail given"
        return f"{code}{where}: {detail}"

    parts = [one(problem)]
    parts.extend(one(sub) for sub in problem.subproblems or ())
    return "; ".join(parts)


@contextlib.contextmanager
def translated(stage: str, settings: AcmeBackendSettings) -> Iterator[None]:
    """acme's, josepy's and requests' errors as the backend errors the service
    acts on; ``stage`` is "directory", "account", "order" or "revoke"."""
    try:
        yield
    except BackendError:
        raise
    except (errors.Error, requests.exceptions.RequestException, JoseError) as exc:
        raise translate(exc, stage, settings) from exc


def translate(exc: Exception, stage: str, settings: AcmeBackendSettings) -> BackendError:
    if isinstance(exc, ServerError):
        return BackendUnavailableError(
            f"the CA failed (HTTP {exc.status}): {describe_problem(exc.problem)}"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return BackendUnavailableError(f"{settings.directory} did not answer in time")
    if isinstance(exc, requests.exceptions.RequestException):
        return BackendUnavailableError(f"cannot reach {settings.directory}: {network_reason(exc)}")
    if isinstance(exc, errors.ValidationError):
        return BackendRefusedError(f"validation failed: {_failures(exc)}")
    if isinstance(exc, errors.TimeoutError | errors.PollError):
        return BackendUnavailableError(
            f"the CA did not validate and issue within {settings.timeout_seconds:g} s"
        )
    if isinstance(exc, errors.IssuanceError):
        return _from_problem(exc.error, stage)
    if isinstance(exc, messages.Error):
        return _from_problem(exc, stage)
    if isinstance(exc, errors.ClientError):
        answer = exc.args[0] if exc.args else None
        if isinstance(answer, requests.Response):
            return BackendUnavailableError(
                f"unexpected answer from the CA (HTTP {answer.status_code})"
            )
        return BackendUnavailableError(f"unexpected answer from the CA: {exc}")
    if isinstance(exc, JoseError):
        return BackendUnavailableError(f"could not read the CA's answer: {exc}")
    return BackendRefusedError(f"the CA did not issue: {exc}")


def _from_problem(problem: messages.Error, stage: str) -> BackendError:
    text = describe_problem(problem)
    code = problem.code
    if code in RETRYABLE_PROBLEMS:
        return BackendUnavailableError(text)
    if code in ACCOUNT_PROBLEMS or (
        stage in {"account", "directory"} and (code in REGISTRATION_PROBLEMS or code is None)
    ):
        return BackendConfigError(text)
    return BackendRefusedError(text)


def _failures(exc: errors.ValidationError) -> str:
    parts: list[str] = []
    for authzr in exc.failed_authzrs:
        identifier = authzr.body.identifier.value
        for challb in authzr.body.challenges:
            if challb.error is not None:
                parts.append(f"{identifier} ({challb.chall.typ}): {describe_problem(challb.error)}")
    return "; ".join(parts) or "the CA gave no reason"
