"""What a detector reports: one ``Alert``, and the one JSON shape every consumer sees.

The JSON-lines file, the webhook, SNS and ``certsight alerts --format json`` all
call :meth:`Alert.to_json`, so a receiver that parses one of them parses all of
them, and a change of shape happens in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final

import orjson

SEVERITIES: Final = ("low", "medium", "high", "critical")
"""In increasing order; ``min_severity`` filters compare positions in this tuple."""

_RANK: Final = {name: rank for rank, name in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES`; ``ValueError`` names the valid ones."""
    try:
        return _RANK[severity]
    except KeyError:
        raise ValueError(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


def at_least(severity: str, minimum: str) -> bool:
    """True when ``severity`` is ``minimum`` or more serious."""
    return severity_rank(severity) >= severity_rank(minimum)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 with a ``Z`` suffix: what SIEMs and ``jq``'s ``fromdateiso8601`` expect."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # Python 3.11 accepts the ``Z`` suffix
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _json_default(value: Any) -> Any:
    """The types DuckDB hands detectors in evidence that JSON has no word for."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"evidence value of type {type(value).__name__} is not JSON-serialisable")


_ORJSON_OPTIONS: Final = (
    orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
)


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes with the same conversions as :meth:`Alert.to_json`."""
    return orjson.dumps(payload, default=_json_default, option=_ORJSON_OPTIONS)


def _utc(name: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time is ambiguous (local? UTC?); guessing would shift alert windows.
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Alert:
    """One finding of one detector, identified by ``key`` across warehouse builds.

    ``key`` is what receivers deduplicate on and what the caller records as
    delivered, so detectors must derive it from the finding's identity (detector,
    client, server, serial...), never from a build time or a row number.
    Times are normalised to UTC on construction; naive times are refused.
    """

    key: str
    detector: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    client_ip: str | None
    server: str | None
    serial: str | None
    issuer: str | None
    count: int
    evidence: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("alert key must not be empty")
        if not self.detector:
            raise ValueError(f"alert {self.key}: detector must not be empty")
        severity_rank(self.severity)
        first = _utc("first_seen", self.first_seen)
        last = _utc("last_seen", self.last_seen)
        if last < first:
            raise ValueError(
                f"alert {self.key}: last_seen {iso_utc(last)} is before first_seen {iso_utc(first)}"
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"alert {self.key}: count must be an integer >= 0, not {self.count!r}")
        object.__setattr__(self, "first_seen", first)
        object.__setattr__(self, "last_seen", last)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: UTC ``...Z`` strings for times, evidence as a nested object.

        Evidence goes through the same serialiser as the sinks (Decimal, sets,
        bytes, numpy and datetimes converted; NaN becomes null), so what the CLI
        prints is byte for byte what a receiver gets, and a value the sinks could
        not send fails here, at the detector, rather than at delivery time.
        """
        evidence: dict[str, Any] = orjson.loads(dumps(self.evidence))
        return {
            "key": self.key,
            "detector": self.detector,
            "severity": self.severity,
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "client_ip": self.client_ip,
            "server": self.server,
            "serial": self.serial,
            "issuer": self.issuer,
            "count": self.count,
            "evidence": evidence,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The inverse of :meth:`to_json`, for readers of the JSON-lines file."""
        evidence = data.get("evidence") or {}
        if not isinstance(evidence, dict):
            raise ValueError("evidence must be a JSON object")
        return cls(
            key=str(data["key"]),
            detector=str(data["detector"]),
            severity=str(data["severity"]),
            first_seen=_parse_iso(str(data["first_seen"])),
            last_seen=_parse_iso(str(data["last_seen"])),
            client_ip=data.get("client_ip"),
            server=data.get("server"),
            serial=data.get("serial"),
            issuer=data.get("issuer"),
            count=int(data["count"]),
            evidence=evidence,
        )

    @property
    def version(self) -> str:
        """Identity plus progress (``key``, ``last_seen``, ``count``, ``severity``).

        Idempotency keys use this rather than ``key`` alone: a retry of the same
        alert is a duplicate a receiver may drop, an alert seen again later is news,
        and so is one that escalated, even with no new activity (a certificate left
        undeployed grows more urgent as the old one's expiry nears).
        """
        return f"{self.key}\x1f{iso_utc(self.last_seen)}\x1f{self.count}\x1f{self.severity}"
