"""Warehouse build at scale: simulated OCSP traffic written straight into a LAKE on local
disk, then, in the same run:

1. a bare DuckDB ``GROUP BY client_ip, serial`` over the same files (the peer),
2. ``certsight build`` from scratch over all but the last day (target: within 3x the peer,
   peak memory under 8 GiB),
3. the last day added and ``certsight build`` again (target: under 10% of the full build).

    python bench/warehouse_bench.py --requests 100000000 --days 30

Results are prepended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "warehouse"
sys.path.insert(0, str(ROOT))

from bench.results import machine, measured, record  # noqa: E402
from certsight.scoring import score  # noqa: E402
from warehouse.alert_rows import read_alerts  # noqa: E402
from warehouse.reading import open_warehouse  # noqa: E402

BARE = """
import duckdb, sys
con = duckdb.connect()
con.execute("set preserve_insertion_order = false")
con.execute(
    "create table pairs as select client_ip, serial, count(*) as requests "
    "from read_parquet(?, hive_partitioning = true) group by client_ip, serial",
    [sys.argv[1]],
)
print(con.execute("select count(*) from pairs").fetchone()[0])
"""


def held_back(lake: Path, day: date) -> Path:
    return lake.parent / "held-back" / day.isoformat()


def hold_back(lake: Path, day: date) -> None:
    """Move one day of every table out of the LAKE (to play the next day's arrival)."""
    for folder in lake.glob(f"*/dt={day.isoformat()}"):
        target = held_back(lake, day) / folder.parent.name
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)


def bring_back(lake: Path, day: date) -> None:
    for folder in held_back(lake, day).iterdir():
        folder.rename(lake / folder.name / f"dt={day.isoformat()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000_000, help="over --days days")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--clients", type=int, default=50_000)
    parser.add_argument("--servers", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the simulated LAKE if present")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    end = date(2026, 11, 1)
    last_day = end - timedelta(days=1)
    total = args.requests * (args.days + 1) // args.days  # one more day, for the increment
    tag = f"{args.requests}-{args.days}-{args.clients}-{args.servers}-{args.seed}"
    home = WORK / tag
    lake = home / "lake"
    log = WORK / f"{tag}.log"
    WORK.mkdir(parents=True, exist_ok=True)
    certsight = [sys.executable, "-m", "certsight.cli"]
    if not (args.keep and lake.exists()):
        shutil.rmtree(home, ignore_errors=True)
        print(f"simulating {total:,} requests over {args.days + 1} days ...", flush=True)
        simulated = measured(
            [
                *certsight, "simulate", "--home", str(home), "--format", "lake",
                "--days", str(args.days + 1), "--end", end.isoformat(),
                "--requests", str(total), "--clients", str(args.clients),
                "--servers", str(args.servers), "--seed", str(args.seed),
            ],
            log,
        )  # fmt: skip
        if simulated[2] != 0:
            raise SystemExit(f"simulation failed, see {log}")
    hold_back(lake, last_day)
    for leftover in (home / "warehouse.duckdb", home / ".warehouse"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(
            missing_ok=True
        )
    files = str(lake / "ocsp_requests" / "dt=*" / "*.parquet")

    import duckdb

    rows = duckdb.connect().execute("select count(*) from read_parquet(?)", [files]).fetchone()
    assert rows is not None
    print(f"{rows[0]:,} ocsp_requests rows in the LAKE; bare GROUP BY ...", flush=True)
    bare = measured([sys.executable, "-c", BARE, files], log)
    print("full build ...", flush=True)
    networks = (
        ["--networks", str(home / "networks.csv")] if (home / "networks.csv").exists() else []
    )
    full = measured([*certsight, "build", "--home", str(home), *networks], log)
    if full[2] != 0:
        raise SystemExit(f"full build failed, see {log}")
    bring_back(lake, last_day)
    print("one-day incremental build ...", flush=True)
    daily = measured([*certsight, "build", "--home", str(home), *networks], log)
    if daily[2] != 0:
        raise SystemExit(f"one-day build failed, see {log}")
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    facts = con.execute("select count(*) from fact_validation_daily").fetchone()
    alerts = con.execute("select count(*) from alerts").fetchone()
    con.close()
    assert facts is not None and alerts is not None

    with open_warehouse(home / "warehouse.duckdb") as reader:
        raised = [alert for alert, _ in read_alerts(reader, status=None)]
    scores = score(raised, json.loads((home / "simulation" / "truth.json").read_text()))
    quality = ", ".join(
        f"{s.detector} {s.true_positives}/{s.raised} raised true, {s.found}/{s.expected} found"
        for s in scores.values()
    )
    ratio = full[0] / bare[0]
    share = daily[0] / full[0]
    peak = max(full[1], daily[1])
    section = "\n".join(
        [
            f"### Warehouse build, {rows[0]:,} OCSP requests, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {machine()}",
            f"- command: `python bench/warehouse_bench.py --requests {args.requests} --days "
            f"{args.days} --clients {args.clients} --servers {args.servers}` (simulator, LAKE "
            f"on local disk, {args.days} days, then day {args.days + 1} arrives)",
            "",
            "| run | seconds | peak RSS MiB | exit |",
            "|---|---:|---:|---:|",
            f"| bare DuckDB GROUP BY client_ip, serial (the peer) | {bare[0]:.1f} | "
            f"{bare[1]:.0f} | {bare[2]} |",
            f"| certsight build, full ({args.days} days) | {full[0]:.1f} | {full[1]:.0f} | "
            f"{full[2]} |",
            f"| certsight build, one new day | {daily[0]:.1f} | {daily[1]:.0f} | {daily[2]} |",
            "",
            f"- fact_validation_daily: {facts[0]:,} rows; alerts: {alerts[0]:,}",
            f"- alerts against the simulator's ground truth: {quality}",
            f"- full build / bare scan: {ratio:.1f}x (target <= 3x): "
            f"{'met' if ratio <= 3 else 'NOT met'}",
            f"- peak memory {peak:.0f} MiB (target < 8192 MiB): "
            f"{'met' if peak < 8192 else 'NOT met'}",
            f"- one-day build / full build: {share:.1%} (target < 10%): "
            f"{'met' if share < 0.10 else 'NOT met'}",
        ]
    )
    print(section)
    if not args.no_write:
        record(section)


if __name__ == "__main__":
    main()
