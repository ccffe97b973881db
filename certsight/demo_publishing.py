"""Publishing under ``certsight run``: a trust store and an agent release published at
start, ``certsight serve publishing`` as a child on 127.0.0.1, the TUF metadata renewed
hourly while it runs, and the commands to try the agent against the running services.

The agent release is built from the repository's ``agent/`` sources when they are there
(``certsight publish agent``); without them the trust store alone is published and the
guide says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from certsight.commands.publish import (
    AGENT_SOURCES,
    DOC_PAGES,
    REPOSITORY_ROOT,
    publisher_for,
    truststore_password,
)
from certsight.settings import HOME_ENV, Home
from publishing.cacerts import load_ca_certificates
from publishing.publisher import Publisher, PublishingError
from publishing.releases import newest_release
from publishing.wheel import WheelError, build_wheel, source_version

START_TIMEOUT_S = 30.0
REFRESH_EVERY_S = 3600.0
DEMO_CHANNEL = "canary"


@dataclass
class PublishingChild:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    agent_version: str | None
    stop: threading.Event = field(default_factory=threading.Event)


def publish_at_start(home: Home, publisher: Publisher, console: Console) -> str | None:
    """Trust store, docs and (when the sources are there) an agent release on canary.
    Returns the agent version on canary, if any."""
    certificates = [ca.certificate for ca in load_ca_certificates(home.pki)]
    stores = publisher.truststore(certificates, password=truststore_password(home, None))
    console.print(f"trust stores published: {len(stores)} signed files under {publisher.served}")
    pages = {
        name: (REPOSITORY_ROOT / "docs" / name).read_bytes()
        for name in DOC_PAGES
        if (REPOSITORY_ROOT / "docs" / name).exists()
    }
    if pages:
        publisher.docs(pages)
    if not (AGENT_SOURCES / "pyproject.toml").exists():
        console.print(f"[yellow]no agent sources at {AGENT_SOURCES}:[/] no agent release")
        return None
    version = source_version(AGENT_SOURCES)
    newest = newest_release(publisher.repository.targets(), DEMO_CHANNEL)
    if newest is not None and newest.custom.get("version") == version:
        return version
    publisher.agent(build_wheel(AGENT_SOURCES), channel=DEMO_CHANNEL, rollout=100)
    console.print(f"certsight-agent {version} released on {DEMO_CHANNEL}")
    return version


def start_publishing(home: Home, port: int, console: Console) -> PublishingChild | None:
    """Publish, then serve HOME/publish in a child; None (and a note) when it fails."""
    publisher = publisher_for(home)
    try:
        version = publish_at_start(home, publisher, console)
        publisher.refresh()
    except (PublishingError, WheelError, ValueError) as exc:
        console.print(f"[yellow]publishing at start failed:[/] {exc}")
        return None
    log = home.root / "logs" / "publishing.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "certsight.cli",
                "serve",
                "publishing",
                "--port",
                str(port),
                "--log-batch-seconds",
                "10",
            ],
            env={**os.environ, HOME_ENV: str(home.root)},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    child = PublishingChild(process, f"http://127.0.0.1:{port}", log, version)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            console.print(
                f"[yellow]publishing server not started[/] (exit {process.returncode}); see {log}"
            )
            return None
        try:
            if httpx.get(f"{child.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_publishing(child)
            console.print(f"[yellow]publishing server did not answer[/]; see {log}")
            return None
        time.sleep(0.2)
    threading.Thread(
        target=_refresh_every, args=(publisher, child.stop, console), daemon=True
    ).start()
    return child


def _refresh_every(publisher: Publisher, stop: threading.Event, console: Console) -> None:
    """The publishing job's upkeep: re-sign the TUF metadata that runs short."""
    while not stop.wait(REFRESH_EVERY_S):
        try:
            renewed = publisher.refresh()
        except PublishingError as exc:
            console.print(f"[red]TUF metadata refresh failed:[/] {exc}")
            continue
        if renewed:
            console.print(f"TUF metadata re-signed: {', '.join(renewed)}")


def guide_lines(home: Home, child: PublishingChild, issuance_port: int) -> list[str]:
    token = home.issuance / "demo-pipeline.token"
    lines = [
        f"publishing  {child.url}/   (trust stores, agent releases, TUF; log: {child.log})",
        f"  curl -O {child.url}/truststore/roots.pem   # or roots.p12 (password changeit)",
        "  .venv/bin/certsight publish status",
    ]
    if child.agent_version is None:
        return [*lines, "  no agent release: the agent/ sources are not in this checkout"]
    out = home.root / "agent-demo"
    agent = ".venv/bin/certsight-agent"
    repository = publisher_for(home).repository
    # .venv's agent is installed from the sources, without the published root inside
    root = f"--root {repository.metadata_dir / f'{repository.root_version()}.root.json'}"
    return [
        *lines,
        f"  try certsight-agent {child.agent_version} ({DEMO_CHANNEL}) against these services:",
        f"  {agent} enroll --server https://127.0.0.1:{issuance_port} --token-file {token} "
        f"--name agent.demo.internal --out {out} --ca-bundle {home.pki.root_cert}",
        f"  {agent} renew --out {out}",
        f"  {agent} status --out {out}",
        f"  {agent} trust install --repo {child.url} --path {out}/roots.pem {root}",
        f"  {agent} update --repo {child.url} --channel {DEMO_CHANNEL} {root}",
        f"  curl -s {child.url}/docs/agent.md   # the agent's documentation",
    ]


def stop_publishing(child: PublishingChild) -> None:
    child.stop.set()
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(20)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
