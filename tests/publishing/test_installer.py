"""The published integration scripts at work: the POSIX installer, fetched from
`certsight serve publishing`, installs the release it pins into a virtual environment,
and refuses a wheel whose SHA-256 is not the pinned one; the systemd units are valid
for systemd-analyze where it is installed. And `publish agent` from the real agent/
sources embeds the repository's root as the agent's root of trust."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from certsight.settings import Home
from publishing.wheel import source_version
from tests.conftest import PkiHome, RunningServer, start_server
from tests.publishing.helpers import certsight, write_wheel

AGENT_SOURCES = Path(__file__).resolve().parents[2] / "agent"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Home, RunningServer]]:
    home = Home(tmp_path / "home")
    certsight(
        home,
        "publish",
        "agent",
        "--channel",
        "stable",
        "--wheel",
        str(write_wheel(tmp_path, "1.0.0")),
    )
    server = start_server(PkiHome(home, Path(), "", Path(), ""), "publishing")
    try:
        yield home, server
    finally:
        server.stop()


def _published(home: Home) -> dict[str, dict[str, object]]:
    listed = json.loads(certsight(home, "publish", "status", "--format", "json").stdout)
    return {str(a["name"]): a for a in listed["artifacts"] if a["channel"] == "stable"}


def _installer(home: Home, server: RunningServer, tmp_path: Path) -> Path:
    url_path = str(_published(home)["install.sh"]["url_path"])
    script = tmp_path / "install.sh"
    subprocess.run(
        ["curl", "-fsS", "-o", str(script), f"{server.url}{url_path}"], check=True, timeout=30
    )
    return script


@pytest.mark.slow
def test_installer_installs_the_pinned_release(
    served: tuple[Home, RunningServer], tmp_path: Path
) -> None:
    home, server = served
    script = _installer(home, server, tmp_path)
    prefix = tmp_path / "opt" / "certsight-agent"
    done = subprocess.run(
        ["sh", str(script), "--base-url", server.url, "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "certsight-agent 1.0.0 (stable) installed" in done.stdout
    ran = subprocess.run(
        [str(prefix / "bin" / "certsight-agent")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ran.stdout.strip() == "certsight-agent 1.0.0"


@pytest.mark.slow
def test_installer_refuses_a_wheel_that_is_not_the_pinned_one(
    served: tuple[Home, RunningServer], tmp_path: Path
) -> None:
    home, server = served
    script = _installer(home, server, tmp_path)
    wheel_path = str(_published(home)["certsight-agent"]["url_path"])
    stored = home.root / "publish" / wheel_path.lstrip("/")
    stored.write_bytes(stored.read_bytes() + b"tampered")
    prefix = tmp_path / "opt" / "certsight-agent"
    done = subprocess.run(
        ["sh", str(script), "--base-url", server.url, "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert "SHA-256 mismatch" in done.stderr and "not installed" in done.stderr
    assert not prefix.exists()


def test_units_are_valid_for_systemd(served: tuple[Home, RunningServer], tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    home, _ = served
    published = _published(home)
    for name in ("certsight-agent.service", "certsight-agent.timer"):
        data = (home.root / "publish" / str(published[name]["url_path"]).lstrip("/")).read_bytes()
        (tmp_path / name).write_bytes(data)
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "certsight-agent.timer")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Unknown key" not in done.stderr and "Invalid" not in done.stderr, done.stderr


@pytest.mark.slow
def test_publish_agent_builds_the_real_agent_with_the_root_inside(tmp_path: Path) -> None:
    if not (AGENT_SOURCES / "pyproject.toml").exists():
        pytest.skip("the agent's sources (agent/) are not in this checkout")
    home = Home(tmp_path / "home")
    certsight(
        home, "publish", "agent", "--channel", "canary", "--rollout", "10", "--version", "9.8.7"
    )
    [agent] = [
        a
        for a in json.loads(certsight(home, "publish", "status", "--format", "json").stdout)[
            "artifacts"
        ]
        if a["kind"] == "agent"
    ]
    assert (agent["version"], agent["channel"], agent["rollout"]) == ("9.8.7", "canary", 10)
    wheel = (home.root / "publish" / str(agent["url_path"]).lstrip("/")).read_bytes()
    root = max((home.root / "publish/tuf/metadata").glob("*.root.json")).read_bytes()
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        assert archive.read("certsight_agent/trusted_root.json") == root
        assert "certsight_agent/cli.py" in archive.namelist()
    assert source_version(AGENT_SOURCES) != "9.8.7"  # the sources were not changed
