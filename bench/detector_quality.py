"""Precision and recall of every detector against the simulator's ground truth.

For each seed, with the simulator's churn off and on: `certsight simulate` (RAW logs,
certificates, CRLs, with injected incidents; `--churn` adds new pairs the client's zone
peers already use and renewals deployed late or on part of a pool), `certsight ingest`,
`certsight build`, then every alert is matched with the expected findings
(certsight/scoring.py). Normal traffic carries renewals, staplers, CDN hits and misses,
diurnal and weekly swings; any alert it raises is a false positive.

A low `new_edge` alert is the zone's habit (expected churn, routed below the usual
`min_severity`): it is counted apart, not scored. The truth's `benign` pairs must raise
nothing above low; the bench counts those that do.

    python bench/detector_quality.py --seeds 1 2 3 --requests 100000 --days 21

Results are prepended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "detectors"
sys.path.insert(0, str(ROOT))

from bench.results import machine, measured, record  # noqa: E402
from certsight.scoring import Score, score  # noqa: E402
from warehouse.alert import Alert, at_least  # noqa: E402
from warehouse.alert_rows import read_alerts  # noqa: E402
from warehouse.reading import open_warehouse  # noqa: E402


@dataclass
class Outcome:
    """One mode (churn off or on) over every seed."""

    scores: dict[str, Score] = field(default_factory=dict)
    low_edges: int = 0  # new_edge alerts at low: the zone's habit
    benign: int = 0  # pairs the truth says are the zone's habit
    benign_above_low: int = 0  # ... that raised a medium-or-higher alert
    notes: list[str] = field(default_factory=list)


def is_churn(alert: Alert) -> bool:
    """A low new_edge alert: expected churn, not a finding to score."""
    return alert.detector == "new_edge" and not at_least(alert.severity, "medium")


def judge(alerts: list[Alert], truth: dict[str, Any]) -> tuple[dict[str, Score], int, int]:
    """Scores of the alerts that are findings, the number of churn alerts, and how many
    benign pairs raised a medium-or-higher alert."""
    findings = [a for a in alerts if not is_churn(a)]
    benign = {(b["client_ip"], b["server"]) for b in truth.get("benign", [])}
    loud = {
        (a.client_ip, a.server)
        for a in findings
        if a.detector == "new_edge" and (a.client_ip, a.server) in benign
    }
    return score(findings, truth), len(alerts) - len(findings), len(loud)


def run_seed(
    seed: int, requests: int, days: int, incidents: int, churn: bool, log: Path
) -> tuple[list[Alert], dict[str, Any]]:
    mode = "churn" if churn else "plain"
    home = WORK / f"seed-{seed}-{mode}"
    shutil.rmtree(home, ignore_errors=True)
    certsight = [sys.executable, "-m", "certsight.cli"]
    steps = [
        ["simulate", "--seed", str(seed), "--requests", str(requests), "--days", str(days),
         "--incidents", str(incidents), "--end", "2026-11-01",
         "--churn" if churn else "--no-churn"],
        ["ingest"],
        ["build"],
    ]  # fmt: skip
    for step in steps:
        elapsed, _, code = measured([*certsight, step[0], "--home", str(home), *step[1:]], log)
        print(f"  seed {seed} {mode}: {step[0]} {elapsed:.1f} s", flush=True)
        if code != 0:
            raise SystemExit(f"{step[0]} failed for seed {seed} ({mode}), see {log}")
    truth = json.loads((home / "simulation" / "truth.json").read_text())
    with open_warehouse(home / "warehouse.duckdb") as con:
        alerts = [alert for alert, _ in read_alerts(con, status=None)]
    return alerts, truth


def add(outcome: Outcome, seed: int, alerts: list[Alert], truth: dict[str, Any]) -> None:
    scores, lows, loud = judge(alerts, truth)
    outcome.low_edges += lows
    outcome.benign += len(truth.get("benign", []))
    outcome.benign_above_low += loud
    for name, result in scores.items():
        total = outcome.scores.setdefault(name, Score(name))
        total.expected += result.expected
        total.raised += result.raised
        total.true_positives += result.true_positives
        total.found += result.found
        outcome.notes += [
            f"seed {seed} false {name}: client {a.client_ip} server {a.server} "
            f"serial {a.serial} at {a.first_seen:%Y-%m-%d %H:%M} ({a.severity})"
            for a in result.false_alerts[:3]
        ]
        outcome.notes += [f"seed {seed} missed {m['id']}: {m['note']}" for m in result.missed[:3]]


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(title: str, outcome: Outcome) -> list[str]:
    rows = [
        f"| `{s.detector}` | {s.expected} | {s.raised} | {s.true_positives} | "
        f"{ratio(s.precision)} | {ratio(s.recall)} |"
        for s in outcome.scores.values()
    ]
    return [
        f"#### {title}",
        "",
        "| detector | expected | raised | true positives | precision | recall |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"- `new_edge` at low (the zone's habit, not scored): {outcome.low_edges}; "
        f"pairs the truth calls the zone's habit: {outcome.benign}, of which raised "
        f"medium or higher: {outcome.benign_above_low}",
        *(f"- {note}" for note in outcome.notes[:25]),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--incidents", type=int, default=3, help="per detector and seed")
    parser.add_argument(
        "--churn", choices=("off", "on", "both"), default="both", help="simulator churn"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "run.log"
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.churn]
    outcomes = {churn: Outcome() for churn in modes}
    for seed in args.seeds:
        for churn in modes:
            alerts, truth = run_seed(seed, args.requests, args.days, args.incidents, churn, log)
            add(outcomes[churn], seed, alerts, truth)
    section = [
        f"### Detector precision and recall, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine()}",
        f"- command: `python bench/detector_quality.py --seeds "
        f"{' '.join(map(str, args.seeds))} --requests {args.requests} --days {args.days} "
        f"--incidents {args.incidents} --churn {args.churn}` (simulate RAW -> ingest -> "
        "build, per seed and mode)",
        "",
    ]
    for churn, outcome in outcomes.items():
        section += table("churn on" if churn else "churn off", outcome)
    text = "\n".join(section)
    print(text)
    if not args.no_write:
        record(text)


if __name__ == "__main__":
    main()
