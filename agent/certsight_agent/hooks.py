"""What runs after a successful install so that services load the new set: a command
(``--reload``, run without a shell) or a signal to a process (``--signal`` and
``--pid-file``, e.g. SIGHUP to nginx). A failure is reported, never undone: the new
set is valid and the old one may be about to expire."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

RELOAD_TIMEOUT_SECONDS = 120


def parse_signal(name: str) -> signal.Signals:
    wanted = name.upper()
    wanted = wanted if wanted.startswith("SIG") else f"SIG{wanted}"
    try:
        return signal.Signals[wanted]
    except KeyError:
        raise ValueError(f"unknown signal {name!r} (e.g. HUP, USR1)") from None


def run_reload(
    *,
    out: Path,
    command: list[str] | None,
    signal_name: str | None,
    pid_file: str | None,
) -> str | None:
    """Run the hook; the error in words, or None when it worked (or there is none)."""
    if command:
        env = {**os.environ, "CERTSIGHT_AGENT_DIR": str(out / "current")}
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own command, no shell
                command,
                env=env,
                capture_output=True,
                text=True,
                timeout=RELOAD_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"reload command {command[0]!r} could not run: {exc}"
        if done.returncode != 0:
            tail = done.stderr.strip()[-300:]
            return f"reload command {command[0]!r} exited {done.returncode}: {tail}"
    if signal_name and pid_file:
        try:
            pid = int(Path(pid_file).read_text().split()[0])
            os.kill(pid, parse_signal(signal_name))
        except (OSError, ValueError, IndexError) as exc:
            return f"could not signal the process in {pid_file}: {exc}"
    return None
