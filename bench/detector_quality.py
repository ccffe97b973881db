"""Precision and recall of every detector against the simulator's ground truth.

For each seed: `certsight simulate` (RAW logs, certificates, CRLs, with injected incidents),
`certsight ingest`, `certsight build`, then every alert is matched with the expected
findings (certsight/scoring.py). Normal traffic carries renewals, staplers, CDN hits and
misses, diurnal and weekly swings; any alert it raises is a false positive.

    python bench/detector_quality.py --seeds 1 2 3 --requests 300000 --days 21

Results are prepended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "detectors"
sys.path.insert(0, str(ROOT))

from bench.results import machine, measured, record  # noqa: E402
from certsight.scoring import Score, score  # noqa: E402
from warehouse.alert_rows import read_alerts  # noqa: E402
from warehouse.reading import open_warehouse  # noqa: E402


def run_seed(seed: int, requests: int, days: int, incidents: int, log: Path) -> dict[str, Score]:
    home = WORK / f"seed-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    certsight = [sys.executable, "-m", "certsight.cli"]
    steps = [
        ["simulate", "--seed", str(seed), "--requests", str(requests), "--days", str(days),
         "--incidents", str(incidents), "--end", "2026-11-01"],
        ["ingest"],
        ["build"],
    ]  # fmt: skip
    for step in steps:
        elapsed, _, code = measured([*certsight, step[0], "--home", str(home), *step[1:]], log)
        print(f"  seed {seed}: {step[0]} {elapsed:.1f} s", flush=True)
        if code != 0:
            raise SystemExit(f"{step[0]} failed for seed {seed}, see {log}")
    truth = json.loads((home / "simulation" / "truth.json").read_text())
    with open_warehouse(home / "warehouse.duckdb") as con:
        alerts = [alert for alert, _ in read_alerts(con, status=None)]
    return score(alerts, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--incidents", type=int, default=5, help="per detector and seed")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "run.log"
    totals: dict[str, Score] = {}
    notes: list[str] = []
    for seed in args.seeds:
        for name, result in run_seed(seed, args.requests, args.days, args.incidents, log).items():
            total = totals.setdefault(name, Score(name))
            total.expected += result.expected
            total.raised += result.raised
            total.true_positives += result.true_positives
            total.found += result.found
            notes += [
                f"seed {seed} false {name}: client {a.client_ip} server {a.server} "
                f"serial {a.serial} at {a.first_seen:%Y-%m-%d %H:%M}"
                for a in result.false_alerts[:3]
            ]
            notes += [f"seed {seed} missed {m['id']}: {m['note']}" for m in result.missed[:3]]

    def ratio(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    rows = [
        f"| `{s.detector}` | {s.expected} | {s.raised} | {s.true_positives} | "
        f"{ratio(s.precision)} | {ratio(s.recall)} |"
        for s in totals.values()
    ]
    section = "\n".join(
        [
            f"### Detector precision and recall, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {machine()}",
            f"- command: `python bench/detector_quality.py --seeds "
            f"{' '.join(map(str, args.seeds))} --requests {args.requests} --days {args.days} "
            f"--incidents {args.incidents}` (simulate RAW -> ingest -> build, per seed)",
            "",
            "| detector | expected | raised | true positives | precision | recall |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *(f"- {note}" for note in notes[:20]),
        ]
    )
    print(section)
    if not args.no_write:
        record(section)


if __name__ == "__main__":
    main()
