"""Whether the certificate store's change feed is being followed, and saying so when not.

The OCSP responder remembers statuses and signed responses, and relies on the change feed
to drop those of a certificate that changed (runtime.py calls ``forget``). While the feed
fails, a revocation cannot reach what is remembered, so after ``max_age`` without a
successful poll the responder stops trusting its remembered statuses
(``StatusSource`` asks ``trusted``): from then on it signs only statuses it has just read
from the store, serves cached responses only until their own nextUpdate, and answers
``tryLater`` when it has neither (docs/ocsp.md, "When the store stops answering").

What an operator sees: the ``certsight_status_feed_*`` metrics, which the local server's
``/metrics`` reads from this object's attributes (metrics.py), and one log line per
transition, not per poll: ``status feed failing`` (WARNING) at the first failure,
``status feed stale`` (ERROR) once ``max_age`` has passed, ``status feed still failing``
(ERROR) every ``remind_every`` after that first line, and ``status feed recovered``
(WARNING) at the next success. In Lambda, where there is no ``/metrics``, these lines are
what CloudWatch metric filters count.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE: Final = timedelta(minutes=5)
# Often enough that an alarm on the reminders (a CloudWatch metric filter over one-minute
# periods) stays raised for as long as the feed fails; rare enough not to flood the log.
REMIND_EVERY: Final = timedelta(minutes=1)


class FeedHealth:
    """When the change feed last succeeded; the runtime reports every poll's outcome."""

    def __init__(
        self,
        max_age: timedelta,
        started: datetime,
        *,
        remind_every: timedelta = REMIND_EVERY,
    ) -> None:
        """``started``: when the feed was last read, i.e. when the runtime's ChangeFeed
        made its first poll (it cannot be built without one)."""
        if max_age <= timedelta(0):
            raise ValueError("status_max_age must be positive")
        if remind_every <= timedelta(0):
            raise ValueError("the reminder interval must be positive")
        self.max_age = max_age
        self.remind_every = remind_every
        self.last_success = started
        self.failing_since: datetime | None = None
        self.failures = 0  # consecutive: since the last success
        self.failures_total = 0  # for the process's life: a counter
        self._stale_said = False
        self._next_reminder = started

    def trusted(self, now: datetime) -> bool:
        """Whether statuses remembered from the store may still be signed: the feed that
        would have reported a change to them succeeded within ``max_age``."""
        return now - self.last_success <= self.max_age

    def succeeded(self, now: datetime) -> None:
        """A poll read every change since the previous success (ChangeFeed's cursor only
        moves then), so everything remembered is current again."""
        if self.failing_since is not None:
            log.warning(
                "status feed recovered: the certificate store's change feed answered again "
                "after %d failed polls over %.0f s; remembered statuses are trusted again",
                self.failures,
                (now - self.failing_since).total_seconds(),
            )
        self.last_success = now
        self.failing_since = None
        self.failures = 0
        self._stale_said = False

    def failed(self, now: datetime, error: BaseException) -> None:
        """A poll failed; logs only at transitions and reminders, never per poll."""
        self.failures += 1
        self.failures_total += 1
        why = f"{type(error).__name__}: {error}"
        if self.failing_since is None:
            self.failing_since = now
            self._next_reminder = now + self.remind_every
            log.warning(
                "status feed failing: cannot read the certificate store's change feed (%s); "
                "remembered statuses stay in use for %.0f s after its last success, then "
                "only statuses read from the store are signed, cached responses are served "
                "until their nextUpdate, and otherwise tryLater",
                why,
                self.max_age.total_seconds(),
            )
            return
        if not self._stale_said and not self.trusted(now):
            self._stale_said = True
            self._next_reminder = now + self.remind_every
            log.error(
                "status feed stale: no successful read of the certificate store's change "
                "feed for %.0f s (status_max_age %.0f s); remembered statuses are no longer "
                "signed (%s)",
                (now - self.last_success).total_seconds(),
                self.max_age.total_seconds(),
                why,
            )
            return
        if now >= self._next_reminder:
            self._next_reminder = now + self.remind_every
            log.error(
                "status feed still failing: %d failed polls since %s, last success %s (%s)",
                self.failures,
                self.failing_since.isoformat(),
                self.last_success.isoformat(),
                why,
            )
