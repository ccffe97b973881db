"""CRL build time: 100,000 entries must build in seconds (the issue's limit).

Run: ``python bench/crl_bench.py``. Measures certsight's builder (the entries
handed over as one list) at 10k and 100k entries, and, as the peer in the same
run, pyca/cryptography's chained ``add_revoked_certificate`` at 10k and 20k
entries, which copies the list on every call and grows quadratically.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from bench.results import machine, record
from pki.crl import build_crl
from pki.keys import KeyType, SigningKey, generate_key
from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus

LIMIT_S = 5.0


def ca() -> tuple[x509.Certificate, SigningKey]:
    key = generate_key(KeyType.ec_p256)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "bench CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def records(count: int) -> list[CertificateRecord]:
    now = datetime.now(UTC)
    reasons = list(RevocationReason)
    return [
        CertificateRecord(
            issuer_key_sha1="00" * 20,
            serial=format(0x1000000 + i, "x"),
            subject="CN=x",
            sans=(),
            not_before=now,
            not_after=now,
            profile="tls-server",
            status=CertStatus.revoked,
            revoked_at=now - timedelta(seconds=i),
            revocation_reason=reasons[i % len(reasons)],
        )
        for i in range(count)
    ]


def certsight_build(count: int) -> float:
    cert, key = ca()
    entries = records(count)
    now = datetime.now(UTC).replace(microsecond=0)
    start = time.perf_counter()
    built = build_crl(
        ca_cert=cert,
        ca_key=key,
        revoked=entries,
        number=1,
        this_update=now,
        next_update=now + timedelta(days=1),
    )
    elapsed = time.perf_counter() - start
    assert built.entries == count
    return elapsed


def chained_build(count: int) -> float:
    cert, key = ca()
    now = datetime.now(UTC)
    start = time.perf_counter()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
    )
    for i in range(count):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(0x1000000 + i)
            .revocation_date(now)
            .build()
        )
    builder.sign(key, hashes.SHA256())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = ["| builder | entries | seconds |", "|---|---:|---:|"]
    ours = {}
    for count in (10_000, 100_000):
        ours[count] = certsight_build(count)
        rows.append(f"| certsight (one list) | {count:,} | {ours[count]:.2f} |")
        print(rows[-1], flush=True)
    for count in (10_000, 20_000):
        rows.append(f"| chained add_revoked_certificate | {count:,} | {chained_build(count):.2f} |")
        print(rows[-1], flush=True)
    verdict = "met" if ours[100_000] < LIMIT_S else "NOT met"
    section = "\n".join(
        [
            f"### CRL build, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {machine()}",
            "- command: `python bench/crl_bench.py` (EC P-256 CA, every entry with a reason code)",
            "",
            *rows,
            "",
            f"- 100,000 entries in {ours[100_000]:.2f} s (limit {LIMIT_S:.0f} s): {verdict}",
        ]
    )
    print(section)
    if not args.no_write:
        record(section)


if __name__ == "__main__":
    main()
