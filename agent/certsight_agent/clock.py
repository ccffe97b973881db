"""The agent's clock. ``CERTSIGHT_AGENT_NOW`` (an ISO-8601 time) holds it at a fixed
point: for tests only, so that "the renewal window has come" can be shown without
waiting weeks. Production never sets it; the docs say so."""

from __future__ import annotations

import os
from datetime import UTC, datetime

HELD_CLOCK_VARIABLE = "CERTSIGHT_AGENT_NOW"


def now() -> datetime:
    held = os.environ.get(HELD_CLOCK_VARIABLE)
    if held:
        value = datetime.fromisoformat(held.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
