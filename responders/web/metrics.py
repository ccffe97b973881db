"""The local server's Prometheus metrics: one registry per process, and its exposition.

The parts that count (``FeedHealth``, ``ValidationService``, the ASGI app) keep plain
integers and times; this module turns them into metric families when ``GET /metrics`` is
scraped (a collector reads them; nothing is pushed). Why not prometheus_client objects in
those parts: the Lambda function imports them too, has no ``/metrics`` to serve, and
importing prometheus_client would add about 70 ms to every cold start; and ``pki`` (the
access-log writer) may not import ``responders`` at all. So only the local server imports
this module (asgi.py), and the Lambda zip does not carry prometheus_client.

The registry is ours, not prometheus_client's global one, which also holds the library's
process and platform collectors: ours holds exactly what docs/ocsp.md lists. Another part
adds its metrics here, in the same registry: a ``Counter(..., registry=REGISTRY)`` for a
part only the local server runs, or a reading of its plain counters in ``_Responder`` (or
a collector of its own registered in ``REGISTRY``) for a part Lambda runs too.

Values are per process: with ``serve --workers N`` each scrape is answered by whichever
worker accepts the connection (docs/ocsp.md says what that means).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from pki.rawlog import BatchFileSink
    from responders.web.runtime import Runtime

# The text format every Prometheus version reads. Newer clients label the same bytes
# "version=1.0.0", which older servers do not know; with plain ASCII names (ours) the
# two formats are identical.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def _none() -> int:
    return 0


class _Responder(Collector):
    """Reads the validation runtime of this process at each scrape."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.shed_ocsp: Callable[[], int] = _none

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        if runtime is None:
            return
        feed = runtime.feed_health
        yield GaugeMetricFamily(
            "certsight_status_feed_last_success_timestamp_seconds",
            "When the store's change feed was last read successfully (Unix time); "
            "remembered statuses are signed only while this is within status_max_age.",
            value=feed.last_success.timestamp(),
        )
        yield GaugeMetricFamily(
            "certsight_status_feed_failing",
            "1 while the polls of the store's change feed fail, else 0.",
            value=0 if feed.failing_since is None else 1,
        )
        yield CounterMetricFamily(
            "certsight_status_feed_failures",
            "Polls of the store's change feed that failed.",
            value=feed.failures_total,
        )
        yield GaugeMetricFamily(
            "certsight_status_max_age_seconds",
            "The configured status_max_age: how long remembered statuses stay trusted "
            "after the change feed's last success.",
            value=feed.max_age.total_seconds(),
        )
        try_later = CounterMetricFamily(
            "certsight_ocsp_trylater",
            "OCSP requests answered tryLater, by reason: store (no status could be read "
            "and no cached response is still valid) or busy (the worker was full).",
            labels=["reason"],
        )
        try_later.add_metric(["store"], runtime.service.try_later)
        try_later.add_metric(["busy"], self.shed_ocsp())
        yield try_later


class _AccessLogs(Collector):
    """Reads the access-log writers (pki/rawlog.py) of this process at each scrape: what
    they wrote, what waits for the disk, and what the capped queue had to drop."""

    def __init__(self) -> None:
        self.sinks: Mapping[str, BatchFileSink] = {}

    def collect(self) -> Iterator[Metric]:
        written = CounterMetricFamily(
            "certsight_access_log_records_written",
            "Access-log records written to complete RAW files, by log kind.",
            labels=["kind"],
        )
        dropped = CounterMetricFamily(
            "certsight_access_log_records_dropped",
            "Access-log records dropped because the queue waiting for the disk was full.",
            labels=["kind"],
        )
        failures = CounterMetricFamily(
            "certsight_access_log_write_failures",
            "Day files that could not be written (their records wait for the next try).",
            labels=["kind"],
        )
        pending = GaugeMetricFamily(
            "certsight_access_log_records_pending",
            "Access-log records waiting to be written.",
            labels=["kind"],
        )
        for kind, sink in sorted(self.sinks.items()):
            counts = sink.counts()
            written.add_metric([kind], counts.written)
            dropped.add_metric([kind], counts.dropped)
            failures.add_metric([kind], counts.failed_writes)
            pending.add_metric([kind], counts.pending)
        yield from (written, dropped, failures, pending)


REGISTRY: Final = CollectorRegistry()
_RESPONDER: Final = _Responder()
_ACCESS_LOGS: Final = _AccessLogs()
REGISTRY.register(_RESPONDER)
REGISTRY.register(_ACCESS_LOGS)


def track_access_logs(sinks: Mapping[str, BatchFileSink]) -> None:
    """Serve these access-log writers' counts from now on (by log kind)."""
    _ACCESS_LOGS.sinks = sinks


def track(runtime: Runtime, *, shed_ocsp: Callable[[], int] = _none) -> None:
    """Serve this runtime's readings from now on (a worker has one; the latest wins).
    ``shed_ocsp``: how many OCSP requests the server answered tryLater for being full."""
    _RESPONDER.runtime = runtime
    _RESPONDER.shed_ocsp = shed_ocsp


def exposition() -> bytes:
    """Every metric of the registry in the Prometheus text format (``CONTENT_TYPE``)."""
    return generate_latest(REGISTRY)
