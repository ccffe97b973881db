"""Delivery of alerts to the sinks of the ``[alerts]`` table.

The sinks themselves are destinations (``warehouse/destinations/``: a JSON-lines
file, an HTTP webhook, an Amazon SNS topic). ``deliver_all`` hands the alerts to
each sink independently and reports, per sink, which alert keys arrived and which
did not. It keeps no state itself: the caller (the warehouse build, in the alert
outbox of ``warehouse/outbox.py``) records what was delivered and passes the rest
again next time, which is why every sink reports
partial success precisely instead of a bare "failed", and why the webhook and FIFO
SNS carry idempotency keys (a retry after an ambiguous failure must not page anyone
twice). See docs/alerts-delivery.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from warehouse.alert import SEVERITIES, Alert, at_least
from warehouse.destinations import AlertSink, AlertsSettings, Context, DeliveryError, build_sink

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where alerts go. ``deliver`` raises ``DeliveryError`` for anything not delivered.

    A sink may also have a ``min_severity`` attribute; ``deliver_all`` then hands
    it only alerts at least that severe (the registered sinks all have one).
    """

    @property
    def name(self) -> str: ...

    def deliver(self, alerts: Sequence[Alert]) -> None: ...


def load_sinks(settings: AlertsSettings, context: Context) -> list[AlertSink[Any]]:
    """The sinks the ``[alerts]`` table configures, in slug order (jsonl, sns, webhook).

    ``settings`` were validated when certsight.toml was read, so a bad one fails the
    build's start, not its delivery step; nothing here can fail.
    """
    return [build_sink(sink, context) for sink in settings.configured()]


@dataclass(frozen=True)
class SinkOutcome:
    """What one sink did with the alerts of one ``deliver_all`` call (keys, input order)."""

    sink: str
    delivered: tuple[str, ...]
    failed: tuple[str, ...]
    # below the sink's min_severity: not owed, not to retry, at this severity (the
    # outbox owes an alert again when it escalates)
    skipped: tuple[str, ...]
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
