"""``update``: the agent replaces itself with the newest release of its channel, side by
side and reversibly.

1. TUF refresh with the shipped root; the channel's agent targets (contract point 2)
   with their signed custom field; the newest by PEP 440.
2. Not newer than the running version: nothing (equal) or refused (older: a
   downgrade, which TUF alone would accept if it is signed).
3. Outside the staged rollout for this host: stays, quietly.
4. The verified wheel is unpacked (pure Python, no pip needed) into
   AGENT_HOME/versions/{version}/, then run there with ``self-check``; only if that
   answers with the expected version does AGENT_HOME/current move to it, the version
   before kept as AGENT_HOME/previous (``update --rollback`` swaps them back).

The ``certsight-agent`` launcher (launcher.py) runs whatever AGENT_HOME/current points
at, so the switch is one atomic rename of a symlink.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from certsight_agent import __version__
from certsight_agent.fsutil import fsync_dir, swap_symlink
from certsight_agent.home import AgentHome
from certsight_agent.repository import Release, Repository
from certsight_agent.rollout import in_rollout
from certsight_agent.versions import BadVersion, version_key

log = logging.getLogger("certsight_agent")

AGENT_NAME = "certsight-agent"
LAUNCHED_VARIABLE = "CERTSIGHT_AGENT_LAUNCHED"
UPDATED, CURRENT, OUTSIDE_ROLLOUT, DOWNGRADE, SELF_CHECK_FAILED = (
    "updated",
    "current",
    "outside-rollout",
    "downgrade-refused",
    "self-check-failed",
)


def channel_releases(releases: list[Release], channel: str) -> list[Release]:
    prefix = f"channels/{channel}/agent/"
    found = []
    for release in releases:
        custom = release.custom
        if not release.path.startswith(prefix) or custom.get("kind") != "agent":
            continue
        if custom.get("channel") != channel or custom.get("name") != AGENT_NAME:
            continue
        try:
            version_key(str(custom.get("version", "")))
        except BadVersion:
            log.warning("skipping %s: its version cannot be ordered", release.path)
            continue
        found.append(release)
    return found


def update(
    home: AgentHome,
    repository: Repository,
    *,
    channel: str,
    host_id: str,
    running: str = __version__,
) -> str:
    releases = channel_releases(repository.targets(), channel)
    if not releases:
        log.info("no agent release on channel %s", channel)
        return CURRENT
    newest = max(releases, key=lambda r: version_key(str(r.custom["version"])))
    version = str(newest.custom["version"])
    try:
        running_key = version_key(running)
    except BadVersion:
        running_key = version_key("0")
    if version_key(version) == running_key:
        log.info("certsight-agent %s is the newest on %s", running, channel)
        return CURRENT
    if version_key(version) < running_key:
        log.error(
            "REFUSED: the newest release on %s is %s, older than the running %s; "
            "a downgrade is never applied (roll back with `update --rollback`)",
            channel,
            version,
            running,
        )
        return DOWNGRADE
    rollout = int(newest.custom.get("rollout", 100))
    if not in_rollout(AGENT_NAME, version, host_id, rollout):
        log.info(
            "%s on %s is rolled out to %d%% of hosts; not this one yet", version, channel, rollout
        )
        return OUTSIDE_ROLLOUT
    wheel = repository.fetch(newest)
    target = unpack(home, wheel, version)
    problem = self_check(target, version)
    if problem:
        log.error(
            "the new version %s failed its self-check, staying on %s: %s", version, running, problem
        )
        shutil.rmtree(target, ignore_errors=True)
        return SELF_CHECK_FAILED
    switch(home, f"versions/{version}")
    log.info("updated certsight-agent %s -> %s (%s)", running, version, channel)
    return UPDATED


def unpack(home: AgentHome, wheel: Path, version: str) -> Path:
    """A pure-Python wheel is a zip of the files as installed: unpacked into a staging
    folder, then renamed to versions/{version}."""
    home.versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home.versions))
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = Path(member).parts
            if member.startswith("/") or ".." in parts:
                shutil.rmtree(staging, ignore_errors=True)
                raise ValueError(f"the wheel names a path outside itself: {member}")
        archive.extractall(staging)  # every name checked above
    os.chmod(staging, 0o755)  # noqa: S103 - code, readable by whoever runs the agent
    final = home.versions / version
    if final.exists():
        shutil.rmtree(final)
    os.rename(staging, final)
    fsync_dir(home.versions)
    return final


def self_check(target: Path, version: str) -> str | None:
    """Run the new version as the launcher would and ask it who it is."""
    env = {**os.environ, "PYTHONPATH": str(target), LAUNCHED_VARIABLE: "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "certsight_agent.cli", "self-check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=target,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return f"exit {done.returncode}: {done.stderr.strip()[-400:]}"
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        return f"unreadable answer {done.stdout[:200]!r}"
    if answer.get("version") != version:
        return f"it says it is {answer.get('version')}, not {version}"
    if not str(answer.get("package", "")).startswith(str(target)):
        return f"it ran from {answer.get('package')}, not from {target}"
    return None


def switch(home: AgentHome, relative: str) -> None:
    try:
        before = os.readlink(home.current)
    except OSError:
        before = None
    if before is not None:
        swap_symlink(home.root / "previous", before)
    swap_symlink(home.current, relative)


def rollback(home: AgentHome) -> str:
    """Back to the version before the last switch; with no earlier update, back to the
    agent installed by the package manager (``current`` removed)."""
    try:
        before = os.readlink(home.root / "previous")
    except OSError:
        if home.current.is_symlink():
            os.unlink(home.current)
            fsync_dir(home.root)
            return "the installed package"
        raise FileNotFoundError("no previous agent version to roll back to") from None
    switch(home, before)
    return before
