"""`certsight run`'s publishing: a trust store and (with agent/ in the checkout) an agent
release published at start, the server up on loopback, and the guide's commands."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from certsight.demo_publishing import guide_lines, start_publishing, stop_publishing
from tests.conftest import free_port, make_home
from tests.publishing.helpers import certsight

pytestmark = pytest.mark.slow  # builds the real agent wheel when agent/ is there


def test_run_publishes_serves_and_guides(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    console = Console(record=True, width=200)
    child = start_publishing(home.home, free_port(), console)
    assert child is not None, console.export_text()
    try:
        pem = httpx.get(f"{child.url}/truststore/roots.pem")
        assert pem.status_code == 200 and pem.text.startswith("-----BEGIN CERTIFICATE-----")
        lines = guide_lines(home.home, child, 8443)
        assert any("/truststore/roots.pem" in line for line in lines)
        listed = json.loads(certsight(home.home, "publish", "status", "--format", "json").stdout)
        kinds = {a["kind"] for a in listed["artifacts"]}
        assert {"truststore", "doc"} <= kinds
        if child.agent_version is not None:
            assert "agent" in kinds
            assert any(
                "certsight-agent enroll --server https://127.0.0.1:8443" in line for line in lines
            )
    finally:
        stop_publishing(child)
    assert child.process.returncode == 0
    # a second start publishes nothing new (same certificates, same agent version)
    metadata = home.home.root / "publish" / "tuf" / "metadata"
    targets_before = sorted(p.name for p in metadata.glob("*.targets.json"))
    again = start_publishing(home.home, free_port(), console)
    assert again is not None
    stop_publishing(again)
    assert sorted(p.name for p in metadata.glob("*.targets.json")) == targets_before
