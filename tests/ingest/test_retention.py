"""Retention (issue 10, item 4): client addresses older than the limit become the
dashboards' keyed pseudonyms, days past lake_days go, RAW goes once ingested; every run
is safe to repeat and to kill. The clock is held: the job takes ``now``."""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from dashboards.privacy import PSEUDONYM_PATTERN, pseudonym, pseudonymise_text
from ingest.lake import STAGING, Lake
from ingest.pseudonymise import Pseudonyms
from ingest.raw_expiry import _delete_local, _delete_s3
from ingest.retention import RETENTION, Limits, retain
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, responder_records, write_jsonl
from tests.ingest.test_s3 import upload

KEY = b"retention-test-key"
PSEUDONYMS = Pseudonyms(
    of=lambda address: pseudonym(address, KEY),
    in_text=lambda text: pseudonymise_text(text, KEY),
    pattern=PSEUDONYM_PATTERN,
)
DAYS = (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))
INGESTED_AT = datetime(2026, 11, 4, 6, 0, tzinfo=UTC)
# 90 days after: 2026-11-01 and -02 are wholly older than 90 days, 2026-11-03 is not.
NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(client_address_days=90, raw_days=30)
TRAFFIC = ("ocsp_requests", "crl_fetches", "artifact_downloads")
KEY_COLUMNS = ("request_id", "serial", "event_time")


def traffic(home: PkiHome, root: Path, days: tuple[date, ...], objects: int = 1) -> Path:
    """Real responder records, ``objects`` files a day, each record from its own address
    (IPv4 and IPv6), plus a poisoned record that quarantine keeps with its address."""
    base = responder_records(home)
    for day in days:
        for number in range(objects):
            records = []
            for offset, record in enumerate(base):
                copy = dict(record)
                copy["request_id"] = f"{day:%m%d}-{number}-{offset}"
                copy["event_time"] = f"{day}T10:{number % 60:02d}:{offset:02d}.000000Z"
                copy["client_ip"] = (
                    f"2001:db8::{day.day:x}:{offset}"
                    if offset % 2
                    else f"198.51.{day.day}.{offset}"
                )
                records.append(copy)
            poisoned = {**base[0], "request_id": "bad", "http_status": 10**12}
            poisoned["client_ip"] = f"203.0.113.{day.day}"
            lines = [*as_lines(records), as_lines([poisoned])[0]]
            write_jsonl(root / f"dt={day}" / f"batch-{number:04d}.jsonl.gz", lines)
    return root


def ingested_lake(home: PkiHome, tmp_path: Path, **options: Any) -> tuple[Lake, Path]:
    raw = traffic(home, tmp_path / "raw", DAYS, **options)
    lake = Lake.at(str(tmp_path / "lake"))
    ingest(find_sources([str(raw)]), lake, lambda: INGESTED_AT)
    return lake, raw


