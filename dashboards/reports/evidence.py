"""Client addresses in a report: replaced by their keyed pseudonyms (``dashboards.privacy``)
in every table and in alert evidence when a key is given, and an alert's evidence JSON
shortened to the one line a report has room for."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from dashboards.privacy import pseudonym, pseudonymise

if TYPE_CHECKING:
    import pandas as pd

EVIDENCE_CHARACTERS = 240


class Privacy:
    """What a report may show of client addresses: with a key, pseudonyms only."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key

    def table(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pseudonymise(frame, self.key) if self.key is not None else frame

    def evidence(self, value: Any) -> Any:
        """Every IP address anywhere in the evidence (sample_clients, ...) pseudonymised."""
        if self.key is None:
            return value
        if isinstance(value, dict):
            return {k: self.evidence(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.evidence(v) for v in value]
        if isinstance(value, str):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return value
            return pseudonym(value, self.key)
        return value


def evidence_summary(text: str | None, privacy: Privacy) -> str:
    """One line from an alert's evidence JSON: why, then the facts, lists shortened."""
    if not text:
        return ""
    try:
        data = privacy.evidence(json.loads(text))
    except ValueError:
        return _shorten(str(text))
    parts: list[str] = []
    if isinstance(data, dict):
        why = data.pop("why", None)
        if why:
            parts.append(str(why))
        parts.extend(f"{key.replace('_', ' ')}: {_brief(value)}" for key, value in data.items())
    else:
        parts.append(_brief(data))
    return _shorten("; ".join(parts))


def _brief(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(_brief(v) for v in value[:3])
        return shown + (f" (+{len(value) - 3} more)" if len(value) > 3 else "")
    if isinstance(value, dict):
        return " ".join(f"{k} {_brief(v)}" for k, v in value.items())
    return str(value)


def _shorten(text: str) -> str:
    return text if len(text) <= EVIDENCE_CHARACTERS else text[: EVIDENCE_CHARACTERS - 1] + "…"
