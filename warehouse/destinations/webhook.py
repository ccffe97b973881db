"""Alerts POSTed to an HTTP webhook in batches (httpx), retried with back-off (tenacity).

```toml
[alerts]
webhook_url = "https://siem.example/hooks/certsight"
webhook_token_env = "CERTSIGHT_WEBHOOK_TOKEN"  # the variable holding the bearer token
webhook_timeout = 5              # seconds per attempt (connect, and each read)
webhook_retries = 4              # retries after the first attempt
webhook_backoff = 0.5            # first retry delay, doubled each time...
webhook_backoff_max = 30         # ...up to this
webhook_batch_size = 100         # alerts per POST
webhook_min_severity = "high"    # optional, overrides [alerts] min_severity
```

Secrets: the bearer token is looked up at delivery time and never appears in logs,
exception messages or ``repr``; the URL is shown without its query string or user
info, and text from a receiver's answer is scrubbed of the token and the query.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Self

from pydantic import AfterValidator, Field, model_validator

from warehouse.alert import Alert, dumps
from warehouse.destinations.base import (
    AlertSink,
    AlertSinkSettings,
    Context,
    DeliveryError,
    NonEmpty,
    Severity,
    between,
    encode_alerts,
    setting_errors,
)
from warehouse.destinations.http_post import Failure, client, post, redact_url

if TYPE_CHECKING:
    import httpx
    import tenacity

log = logging.getLogger(__name__)

WEBHOOK_BATCH_SIZE: Final = 100
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_USER_AGENT: Final = "certsight-alerts/1"


def _variable_name(value: str) -> str:
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,99}", value):
        # Not echoed: a token pasted here by mistake must not reach a log.
        raise ValueError(
            "must be the name of an environment variable (capitals, digits, _), "
            "not the token itself"
        )
    return value


Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class WebhookSettings(AlertSinkSettings):
    """The ``webhook_*`` keys of ``[alerts]``. The URL stays out of ``repr`` and of every
    message: its query may be the receiver's credential (a signature)."""

    url: NonEmpty = Field(alias="webhook_url", repr=False)  # its query may be a secret
    token_env: Annotated[NonEmpty, AfterValidator(_variable_name)] | None = Field(
        None, alias="webhook_token_env"
    )
    timeout: float = Field(5.0, alias="webhook_timeout", gt=0, allow_inf_nan=False)
    retries: Annotated[int, between(0, 20)] = Field(4, alias="webhook_retries")
    backoff: Seconds = Field(0.5, alias="webhook_backoff")
    backoff_max: Seconds = Field(30.0, alias="webhook_backoff_max")
    batch_size: Annotated[int, between(1, 10_000)] = Field(
        WEBHOOK_BATCH_SIZE, alias="webhook_batch_size"
    )
    min_severity: Severity | None = Field(None, alias="webhook_min_severity")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, object]] = []
        url_problem = _url_problem(self.url, with_token=self.token_env is not None)
        if url_problem:
            problems.append(("webhook_url", url_problem, self.url))
        if self.backoff_max < self.backoff:
            problem = f"must be >= webhook_backoff ({self.backoff:g})"
            problems.append(("webhook_backoff_max", problem, self.backoff_max))
        if problems:
            raise setting_errors(type(self).__name__, problems)
        return self


def idempotency_key(alerts: Iterable[Alert]) -> str:
    """The same for the same batch, whatever its order; new when an alert progresses.

    Built from each alert's key plus its ``last_seen``, ``count`` and ``severity`` (see
    ``Alert.version``): a retry of a batch is a duplicate a receiver may drop, but
    the same alert seen again in a later build, or escalated (the outbox owes it again
    then), carries news and must not be dropped as a duplicate of its first delivery.
    """
    digest = hashlib.sha256("\n".join(sorted(alert.version for alert in alerts)).encode())
    return f"certsight-{digest.hexdigest()}"


