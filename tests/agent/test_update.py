"""The agent updates itself through TUF: 1.0.0 -> 1.1.0 on canary for a host inside
the staged rollout, not for one outside; a tampered target, an expired timestamp, a
rolled-back snapshot and a downgrade are each refused; a broken release never becomes
current; `trust install` installs a trust-store bundle. The repository is built with
python-tuf's Metadata API (tufrepo.py) and served over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.agent.conftest import run_agent
from tests.agent.tufrepo import TufRepo, serve_static
from tests.agent.wheels import build_agent_wheel

pytestmark = pytest.mark.slow


def contract_bucket(name: str, version: str, host: str) -> int:
    """The shared contract's rollout rule, written out again independently."""
    return int(hashlib.sha256(f"{name}:{version}:{host}".encode()).hexdigest()[:8], 16) % 100


def host_with(version: str, inside: bool, rollout: int) -> str:
    for n in range(10_000):
        host = f"host-{n:04d}"
        if (contract_bucket("certsight-agent", version, host) < rollout) == inside:
            return host
    raise AssertionError("no such host")


@dataclass
class Fleet:
    repo: TufRepo
    url: str
    seen: list[tuple[str, str]]
    tmp: Path

    def release(self, version: str, channel: str, rollout: int = 100, **kw: bool) -> Path:
        wheel = build_agent_wheel(version, self.repo.root_bytes, self.tmp, **kw)
        path = f"channels/{channel}/agent/{wheel.name}"
        custom = {
            "kind": "agent",
            "name": "certsight-agent",
            "version": version,
            "channel": channel,
            "rollout": rollout,
            "published_at": datetime.now(UTC).isoformat(),
        }
        return self.repo.add(path, wheel.read_bytes(), custom)

    def host(self, name: str, host_id: str, installed: str) -> Path:
        """A host with agent ``installed`` unpacked and current (as install.sh leaves
        it), and the given machine id."""
        home = self.tmp / name
        wheel = build_agent_wheel(installed, self.repo.root_bytes, self.tmp / "wheels")
        target = home / "versions" / installed
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
        (home / "current").symlink_to(f"versions/{installed}")
        (home / "machine-id").write_text(f"{host_id}\n")
        return home


def agent(home: Path, *args: str) -> tuple[int, str, str]:
    env = {"CERTSIGHT_AGENT_MACHINE_ID_FILE": str(home / "machine-id")}
    done = run_agent(*args, agent_home=home, env=env)
    return done.returncode, done.stdout.strip(), done.stderr


def version_of(home: Path) -> str:
    code, out, err = agent(home, "--version")
    assert code == 0, err
    return out.removeprefix("certsight-agent ")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    (tmp_path / "wheels").mkdir()
    repo = TufRepo(tmp_path / "publish")
    with serve_static(tmp_path / "publish") as (url, seen):
        made = Fleet(repo, url, seen, tmp_path)
        made.release("1.0.0", "canary")
        made.release("1.0.0", "stable")
        repo.commit()
        yield made


def test_canary_update_inside_the_rollout_and_back(fleet: Fleet) -> None:
    fleet.release("1.1.0", "canary", rollout=10)
    fleet.repo.commit()
    home = fleet.host("inside", host_with("1.1.0", inside=True, rollout=10), "1.0.0")
    assert version_of(home) == "1.0.0"

    code, out, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert (code, out) == (0, "updated"), err
    assert version_of(home) == "1.1.0"
    assert os.readlink(home / "current") == "versions/1.1.0"
    assert os.readlink(home / "previous") == "versions/1.0.0"
    agents = {ua for path, ua in fleet.seen if path.startswith("/tuf/")}
    assert agents == {f"certsight-agent/1.0.0 (canary; {os.uname().sysname.lower()})"}
    downloads = [p for p, _ in fleet.seen if p.endswith("certsight_agent-1.1.0-py3-none-any.whl")]
    assert len(downloads) == 1 and "/tuf/targets/channels/canary/agent/" in downloads[0]

    # remembered: the timer's next run needs no options and finds nothing newer
    code, out, err = agent(home, "update")
    assert (code, out) == (0, "current"), err
    status = json.loads(agent(home, "status", "--out", str(home / "none"), "--format", "json")[1])
    assert (status["agent_version"], status["channel"]) == ("1.1.0", "canary")

    code, _, err = agent(home, "update", "--rollback")
    assert code == 0, err
    assert version_of(home) == "1.0.0"


def test_a_host_outside_the_rollout_stays(fleet: Fleet) -> None:
    fleet.release("1.1.0", "canary", rollout=10)
    fleet.repo.commit()
    home = fleet.host("outside", host_with("1.1.0", inside=False, rollout=10), "1.0.0")
    code, out, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert (code, out) == (0, "outside-rollout"), err
    assert version_of(home) == "1.0.0"
    assert not (home / "versions" / "1.1.0").exists()


