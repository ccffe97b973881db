"""Early renewal: certificates that should be replaced before their profile's window.

Someone decided that a certificate must go now: it was revoked (and the warehouse may
see it still validated: its ``revoked_certificate_validated`` detector), the CA that
issued it is being retired (``[issuance.early_renewal] retiring_cas``), or an analyst
flagged it (``certsight renew-early SERIAL --reason ...``). Its renewal window then
moves to the moment that was decided, so every reader of the window -- the issuance
API's certificate view, the agent, ACME's renewalInfo (RFC 9773) -- tells its holder to
renew at its next check, and says why.

Flags live in the issuance state (``early_renewals`` in StateDb), one per certificate
and source, so that clearing an analyst's flag leaves the warehouse's in place. The
moved window is anchored at the flag's time, not at the time of each query: ACME
clients pick a random moment inside the window and renew only once it has passed, so
a window that started "now" at every check would never be reached (acme's
``ClientV2.renewal_time``, used by certbot).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from issuance.settings import EarlyRenewalSettings
from issuance.statedb import StateDb
from pki.store.base import CertificateRecord, CertStatus

log = logging.getLogger(__name__)


class Source(enum.StrEnum):
    """Who decided that a certificate is due: the interface of the view's ``early``."""

    analyst = "analyst"  # certsight renew-early
    revoked = "revoked"  # the store says so: a revoked certificate needs its successor
    revoked_still_validated = "revoked-still-validated"  # the warehouse's detector
    retiring_ca = "retiring-ca"  # [issuance.early_renewal] retiring_cas


@dataclass(frozen=True)
class EarlyRenewal:
    """One reason a certificate is due now, and since when."""

    source: Source
    reason: str
    flagged_at: datetime
    flagged_by: str

    def body(self) -> dict[str, str]:
        """As the API shows it; who flagged stays in the state and the CLI."""
        return {
            "source": self.source.value,
            "reason": self.reason,
            "flagged_at": self.flagged_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class RenewalWindow:
    start: datetime
    end: datetime
    early: tuple[EarlyRenewal, ...] = ()  # empty: the profile's window, unmoved


def moved_window(
    normal: tuple[datetime, datetime], flagged_at: datetime, length: timedelta
) -> tuple[datetime, datetime]:
    """The window from ``flagged_at`` for ``length``, never later than the profile's own:
    a flag must not postpone a certificate already due. Both ends move at most to the
    earlier of the two, so the result always has ``start < end``."""
    return min(normal[0], flagged_at), min(normal[1], flagged_at + length)


class EarlyRenewals:
    """Reads and writes the flags, and applies them to a certificate's window."""

    def __init__(
        self,
        state: StateDb,
        settings: EarlyRenewalSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._state = state
        self._length = timedelta(minutes=settings.window_minutes)
        self._retiring = frozenset(entry.lower() for entry in settings.retiring_cas)
        self._clock = clock

    def flag(
        self,
        record: CertificateRecord,
        source: Source,
        reason: str,
        flagged_by: str,
        *,
        refresh_reason: bool = True,
    ) -> EarlyRenewal:
        """Flag ``record`` as due now; a flag it already has from ``source`` keeps its
        time (the window clients have seen does not move again)."""
        reason = " ".join(reason.split())
        if not reason:
            raise ValueError("an early renewal needs a reason: it is shown to the holder")
        self._state.flag_early_renewal(
            {
                "issuer_key_sha1": record.issuer_key_sha1,
                "serial": record.serial,
                "source": source.value,
                "reason": reason,
                "flagged_at": self._clock().isoformat(),
                "flagged_by": flagged_by,
            },
            refresh_reason=refresh_reason,
        )
        return next(f for f in self.flags(record) if f.source is source)

    def clear(self, record: CertificateRecord, source: Source) -> bool:
        """Remove one source's flag; False when there was none."""
        return self._state.clear_early_renewal(record.issuer_key_sha1, record.serial, source)

    def flags(self, record: CertificateRecord) -> list[EarlyRenewal]:
        """The stored flags of ``record``, oldest first."""
        rows = self._state.early_renewals(record.issuer_key_sha1, record.serial)
        return [flag for flag in map(_from_row, rows) if flag is not None]

    def is_retiring(self, record: CertificateRecord) -> bool:
        return bool(self._retiring) and (
            record.ca_backend.lower() in self._retiring
            or record.issuer_key_sha1.lower() in self._retiring
        )

    def window(
        self, record: CertificateRecord, normal: tuple[datetime, datetime], *, new: bool = False
    ) -> RenewalWindow:
        """``record``'s window: the profile's (``normal``), or moved to the earliest
        reason it is due. ``new``: a certificate just issued, which has no stored flag yet
        (saves a read on the issuance path)."""
        retiring = self.is_retiring(record)
        # a CA taken off the list is no longer a reason, whatever was stored while it was
        flags = [
            f
            for f in ([] if new else self.flags(record))
            if retiring or f.source is not Source.retiring_ca
        ]
        if retiring and not any(f.source is Source.retiring_ca for f in flags):
            # Stored the first time it is seen, so the window stays put across processes
            # and restarts (see the module's docstring).
            flags.append(
                self.flag(
                    record,
                    Source.retiring_ca,
                    f"its CA ({record.ca_backend}, issuer key {record.issuer_key_sha1}) "
                    "is being retired",
                    "issuance",
                    refresh_reason=False,
                )
            )
        if record.status is CertStatus.revoked and record.revoked_at is not None:
            reason = record.revocation_reason.name if record.revocation_reason else "unspecified"
            flags.append(
                EarlyRenewal(
                    Source.revoked,
                    f"revoked ({reason}) at {record.revoked_at.isoformat()}",
                    record.revoked_at,
                    "issuance",
                )
            )
        if not flags:
            return RenewalWindow(*normal)
        ordered = tuple(sorted(flags, key=lambda f: f.flagged_at))
        start, end = moved_window(normal, ordered[0].flagged_at, self._length)
        return RenewalWindow(start, end, ordered)


def _from_row(row: dict[str, str]) -> EarlyRenewal | None:
    """A stored flag, or None for a source this version does not know (written by a
    newer one sharing the state): skipped with a warning, never a failed lookup."""
    try:
        source = Source(row["source"])
    except ValueError:
        log.warning(
            "early renewal flag of %s under %s has an unknown source %r: ignored",
            row["serial"],
            row["issuer_key_sha1"],
            row["source"],
        )
        return None
    return EarlyRenewal(
        source, row["reason"], datetime.fromisoformat(row["flagged_at"]), row["flagged_by"]
    )


def describe(early: Iterable[EarlyRenewal]) -> str | None:
    """One line for a person (ARI's explanation, the CLI): every reason, oldest first."""
    reasons = [f"{item.source.value}: {item.reason}" for item in early]
    return "; ".join(reasons) or None