def _url_problem(url: str, *, with_token: bool) -> str | None:
    """Why ``url`` cannot be a webhook, in words that do not repeat the URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials; name an environment variable in webhook_token_env"
    if parts.fragment:
        return "must not have a #fragment"
    if with_token and parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        return "must be https:// when a bearer token is sent (http:// only to loopback)"
    return None


class WebhookSink(AlertSink[WebhookSettings]):
    """POSTs ``{"alerts": [...]}`` in batches, retrying what may succeed later.

    Connection errors, timeouts, 429 and 5xx are retried ``retries`` times with
    exponential back-off (``backoff`` doubling up to ``backoff_max``) or after the
    receiver's ``Retry-After`` when that is longer; a receiver asking for more than
    ``backoff_max`` gets its wish by the next build instead. Other 4xx are not
    retried, and redirects are not followed (the POST would lose its body or carry
    the token elsewhere). Alerts are sorted by key before batching so the same
    alerts always form the same batches and so the same ``Idempotency-Key``.
    """

    slug = "webhook"
    settings_model = WebhookSettings

    def __init__(
        self,
        settings: WebhookSettings,
        context: Context,
        *,
        name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings, context, name=name)
        self.target = redact_url(settings.url)
        self._sleep = sleep
        self._token_value: str | None = None

    def __repr__(self) -> str:
        return f"WebhookSink({self.target!r}, token_env={self.settings.token_env!r})"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        encoded, errors = encode_alerts(alerts)
        delivered: list[str] = []
        if encoded:
            try:
                token = self._token()
            except DeliveryError as exc:
                raise DeliveryError(self.name, "; ".join([exc.message, *errors])) from None
            encoded.sort(key=lambda pair: (pair[0].key, pair[0].version))
            size = self.settings.batch_size
            batches = [encoded[start : start + size] for start in range(0, len(encoded), size)]
            with client(self.settings.timeout, _USER_AGENT) as session:
                for number, batch in enumerate(batches, start=1):
                    failure = self._post(session, batch, token)
                    if failure is None:
                        delivered.extend(alert.key for alert, _ in batch)
                        continue
                    where = f"batch {number}/{len(batches)} ({len(batch)} alerts)"
                    errors.append(f"{where}: {failure.reason}")
                    if failure.stop:
                        left = sum(len(later) for later in batches[number:])
                        if left:
                            errors.append(f"{left} alerts in later batches not attempted")
                        break
        if errors:
            raise DeliveryError(self.name, self._scrub("; ".join(errors)), delivered=delivered)

    def _token(self) -> str | None:
        """Looked up now: a rotated secret is picked up without a restart."""
        variable = self.settings.token_env
        if variable is None:
            return None
        token = (self.context.secret(variable) or "").strip()
        if not token:
            raise DeliveryError(
                self.name, f"environment variable {variable} (webhook_token_env) is not set"
            )
        self._token_value = token
        return token

    def _post(
        self,
        session: httpx.Client,
        batch: Sequence[tuple[Alert, dict[str, Any]]],
        token: str | None,
    ) -> Failure | None:
        """One batch, with its retries: None when accepted, else the last failure."""
        import tenacity

        body = dumps({"alerts": [document for _, document in batch]})
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key(alert for alert, _ in batch),
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(
                lambda failure: failure is not None and failure.retryable
            ),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            retry_error_callback=_last_result,  # the failure, not tenacity's RetryError
        )
        failure: Failure | None = retrying(post, session, self.settings.url, body, headers)
        attempts = int(retrying.statistics.get("attempt_number", 1))
        if failure is None:
            if attempts > 1:
                log.info("webhook %s: batch accepted on attempt %d", self.target, attempts)
            return None
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if self._asks_too_long(failure) and attempts <= self.settings.retries:
            return Failure(
                f"{failure.reason}{tries}; receiver asked to retry after "
                f"{failure.retry_after:g} s, more than webhook_backoff_max "
                f"({self.settings.backoff_max:g} s)",
                retryable=False,
                stop=True,
            )
        return Failure(failure.reason + tries, failure.retryable, failure.stop)

    def _asks_too_long(self, failure: Failure) -> bool:
        return failure.retry_after is not None and failure.retry_after > self.settings.backoff_max

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        failure = _last_result(state)
        too_long = failure is not None and self._asks_too_long(failure)
        return state.attempt_number > self.settings.retries or too_long

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential back-off, capped; the receiver's ``Retry-After`` when longer."""
        delay = min(
            self.settings.backoff_max, self.settings.backoff * 2.0 ** (state.attempt_number - 1)
        )
        failure = _last_result(state)
        if failure is not None and failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        return delay

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        failure = _last_result(state)
        log.warning(
            "webhook %s: %s; retry %d of %d in %.3g s",
            self.target,
            self._scrub(failure.reason if failure else "failed"),
            state.attempt_number,
            self.settings.retries,
            state.next_action.sleep if state.next_action else 0.0,
        )

    def _scrub(self, text: str) -> str:
        """Remove the URL and token from text that came from elsewhere (a receiver's body)."""
        url = self.settings.url
        query = urllib.parse.urlsplit(url).query
        raw = [part.partition("=")[2] for part in query.split("&")]
        decoded = [value for _, value in urllib.parse.parse_qsl(query)]
        values = [value for value in (*raw, *decoded) if len(value) >= 4]
        # Longest first, so a secret containing another is not left half-masked.
        for secret in sorted({url, query, self._token_value or "", *values}, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


def _last_result(state: tenacity.RetryCallState) -> Failure | None:
    """The last attempt's failure (attempts return failures, they do not raise them)."""
    if state.outcome is None or state.outcome.failed:
        return None
    result: Failure | None = state.outcome.result()
    return result
