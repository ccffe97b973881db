"""Delivery of alerts to the sinks configured in ``HOME/certsight.toml``.

Three sinks exist: a JSON-lines file, an HTTP webhook and an Amazon SNS topic.
``deliver_all`` hands the alerts to each sink independently and reports, per
sink, which alert keys arrived and which did not. It keeps no state itself: the
caller (the warehouse build) records what was delivered and passes the rest again
next time, which is why every sink reports partial success precisely instead of
a bare "failed", and why the webhook and FIFO SNS carry idempotency keys (a
retry after an ambiguous failure must not page anyone twice).

Secrets: the webhook bearer token is read from an environment variable at
delivery time and never appears in logs, exception messages or ``repr``; the
webhook URL is shown without its query string or user info. See
docs/alerts-delivery.md for the settings.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import re
import ssl
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Protocol

from warehouse.alert import SEVERITIES, Alert, at_least, dumps

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

SETTINGS_FILE: Final = "certsight.toml"
SECTION: Final = "alerts"

ALERT_KEYS: Final = frozenset(
    {
        "min_severity",
        "jsonl",
        "jsonl_min_severity",
        "webhook_url",
        "webhook_token_env",
        "webhook_timeout",
        "webhook_retries",
        "webhook_backoff",
        "webhook_backoff_max",
        "webhook_batch_size",
        "webhook_min_severity",
        "sns_topic_arn",
        "sns_min_severity",
    }
)
"""Every key ``[alerts]`` accepts; anything else is refused so a typo is not silently ignored."""

WEBHOOK_BATCH_SIZE: Final = 100
SNS_BATCH_ENTRIES: Final = 10  # the PublishBatch limit
SNS_MAX_BYTES: Final = 262_144  # per message and per PublishBatch call
_SNS_ENTRY_OVERHEAD: Final = 512  # subject + attributes, counted generously
_MAX_ERROR_BODY: Final = 200
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

# 4xx answers that are about this batch's content: later batches may still pass,
# so the webhook goes on with them. Any other refusal (401, 403, 404, 3xx...) is
# about the configuration and would refuse every batch alike.
_BATCH_SPECIFIC_STATUSES: Final = frozenset({400, 409, 413, 415, 422})


# -- errors ------------------------------------------------------------------------


class DeliveryConfigError(ValueError):
    """A bad ``[alerts]`` setting; ``key`` is its dotted name (``alerts.webhook_retries``).

    ``key`` is None only when the file itself cannot be read or parsed. Messages
    quote offending values except for the webhook URL, which may hold a secret.
    """

    def __init__(self, key: str | None, problem: str, *, source: str = SETTINGS_FILE) -> None:
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class DeliveryError(Exception):
    """A sink could not deliver some or all of the alerts it was given.

    ``delivered`` holds the keys that did arrive before or despite the failure,
    so the caller retries only the others.
    """

    def __init__(self, sink: str, message: str, *, delivered: Iterable[str] = ()) -> None:
        self.sink = sink
        self.message = message
        self.delivered: tuple[str, ...] = tuple(delivered)
        super().__init__(f"{sink}: {message}")


# -- the sink interface and the report ------------------------------------------------


class Sink(Protocol):
    """Where alerts go. ``deliver`` raises ``DeliveryError`` for anything not delivered.

    A sink may also have a ``min_severity`` attribute; ``deliver_all`` then hands
    it only alerts at least that severe (the sinks built here all have one).
    """

    @property
    def name(self) -> str: ...

    def deliver(self, alerts: Sequence[Alert]) -> None: ...


@dataclass(frozen=True)
class SinkOutcome:
    """What one sink did with the alerts of one ``deliver_all`` call (keys, input order)."""

    sink: str
    delivered: tuple[str, ...]
    failed: tuple[str, ...]
    skipped: tuple[str, ...]  # below the sink's min_severity: not owed, not to retry
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors


@dataclass(frozen=True)
class DeliveryReport:
    """Per-sink outcomes of ``deliver_all``; the caller persists them as it sees fit."""

    alert_keys: tuple[str, ...]
    outcomes: tuple[SinkOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def outcome(self, sink: str) -> SinkOutcome:
        """The outcome of the sink called ``sink``; ``KeyError`` if there was none."""
        for outcome in self.outcomes:
            if outcome.sink == sink:
                return outcome
        raise KeyError(sink)

    def pending(self) -> dict[str, tuple[str, ...]]:
        """Sink name -> keys still owed to it, for the sinks that failed some."""
        return {o.sink: o.failed for o in self.outcomes if o.failed}

    def settled(self) -> frozenset[str]:
        """Keys that no sink still owes: delivered to, or filtered out by, every sink."""
        owed = {key for outcome in self.outcomes for key in outcome.failed}
        return frozenset(key for key in self.alert_keys if key not in owed)

    def errors(self) -> dict[str, tuple[str, ...]]:
        return {o.sink: o.errors for o in self.outcomes if o.errors}


def deliver_all(alerts: Sequence[Alert], sinks: Sequence[Sink]) -> DeliveryReport:
    """Deliver to every sink independently: one failing sink never stops the others.

    Each sink gets the alerts at or above its ``min_severity``. Exceptions other
    than ``DeliveryError`` (a bug in a sink) are logged with their traceback and
    reported as a failure of that sink, not raised, for the same reason.
    """
    all_keys = _unique(alert.key for alert in alerts)
    outcomes: list[SinkOutcome] = []
    for sink in sinks:
        minimum = str(getattr(sink, "min_severity", SEVERITIES[0]))
        selected = [alert for alert in alerts if at_least(alert.severity, minimum)]
        keys = _unique(alert.key for alert in selected)
        chosen = set(keys)
        skipped = tuple(key for key in all_keys if key not in chosen)
        delivered: tuple[str, ...] = ()
        errors: tuple[str, ...] = ()
        if selected:
            try:
                sink.deliver(selected)
            except DeliveryError as exc:
                reported = set(exc.delivered)
                delivered = tuple(key for key in keys if key in reported)
                errors = (exc.message,)
                log.warning(
                    "alert delivery to %s: %d of %d delivered: %s",
                    sink.name,
                    len(delivered),
                    len(keys),
                    exc.message,
                )
            except Exception as exc:
                errors = (f"unexpected {type(exc).__name__}: {exc}",)
                log.exception("alert delivery to %s failed unexpectedly", sink.name)
            else:
                delivered = keys
                log.info("alert delivery to %s: %d delivered", sink.name, len(keys))
        arrived = set(delivered)
        failed = tuple(key for key in keys if key not in arrived)
        outcomes.append(SinkOutcome(sink.name, delivered, failed, skipped, errors))
    return DeliveryReport(all_keys, tuple(outcomes))


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


def _encode(alerts: Sequence[Alert]) -> tuple[list[tuple[Alert, dict[str, Any]]], list[str]]:
    """``to_json`` of each alert; the keys of those whose evidence cannot be encoded.

    One detector's unserialisable evidence must not hold back everyone else's
    alerts, so the bad ones are set aside and reported by key.
    """
    good: list[tuple[Alert, dict[str, Any]]] = []
    bad: list[str] = []
    for alert in alerts:
        try:
            good.append((alert, alert.to_json()))
        except (TypeError, ValueError) as exc:
            bad.append(f"{alert.key}: cannot encode: {exc}")
    return good, bad


# -- JSON-lines file --------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLinesSink:
    """Appends one JSON object per alert to a file and fsyncs before returning.

    The file is what log shippers tail, so a line is either complete or absent:
    all lines go out in one append, and a torn last line left by a crash is
    closed with a newline before new lines are added after it.
    """

    path: Path
    min_severity: str = SEVERITIES[0]
    name: str = "jsonl"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        encoded, rejected = _encode(alerts)
        keys = [alert.key for alert, _ in encoded]
        if encoded:
            payload = b"".join(dumps(document) + b"\n" for _, document in encoded)
            try:
                self._append(payload)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise DeliveryError(self.name, f"cannot append to {self.path}: {reason}") from exc
            log.debug("appended %d alerts to %s", len(keys), self.path)
        if rejected:
            raise DeliveryError(self.name, "; ".join(rejected), delivered=keys)

    def _append(self, payload: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                payload = b"\n" + payload
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if not existed:
            _fsync_dir(self.path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- webhook ------------------------------------------------------------------------------


def idempotency_key(alerts: Iterable[Alert]) -> str:
    """The same for the same batch, whatever its order; new when an alert progresses.

    Built from each alert's key plus its ``last_seen`` and ``count`` (see
    ``Alert.version``): a retry of a batch is a duplicate a receiver may drop,
    but the same alert seen again in a later build carries news and must not be
    dropped as a duplicate of its first delivery.
    """
    digest = hashlib.sha256("\n".join(sorted(alert.version for alert in alerts)).encode())
    return f"certsight-{digest.hexdigest()}"


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn the POST into a GET without the alerts and
    send the Authorization header to wherever the Location header points."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


@dataclass(frozen=True)
class _Attempt:
    """Why one POST did not succeed, and what to do about it."""

    reason: str
    retryable: bool
    stop: bool  # later batches would fail alike: do not try them in this call
    retry_after: float | None = None


class _BatchFailed(Exception):
    def __init__(self, reason: str, *, stop: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stop = stop


class WebhookSink:
    """POSTs ``{"alerts": [...]}`` in batches, retrying what may succeed later.

    Connection errors, timeouts, 429 and 5xx are retried ``retries`` times with
    exponential backoff (``backoff`` doubling up to ``backoff_max``) or after the
    receiver's ``Retry-After`` when that is longer; a receiver asking for more
    than ``backoff_max`` gets its wish by the next build instead. Other 4xx are
    not retried. Alerts are sorted by key before batching so the same alerts
    always form the same batches and so the same ``Idempotency-Key`` headers.
    """

    def __init__(
        self,
        url: str,
        *,
        token_env: str | None = None,
        timeout: float = 5.0,
        retries: int = 4,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = WEBHOOK_BATCH_SIZE,
        min_severity: str = SEVERITIES[0],
        name: str = "webhook",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        problem = _url_problem(url, with_token=token_env is not None)
        if problem:
            raise ValueError(f"webhook URL {redact_url(url)} {problem}")
        if batch_size < 1 or retries < 0 or timeout <= 0 or backoff < 0 or backoff_max < 0:
            raise ValueError("webhook: batch_size >= 1, retries >= 0, timeout > 0, backoffs >= 0")
        self._url = url
        self.target = redact_url(url)
        self.token_env = token_env
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.min_severity = min_severity
        self.name = name
        self._sleep = sleep
        self._secret: str | None = None
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"WebhookSink({self.target!r}, token_env={self.token_env!r})"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        encoded, rejected = _encode(alerts)
        errors = list(rejected)
        delivered: list[str] = []
        if encoded:
            try:
                token = self._token()
            except DeliveryError as exc:
                raise DeliveryError(self.name, "; ".join([exc.message, *errors])) from None
            encoded.sort(key=lambda pair: (pair[0].key, pair[0].version))
            batches = [
                encoded[start : start + self.batch_size]
                for start in range(0, len(encoded), self.batch_size)
            ]
            for number, batch in enumerate(batches, start=1):
                try:
                    self._post(batch, token)
                except _BatchFailed as exc:
                    errors.append(
                        f"batch {number}/{len(batches)} ({len(batch)} alerts): {exc.reason}"
                    )
                    if exc.stop:
                        left = sum(len(later) for later in batches[number:])
                        if left:
                            errors.append(f"{left} alerts in later batches not attempted")
                        break
                else:
                    delivered.extend(alert.key for alert, _ in batch)
        if errors:
            raise DeliveryError(self.name, self._scrub("; ".join(errors)), delivered=delivered)

    def _token(self) -> str | None:
        """Read at delivery time: a rotated secret is picked up without a restart."""
        if self.token_env is None:
            return None
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise DeliveryError(
                self.name, f"environment variable {self.token_env} (webhook_token_env) is not set"
            )
        self._secret = token
        return token

    def _post(self, batch: Sequence[tuple[Alert, dict[str, Any]]], token: str | None) -> None:
        body = dumps({"alerts": [document for _, document in batch]})
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "certsight-alerts/1",
            "Idempotency-Key": idempotency_key(alert for alert, _ in batch),
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        attempt = 0
        while True:
            attempt += 1
            failure = self._attempt(body, headers)
            if failure is None:
                if attempt > 1:
                    log.info("webhook %s: batch accepted on attempt %d", self.target, attempt)
                return
            tries = f" ({attempt} attempts)" if attempt > 1 else ""
            if not failure.retryable or attempt > self.retries:
                raise _BatchFailed(failure.reason + tries, stop=failure.stop)
            delay = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
            if failure.retry_after is not None:
                if failure.retry_after > self.backoff_max:
                    raise _BatchFailed(
                        f"{failure.reason}{tries}; receiver asked to retry after "
                        f"{failure.retry_after:g} s, more than webhook_backoff_max "
                        f"({self.backoff_max:g} s)",
                        stop=True,
                    )
                delay = max(delay, failure.retry_after)
            log.warning(
                "webhook %s: %s; retry %d of %d in %.3g s",
                self.target,
                self._scrub(failure.reason),
                attempt,
                self.retries,
                delay,
            )
            self._sleep(delay)

    def _attempt(self, body: bytes, headers: Mapping[str, str]) -> _Attempt | None:
        """One POST: None when accepted (2xx), else what went wrong."""
        request = urllib.request.Request(  # noqa: S310 - scheme checked to be http(s)
            self._url, data=body, headers=dict(headers), method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as reply:
                reply.read(65_536)  # the answer is not used; a bounded read ends the exchange
        except urllib.error.HTTPError as exc:
            try:
                detail = _snippet(exc.read(4096))
            except (OSError, http.client.HTTPException):
                detail = ""
            finally:
                exc.close()
            status = exc.code
            reason = f"HTTP {status} {exc.reason}" + (f": {detail}" if detail else "")
            if status == 429 or 500 <= status <= 599:
                return _Attempt(reason, True, True, _retry_after(exc.headers))
            if 300 <= status <= 399:
                reason += " (redirects are not followed; configure the final URL)"
            return _Attempt(reason, False, status not in _BATCH_SPECIFIC_STATUSES)
        except urllib.error.URLError as exc:
            cause = exc.reason
            if isinstance(cause, ssl.SSLCertVerificationError):
                return _Attempt(f"TLS verification failed: {cause.verify_message}", False, True)
            return _Attempt(f"cannot connect: {_describe(cause)}", True, True)
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(_describe(exc), True, True)
        return None

    def _scrub(self, text: str) -> str:
        """Remove the URL and token from text that came from elsewhere (a receiver's body)."""
        query = urllib.parse.urlsplit(self._url).query
        raw = [part.partition("=")[2] for part in query.split("&")]
        decoded = [value for _, value in urllib.parse.parse_qsl(query)]
        values = [value for value in (*raw, *decoded) if len(value) >= 4]
        # Longest first, so a secret containing another is not left half-masked.
        for secret in sorted(
            {self._url, query, self._secret or "", *values}, key=len, reverse=True
        ):
            if secret:
                text = text.replace(secret, "***")
        return text


def _describe(error: object) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= _MAX_ERROR_BODY else text[:_MAX_ERROR_BODY] + "..."


def _retry_after(headers: Message | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    value = value.strip()
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


# -- Amazon SNS ---------------------------------------------------------------------------

_TOPIC_ARN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:(?P<name>[A-Za-z0-9_-]{1,256}(\.fifo)?)$"
)


def _subject(alert: Alert) -> str:
    """Email subject: SNS wants printable ASCII without newlines, at most 100 characters."""
    raw = f"certsight {alert.severity.upper()}: {alert.detector}"
    return "".join(c if " " <= c <= "~" else "?" for c in raw)[:100]


class SnsSink:
    """Publishes one SNS message per alert (the ``to_json`` document), ten per call.

    The client follows the standard AWS settings (credentials, ``AWS_ENDPOINT_URL``
    and friends) in the topic's own region, created on first use so that loading
    the settings needs no credentials. FIFO topics get the detector as message
    group and a deduplication id from the alert's version.
    """

    def __init__(
        self,
        topic_arn: str,
        *,
        min_severity: str = SEVERITIES[0],
        name: str = "sns",
        client: SNSClient | None = None,
    ) -> None:
        match = _TOPIC_ARN.match(topic_arn)
        if not match:
            raise ValueError(f"not an SNS topic ARN: {topic_arn!r}")
        self.topic_arn = topic_arn
        self.region = match["region"]
        self.fifo = match["name"].endswith(".fifo")
        self.min_severity = min_severity
        self.name = name
        self._client = client

    def __repr__(self) -> str:
        return f"SnsSink({self.topic_arn!r})"

    def client(self) -> SNSClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "sns",
                region_name=self.region,
                config=Config(
                    connect_timeout=5,
                    read_timeout=10,
                    retries={"mode": "standard", "total_max_attempts": 3},
                ),
            )
        return self._client

    def deliver(self, alerts: Sequence[Alert]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        encoded, errors = _encode(alerts)
        groups, too_big = self._groups(encoded)
        errors.extend(too_big)
        delivered: list[str] = []
        for index, group in enumerate(groups):
            by_id = {entry["Id"]: alert.key for alert, entry in group}
            try:
                response = self.client().publish_batch(
                    TopicArn=self.topic_arn,
                    PublishBatchRequestEntries=[entry for _, entry in group],
                )
            except (ClientError, BotoCoreError) as exc:
                left = sum(len(later) for later in groups[index:])
                errors.append(f"publish_batch failed: {exc}; {left} alerts not published")
                break
            delivered.extend(by_id[ok["Id"]] for ok in response.get("Successful", []))
            errors.extend(
                f"{by_id.get(bad['Id'], bad['Id'])}: {bad['Code']} {bad.get('Message', '')}".strip()
                for bad in response.get("Failed", [])
            )
        if errors:
            raise DeliveryError(self.name, "; ".join(errors), delivered=delivered)

    def _entry(self, number: int, alert: Alert, message: str) -> PublishBatchRequestEntryTypeDef:
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": f"m{number}",
            "Message": message,
            "Subject": _subject(alert),
            "MessageAttributes": {
                "detector": {"DataType": "String", "StringValue": alert.detector},
                "severity": {"DataType": "String", "StringValue": alert.severity},
            },
        }
        if self.fifo:
            entry["MessageGroupId"] = alert.detector[:128]
            entry["MessageDeduplicationId"] = hashlib.sha256(alert.version.encode()).hexdigest()
        return entry

    def _groups(
        self, encoded: Sequence[tuple[Alert, dict[str, Any]]]
    ) -> tuple[list[list[tuple[Alert, PublishBatchRequestEntryTypeDef]]], list[str]]:
        """Batches within both PublishBatch limits: 10 entries and 256 KiB in all."""
        groups: list[list[tuple[Alert, PublishBatchRequestEntryTypeDef]]] = []
        too_big: list[str] = []
        size = 0
        for alert, document in encoded:
            message = dumps(document).decode()
            cost = len(message.encode()) + _SNS_ENTRY_OVERHEAD
            if cost > SNS_MAX_BYTES:
                too_big.append(f"{alert.key}: message of {cost} bytes exceeds SNS's 256 KiB")
                continue
            if not groups or len(groups[-1]) >= SNS_BATCH_ENTRIES or size + cost > SNS_MAX_BYTES:
                groups.append([])
                size = 0
            groups[-1].append((alert, self._entry(len(groups[-1]), alert, message)))
            size += cost
        return groups, too_big


