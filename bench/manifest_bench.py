"""What an ingest pays for the runs before it: a LAKE with 1,500 committed runs (about a
day of ``certsight run``), then ingests of one new small object each.

Run: ``python bench/manifest_bench.py`` (``--runs N``, ``--s3`` for a LAKE on moto's S3
server in this process). Before the manifest index, every ingest read every manifest;
with it, the first ingest folds them (once) and the next ones read one index and the few
manifests since. To compare with a tree without the index, run the copy of this script
in that tree (the script imports the ingest beside it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import machine, record  # noqa: E402
from ingest.lake import Lake, RunManifest, new_run_id  # noqa: E402
from ingest.run import ingest  # noqa: E402
from ingest.sources import SourceObject  # noqa: E402


def now() -> datetime:
    return datetime.now(UTC)


def past_runs(lake: Lake, runs: int) -> None:
    """Manifests shaped like a minute's run: one object, its counts, three files."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(runs):
        run_id = new_run_id(start + timedelta(minutes=index))
        uri = f"/raw/ocsp/2026-11-01/{index:06d}.jsonl.gz"
        source = {
            "key": f"{uri}|48213|{1_790_000_000_000_000_000 + index}",
            "uri": uri,
            "size": 48213,
            "version": str(1_790_000_000_000_000_000 + index),
            "format": "json-lines",
            "records_read": 412,
            "records_written": 412,
            "quarantined": 0,
            "rows": {"ocsp_requests": 380, "crl_fetches": 20, "artifact_downloads": 12},
        }
        files = [
            f"{table}/dt=2026-11-01/part-{run_id}-0000-0.parquet"
            for table in ("ocsp_requests", "crl_fetches", "artifact_downloads")
        ]
        lake.commit(RunManifest(run_id, start.isoformat(), [source], files))


def new_object(raw: Path, index: int) -> SourceObject:
    path = raw / f"new-{index}.log"
    path.write_bytes(b"not a log certsight reads\n")  # one quarantine row: a run to commit
    stat = path.stat()
    return SourceObject(str(path.resolve()), stat.st_size, str(stat.st_mtime_ns))


def _lake_at(work: Path, name: str, bucket: str | None) -> Lake:
    if bucket is not None:
        return Lake.at(f"s3://{bucket}/{name}")
    return Lake.at(str(work / name))


def _ingest_times(lake: Lake, raw: Path, first: int, count: int) -> list[tuple[float, int]]:
    """Seconds of each of ``count`` ingests of one new object, and the runs each folded."""
    times = []
    for index in range(first, first + count):
        started = time.perf_counter()
        report = ingest([new_object(raw, index)], lake, now)
        times.append((time.perf_counter() - started, getattr(report, "manifests_folded", 0)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--ingests", type=int, default=4)
    parser.add_argument("--s3", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        raw = Path(work) / "raw"
        raw.mkdir()
        server = None
        bucket = None
        if args.s3:
            import boto3
            from moto.server import ThreadedMotoServer

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            os.environ.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_REGION="us-east-1",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL=f"http://{host}:{port}",
            )
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            boto3.session.Session().client("s3").create_bucket(Bucket=bucket)
        # The peer: the same ingests into a LAKE with no history.
        fresh = _ingest_times(_lake_at(Path(work), "fresh", bucket), raw, 0, args.ingests)
        lake = _lake_at(Path(work), "lake", bucket)
        started = time.perf_counter()
        past_runs(lake, args.runs)
        print(f"{args.runs} runs committed in {time.perf_counter() - started:.1f} s")
        aged = _ingest_times(lake, raw, args.ingests, args.ingests)
        if server is not None:
            server.stop()
    for index, ((peer, _), (seconds, folded)) in enumerate(zip(fresh, aged, strict=True)):
        print(f"ingest {index + 1}: {seconds:.3f} s, empty LAKE {peer:.3f} s (folded {folded})")
    later = [seconds for seconds, _ in aged[1:]] or [aged[0][0]]
    peer_later = [seconds for seconds, _ in fresh[1:]] or [fresh[0][0]]
    extra = max(later) - max(peer_later)  # what the history costs each ingest
    limit = 1.0 if args.s3 else 0.1
    where = "moto S3 on 127.0.0.1" if args.s3 else "local folder"
    rows = "\n".join(
        f"| {index + 1} | {seconds:.3f} | {folded} | {peer:.3f} |"
        for index, ((peer, _), (seconds, folded)) in enumerate(zip(fresh, aged, strict=True))
    )
    record(
        f"### Ingest after {args.runs:,} runs (manifest index), {where}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"- machine: {machine()}\n"
        f"- command: `python bench/manifest_bench.py --runs {args.runs}"
        f"{' --s3' if args.s3 else ''}` (one new small object per ingest)\n\n"
        "| ingest | seconds with history | runs folded | seconds, empty LAKE (peer) |\n"
        "|---:|---:|---:|---:|\n"
        f"{rows}\n\n"
        f"- after the fold (ingest 1, once), {args.runs:,} runs of history add {extra:.3f} s "
        f"to an ingest against the empty LAKE in the same run (limit {limit} s, so that "
        f"`certsight run`'s ingest every minute does not grow with history): "
        f"{'met' if extra <= limit else 'NOT met'}\n"
    )


if __name__ == "__main__":
    main()
