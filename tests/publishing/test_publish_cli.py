"""`certsight publish ...` through the real command line: agent releases on channels with
a staged rollout, promotion, rollout changes, status for scripts (`--format json`),
refresh of expiring metadata, and the precise errors of bad requests."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from certsight.settings import Home
from publishing.releases import in_rollout
from tests.conftest import PkiHome, make_home
from tests.publishing.helpers import certsight, write_wheel


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> PkiHome:
    return make_home(tmp_path_factory.mktemp("publish-home"))


def status(home: Home) -> list[dict[str, object]]:
    document = json.loads(certsight(home, "publish", "status", "--format", "json").stdout)
    artifacts: list[dict[str, object]] = document["artifacts"]
    assert set(document["metadata_expires"]) == {"root", "targets", "snapshot", "timestamp"}
    return artifacts


def test_release_promote_rollout_and_status(home: PkiHome, tmp_path: Path) -> None:
    h = home.home
    certsight(h, "publish", "truststore")
    wheel = write_wheel(tmp_path, "1.1.0")
    certsight(
        h, "publish", "agent", "--channel", "canary", "--rollout", "10", "--wheel", str(wheel)
    )
    listed = status(h)
    agents = [a for a in listed if a["kind"] == "agent"]
    assert [(a["name"], a["version"], a["channel"], a["rollout"]) for a in agents] == [
        ("certsight-agent", "1.1.0", "canary", 10)
    ]
    url = str(agents[0]["url_path"])
    assert url.startswith("/tuf/targets/channels/canary/agent/")
    assert url.endswith(".certsight_agent-1.1.0-py3-none-any.whl")
    assert (h.root / "publish" / url.lstrip("/")).is_file()
    scripts = {a["name"] for a in listed if a["kind"] == "script" and a["channel"] == "canary"}
    assert scripts == {"install.sh", "certsight-agent.service", "certsight-agent.timer"}
    stores = {(a["name"], a["format"]) for a in listed if a["kind"] == "truststore"}
    assert ("roots", "p12") in stores and ("intermediates", "p7b.pem") in stores

    certsight(
        h, "publish", "rollout", "--version", "1.1.0", "--channel", "canary", "--percent", "50"
    )
    certsight(h, "publish", "promote", "--version", "1.1.0", "--from", "canary", "--to", "stable")
    after = {(a["channel"], a["rollout"]) for a in status(h) if a["kind"] == "agent"}
    assert after == {("canary", 50), ("stable", 100)}


def test_the_installer_pins_the_wheel_it_installs(home: PkiHome, tmp_path: Path) -> None:
    h = home.home
    certsight(
        h, "publish", "agent", "--channel", "canary", "--wheel", str(write_wheel(tmp_path, "1.2.0"))
    )
    listed = status(h)
    [wheel] = [a for a in listed if a["kind"] == "agent" and a["version"] == "1.2.0"]
    installers = [a for a in listed if a["name"] == "install.sh" and a["channel"] == "canary"]
    [installer] = installers
    assert installer["version"] == "1.2.0"  # the channel's scripts follow its newest release
    text = (h.root / "publish" / str(installer["url_path"]).lstrip("/")).read_text()
    assert f'WHEEL_SHA256="{wheel["sha256"]}"' in text
    assert f'WHEEL_PATH="{wheel["url_path"]}"' in text


def test_refused_requests_are_precise(home: PkiHome, tmp_path: Path) -> None:
    h = home.home
    wheel = write_wheel(tmp_path, "1.1.0")
    again = certsight(
        h, "publish", "agent", "--channel", "canary", "--wheel", str(wheel), check=False
    )
    assert again.returncode == 1 and "already on canary" in again.stderr
    unknown = certsight(
        h, "publish", "agent", "--channel", "beta", "--wheel", str(wheel), check=False
    )
    assert unknown.returncode == 1 and "unknown channel 'beta'" in unknown.stderr
    missing = certsight(
        h,
        "publish",
        "promote",
        "--version",
        "9.9.9",
        "--from",
        "canary",
        "--to",
        "stable",
        check=False,
    )
    assert missing.returncode == 1 and "no agent 9.9.9 on the canary channel" in missing.stderr
    bad = tmp_path / "not-a-wheel.whl"
    bad.write_bytes(b"not a zip")
    broken = certsight(
        h, "publish", "agent", "--channel", "canary", "--wheel", str(bad), check=False
    )
    assert broken.returncode == 1 and "not a wheel" in broken.stderr


def test_keys_are_private_and_the_root_key_is_marked_offline(home: PkiHome) -> None:
    keys = home.home.root / "publishing" / "keys"
    certsight(home.home, "publish", "truststore")
    names = sorted(p.name for p in keys.iterdir())
    assert names == ["root.offline.key", "snapshot.key", "targets.key", "timestamp.key"]
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refresh_renews_the_timestamp_and_works_without_the_root_key(
    home: PkiHome, tmp_path: Path
) -> None:
    h = home.home
    certsight(h, "publish", "truststore")
    keys = h.root / "publishing" / "keys"
    offline = tmp_path / "root.offline.key"
    os.replace(keys / "root.offline.key", offline)  # kept offline, as it should be
    try:
        before = json.loads((h.root / "publish/tuf/metadata/timestamp.json").read_text())
        done = certsight(h, "publish", "refresh", "--force")
        assert "timestamp" in done.stdout
        after = json.loads((h.root / "publish/tuf/metadata/timestamp.json").read_text())
        assert after["signed"]["version"] == before["signed"]["version"] + 1
        quiet = certsight(h, "publish", "refresh")
        assert "nothing due" in quiet.stderr
    finally:
        os.replace(offline, keys / "root.offline.key")


def test_rollout_rule_is_the_contract_s() -> None:
    """A known answer, computed by hand from the rule in docs/publishing.md."""
    import hashlib

    digest = hashlib.sha256(b"certsight-agent:1.1.0:host-a").hexdigest()
    bucket = int(digest[:8], 16) % 100
    assert in_rollout("certsight-agent", "1.1.0", "host-a", bucket + 1)
    assert not in_rollout("certsight-agent", "1.1.0", "host-a", bucket)
    hosts = [f"host-{i}" for i in range(2000)]
    share = sum(in_rollout("certsight-agent", "1.1.0", h, 10) for h in hosts) / len(hosts)
    assert 0.07 < share < 0.13
    assert all(in_rollout("certsight-agent", "1.1.0", h, 100) for h in hosts[:50])
    assert not any(in_rollout("certsight-agent", "1.1.0", h, 0) for h in hosts[:50])


def test_status_lists_the_ca_certificates_too(home: PkiHome) -> None:
    from pki.store.objects import FolderObjectStore
    from publishing.cacerts import load_ca_certificates, publish_ca_certificates

    h = home.home
    publish_ca_certificates(
        load_ca_certificates(h.pki), FolderObjectStore(h.root / "publish" / "ca")
    )
    certsight(h, "publish", "truststore")
    cas = {(a["name"], a["url_path"]) for a in status(h) if a["kind"] == "ca-certificate"}
    assert cas == {("root-ca", "/ca/root-ca.crt"), ("issuing-ca", "/ca/issuing-ca.crt")}


def test_a_new_password_replaces_only_the_pkcs12(home: PkiHome, tmp_path: Path) -> None:
    h = home.home

    def stores() -> dict[tuple[object, object], object]:
        return {
            (a["name"], a["format"]): a["sha256"] for a in status(h) if a["kind"] == "truststore"
        }

    certsight(h, "publish", "truststore")
    before = stores()
    certsight(h, "publish", "truststore")
    assert stores() == before  # same certificates, same password: nothing new
    certsight(h, "publish", "truststore", "--password", "another-one")
    after = stores()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {("roots", "p12"), ("intermediates", "p12")}
    from publishing.truststore import opens_with

    p12 = (h.root / "publish" / "truststore" / "roots.p12").read_bytes()
    assert opens_with(p12, "another-one") and not opens_with(p12, "changeit")
