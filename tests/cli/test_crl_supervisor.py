"""`certsight serve` supervises the CRL updater it starts: an updater that dies is
restarted, and an updater whose server was killed (SIGKILL, out of memory) stops by
itself instead of keeping the CA keys in memory for nobody."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import make_home, start_server

pytestmark = pytest.mark.slow


def updater_children(parent: int) -> list[int]:
    """PIDs of `certsight crl update --watch` processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")
        )
        if ppid == parent and b"crl" in command and b"--watch" in command:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def wait_for(condition: object, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_dead_updater_is_restarted_and_an_orphan_stops(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    server = start_server(home)
    try:
        assert wait_for(lambda: len(updater_children(server.process.pid)) == 1)
        [first] = updater_children(server.process.pid)
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: [p for p in updater_children(server.process.pid) if p != first]), (
            "the supervisor did not restart the CRL updater"
        )
        [second] = updater_children(server.process.pid)
        server.process.kill()  # no cleanup runs in the server
        server.process.wait()
        assert wait_for(lambda: not running(second)), "the orphaned CRL updater kept running"
    finally:
        server.stop()
    stderr = server.stderr()
    assert "crl updater stopped" in stderr
