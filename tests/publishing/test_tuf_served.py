"""The TUF repository as clients see it: python-tuf's ngclient Updater against
`certsight serve publishing` on 127.0.0.1 verifies targets and their signed custom
fields, and refuses a tampered target, an expired timestamp and a rolled-back snapshot.
The static server itself: content types, HEAD, Range, no listing, no traversal, 404
problem documents."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tuf.api import exceptions
from tuf.api.metadata import Metadata, MetaFile, Timestamp
from tuf.ngclient import Updater

from certsight.settings import Home
from publishing.keys import KeyFolder
from publishing.publisher import Publisher
from publishing.releases import agent_path
from publishing.repository import Repository
from tests.conftest import PkiHome, RunningServer, start_server
from tests.publishing.helpers import throwaway_wheel


@dataclass
class Served:
    home: Home
    publisher: Publisher
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def updater(self, folder: Path) -> Updater:
        (folder / "metadata").mkdir(parents=True, exist_ok=True)
        (folder / "targets").mkdir(parents=True, exist_ok=True)
        return Updater(
            metadata_dir=str(folder / "metadata"),
            metadata_base_url=f"{self.url}/tuf/metadata/",
            target_dir=str(folder / "targets"),
            target_base_url=f"{self.url}/tuf/targets/",
            bootstrap=self.publisher.repository.root_bytes(),
        )


def make_served(root: Path, clock: datetime | None = None) -> Iterator[Served]:
    home = Home(root)
    publisher = Publisher(
        root / "publish",
        root / "publishing" / "keys",
        channels=("stable", "canary"),
        base_url="http://127.0.0.1:1",
    )
    publisher.agent(throwaway_wheel("1.0.0"), channel="canary", rollout=10)
    publisher.docs({"agent.md": b"# the agent\n"})
    server = start_server(PkiHome(home, Path(), "", Path(), ""), "publishing")
    try:
        yield Served(home, publisher, server)
    finally:
        server.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from make_served(tmp_path / "home")


def test_updater_verifies_an_agent_release_and_its_signed_custom(
    served: Served, tmp_path: Path
) -> None:
    updater = served.updater(tmp_path / "client")
    updater.refresh()
    info = updater.get_targetinfo(agent_path("canary", "1.0.0"))
    assert info is not None
    custom = info.custom["certsight"]
    assert (custom["kind"], custom["name"], custom["version"], custom["channel"]) == (
        "agent",
        "certsight-agent",
        "1.0.0",
        "canary",
    )
    assert custom["rollout"] == 10
    path = updater.download_target(info)
    wheel = Path(path).read_bytes()
    root = served.publisher.repository.root_bytes()
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:  # the root of trust is embedded
        assert archive.read("certsight_agent/trusted_root.json") == root
    scripts = updater.get_targetinfo("channels/canary/scripts/install.sh")
    assert scripts is not None and scripts.custom["certsight"]["kind"] == "script"


def test_a_tampered_target_is_refused(served: Served, tmp_path: Path) -> None:
    updater = served.updater(tmp_path / "client")
    updater.refresh()
    info = updater.get_targetinfo(agent_path("canary", "1.0.0"))
    assert info is not None
    [published] = [p for p in served.publisher.repository.targets() if p.path == info.path]
    stored = served.home.root / "publish" / published.url_path.lstrip("/")
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF  # same length, other bytes
    stored.write_bytes(bytes(data))
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.download_target(info)


def test_an_expired_timestamp_is_refused(served: Served, tmp_path: Path) -> None:
    then = datetime.now(UTC) - timedelta(days=3)
    past = Repository(
        served.home.root / "publish" / "tuf",
        KeyFolder(served.home.root / "publishing" / "keys"),
        clock=lambda: then,
    )
    assert "timestamp" in past.refresh(force=True)
    with pytest.raises(exceptions.ExpiredMetadataError, match="timestamp"):
        served.updater(tmp_path / "client").refresh()


def test_a_rolled_back_snapshot_is_refused(served: Served, tmp_path: Path) -> None:
    client = tmp_path / "client"
    served.updater(client).refresh()  # trusts the current snapshot (version 3 or more)
    metadata = served.home.root / "publish" / "tuf" / "metadata"
    timestamp: Metadata[Timestamp] = Metadata.from_file(str(metadata / "timestamp.json"))
    assert timestamp.signed.snapshot_meta.version > 1
    timestamp.signed.version += 1  # a validly signed, newer timestamp ...
    timestamp.signed.snapshot_meta = MetaFile(version=1)  # ... naming the first snapshot
    timestamp.signatures.clear()
    timestamp.sign(KeyFolder(served.home.root / "publishing" / "keys").signer("timestamp"))
    (metadata / "timestamp.json").write_bytes(timestamp.to_bytes())
    with pytest.raises(exceptions.BadVersionNumberError, match="snapshot"):
        served.updater(client).refresh()


def test_static_files_types_head_and_range(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        stamp = client.get("/tuf/metadata/timestamp.json")
        assert stamp.status_code == 200
        assert stamp.headers["content-type"] == "application/json"
        assert stamp.headers["cache-control"] == "no-cache"
        [wheel] = [p for p in served.publisher.repository.targets() if p.path.endswith(".whl")]
        got = client.get(wheel.url_path)
        assert got.headers["content-type"] == "application/zip"
        assert "immutable" in got.headers["cache-control"]
        head = client.head(wheel.url_path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == wheel.length
        part = client.get(wheel.url_path, headers={"range": "bytes=0-9"})
        assert part.status_code == 206 and part.content == got.content[:10]
        doc = client.get("/docs/agent.md")
        assert doc.headers["content-type"].startswith("text/markdown")


@pytest.mark.parametrize(
    "path",
    ["/", "/tuf/", "/tuf/metadata", "/nothing.here", "/tuf/metadata/.timestamp.json.1.tmp"],
)
def test_no_listing_and_unknown_paths_are_404_problems(served: Served, path: str) -> None:
    reply = httpx.get(f"{served.url}{path}")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["status"] == 404


def test_path_traversal_is_refused(served: Served) -> None:
    (served.home.root / "secret.txt").write_text("outside the served folder\n")
    done = subprocess.run(
        [
            "curl",
            "-s",
            "--path-as-is",
            "-o",
            "-",
            "-w",
            "%{http_code}",
            f"{served.url}/tuf/../../secret.txt",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.endswith("404") and "outside" not in done.stdout
    encoded = httpx.get(f"{served.url}/tuf/%2e%2e/%2e%2e/secret.txt")
    assert encoded.status_code == 404 and "outside" not in encoded.text


def test_post_is_refused_with_allow(served: Served) -> None:
    reply = httpx.post(f"{served.url}/tuf/metadata/timestamp.json", content=b"x")
    assert reply.status_code == 405 and reply.headers["allow"] == "GET, HEAD"
    assert json.loads(reply.content)["title"] == "Method Not Allowed"


def test_a_daily_refresh_renews_only_the_timestamp_and_clients_follow(
    served: Served, tmp_path: Path
) -> None:
    client = served.updater(tmp_path / "client")
    client.refresh()
    metadata = served.home.root / "publish" / "tuf" / "metadata"
    snapshots = {p.name: p.read_bytes() for p in metadata.glob("*.snapshot.json")}
    before = json.loads((metadata / "timestamp.json").read_bytes())["signed"]
    later = datetime.now(UTC) + timedelta(hours=13)  # 35 h of the timestamp's 48 h left
    repository = Repository(
        metadata.parent,
        KeyFolder(served.home.root / "publishing" / "keys"),
        clock=lambda: later,
    )
    assert repository.refresh() == ["timestamp"]
    after = json.loads((metadata / "timestamp.json").read_bytes())["signed"]
    assert after["version"] == before["version"] + 1
    assert after["meta"] == before["meta"]  # the same snapshot, not a new one
    assert {p.name: p.read_bytes() for p in metadata.glob("*.snapshot.json")} == snapshots
    assert repository.refresh() == []  # nothing else is due
    fresh = served.updater(tmp_path / "fresh")
    fresh.refresh()
    assert fresh.get_targetinfo(agent_path("canary", "1.0.0")) is not None
    client = served.updater(tmp_path / "client")  # the one that saw the old timestamp
    client.refresh()
    assert client.get_targetinfo("docs/agent.md") is not None