def test_a_tampered_target_is_refused(fleet: Fleet) -> None:
    stored = fleet.release("1.1.0", "canary")
    fleet.repo.commit()
    wheel = bytearray(stored.read_bytes())
    wheel[len(wheel) // 2] ^= 0xFF  # same length, one byte changed on the server
    stored.write_bytes(bytes(wheel))
    home = fleet.host("tampered", "host-a", "1.0.0")
    code, _, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert code == 5 and "REFUSED" in err and "LengthOrHashMismatch" in err, err
    assert version_of(home) == "1.0.0" and not (home / "versions" / "1.1.0").exists()


def test_an_expired_timestamp_is_refused(fleet: Fleet) -> None:
    fleet.release("1.1.0", "canary")
    fleet.repo.commit(timestamp_expires=datetime.now(UTC) - timedelta(hours=1))
    home = fleet.host("expired", "host-a", "1.0.0")
    code, _, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert code == 5 and "ExpiredMetadata" in err, err
    assert version_of(home) == "1.0.0"


def test_a_rolled_back_snapshot_is_refused(fleet: Fleet) -> None:
    home = fleet.host("rollback", "host-a", "1.0.0")
    code, out, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert (code, out) == (0, "current"), err  # the host now trusts snapshot version 2
    old_snapshot = fleet.repo.snapshot.signed.version
    fleet.release("1.1.0", "canary")
    fleet.repo.commit()
    code, out, err = agent(home, "update", "--channel", "stable")  # sees snapshot 3
    assert (code, out) == (0, "current"), err
    fleet.repo.timestamp_naming_snapshot(old_snapshot)  # a fresh timestamp, old snapshot
    code, _, err = agent(home, "update", "--channel", "canary")
    assert code == 5 and "BadVersionNumber" in err, err
    assert version_of(home) == "1.0.0"


def test_a_downgrade_is_refused(fleet: Fleet) -> None:
    home = fleet.host("newer", "host-a", "1.1.0")
    code, out, err = agent(home, "update", "--repo", fleet.url, "--channel", "stable")
    assert (code, out) == (5, "downgrade-refused"), err
    assert "downgrade" in err
    assert version_of(home) == "1.1.0"


def test_a_release_failing_its_self_check_never_becomes_current(fleet: Fleet) -> None:
    fleet.release("1.1.0", "canary", broken=True)
    fleet.repo.commit()
    home = fleet.host("broken", "host-a", "1.0.0")
    code, out, err = agent(home, "update", "--repo", fleet.url, "--channel", "canary")
    assert (code, out) == (6, "self-check-failed"), err
    assert version_of(home) == "1.0.0" and not (home / "versions" / "1.1.0").exists()


def _root_pem(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_trust_install_installs_the_newest_bundle(fleet: Fleet, tmp_path: Path) -> None:
    for age, name in ((2, "Old Root"), (1, "New Root")):
        pem = _root_pem(name)
        der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        version = hashlib.sha256(der).hexdigest()[:16]
        published = (datetime.now(UTC) - timedelta(days=age)).isoformat()
        fleet.repo.add(
            f"truststore/roots/{version}/roots.pem",
            pem,
            {
                "kind": "truststore",
                "name": "roots",
                "version": version,
                "format": "pem",
                "published_at": published,
            },
        )
    fleet.repo.commit()
    home, path = tmp_path / "trust-home", tmp_path / "etc" / "roots.pem"
    code, out, err = agent(
        home,
        "trust",
        "install",
        "--repo",
        fleet.url,
        "--path",
        str(path),
        "--root",
        str(fleet.repo.metadata_dir / "1.root.json"),
    )
    assert code == 0, err
    installed = x509.load_pem_x509_certificate(path.read_bytes())
    assert installed.subject.rfc4514_string() == "CN=New Root"
    assert (
        out == hashlib.sha256(installed.public_bytes(serialization.Encoding.DER)).hexdigest()[:16]
    )
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    # a bundle kind that is not published: a precise error, nothing written
    code, _, err = agent(
        home,
        "trust",
        "install",
        "--path",
        str(tmp_path / "inter.pem"),
        "--bundle",
        "intermediates",
        "--root",
        str(fleet.repo.metadata_dir / "1.root.json"),
    )
    assert code == 6 and "no intermediates trust store" in err
    assert not (tmp_path / "inter.pem").exists()


def test_an_unreachable_repository_is_not_called_a_refusal(fleet: Fleet) -> None:
    from tests.conftest import free_port

    home = fleet.host("offline", "host-a", "1.0.0")
    closed = f"http://127.0.0.1:{free_port()}"
    code, _, err = agent(home, "update", "--repo", closed, "--channel", "canary")
    assert code == 6 and "the repository could not be read" in err and "REFUSED" not in err
    assert version_of(home) == "1.0.0"


def test_a_broken_current_link_falls_back_to_the_installed_agent(tmp_path: Path) -> None:
    from certsight_agent import __version__

    home = tmp_path / "agent-home"
    home.mkdir()
    (home / "current").symlink_to("versions/9.9.9")  # removed by hand, half-deleted
    done = run_agent("--version", agent_home=home)
    assert done.returncode == 0 and done.stdout.strip() == f"certsight-agent {__version__}"
