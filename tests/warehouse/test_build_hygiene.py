"""What a build leaves on disk when the disk fails it, and whether its swap is durable.

Real faults only: a copy that runs out of room is a `certsight build` in a subprocess whose
file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) is below the warehouse's size, so its
writes fail with EFBIG exactly as they would with ENOSPC on a full disk; the durability of
the swap is read from the system calls the build makes (strace), in order."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.conftest import Scenario

_CLI = [sys.executable, "-c", "from certsight.cli import main; main()"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_copy_that_fails_on_a_full_disk_removes_its_partial_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "lake").mkdir(parents=True)
    warehouse = home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:  # a few MB that DuckDB cannot compress away
        con.execute(
            "create table filler as select md5(i::varchar) || md5((-i)::varchar) as text "
            "from range(300000) t(i)"
        )
    finally:
        con.close()
    before = digest(warehouse)
    limit = warehouse.stat().st_size // 3
    assert limit > 1 << 20
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # EFBIG instead of a killed process
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from certsight.cli import main\n"
        "main(['build', '--home', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", limited, str(home)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    message = " ".join(result.stderr.split())
    assert f"cannot copy {warehouse}" in message, message
    assert "File too large" in message, message
    assert "removed" in message, message
    build_dir = home / ".warehouse" / "build"
    assert not build_dir.exists() or not any(build_dir.iterdir())
    assert digest(warehouse) == before


_SYSCALL = re.compile(r"^\d+\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<result>-?\d+)")
_FD_PATH = re.compile(r"^\d+<(?P<path>[^>]*)>")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _calls(log: Path) -> list[tuple[str, list[str]]]:
    """(system call, paths it named) for each successful call in an ``strace -f -y`` log."""
    calls = []
    for line in log.read_text().splitlines():
        found = _SYSCALL.match(line)
        if not found or found["result"] != "0":
            continue
        args = found["args"]
        fd = _FD_PATH.match(args)
        paths = [fd["path"]] if fd else _QUOTED.findall(args)
        calls.append((found["call"], paths))
    return calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (Debian's strace)")
def test_the_swap_is_fsynced_before_and_after_the_rename(
    scenario: Scenario, tmp_path: Path
) -> None:
    """A rename is durable only once its folder is fsynced, and it must not become durable
    before the file's own data: file fsync, rename, folder fsync, in that order."""
    home = scenario.home
    log = tmp_path / "strace.log"
    traced = "trace=fsync,fdatasync,rename,renameat,renameat2"
    strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-y", "-e", traced, "-o", str(log)]
    result = subprocess.run(
        [*strace, *_CLI, "build", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    live = str(home / "warehouse.duckdb")
    built = str(home / ".warehouse" / "build" / "warehouse.duckdb")
    calls = _calls(log)
    swaps = [
        n
        for n, (call, paths) in enumerate(calls)
        if call.startswith("rename") and paths[-1:] == [live]
    ]
    assert len(swaps) == 1, calls
    swap = swaps[0]
    assert calls[swap][1][0] == built
    flushes = ("fsync", "fdatasync")
    assert any(call in flushes and paths == [built] for call, paths in calls[:swap])
    assert any(call in flushes and paths == [str(home)] for call, paths in calls[swap + 1 :])
