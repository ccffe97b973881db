"""Server certificates arrive as ``certsight issue``'s events: the profile, who asked for
it (mostly automation) and the CA backend, one inventory row per certificate (no PEM
import of the same certificate beside it)."""

from __future__ import annotations

import gzip
import itertools
import json
from datetime import datetime, timedelta

import duckdb
import numpy as np
from cryptography import x509

from simulator.enterprise import build_enterprise
from simulator.issuance import AUTOMATION, PEOPLE, plan_issuance
from simulator.population import ZONE
from tests.simulator.conftest import RawRun, small_config

# issuance/operations.py issuance_event, in its order (docs/access-logs.md).
EVENT_KEYS = [
    "log",
    "event",
    "event_time",
    "issuer_key_sha1",
    "serial",
    "subject",
    "sans",
    "not_before",
    "not_after",
    "key_algorithm",
    "profile",
    "requester",
    "ca_backend",
    "issued_at",
    "certificate_pem",
]
AUTOMATED = {name for name, _ in AUTOMATION}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_issuance_events_are_what_certsight_issue_writes(raw_run: RawRun) -> None:
    objects = sorted((raw_run.home / "raw" / "issuance").rglob("*.jsonl.gz"))
    assert objects
    end = when(raw_run.truth["end"])
    count = 0
    for path in objects:
        records = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        times = [r["event_time"] for r in records]
        assert times == sorted(times) and {t[:10] for t in times} == {path.parent.name[3:]}
        for record in records:
            count += 1
            assert list(record) == EVENT_KEYS
            assert (record["log"], record["event"]) == ("issuance", "issued")
            assert record["event_time"] == record["issued_at"]
            assert record["ca_backend"] == "internal" and record["key_algorithm"] == "ec-p256"
            assert record["requester"] in AUTOMATED or record["requester"] in PEOPLE
            cert = x509.load_pem_x509_certificate(record["certificate_pem"].encode())
            assert format(cert.serial_number, "032x") == record["serial"]
            assert record["subject"] == cert.subject.rfc4514_string() == f"CN={record['sans'][0]}"
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            assert (when(record["not_before"]), when(record["not_after"])) == (
                not_before,
                not_after,
            )
            short = not_after - not_before <= timedelta(days=47)
            assert record["profile"] == ("tls-server-short" if short else "tls-server")
            issued = when(record["issued_at"])
            backdated = (
                timedelta(minutes=5) <= issued - not_before < timedelta(minutes=5, seconds=1)
            )
            assert backdated or issued - not_before < timedelta(seconds=1)  # at the window's end
            assert issued < end
    assert count > raw_run.summary.servers  # the certificates before the window, renewals


def test_one_inventory_row_per_certificate_mostly_automated(raw_run: RawRun) -> None:
    con = duckdb.connect()
    found = con.execute(
        f"""
        select count(*), count(distinct (issuer_key_sha1, serial)),
               count(*) filter (where regexp_matches(requester, '^(acme|api|agent):')),
               count(*) filter (where source = 'certsight' and ca_backend = 'internal')
        from read_parquet('{raw_run.lake}/certificates/**/*.parquet')
        """
    ).fetchone()
    assert found is not None
    rows, distinct, automated, issued = found
    assert rows == distinct == issued == raw_run.summary.certificates
    assert 0.7 < automated / rows < 0.97


def test_each_server_has_its_requester_and_only_ever_automates() -> None:
    # Planning only (no traffic): a month of 300 servers.
    enterprise = build_enterprise(small_config(days=30, servers=300, requests=200_000))
    issuance, certificates, servers = (
        enterprise.issuance,
        enterprise.certificates,
        enterprise.servers,
    )
    first: list[str] = []
    moved = 0
    for server in range(len(servers)):
        asked = [issuance.requester[int(i)] for i in np.flatnonzero(certificates.server == server)]
        assert all(a is not None for a in asked)
        changes = [(a, b) for a, b in itertools.pairwise(asked) if a != b]
        assert len(changes) <= 1 and all(a in PEOPLE and b in AUTOMATED for a, b in changes)
        moved += len(changes)
        first.append(str(asked[0]))
    assert moved >= 1  # some servers move to automation within the window
    shares = {name: first.count(name) / len(first) for name in AUTOMATED}
    assert 0.6 < shares["acme:cert-manager"] < 0.8
    assert 0.05 < shares["api:deploy-pipeline"] < 0.15
    assert 0.02 < shares["agent:certsight-agent"] < 0.1
    by_hand = np.array([name in PEOPLE for name in first])
    assert 0.08 < by_hand.mean() < 0.25
    ot = servers.zone == ZONE["ot"]
    assert by_hand[ot].mean() > 2 * by_hand[~ot].mean()  # OT is renewed by hand more often
    forgotten = {e.server for e in enterprise.plan.expected if e.detector.startswith("expired")}
    assert forgotten and all(by_hand[server] for server in forgotten)
    # The same seed, the same requesters.
    again = plan_issuance(
        np.random.default_rng([enterprise.config.seed, 7]),
        servers,
        certificates,
        enterprise.config,
        set(forgotten),
    )
    assert again.requester == issuance.requester
    assert np.array_equal(again.issued_at_us, issuance.issued_at_us)
