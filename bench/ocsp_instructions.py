"""OCSP responder cost in CPU instructions per request: certsight against the bare ceiling.

One command (``python bench/ocsp_instructions.py``). Requests per second move with
whatever else the machine runs (the shared 2-core machines vary by 20% from one run to
the next), so they cannot show a change of a few percent. Instructions can: each server
runs as one worker under valgrind's callgrind, answers N1 and then, in a fresh process,
N2 identical requests from h2load, and the difference of the two totals divided by
N2 - N1 is the cost of one request with everything around it (uvicorn, the event loop,
the access-log record and its gzip JSON-lines writing), start-up cancelled out. Only
user-space instructions count: the kernel's share (two socket syscalls a request, the
same for both servers) is not in them, so the ratio below is an upper bound on the
throughput ratio, and the two move together.

In the same run it measures the bare uvicorn app of ``ocsp_bench.py`` returning the same
bytes (the ceiling), so the ratio bare / certsight is the share of the ceiling that
certsight's cached answers would reach on an otherwise idle core (target >= 70%, as in
ocsp_bench.py). ``--tree DIR`` also measures another checkout of certsight (e.g. a
commit before a change, made with ``git worktree add``), for a before/after comparison
on the same home and the same requests. Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ocsp_bench import capture_reply, ensure_h2load, free_port, prepare  # noqa: E402
from bench.results import machine, record  # noqa: E402

TARGET_SHARE = 0.70
START_TIMEOUT_S = 600.0  # a Python server starts in about a minute under callgrind


@dataclass
class Cost:
    name: str
    per_request: float
    totals: tuple[int, int]


def ensure_valgrind() -> str:
    found = shutil.which("valgrind")
    if found:
        return found
    print("valgrind missing: installing Debian's valgrind", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=False)
    found = shutil.which("valgrind")
    if not found:
        sys.exit("valgrind is needed (apt-get install valgrind)")
    return found


def _answering(url: str, body: bytes) -> bool:
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/ocsp-request"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def instructions(command: list[str], env: dict[str, str], url: str, body: Path, n: int) -> int:
    """Instructions the server process executed from start to exit, having answered ``n``
    requests (plus the few polls that saw it up)."""
    with tempfile.NamedTemporaryFile(prefix="callgrind-", suffix=".log") as log:
        server = subprocess.Popen(
            [
                ensure_valgrind(),
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                f"--log-file={log.name}",
                *command,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _answering(url, body.read_bytes()):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:4]} did not start under valgrind")
                time.sleep(1.0)
            done = subprocess.run(
                [
                    "h2load",
                    "--h1",
                    "-t",
                    "1",
                    "-c",
                    "4",
                    "-n",
                    str(n),
                    "-d",
                    str(body),
                    "-H",
                    "content-type: application/ocsp-request",
                    url,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            if f"{n} succeeded" not in done.stdout:
                raise RuntimeError(f"not every request succeeded:\n{done.stdout[-800:]}")
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=300)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        text = Path(log.name).read_text()
    found = re.search(r"Collected : ([\d,]+)", text)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's log:\n{text[-800:]}")
    return int(found.group(1).replace(",", ""))


def cost(
    name: str, command: list[str], env: dict[str, str], body: Path, n: tuple[int, int]
) -> Cost:
    totals = []
    for count in n:
        port = free_port()
        url = f"http://127.0.0.1:{port}/ocsp"
        filled = [part.replace("{port}", str(port)) for part in command]
        print(f"{name}: {count} requests under callgrind ...", flush=True)
        totals.append(instructions(filled, env, url, body, count))
    first, second = totals
    return Cost(name, (second - first) / (n[1] - n[0]), (first, second))


def certsight_command(home: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "certsight.cli",
        "serve",
        "--home",
        str(home),
        "--port",
        "{port}",
        "--workers",
        "1",
        "--no-crl-updater",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, nargs=2, default=(1000, 6000), metavar=("N1", "N2"))
    parser.add_argument("--tree", type=Path, help="also measure this checkout of certsight")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    n1, n2 = args.requests
    if not 0 < n1 < n2:
        parser.error("--requests needs 0 < N1 < N2")
    ensure_h2load()
    ensure_valgrind()
    paths = prepare()
    capture_reply(paths)
    plain = paths["plain"]
    here = {**os.environ, "PYTHONPATH": str(ROOT)}
    serve = certsight_command(paths["home"])
    costs = [
        cost("certsight cached", serve, here, plain, (n1, n2)),
        cost("certsight live (nonce)", serve, here, paths["nonce"], (n1, n2)),
    ]
    if args.tree is not None:
        tree = args.tree.resolve()
        there = {**os.environ, "PYTHONPATH": str(tree)}
        command = certsight_command(paths["home"])
        costs.append(cost(f"certsight cached, {tree.name}", command, there, plain, (n1, n2)))
    bare_env = {
        **here,
        "BENCH_RESPONSE_FILE": str(paths["response"]),
        "BENCH_HEADERS_FILE": str(paths["headers"]),
    }
    bare = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    costs.append(cost("bare uvicorn (ceiling)", bare, bare_env, plain, (n1, n2)))
    text = report(costs, args, n1, n2)
    print(text)
    if not args.no_write:
        record(text)


def report(costs: list[Cost], args: argparse.Namespace, n1: int, n2: int) -> str:
    by_name = {c.name: c for c in costs}
    tree_option = f" --tree {args.tree}" if args.tree else ""
    ceiling = by_name["bare uvicorn (ceiling)"].per_request
    cached = by_name["certsight cached"].per_request
    lines = [
        "### OCSP cost in instructions per request, "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        f"- machine: {machine()}",
        f"- command: `python bench/ocsp_instructions.py{tree_option}`"
        f" (one uvicorn worker under callgrind, h2load --h1 -c 4, {n1} and {n2} requests in two "
        "fresh processes; the difference divided by the difference in requests)",
        "",
        "| server | instructions per request | share of the ceiling's cost |",
        "|---|---:|---:|",
    ]
    for c in costs:
        lines.append(f"| {c.name} | {c.per_request:,.0f} | {ceiling / c.per_request:.0%} |")
    share = ceiling / cached
    verdict = "met" if share >= TARGET_SHARE else "NOT met"
    lines += [
        "",
        f"- cached answers reach {share:.0%} of the bare ceiling's rate on an idle core "
        f"(target >= {TARGET_SHARE:.0%}): {verdict}",
    ]
    if args.tree is not None:
        other = by_name[f"certsight cached, {args.tree.resolve().name}"].per_request
        lines.append(
            f"- this tree / {args.tree.resolve().name}: {cached / other:.3f} "
            "(instructions per cached answer; below 1 is cheaper)"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
