"""A TUF repository laid out as the shared contract says (points 1-3), built with
python-tuf's Metadata API, and a static HTTP server on 127.0.0.1 for it.

Until `certsight publish` exists this stands in for the publishing side. It also does
what a real repository must never do (expire a timestamp, tamper with a target, roll
back a snapshot) so that the agent can be seen to refuse each.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

ROLES = ("root", "targets", "snapshot", "timestamp")


def _expiry(days: float = 30) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


class TufRepo:
    """HOME/publish/tuf/{metadata,targets} with consistent snapshots and Ed25519 keys."""

    def __init__(self, publish: Path) -> None:
        self.publish_dir = publish
        self.metadata_dir = publish / "tuf" / "metadata"
        self.targets_dir = publish / "tuf" / "targets"
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        self.signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}
        root = Root(expires=_expiry(365), consistent_snapshot=True)
        for role, signer in self.signers.items():
            root.add_key(signer.public_key, role)
        self.root = Metadata(root)
        self._sign_write(self.root, "1.root.json")
        self._sign_write(self.root, "root.json")
        self.targets = Metadata(Targets(expires=_expiry()))
        self.targets.signed.version = 0
        self.snapshot = Metadata(Snapshot(expires=_expiry()))
        self.snapshot.signed.version = 0
        self.timestamp = Metadata(Timestamp(expires=_expiry()))
        self.timestamp.signed.version = 0
        self.commit()

    @property
    def root_bytes(self) -> bytes:
        return (self.metadata_dir / "1.root.json").read_bytes()

    def add(self, path: str, data: bytes, custom: dict[str, Any]) -> Path:
        """A target (not yet visible until ``commit``), stored under its hash-prefixed
        name as consistent snapshots want."""
        target = TargetFile.from_data(path, data, ["sha256"])
        target.unrecognized_fields["custom"] = {"certsight": custom}
        self.targets.signed.targets[path] = target
        folder, _, name = path.rpartition("/")
        stored = self.targets_dir / folder / f"{hashlib.sha256(data).hexdigest()}.{name}"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        return stored

    def commit(self, *, timestamp_expires: datetime | None = None) -> None:
        """New targets, snapshot and timestamp versions, each signed by its own key."""
        self.targets.signed.version += 1
        self._sign_write(self.targets, f"{self.targets.signed.version}.targets.json")
        self.snapshot.signed.version += 1
        self.snapshot.signed.meta["targets.json"] = MetaFile(self.targets.signed.version)
        self._sign_write(self.snapshot, f"{self.snapshot.signed.version}.snapshot.json")
        self.timestamp.signed.version += 1
        self.timestamp.signed.snapshot_meta = MetaFile(self.snapshot.signed.version)
        self.timestamp.signed.expires = timestamp_expires or _expiry(1)
        self._sign_write(self.timestamp, "timestamp.json")

    def timestamp_naming_snapshot(self, snapshot_version: int) -> None:
        """A freshly signed timestamp that points at an older snapshot: what an attacker
        holding the timestamp key would serve to roll clients back."""
        self.timestamp.signed.version += 1
        self.timestamp.signed.snapshot_meta = MetaFile(snapshot_version)
        self.timestamp.signed.expires = _expiry(1)
        self._sign_write(self.timestamp, "timestamp.json")

    def _sign_write(self, md: Metadata[Any], name: str) -> None:
        md.signatures.clear()
        md.sign(self.signers[md.signed.type])
        md.to_file(str(self.metadata_dir / name), JSONSerializer(compact=False))


class _Handler(SimpleHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_static(folder: Path) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """HTTP on 127.0.0.1 serving ``folder``; yields the base URL and the (path,
    User-Agent) of every request. Stops when the block ends."""
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
