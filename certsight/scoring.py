"""Detectors against the simulator's ground truth: precision and recall per detector.

An alert matches an expected finding of the same detector when every identity field the
truth names (``keys``) agrees: the same client, server, serial or issuer, and for findings
about a time (fan-out in an hour, volume on a day) overlapping windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warehouse.alert import Alert

WINDOW_KEYS = ("start", "end")


@dataclass
class Score:
    detector: str
    expected: int = 0
    raised: int = 0
    true_positives: int = 0  # alerts matching some expected finding
    found: int = 0  # expected findings matched by some alert
    false_alerts: list[Alert] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.raised if self.raised else None

    @property
    def recall(self) -> float | None:
        return self.found / self.expected if self.expected else None


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def matches(alert: Alert, expected: Mapping[str, Any]) -> bool:
    if alert.detector != expected["detector"]:
        return False
    keys: Sequence[str] = expected.get("keys") or ()
    for key in keys:
        if key in WINDOW_KEYS:
            continue
        if getattr(alert, key) != expected.get(key):
            return False
    if any(key in WINDOW_KEYS for key in keys):
        # windows of hours and days are half-open: an alert for the next hour is another one
        start, end = _parse(expected["start"]), _parse(expected["end"])
        if alert.last_seen <= start or alert.first_seen >= end:
            return False
    return True


def score(alerts: Iterable[Alert], truth: Mapping[str, Any]) -> dict[str, Score]:
    incidents: list[dict[str, Any]] = list(truth["incidents"])
    detectors = list(truth.get("detectors") or sorted({i["detector"] for i in incidents}))
    scores = {name: Score(name) for name in detectors}
    raised = list(alerts)
    for alert in raised:
        entry = scores.setdefault(alert.detector, Score(alert.detector))
        entry.raised += 1
        if any(matches(alert, expected) for expected in incidents):
            entry.true_positives += 1
        else:
            entry.false_alerts.append(alert)
    for expected in incidents:
        entry = scores.setdefault(expected["detector"], Score(expected["detector"]))
        entry.expected += 1
        if any(matches(alert, expected) for alert in raised):
            entry.found += 1
        else:
            entry.missed.append(expected)
    return scores
