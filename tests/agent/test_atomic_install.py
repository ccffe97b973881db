"""Key, certificate and chain change as a set: the system calls of a real renewal (seen
by strace) put the key first and the `current` swap last, and a process killed just
before that swap leaves the old set current and whole."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.agent.conftest import IssuanceApi, run_agent
from tests.agent.test_lifecycle import enroll, pair_matches, status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]
RENAME = re.compile(r'^rename(?:at2?)?\((?:[^,]+, )?"([^"]+)", (?:[^,]+, )?"([^"]+)"')
CALLS = "trace=rename,renameat,renameat2,symlink,symlinkat,fsync,fdatasync"


def test_the_key_goes_first_and_the_current_link_last(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    enroll(issuance_api, out, agent_home)
    trace = tmp_path / "trace.txt"
    done = run_agent(
        "renew",
        "--out",
        str(out),
        "--force",
        agent_home=agent_home,
        prefix=("strace", "-qq", "-o", str(trace), "-e", CALLS),
    )
    assert done.returncode == 0, done.stderr
    lines = trace.read_text().splitlines()
    renames: list[tuple[int, str, str]] = [
        (i, m[1], m[2]) for i, line in enumerate(lines) if (m := RENAME.match(line))
    ]
    targets = [Path(new).name for _, _, new in renames]

    def at(name: str) -> int:
        return next(i for i, _, new in renames if Path(new).name == name)

    set_files = ["key.pem", "cert.pem", "chain.pem", "fullchain.pem"]
    order = [at(name) for name in set_files]
    assert order == sorted(order), targets  # key first
    staged = next(i for i, old, _ in renames if Path(old).name.startswith(".staging-"))
    swap = at("current")
    assert order[-1] < staged < at("previous") < swap, targets
    # every file and the version folder are on disk before the swap
    assert any(line.startswith("fsync") for line in lines[staged:swap])
    assert sum(line.startswith("fsync") for line in lines[: order[0]]) >= 1
    after_swap = [Path(new).name for i, _, new in renames if i > swap]
    assert not set(after_swap) & {*set_files, "current"}  # nothing of the set after
    assert pair_matches(out / "current")


def test_a_crash_before_the_swap_leaves_the_old_set(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    enroll(issuance_api, out, agent_home)
    before = status(out, agent_home)
    first_key = (out / "current" / "key.pem").read_bytes()
    # the second symlink() of a renewal is the temporary `current` link: SIGKILL there,
    # once the new key, certificate and chain are all written
    crashed = run_agent(
        "renew",
        "--out",
        str(out),
        "--force",
        agent_home=agent_home,
        prefix=(
            "strace",
            "-qq",
            "-o",
            os.devnull,
            "-e",
            "trace=symlink,symlinkat",
            "-e",
            "inject=symlink,symlinkat:signal=KILL:when=2",
        ),
    )
    assert crashed.returncode in (-9, 137), crashed.stderr  # killed (strace passes it on)
    assert (out / "current" / "key.pem").read_bytes() == first_key
    assert status(out, agent_home)["serial"] == before["serial"]
    assert pair_matches(out / "current")
    written = [p for p in (out / "versions").iterdir() if p.name != Path(before["set"]).name]
    assert written and all(pair_matches(p) for p in written)  # complete, just not current

    # the next run installs normally and clears what the crash left
    done = run_agent("renew", "--out", str(out), "--force", agent_home=agent_home)
    assert done.returncode == 0, done.stderr
    after = status(out, agent_home)
    assert after["serial"] != before["serial"] and after["previous"] == before["set"]
    kept = sorted(p.name for p in (out / "versions").iterdir())
    assert kept == sorted(Path(t).name for t in (after["set"], after["previous"]))
    assert json.loads((out / "state.json").read_text())["serial"] == after["serial"]
