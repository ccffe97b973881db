"""One POST to an HTTP receiver (httpx) and what its answer means for a retry.

Kept apart from ``webhook.py``, which batches and retries: this module knows HTTP
(statuses, ``Retry-After``, redirects, TLS, sockets) and nothing about alerts. No
text it produces repeats a URL's query or user info: those may be credentials.
"""

from __future__ import annotations

import logging
import math
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import httpx

_MAX_ERROR_BODY: Final = 200

# 4xx answers that are about this request's content: later requests may still pass.
# Any other refusal (401, 403, 404, 3xx...) is about the configuration and would
# refuse every request alike.
_CONTENT_STATUSES: Final = frozenset({400, 409, 413, 415, 422})


@dataclass(frozen=True)
class Failure:
    """Why one POST did not succeed, and what to do about it."""

    reason: str
    retryable: bool
    stop: bool  # later requests would fail alike: do not send them in this round
    retry_after: float | None = None  # seconds the receiver asked to wait


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path``, plus ``?...`` when there was a query: safe to log."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?..." if parts.query else "")


class _RedactUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a receiver's query may be its
    credential (a signature), so URLs in httpx's records are shown redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        import httpx

        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_REDACT_URLS: Final = _RedactUrls()


def client(timeout: float, user_agent: str) -> httpx.Client:
    """A client that follows no redirect (a POST would lose its body or carry the token
    elsewhere) and trusts the system's certificate store, as urllib did, not a bundle."""
    import httpx

    logging.getLogger("httpx").addFilter(_REDACT_URLS)  # idempotent: added once
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        verify=ssl.create_default_context(),
        headers={"User-Agent": user_agent},
    )


def post(
    session: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]
) -> Failure | None:
    """One POST: None when accepted (2xx), else what went wrong."""
    import httpx

    try:
        with session.stream("POST", url, content=body, headers=headers) as reply:
            status = reply.status_code
            if 200 <= status <= 299:
                return None  # the answer's body is not used
            detail = _snippet(reply)
            wait = retry_after(reply.headers.get("Retry-After"))
            phrase = reply.reason_phrase
    except httpx.TimeoutException as exc:
        where = "cannot connect: " if isinstance(exc, httpx.ConnectTimeout) else ""
        return Failure(f"{where}timed out", retryable=True, stop=True)
    except httpx.TransportError as exc:
        refused = _tls_refusal(exc)
        if refused is not None:
            return Failure(f"TLS verification failed: {refused.verify_message}", False, True)
        where = "cannot connect: " if isinstance(exc, httpx.ConnectError) else ""
        return Failure(where + _describe(exc), retryable=True, stop=True)
    reason = f"HTTP {status} {phrase}" + (f": {detail}" if detail else "")
    if status == 429 or 500 <= status <= 599:
        return Failure(reason, retryable=True, stop=True, retry_after=wait)
    if 300 <= status <= 399:
        reason += " (redirects are not followed; configure the final URL)"
    return Failure(reason, retryable=False, stop=status not in _CONTENT_STATUSES)


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _tls_refusal(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``error``, if that is what it was:
    not retried, since the next attempt meets the same certificate."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(error: BaseException) -> str:
    """An OS error's own words ("Connection refused"), else the exception's."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _snippet(reply: httpx.Response) -> str:
    """The start of a refusal's body, on one line, bounded: receivers explain there."""
    import httpx

    body = b""
    try:
        for chunk in reply.iter_bytes():
            body += chunk
            if len(body) >= 4096:
                break
    except httpx.HTTPError:
        pass  # the status says enough
    text = " ".join(body[:4096].decode("utf-8", "replace").split())
    return text if len(text) <= _MAX_ERROR_BODY else text[:_MAX_ERROR_BODY] + "..."
