"""How AWS Private CA's failures map onto the backend contract.

That mapping decides whether an order moves on to the profile's next CA
(``BackendUnavailableError``), ends (``BackendRefusedError``), or points at a broken
configuration (``BackendConfigError``), so the tables are kept together here with the
reasons for the debatable cases, apart from the backend in ``aws_pca``. Messages name the
backend, the operation and AWS's error code; AWS's own text is passed on only where it
describes the requester's input (a malformed CSR), never for authorisation errors, whose
text names IAM principals and accounts.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from issuance.backends.base import (
    BackendConfigError,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
)

log = logging.getLogger(__name__)

# Unavailable: another CA may well succeed, and this one may later.
_UNAVAILABLE_CODES: Final = {
    "ThrottlingException": "AWS throttled the request",
    "Throttling": "AWS throttled the request",
    "TooManyRequestsException": "AWS throttled the request",
    "RequestLimitExceeded": "AWS throttled the request",
    # PCA's LimitExceededException is an account quota (IssueCertificate requests per
    # second, or certificates per CA): a property of this CA's account, not of the order.
    # A CA elsewhere is not bound by it, and refusing would fail orders that are fine.
    "LimitExceededException": "an AWS Private CA quota of this CA's account is exhausted",
    "RequestFailedException": "AWS Private CA failed to process the request",
    "RequestInProgressException": "AWS Private CA is still processing an earlier request",
    "ConcurrentModificationException": "the CA is being changed; try again shortly",
    # The CA exists but cannot sign now (DISABLED, EXPIRED, PENDING_CERTIFICATE, DELETED):
    # nothing wrong with the order, and another CA can serve it.
    "InvalidStateException": "the CA is not active (disabled, expired or not yet installed)",
    "InternalFailure": "AWS Private CA had an internal error",
    "InternalError": "AWS Private CA had an internal error",
    "InternalServerError": "AWS Private CA had an internal error",
    "InternalServerException": "AWS Private CA had an internal error",
    "ServiceUnavailable": "AWS Private CA is unavailable",
    "ServiceUnavailableException": "AWS Private CA is unavailable",
    "RequestTimeout": "AWS Private CA timed out",
    "RequestTimeoutException": "AWS Private CA timed out",
}
# Config: no order can succeed until someone changes the settings, IAM or the CA.
_CONFIG_CODES: Final = {
    "InvalidArnException": "the configured ca_arn is not a valid CA ARN",
    "ResourceNotFoundException": "the configured ca_arn names no CA this account can see",
    "AccessDeniedException": "the AWS identity may not use this CA (IAM or CA policy)",
    "AccessDenied": "the AWS identity may not use this CA (IAM or CA policy)",
    "UnrecognizedClientException": "AWS does not recognise the credentials",
    "InvalidClientTokenId": "AWS does not recognise the credentials",
    "InvalidSignatureException": "AWS rejected the request signature (check the credentials)",
    "IncompleteSignature": "AWS rejected the request signature (check the credentials)",
    "ExpiredTokenException": "the AWS credentials have expired",
    "ExpiredToken": "the AWS credentials have expired",
    "MissingAuthenticationToken": "the request reached AWS without credentials",
    "UnknownOperationException": "the endpoint does not speak the AWS Private CA API",
}
# Refused: PCA looked at this request and said no; another CA must not overrule it.
_REFUSED_CODES: Final = {
    "MalformedCSRException": "AWS Private CA rejected the CSR",
    "InvalidArgsException": "AWS Private CA rejected the request's arguments",
    "InvalidRequestException": "AWS Private CA does not allow this request",
    "ValidationException": "AWS Private CA rejected the request's arguments",
    "MalformedCertificateException": "AWS Private CA rejected the certificate",
}
# AWS's message is passed on for these: it describes the requester's own input.
_ECHO_CODES: Final = frozenset(
    {
        "MalformedCSRException",
        "InvalidArgsException",
        "InvalidRequestException",
        "ValidationException",
    }
)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")


def error_for(backend: str, operation: str, exc: ClientError | BotoCoreError) -> BackendError:
    """The base error an AWS failure means for the order (see the tables above);
    ``backend`` is the backend's name, for the messages."""
    code = code_of(exc)
    prefix = f"CA backend {backend}: AWS Private CA {operation} failed with {code}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", "-")
        log.warning(
            "CA backend %s: %s -> %s (request id %s): %s",
            backend,
            operation,
            code,
            request_id,
            _scrub(error.get("Message", "")),
        )
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _CONFIG_CODES:
            return BackendConfigError(f"{prefix}: {_CONFIG_CODES[code]}")
        if code in _UNAVAILABLE_CODES:
            return BackendUnavailableError(f"{prefix}: {_UNAVAILABLE_CODES[code]}")
        if code in _REFUSED_CODES:
            detail = _scrub(error.get("Message", "")) if code in _ECHO_CODES else ""
            text = f"{prefix}: {_REFUSED_CODES[code]}"
            return BackendRefusedError(f"{text} ({detail})" if detail else text)
        if status >= 500 or (code.isdigit() and int(code) >= 500):
            return BackendUnavailableError(f"{prefix}: AWS answered HTTP {status or code}")
        # An error AWS has not documented for PCA, about this request: the CA said no.
        return BackendRefusedError(f"{prefix}: AWS declined the request")
    log.warning("CA backend %s: %s -> %s", backend, operation, code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return BackendConfigError(f"{prefix}: no usable AWS credentials were found")
    if isinstance(exc, ParamValidationError):
        return BackendRefusedError(f"{prefix}: the request does not fit PCA's limits")
    # Connection refused, DNS, TLS, timeouts, a connection closed mid-answer.
    return BackendUnavailableError(f"{prefix}: the endpoint could not be reached in time")


def code_of(exc: ClientError | BotoCoreError) -> str:
    """AWS's error code, or the botocore exception's name when AWS was not reached."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "an unnamed error"
    return type(exc).__name__


def _scrub(message: str) -> str:
    text = _ACCESS_KEY_ID.sub("[key id]", " ".join(message.split()))
    return text if len(text) <= 300 else text[:297] + "..."
