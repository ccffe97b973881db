"""The repository's upkeep without a server: the root key kept offline does not stop the
online roles from being renewed, and a root that runs short says so, precisely."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publishing.keys import KeyFolder
from publishing.publisher import Publisher
from publishing.repository import Repository, RepositoryError, check_target_path


def test_an_offline_root_key_blocks_only_the_root(tmp_path: Path) -> None:
    publisher = Publisher(tmp_path / "publish", tmp_path / "keys", ("stable",), "http://x")
    publisher.docs({"agent.md": b"# agent\n"})
    os.replace(tmp_path / "keys" / "root.offline.key", tmp_path / "root.offline.key")
    later = datetime.now(UTC) + timedelta(days=310)  # the root has 55 days left
    repository = Repository(
        tmp_path / "publish" / "tuf", KeyFolder(tmp_path / "keys"), clock=lambda: later
    )
    with pytest.raises(RepositoryError) as refused:
        repository.refresh()
    message = str(refused.value)
    assert message.startswith("re-signed targets, snapshot, timestamp; the root metadata expires")
    assert "the root key is offline" in message
    stamp = json.loads((tmp_path / "publish/tuf/metadata/timestamp.json").read_text())
    assert datetime.fromisoformat(stamp["signed"]["expires"].replace("Z", "+00:00")) > later
    os.replace(tmp_path / "root.offline.key", tmp_path / "keys" / "root.offline.key")
    assert repository.refresh() == ["root", "timestamp"]
    assert (tmp_path / "publish/tuf/metadata/2.root.json").exists()


@pytest.mark.parametrize("path", ["../x", "a/../b", "/abs", "a//b", "a/./b", "a b", ""])
def test_target_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(RepositoryError, match="not a target path"):
        check_target_path(path)
