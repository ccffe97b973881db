"""Where validation intelligence meets renewal: the warehouse's revoked-but-still-validated
findings become early-renewal flags in the issuance state.

issuance must not import warehouse (.importlinter): the two meet here, in the wiring,
through files -- the finished warehouse read-only, the issuance state's SQLite file.
``certsight run`` calls ``feed_from_warehouse`` after each build; elsewhere
``certsight renew-early --from-warehouse`` does it (a timer after ``certsight build``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from certsight.settings import CertsightSettings, Home
from issuance.early_renewal import EarlyRenewals, Source
from issuance.runtime import open_state
from pki.store.factory import open_store
from warehouse.reading import open_warehouse

DETECTOR = "revoked_certificate_validated"
FLAGGED_BY = "warehouse"

# Open findings only: a cleared one is a certificate nobody validates any more.
_FINDINGS = """
select issuer, serial, evidence
from alerts
where detector = ? and status = 'open' and issuer is not null and serial is not null
order by issuer, serial
"""


@dataclass(frozen=True)
class FeedReport:
    built: bool  # False: no warehouse yet, nothing read
    flagged: tuple[str, ...] = ()  # serials flagged (or re-flagged with new evidence)
    unknown: tuple[str, ...] = field(default=())  # findings on serials not in the store

    def summary(self) -> str | None:
        """One line for the console, None when there is nothing to say."""
        parts = []
        if self.flagged:
            parts.append(
                f"{len(self.flagged)} revoked certificate(s) still validated: their renewal "
                f"window is now ({', '.join(self.flagged[:5])}"
                + (", ..." if len(self.flagged) > 5 else "")
                + ")"
            )
        if self.unknown:
            parts.append(
                f"{len(self.unknown)} revoked and validated serial(s) not in the store: "
                "not renewable here"
            )
        return "; ".join(parts) or None


def feed_from_warehouse(home: Home, *, clock: Callable[[], datetime]) -> FeedReport:
    """Flag every certificate the warehouse finds validated after its revocation. Safe to
    repeat: a flag keeps its first time (the window clients saw), only its reason (the
    evidence) is refreshed."""
    from warehouse.reading import WarehouseMissingError

    settings = CertsightSettings.load(home).issuance
    try:
        with open_warehouse(home.warehouse) as con:
            findings = con.execute(_FINDINGS, [DETECTOR]).fetchall()
    except WarehouseMissingError:
        return FeedReport(built=False)
    store = open_store(home.store_uri)
    state = open_state(home.issuance)
    try:
        early = EarlyRenewals(state, settings.early_renewal, clock)
        flagged, unknown = [], []
        for issuer, serial, evidence in findings:
            record = store.get(str(issuer), str(serial))
            if record is None:
                unknown.append(str(serial))
                continue
            early.flag(record, Source.revoked_still_validated, reason_of(evidence), FLAGGED_BY)
            flagged.append(record.serial)
    finally:
        state.close()
        store.close()
    return FeedReport(built=True, flagged=tuple(flagged), unknown=tuple(unknown))


def reason_of(evidence: str | None) -> str:
    """The finding in one sentence for the certificate's holder. Counts and times only:
    the clients' addresses in the evidence stay in the warehouse (the reason is shown
    to whoever holds the certificate, through the API and ACME)."""
    try:
        found = json.loads(evidence or "{}")
    except json.JSONDecodeError:
        found = {}
    if not isinstance(found, dict):
        found = {}
    text = "validated after its revocation"
    if found.get("revoked_at"):
        text += f" at {found['revoked_at']}"
    if found.get("revocation_reason"):
        text += f" ({found['revocation_reason']})"
    requests, clients = found.get("requests_on_days_after_revocation"), found.get("clients")
    if isinstance(requests, int) and isinstance(clients, int):
        text += f": {requests} request(s) from {clients} client(s)"
    if found.get("last_validation"):
        text += f", last at {found['last_validation']}"
    return text + "; the server still presents it: deploy its replacement"