def rows_by_key(lake: Lake, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = lake.read(table).to_pylist()
    keyed = {tuple(row[c] for c in KEY_COLUMNS if c in row): row for row in rows}
    assert len(keyed) == len(rows), f"{table}: a row is doubled"
    return keyed


def day_of(row: dict[str, Any]) -> date:
    return date.fromisoformat(str(row["dt"]))


def is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def test_old_addresses_become_exactly_the_dashboards_pseudonyms(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    before = {table: rows_by_key(lake, table) for table in TRAFFIC}
    quarantine_before = lake.read("quarantine").to_pylist()
    assert quarantine_before and all("203.0.113." in r["raw"] for r in quarantine_before)

    report = retain(lake, NOW, LIMITS, PSEUDONYMS)

    assert report.addresses_before == date(2026, 11, 3)
    # quarantine is partitioned by the day of the ingest (2026-11-04): not past the limit
    assert {(p.table, p.partition) for p in report.pseudonymised} == {
        (table, f"dt={day}") for table in TRAFFIC for day in DAYS[:2]
    }
    for table in TRAFFIC:
        after = rows_by_key(lake, table)
        assert after.keys() == before[table].keys()  # not a row lost or doubled
        for key, row in after.items():
            old = before[table][key]
            assert {c: v for c, v in row.items() if c != "client_ip"} == {
                c: v for c, v in old.items() if c != "client_ip"
            }
            if day_of(row) < DAYS[2]:
                assert row["client_ip"] == pseudonym(old["client_ip"], KEY)
            else:
                assert row["client_ip"] == old["client_ip"]  # within the limit: as logged
    assert report.record is not None and f"/{RETENTION}/" in report.record


def test_quarantined_records_lose_their_addresses_with_their_day(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    # Quarantine is partitioned by the day of the ingest (2026-11-04): inside the limit
    # on NOW, past it 90 days later.
    retain(lake, NOW, LIMITS, PSEUDONYMS)
    assert all("203.0.113." in r["raw"] for r in lake.read("quarantine").to_pylist())
    later = NOW + timedelta(days=2)
    report = retain(lake, later, LIMITS, PSEUDONYMS)
    assert ("quarantine", "dt=2026-11-04") in {(p.table, p.partition) for p in report.pseudonymised}
    for row in lake.read("quarantine").to_pylist():
        address = f"203.0.113.{row['source_object'].split('dt=2026-11-0')[1][0]}"
        assert address not in row["raw"]
        assert pseudonym(address, KEY) in row["raw"]
        assert "http_status" in row["reason"]  # the reason is kept


def test_a_second_run_changes_nothing_and_reads_nothing(pki_home: PkiHome, tmp_path: Path) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    retain(lake, NOW, LIMITS, PSEUDONYMS)
    files = {
        p: (p.stat().st_size, p.stat().st_mtime_ns) for p in lake.local_path().rglob("*.parquet")
    }
    tables = {table: lake.read(table) for table in TRAFFIC}

    again = retain(lake, NOW, LIMITS, PSEUDONYMS)

    assert again.pseudonymised == [] and again.deleted == []
    assert again.partitions_read == 0  # the record says those days are clean
    assert {
        p: (p.stat().st_size, p.stat().st_mtime_ns) for p in lake.local_path().rglob("*.parquet")
    } == files
    for table, data in tables.items():
        assert lake.read(table).equals(data)
    # Without the record, a run reads every old day again and still changes nothing.
    for record in (lake.local_path() / RETENTION).iterdir():
        record.unlink()
    cold = retain(lake, NOW, LIMITS, PSEUDONYMS)
    assert cold.pseudonymised == [] and cold.partitions_read == 3 * 2 + 0
    assert {
        p: (p.stat().st_size, p.stat().st_mtime_ns) for p in lake.local_path().rglob("*.parquet")
    } == files


def test_a_late_file_in_an_old_day_is_found(pki_home: PkiHome, tmp_path: Path) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    retain(lake, NOW, LIMITS, PSEUDONYMS)
    late = traffic(pki_home, tmp_path / "late", DAYS[:1], objects=1)
    (late / "dt=2026-11-01" / "batch-0000.jsonl.gz").rename(late / "dt=2026-11-01" / "late.gz")
    ingest(find_sources([str(late)]), lake, lambda: INGESTED_AT)
    assert any(is_address(v) for v in lake.read("ocsp_requests").column("client_ip").to_pylist())

    report = retain(lake, NOW, LIMITS, PSEUDONYMS)

    assert {(p.table, p.partition, p.files) for p in report.pseudonymised} >= {
        ("ocsp_requests", "dt=2026-11-01", 1)
    }
    old = [r for r in lake.read("ocsp_requests").to_pylist() if day_of(r) < DAYS[2]]
    assert old and not any(is_address(r["client_ip"]) for r in old)


def test_dry_run_says_what_it_would_do_and_does_nothing(pki_home: PkiHome, tmp_path: Path) -> None:
    lake, raw = ingested_lake(pki_home, tmp_path)
    files = {p: p.read_bytes() for p in lake.local_path().rglob("*.parquet")}
    report = retain(
        lake, NOW, Limits(90, 30, lake_days=91), PSEUDONYMS, raw=[str(raw)], dry_run=True
    )
    assert report.dry_run and report.record is None
    assert {p.partition for p in report.pseudonymised} == {"dt=2026-11-02"}
    assert {p.partition for p in report.deleted} == {"dt=2026-11-01"}
    assert report.raw.deleted == 3
    assert {p: p.read_bytes() for p in lake.local_path().rglob("*.parquet")} == files
    assert len(list(raw.rglob("*.gz"))) == 3
    assert not (lake.local_path() / RETENTION).exists()


def test_days_past_lake_days_are_deleted_and_the_inventory_is_kept(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    ingest(find_sources([str(pki_home.home.raw / "issuance")]), lake, lambda: INGESTED_AT)
    inventory = {t: lake.read(t).num_rows for t in ("certificates", "revocations", "issuers")}
    assert all(inventory.values())
    # 2026-11-01 and -02 are past 91 days on NOW; 2026-11-03 is not.
    report = retain(lake, NOW, Limits(90, 30, lake_days=91), PSEUDONYMS)
    assert {(p.table, p.partition) for p in report.deleted} == {
        (table, "dt=2026-11-01") for table in TRAFFIC
    }
    assert all(p.values > 0 and p.bytes > 0 for p in report.deleted)
    for table in TRAFFIC:
        assert {day_of(row) for row in lake.read(table).to_pylist()} == {DAYS[1], DAYS[2]}
        assert not (lake.local_path() / table / "dt=2026-11-01").exists()
    # far later, every traffic day goes; the certificates and CAs stay
    retain(lake, NOW + timedelta(days=400), Limits(90, 30, lake_days=91), PSEUDONYMS)
    assert all(lake.read(table).num_rows == 0 for table in (*TRAFFIC, "quarantine"))
    assert {t: lake.read(t).num_rows for t in inventory} == inventory
    assert not any((lake.local_path() / STAGING).iterdir())


def test_raw_goes_only_once_the_lake_has_held_it_long_enough(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    lake, raw = ingested_lake(pki_home, tmp_path)
    # never ingested, and old by its own time: kept, and named
    stray = write_jsonl(
        raw / "dt=2026-10-01" / "stray.jsonl.gz", as_lines(responder_records(pki_home))
    )
    old = datetime(2026, 10, 2, tzinfo=UTC).timestamp()
    os.utime(stray, (old, old))
    # ingested, then rewritten: the new version was never read, so it stays
    rewritten = raw / "dt=2026-11-03" / "batch-0000.jsonl.gz"
    rewritten.write_bytes(rewritten.read_bytes() + b"")  # same bytes, new time: a new version
    # Read on 2026-11-04; with raw_days = 30, 2026-12-01 is too early and 2026-12-05 is not.
    early = retain(lake, datetime(2026, 12, 1, tzinfo=UTC), LIMITS, PSEUDONYMS, raw=[str(raw)])
    assert early.raw.deleted == 0
    report = retain(lake, datetime(2026, 12, 5, tzinfo=UTC), LIMITS, PSEUDONYMS, raw=[str(raw)])
    assert report.raw.deleted == 2 and report.raw.bytes > 0
    assert report.raw.not_ingested == [str(stray.resolve())]
    assert sorted(p.name for p in raw.rglob("*.gz")) == ["batch-0000.jsonl.gz", "stray.jsonl.gz"]
    assert not (raw / "dt=2026-11-01").exists()  # its folder went with its last file
    assert raw.exists()
    again = retain(lake, datetime(2026, 12, 5, tzinfo=UTC), LIMITS, PSEUDONYMS, raw=[str(raw)])
    assert again.raw.deleted == 0
    # what is left is what the LAKE never read: the stray and the new version
    assert len(ingest(find_sources([str(raw)]), lake, lambda: INGESTED_AT).sources) == 2


# -- S3 -----------------------------------------------------------------------------------


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"certsight-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=name)
    return name


def test_retention_on_an_s3_lake_and_s3_raw(pki_home: PkiHome, tmp_path: Path, bucket: str) -> None:
    traffic(pki_home, tmp_path / "raw", DAYS)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    ingest(find_sources([f"s3://{bucket}/raw"]), lake, lambda: INGESTED_AT)
    before = rows_by_key(lake, "ocsp_requests")

    report = retain(lake, NOW, Limits(90, 30, lake_days=91), PSEUDONYMS, raw=[f"s3://{bucket}/raw"])

    assert {(p.table, p.partition) for p in report.deleted} == {
        (table, "dt=2026-11-01") for table in TRAFFIC
    }
    assert {(p.table, p.partition) for p in report.pseudonymised} == {
        (table, "dt=2026-11-02") for table in TRAFFIC
    }
    after = rows_by_key(lake, "ocsp_requests")
    assert {k[0][:4] for k in after} == {"1102", "1103"}
    for key, row in after.items():
        original = before[key]["client_ip"]
        expected = pseudonym(original, KEY) if day_of(row) == DAYS[1] else original
        assert row["client_ip"] == expected
    assert report.raw.deleted == 3
    client = boto3.session.Session().client("s3")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith("raw/")]
    assert not [k for k in keys if k.startswith("lake/ocsp_requests/dt=2026-11-01/")]
    assert [k for k in keys if k.startswith(f"lake/{RETENTION}/")]
    assert "lake/_lock" not in keys
    # the warehouse sees a changed day: every rewritten file has a new size
    again = retain(lake, NOW, Limits(90, 30, lake_days=91), PSEUDONYMS)
    assert again.pseudonymised == [] and again.deleted == [] and again.partitions_read == 0


def test_a_rewritten_file_never_keeps_its_size(pki_home: PkiHome, tmp_path: Path) -> None:
    """The warehouse tells a changed day by its files' names, sizes and times, and S3
    keeps times to the second: a rewrite must show in the size."""
    lake, _ = ingested_lake(pki_home, tmp_path)
    sizes = {p: p.stat().st_size for p in lake.local_path().rglob("dt=2026-11-0[12]/*.parquet")}
    retain(lake, NOW, LIMITS, PSEUDONYMS)
    assert all(p.stat().st_size != size for p, size in sizes.items())


# -- kill -9 --------------------------------------------------------------------------------


def test_kill_9_at_any_moment_loses_doubles_and_mixes_nothing(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    """`certsight lake retain` killed at random moments: after every kill a reader sees
    every row once, each with its address or its pseudonym; a last run finishes."""
    home = tmp_path / "home"
    # days older than 90 days whatever today is: the CLI runs on the real clock
    days = tuple(date(2026, 1, 1) + timedelta(days=n) for n in range(24))
    raw = traffic(pki_home, tmp_path / "raw", days, objects=2)
    lake = Lake.at(str(home / "lake"))
    for source in find_sources([str(raw)]):  # one file per object in each day
        ingest([source], lake, lambda: datetime.now(UTC))
    before = {table: rows_by_key(lake, table) for table in TRAFFIC}
    expected = {
        table: {key: pseudonym(row["client_ip"], KEY) for key, row in rows.items()}
        for table, rows in before.items()
    }
    environment = {**os.environ, "CERTSIGHT_PSEUDONYM_KEY": KEY.decode()}

    def command(where: Path) -> list[str]:
        return [sys.executable, "-m", "certsight.cli", "lake", "retain", "--home", str(where)]

    def inodes() -> dict[Path, int]:
        """The tables' files (not staging, which the job removes as it goes)."""
        root = lake.local_path()
        return {
            path: path.stat().st_ino
            for table in (*TRAFFIC, "quarantine")
            for path in (root / table).glob("dt=*/*.parquet")
        }

    def swapped(since: dict[Path, int]) -> int:
        """Files replaced since ``since`` (a rename gives the file a new inode)."""
        return sum(1 for path, inode in inodes().items() if since.get(path) != inode)

    rng = random.Random(11)
    kills = 0
    for _ in range(6):
        # Killed once a few more files are swapped in (or, for 0, as soon as it starts):
        # at a different point of the work each time, whatever this machine's speed.
        wanted = rng.randint(0, 6)
        before_run = inodes()
        process = subprocess.Popen(
            command(home), env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while process.poll() is None and swapped(before_run) < wanted:
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        for table in TRAFFIC:
            seen = rows_by_key(lake, table)  # raises if a row is doubled
            assert seen.keys() == before[table].keys(), f"{table}: rows lost"
            for key, row in seen.items():
                assert row["client_ip"] in (before[table][key]["client_ip"], expected[table][key])
    done = subprocess.run(
        command(home), env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert kills >= 4, "runs were not interrupted; the test proves too little"
    for table in TRAFFIC:
        seen = rows_by_key(lake, table)
        assert {key: row["client_ip"] for key, row in seen.items()} == expected[table]
    counts = Counter(
        len(list(p.glob("*.parquet"))) for p in (lake.local_path() / "ocsp_requests").iterdir()
    )
    assert counts == {2: len(days)}  # every file swapped in place, none added
    leftovers = [p for p in (lake.local_path() / STAGING).rglob("*") if p.is_file()]
    assert leftovers == []


def test_pseudonymising_keeps_the_schema_and_order(pki_home: PkiHome, tmp_path: Path) -> None:
    lake, _ = ingested_lake(pki_home, tmp_path)
    path = next((lake.local_path() / "ocsp_requests" / "dt=2026-11-01").glob("*.parquet"))
    schema_before = pq.read_schema(path)
    order_before = pq.read_table(path).column("request_id").to_pylist()
    retain(lake, NOW, LIMITS, PSEUDONYMS)
    after = pq.read_table(path)
    assert after.schema.remove_metadata() == schema_before.remove_metadata()
    assert after.column("request_id").to_pylist() == order_before
    assert b"certsight.pseudonymised_at" in (after.schema.metadata or {})


def test_an_object_rewritten_after_it_was_listed_is_kept(tmp_path: Path, bucket: str) -> None:
    """RAW is deleted as the version that was read: a rewrite between the listing and the
    deletion (a new version, never ingested) survives, on S3 (If-Match) and locally."""
    client = boto3.session.Session().client("s3")
    client.put_object(Bucket=bucket, Key="raw/a.log", Body=b"first")
    [listed] = find_sources([f"s3://{bucket}/raw/a.log"], s3_client=client)
    client.put_object(Bucket=bucket, Key="raw/a.log", Body=b"second")
    assert _delete_s3(client, listed) is False
    assert client.get_object(Bucket=bucket, Key="raw/a.log")["Body"].read() == b"second"
    [again] = find_sources([f"s3://{bucket}/raw/a.log"], s3_client=client)
    assert _delete_s3(client, again) is True and _delete_s3(client, again) is True  # gone: fine

    local = tmp_path / "b.log"
    local.write_bytes(b"first")
    [seen] = find_sources([str(local)])
    local.write_bytes(b"second!")
    assert _delete_local(seen) is False and local.read_bytes() == b"second!"
