"""The TUF repository that signs everything publishing releases (python-tuf's Metadata API).

Layout (docs/publishing.md), under the served folder: ``tuf/metadata/`` holds
``N.root.json`` for every root version, ``timestamp.json``, ``N.snapshot.json`` and
``N.targets.json`` (consistent snapshots), and ``tuf/targets/`` holds each target as
``<dir>/<sha256 hex>.<file name>``, so a file once published never changes under a
client that is reading it and an ngclient with ``prefix_targets_with_hash`` finds it.

The repository's state *is* its metadata files: it is loaded from them on every
operation and written back role by role, the way python-tuf's manual_repo example
builds one (targets, then snapshot, then timestamp: a client that fetches between two
writes sees the previous complete set). Each role is signed by its own Ed25519 key
(:mod:`publishing.keys`); the root key is needed only to make or re-sign the root.

Expiry: every change re-signs the roles it touches with a fresh expiry; :meth:`refresh`
is what the publishing job runs (daily at least, ``certsight publish refresh``) and
re-signs a role once its remaining validity is under its renew threshold, so the
timestamp (valid two days) is renewed daily and the others long before they lapse.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from pki.store.objects import FolderObjectStore, ObjectStoreError
from publishing.keys import ROLES, KeyFileError, KeyFolder

CUSTOM_KEY = "certsight"
# How long a role's signature lasts, and how much must be left before refresh renews it.
LIFETIMES: Mapping[str, timedelta] = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=14),
    "timestamp": timedelta(days=2),
}
RENEW_WHEN_LEFT: Mapping[str, timedelta] = {
    "root": timedelta(days=60),
    "targets": timedelta(days=60),
    "snapshot": timedelta(days=10),
    "timestamp": timedelta(hours=36),
}
_SERIALIZER = JSONSerializer(compact=False)
_TARGET_PATH = re.compile(r"\A[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*\Z")


class RepositoryError(RuntimeError):
    """The repository cannot do what was asked; the message says why and where."""


@dataclass(frozen=True)
class NewTarget:
    """A file to publish: its TUF target path, bytes and signed ``custom`` fields."""

    path: str
    data: bytes
    custom: Mapping[str, Any]


@dataclass(frozen=True)
class Published:
    """One target as the signed targets metadata lists it."""

    path: str
    length: int
    sha256: str
    custom: Mapping[str, Any]

    @property
    def url_path(self) -> str:
        """Where the served folder has it (consistent-snapshot name)."""
        folder, _, name = self.path.rpartition("/")
        return f"/tuf/targets/{folder + '/' if folder else ''}{self.sha256}.{name}"


def check_target_path(path: str) -> str:
    """Relative, forward slashes, no ``.``/``..`` segments and no odd characters."""
    if not _TARGET_PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
        raise RepositoryError(f"not a target path: {path!r}")
    return path


class Repository:
    """Opened on a served folder's ``tuf/`` and a key folder; ``clock`` gives "now"."""

    def __init__(
        self,
        folder: Path,
        keys: KeyFolder,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.folder = folder
        self.keys = keys
        self._clock = clock

    @property
    def metadata_dir(self) -> Path:
        return self.folder / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.folder / "targets"

    # -- reading -----------------------------------------------------------------
    def exists(self) -> bool:
        return (self.metadata_dir / "timestamp.json").exists()

    def root_version(self) -> int:
        versions = [
            int(p.name.split(".", 1)[0])
            for p in self.metadata_dir.glob("*.root.json")
            if p.name.split(".", 1)[0].isdigit()
        ]
        if not versions:
            raise RepositoryError(
                f"no TUF repository at {self.folder} (run `certsight publish truststore` "
                "or `publish agent` to make one)"
            )
        return max(versions)

    def root_bytes(self) -> bytes:
        """The newest root metadata, as served: what a client is bootstrapped with."""
        return (self.metadata_dir / f"{self.root_version()}.root.json").read_bytes()

    def _load(self, name: str) -> Metadata[Any]:
        path = self.metadata_dir / name
        try:
            return Metadata.from_bytes(path.read_bytes())
        except FileNotFoundError:
            raise RepositoryError(f"missing TUF metadata {path}") from None
        except (OSError, DeserializationError) as exc:
            raise RepositoryError(f"unreadable TUF metadata {path}: {exc}") from None

    def _state(
        self,
    ) -> tuple[Metadata[Root], Metadata[Targets], Metadata[Snapshot], Metadata[Timestamp]]:
        root = self._load(f"{self.root_version()}.root.json")
        timestamp = self._load("timestamp.json")
        snapshot = self._load(f"{timestamp.signed.snapshot_meta.version}.snapshot.json")
        targets_version = snapshot.signed.meta["targets.json"].version
        targets = self._load(f"{targets_version}.targets.json")
        return root, targets, snapshot, timestamp

    def targets(self) -> list[Published]:
        """Every target the current signed targets metadata lists, by path."""
        _, targets, _, _ = self._state()
        return [
            Published(
                path,
                info.length,
                info.hashes["sha256"],
                dict(info.unrecognized_fields.get("custom", {}).get(CUSTOM_KEY, {})),
            )
            for path, info in sorted(targets.signed.targets.items())
        ]

    def expiries(self) -> dict[str, datetime]:
        root, targets, snapshot, timestamp = self._state()
        return {
            "root": root.signed.expires,
            "targets": targets.signed.expires,
            "snapshot": snapshot.signed.expires,
            "timestamp": timestamp.signed.expires,
        }

    # -- writing -----------------------------------------------------------------
    def initialise(self) -> bool:
        """Make the keys and version 1 of every role, unless the repository exists.
        Returns whether it made one."""
        if self.exists():
            return False
        if any(self.metadata_dir.glob("*.json")):
            raise RepositoryError(f"{self.metadata_dir} holds metadata but no timestamp.json")
        signers = self.keys.create() if not self.keys.exists() else None
        if signers is None:
            signers = {role: self.keys.signer(role) for role in ROLES}
        root = Root(expires=self._expiry("root"), consistent_snapshot=True)
        for role in ROLES:
            root.add_key(signers[role].public_key, role)
        root_md = Metadata(root)
        root_md.sign(signers["root"])
        self._write(f"{root.version}.root.json", root_md)
        targets = Metadata(Targets(expires=self._expiry("targets")))
        self._commit(targets, None, None, signers)
        return True

    def add(self, new: Sequence[NewTarget]) -> list[Published]:
        """Publish files as targets (a path already listed gets the new bytes and
        custom), then re-sign targets, snapshot and timestamp."""
        if not new:
            return []
        _, targets, snapshot, timestamp = self._state()
        for item in new:
            path = check_target_path(item.path)
            info = TargetFile.from_data(path, item.data, ["sha256"])
            info.unrecognized_fields["custom"] = {CUSTOM_KEY: dict(item.custom)}
            folder, _, name = path.rpartition("/")
            digest = hashlib.sha256(item.data).hexdigest()
            try:
                FolderObjectStore(self.targets_dir / folder if folder else self.targets_dir).put(
                    f"{digest}.{name}", item.data, "application/octet-stream"
                )
            except ObjectStoreError as exc:
                raise RepositoryError(str(exc)) from exc
            targets.signed.targets[path] = info
        self._commit(targets, snapshot, timestamp, self._online_signers())
        listed = {p.path: p for p in self.targets()}
        return [listed[item.path] for item in new]

    def set_custom(self, path: str, custom: Mapping[str, Any]) -> Published:
        """Change a listed target's signed ``custom`` fields (e.g. its rollout)."""
        _, targets, snapshot, timestamp = self._state()
        info = targets.signed.targets.get(path)
        if info is None:
            raise RepositoryError(f"no target {path!r} is published")
        info.unrecognized_fields["custom"] = {CUSTOM_KEY: dict(custom)}
        self._commit(targets, snapshot, timestamp, self._online_signers())
        return next(p for p in self.targets() if p.path == path)

    def refresh(self, *, force: bool = False) -> list[str]:
        """Re-sign each role whose validity is running out (all online roles with
        ``force``); returns the roles re-signed. The root is re-signed only when its key
        is here; when it is offline and the root runs short, RepositoryError says so."""
        now = self._clock()
        root, targets, snapshot, timestamp = self._state()
        due = {
            role
            for role, md in (
                ("root", root),
                ("targets", targets),
                ("snapshot", snapshot),
                ("timestamp", timestamp),
            )
            if md.signed.expires - now < RENEW_WHEN_LEFT[role] or (force and role != "root")
        }
        done: list[str] = []
        root_problem = None
        if "root" in due:
            try:
                signer = self.keys.signer("root")
            except KeyFileError as exc:
                root_problem = exc  # the online roles are renewed all the same
            else:
                root.signed.version += 1
                root.signed.expires = self._expiry("root")
                self._sign_write(root, signer, f"{root.signed.version}.root.json")
                done.append("root")
        signers = self._online_signers()
        if "targets" in due:
            self._commit(targets, snapshot, timestamp, signers)
            done += ["targets", "snapshot", "timestamp"]
        elif "snapshot" in due:
            self._commit(None, snapshot, timestamp, signers)
            done += ["snapshot", "timestamp"]
        elif due & {"timestamp", "root"}:
            self._commit(None, None, timestamp, signers)
            done.append("timestamp")
        if root_problem is not None:
            renewed = f"re-signed {', '.join(done)}; " if done else ""
            raise RepositoryError(
                f"{renewed}the root metadata expires {root.signed.expires.isoformat()} and "
                f"{root_problem}"
            )
        return done

    # -- internals -----------------------------------------------------------------
    def _expiry(self, role: str) -> datetime:
        return (self._clock() + LIFETIMES[role]).replace(microsecond=0)

    def _online_signers(self) -> dict[str, CryptoSigner]:
        return {role: self.keys.signer(role) for role in ("targets", "snapshot", "timestamp")}

    def _commit(
        self,
        targets: Metadata[Targets] | None,
        snapshot: Metadata[Snapshot] | None,
        timestamp: Metadata[Timestamp] | None,
        signers: Mapping[str, CryptoSigner],
    ) -> None:
        """Sign and write, in order: the targets given (a new version), the snapshot given
        (a new version, naming those targets when given), and the timestamp (a new
        version naming the snapshot). A role passed as None is left as it is, except
        that the first commit (no timestamp yet) makes version 1 of each."""
        if targets is not None:
            if timestamp is not None:  # an update, not the first version
                targets.signed.version += 1
            targets.signed.expires = self._expiry("targets")
            self._sign_write(targets, signers["targets"], f"{targets.signed.version}.targets.json")
        if timestamp is None:  # the first commit
            snapshot = Metadata(Snapshot(expires=self._expiry("snapshot")))
            timestamp = Metadata(Timestamp(expires=self._expiry("timestamp")))
            timestamp.signed.version -= 1  # bumped to 1 below
        elif snapshot is not None:
            snapshot.signed.version += 1
        if snapshot is not None:
            snapshot.signed.expires = self._expiry("snapshot")
            if targets is not None:
                snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
            self._sign_write(
                snapshot, signers["snapshot"], f"{snapshot.signed.version}.snapshot.json"
            )
            timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
        timestamp.signed.version += 1
        timestamp.signed.expires = self._expiry("timestamp")
        self._sign_write(timestamp, signers["timestamp"], "timestamp.json")

    def _sign_write(self, md: Metadata[Any], signer: CryptoSigner, name: str) -> None:
        md.signatures.clear()
        md.sign(signer)
        self._write(name, md)

    def _write(self, name: str, md: Metadata[Any]) -> None:
        try:
            FolderObjectStore(self.metadata_dir).put(
                name, md.to_bytes(_SERIALIZER), "application/json"
            )
        except ObjectStoreError as exc:
            raise RepositoryError(str(exc)) from exc
