"""Shared by the benchmarks: the machine description and RESULTS.md, newest first."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nNewest first. Each section says how it was made.\n\n"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ssl = subprocess.run(
        ["openssl", "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {ssl}, "
        f"{platform.system()} {platform.release()}"
    )


def record(section: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else HEADER
    body = old[len(HEADER) :] if old.startswith(HEADER) else old
    RESULTS.write_text(HEADER + section.rstrip() + "\n\n" + body)


def measured(command: list[str], log: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and exit code of a child process (its output goes to
    ``log``, or nowhere)."""
    started = time.perf_counter()
    sink = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        if log is not None and not isinstance(sink, int):
            sink.close()
    elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)
