"""Retention wiring: ``[privacy]``'s limits and the dashboards' keyed pseudonyms, handed
to the LAKE's retention job (``ingest/retention.py``) and to the warehouse build's alert
aging (``warehouse/address_aging.py``), which import nothing of each other or of the
dashboards. Also what ``certsight lake retain`` and ``certsight run`` print.

The key is read (or made, ``dashboards.privacy.load_key``) only when an address is
actually replaced, and it is never printed or logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, time

from botocore.exceptions import BotoCoreError, ClientError

from certsight.ingesting import lake_for
from certsight.settings import CertsightSettings, Home
from dashboards.privacy import PSEUDONYM_PATTERN, load_key, pseudonym, pseudonymise_text
from ingest.pseudonymise import Pseudonyms
from ingest.retention import (
    Limits,
    PartitionDone,
    RetentionReport,
    addresses_kept_from,
    retain,
)
from ingest.storage import StorageError
from warehouse.address_aging import AddressAging


def limits_for(settings: CertsightSettings) -> Limits:
    privacy = settings.privacy
    return Limits(privacy.client_address_days, privacy.raw_days, privacy.lake_days)


def _key(home: Home, settings: CertsightSettings) -> Callable[[], bytes]:
    @functools.cache
    def key() -> bytes:
        return load_key(home.root, settings.privacy.key_env, settings.environment.variables)

    return key


def pseudonyms_for(home: Home, settings: CertsightSettings) -> Pseudonyms:
    key = _key(home, settings)
    return Pseudonyms(
        of=lambda address: pseudonym(address, key()),
        in_text=lambda text: pseudonymise_text(text, key()),
        pattern=PSEUDONYM_PATTERN,
    )


def aging_for(
    home: Home, settings: CertsightSettings, lake_uri: str | None = None
) -> AddressAging | None:
    """What the warehouse build ages its alerts by: the limit the LAKE's last retention
    run applied (alerts whose last activity is before the first day it left as logged),
    so the alerts follow the LAKE, never run ahead of it; None before any run."""
    first_kept = addresses_kept_from(lake_for(home, lake_uri))
    if first_kept is None:
        return None
    key = _key(home, settings)
    return AddressAging(
        before=datetime.combine(first_kept, time(), UTC),
        pseudonym=lambda address: pseudonym(address, key()),
        in_text=lambda text: pseudonymise_text(text, key()),
        pattern=PSEUDONYM_PATTERN,
    )


def retain_home(
    home: Home,
    now: datetime,
    *,
    lake_uri: str | None = None,
    raw: list[str] | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Apply ``[privacy]``'s limits to the LAKE (default HOME/lake) and RAW (default
    HOME/raw, when it exists). A bad setting stops it before anything is touched."""
    settings = CertsightSettings.load(home)
    if raw is None:
        raw = [str(home.raw)] if home.raw.exists() else []
    try:
        return retain(
            lake_for(home, lake_uri),
            now,
            limits_for(settings),
            pseudonyms_for(home, settings),
            raw=raw,
            dry_run=dry_run,
        )
    except (OSError, BotoCoreError, ClientError) as exc:
        # unreachable bucket, no permission, disk full: say so as one line
        raise StorageError(f"retention could not run: {exc}") from exc


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _partition(item: PartitionDone, what: str) -> str:
    return f"{item.table}/{item.partition}: {item.files} file(s), {item.values} {what}"


def lines(report: RetentionReport) -> list[str]:
    """What ``certsight lake retain`` prints, a line per partition, then the summary."""
    would = "would be " if report.dry_run else ""
    out = [
        f"{would}pseudonymised {_partition(item, 'value(s)')}, {_size(item.bytes)} written"
        for item in report.pseudonymised
    ]
    out += [
        f"{would}deleted {_partition(item, 'row(s)')}, {_size(item.bytes)} freed"
        for item in report.deleted
    ]
    return [*out, summary(report)]


def summary(report: RetentionReport) -> str:
    raw = report.raw
    would = "would be " if report.dry_run else ""
    text = (
        f"retention: {len(report.pseudonymised)} partition(s) {would}pseudonymised "
        f"(client addresses before {report.addresses_before}), {len(report.deleted)} "
        f"{would}deleted"
        + (f" (before {report.partitions_before})" if report.partitions_before else "")
        + f", {raw.deleted} RAW object(s) {would}deleted ({_size(raw.bytes)})"
    )
    if raw.not_ingested:
        text += f"; {len(raw.not_ingested)} old RAW object(s) never ingested, kept"
    if raw.changed:
        text += f"; {raw.changed} RAW object(s) changed since ingested, kept"
    return text


def changed_anything(report: RetentionReport) -> bool:
    return bool(report.pseudonymised or report.deleted or report.raw.deleted)