# -- settings -------------------------------------------------------------------------------


class _Settings:
    """Typed reads of the ``[alerts]`` table, each failure naming its key."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.table = table

    def error(self, key: str, problem: str) -> DeliveryConfigError:
        return DeliveryConfigError(f"{SECTION}.{key}", problem)

    def string(self, key: str) -> str:
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        return value.strip()

    def severity(self, key: str, default: str) -> str:
        if key not in self.table:
            return default
        value = self.table[key]
        if value not in SEVERITIES:
            raise self.error(key, f"{value!r} is not one of {', '.join(SEVERITIES)}")
        return str(value)

    def number(self, key: str, default: float, *, positive: bool) -> float:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number of seconds, not {value!r}")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self.error(key, f"must be {'>' if positive else '>='} 0, not {value!r}")
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {value!r}")
        if not minimum <= value <= maximum:
            raise self.error(key, f"must be between {minimum} and {maximum}, not {value}")
        return int(value)


def read_settings(home_root: Path) -> dict[str, Any]:
    """The parsed ``HOME/certsight.toml``, or ``{}`` when there is none."""
    source = home_root / SETTINGS_FILE
    try:
        with source.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DeliveryConfigError(None, f"cannot read: {exc.strerror}", source=str(source)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise DeliveryConfigError(None, f"not valid TOML: {exc}", source=str(source)) from exc


def load_sinks(home_root: Path, config: Mapping[str, Any] | None = None) -> list[Sink]:
    """The sinks configured in the ``[alerts]`` table, in the order jsonl, webhook, sns.

    ``config`` is the whole parsed settings document when the caller has it
    already; otherwise ``home_root/certsight.toml`` is read. No file, no
    ``[alerts]`` table or no sink keys: no sinks. Every setting is checked here,
    so a bad one fails the build's start, not its delivery step.
    """
    document = read_settings(home_root) if config is None else config
    table = document.get(SECTION)
    if table is None:
        return []
    if not isinstance(table, Mapping):
        raise DeliveryConfigError(SECTION, "must be a table ([alerts])")
    settings = _Settings(table)
    for key in sorted(set(table) - ALERT_KEYS, key=str):
        hint = (
            "; put secrets in an environment variable named by webhook_token_env"
            if "token" in str(key) or "secret" in str(key) or "password" in str(key)
            else f"; known keys: {', '.join(sorted(ALERT_KEYS))}"
        )
        raise settings.error(str(key), "unknown key" + hint)

    minimum = settings.severity("min_severity", SEVERITIES[0])
    anchors = {"jsonl_": "jsonl", "webhook_": "webhook_url", "sns_": "sns_topic_arn"}
    for prefix, anchor in anchors.items():
        if anchor not in table:
            for key in sorted(k for k in table if k.startswith(prefix) and k != anchor):
                raise settings.error(key, f"has no effect without {anchor}; set it or remove this")

    sinks: list[Sink] = []
    if "jsonl" in table:
        path = Path(settings.string("jsonl")).expanduser()
        sinks.append(
            JsonLinesSink(
                path if path.is_absolute() else home_root / path,
                min_severity=settings.severity("jsonl_min_severity", minimum),
            )
        )
    if "webhook_url" in table:
        sinks.append(_webhook_from(settings, minimum))
    if "sns_topic_arn" in table:
        arn = settings.string("sns_topic_arn")
        if not _TOPIC_ARN.match(arn):
            raise settings.error(
                "sns_topic_arn",
                f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
            )
        sinks.append(SnsSink(arn, min_severity=settings.severity("sns_min_severity", minimum)))
    return sinks


def _webhook_from(settings: _Settings, minimum: str) -> WebhookSink:
    url = settings.string("webhook_url")
    token_env: str | None = None
    if "webhook_token_env" in settings.table:
        token_env = settings.string("webhook_token_env")
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,99}", token_env):
            # Not echoed: a token pasted here by mistake must not reach a log.
            raise settings.error(
                "webhook_token_env",
                "must be the name of an environment variable (capitals, digits, _), "
                "not the token itself",
            )
    problem = _url_problem(url, with_token=token_env is not None)
    if problem:
        raise settings.error("webhook_url", problem)
    backoff = settings.number("webhook_backoff", 0.5, positive=False)
    backoff_max = settings.number("webhook_backoff_max", 30.0, positive=False)
    if backoff_max < backoff:
        raise settings.error("webhook_backoff_max", f"must be >= webhook_backoff ({backoff:g})")
    return WebhookSink(
        url,
        token_env=token_env,
        timeout=settings.number("webhook_timeout", 5.0, positive=True),
        retries=settings.integer("webhook_retries", 4, minimum=0, maximum=20),
        backoff=backoff,
        backoff_max=backoff_max,
        batch_size=settings.integer(
            "webhook_batch_size", WEBHOOK_BATCH_SIZE, minimum=1, maximum=10_000
        ),
        min_severity=settings.severity("webhook_min_severity", minimum),
    )
