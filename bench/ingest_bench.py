"""Ingest benchmark: 2 million CloudFront lines of OCSP GETs, certsight against DuckDB.

Run: ``python bench/ingest_bench.py`` (``--lines N`` to change the size). In the same
run, on the same gzip file (20,000 distinct certificates, Java-style encoded GET
paths, 33-field lines): ``certsight ingest`` end to end into a fresh LAKE, and
DuckDB's own ``COPY (SELECT * FROM read_csv(...)) TO '...parquet'``. Targets:
certsight at least as fast as the plain copy, peak memory under 2 GiB.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import random
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "ingest"
sys.path.insert(0, str(ROOT))

from bench.results import machine, measured, record  # noqa: E402
from ingest.formats.cloudfront import STANDARD_FIELDS  # noqa: E402

FIELDS = list(STANDARD_FIELDS)
AGENTS = [
    "Microsoft-CryptoAPI/10.0",
    "Java/17.0.15",
    "Go-http-client/1.1",
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)",
]


def make_log(path: Path, lines: int, certificates: int) -> None:
    from asn1crypto import ocsp

    rng = random.Random(20261128)
    name_hash, key_hash = rng.randbytes(20), rng.randbytes(20)
    stems = []
    for _ in range(certificates):
        cert_id = ocsp.CertId(
            {
                "hash_algorithm": {"algorithm": "sha1"},
                "issuer_name_hash": name_hash,
                "issuer_key_hash": key_hash,
                "serial_number": rng.getrandbits(127),
            }
        )
        der = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()
        text = base64.b64encode(der).decode()
        java = text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
        stems.append("/ocsp/" + quote(java, safe="/+="))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", compresslevel=6) as out:
        out.write("#Version: 1.0\n#Fields: " + " ".join(FIELDS) + "\n")
        for index in range(lines):
            second = index * 86400 // lines
            out.write(
                "\t".join(
                    [
                        "2026-11-27",
                        f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}",
                        "FRA56-P1",
                        "1520",
                        f"10.{index % 200}.{index // 200 % 250}.{index % 7 + 1}",
                        "GET",
                        "d111111abcdef8.cloudfront.net",
                        stems[rng.randrange(certificates)],
                        "200",
                        "-",
                        AGENTS[index % len(AGENTS)],
                        "-",
                        "-",
                        "Hit" if index % 10 else "Miss",
                        f"req{index:010d}",
                        "ocsp.example.com",
                        "http",
                        "120",
                        "0.002",
                        "-",
                        "-",
                        "-",
                        "Hit",
                        "HTTP/1.1",
                        "-",
                        "-",
                        "50432",
                        "0.001",
                        "Hit",
                        "application/ocsp-response",
                        "1520",
                        "-",
                        "-",
                    ]
                )
                + "\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--certificates", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    log = WORK / f"cloudfront-{args.lines}-{args.certificates}.log.gz"
    if not log.exists():
        print(f"writing {args.lines:,} lines to {log} ...", flush=True)
        make_log(log, args.lines, args.certificates)
    lake, parquet = WORK / "lake", WORK / "duckdb.parquet"
    shutil.rmtree(lake, ignore_errors=True)
    parquet.unlink(missing_ok=True)

    print("certsight ingest ...", flush=True)
    ours = measured(
        [
            sys.executable,
            "-m",
            "certsight.cli",
            "ingest",
            str(log),
            "--lake",
            str(lake),
            "--home",
            str(WORK / "home"),
        ]
    )
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name in FIELDS)
    copy = (
        f"COPY (SELECT * FROM read_csv('{log}', delim='\\t', header=false, skip=2, "
        f"quote='', escape='', columns={{{columns}}})) TO '{parquet}' "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    print("duckdb COPY ...", flush=True)
    peer = measured([sys.executable, "-c", f"import duckdb; duckdb.sql({copy!r})"])

    import pyarrow.parquet as pq

    from ingest.lake import Lake

    rows = Lake.at(str(lake)).read("ocsp_requests").num_rows
    copied = pq.ParquetFile(parquet).metadata.num_rows
    ratio = peer[0] / ours[0]
    lines_per_s = args.lines / ours[0]
    verdict_speed = "met" if ours[0] <= peer[0] else "NOT met"
    verdict_memory = "met" if ours[1] < 2048 else "NOT met"
    section = "\n".join(
        [
            f"### Ingest, CloudFront logs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {machine()}",
            f"- command: `python bench/ingest_bench.py --lines {args.lines}` ({args.lines:,} "
            f"lines, {args.certificates:,} distinct certificates, 33 fields, gzip "
            f"{log.stat().st_size / 2**20:.0f} MiB)",
            "",
            "| run | seconds | lines/s | peak RSS MiB | rows out | exit |",
            "|---|---:|---:|---:|---:|---:|",
            f"| certsight ingest (decode + LAKE rows) | {ours[0]:.1f} | {lines_per_s:,.0f} | "
            f"{ours[1]:.0f} | {rows:,} | {ours[2]} |",
            f"| DuckDB read_csv -> Parquet (plain copy) | {peer[0]:.1f} | "
            f"{args.lines / peer[0]:,.0f} | {peer[1]:.0f} | {copied:,} | {peer[2]} |",
            "",
            f"- certsight / DuckDB time: {ours[0] / peer[0]:.2f}x (target <= 1.00x): "
            f"{verdict_speed} (certsight runs at {ratio:.0%} of DuckDB's speed)",
            f"- certsight peak memory {ours[1]:.0f} MiB (target < 2048 MiB): {verdict_memory}",
        ]
    )
    print(section)
    if not args.no_write:
        record(section)


if __name__ == "__main__":
    main()
