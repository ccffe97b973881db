"""The agent against the real publishing side: `certsight publish truststore` and
`certsight publish agent` build the TUF repository, `certsight serve publishing` serves
it on loopback, and the agent updates 1.0.0 -> 1.1.0 on canary with the root embedded
in its published wheel, then installs the roots trust store (PEM and the PKCS#12 that
keytool lists)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.agent.conftest import publishing_server, run_agent
from tests.agent.wheels import build_agent_wheel
from tests.conftest import PkiHome, free_port, make_home
from tests.issuance.test_api import certsight

pytestmark = pytest.mark.slow


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[str, PkiHome]]:
    home = make_home(tmp_path / "home", port=free_port())
    done = certsight(home, "publish", "truststore")
    assert done.returncode == 0, done.stderr
    for version in ("1.0.0", "1.1.0"):
        # built by the test helper: `publish agent`'s own build needs setuptools with
        # bdist_wheel in .venv (see the report); publishing embeds the root either way
        wheel = build_agent_wheel(version, b"{}", tmp_path)
        done = certsight(home, "publish", "agent", "--channel", "canary", "--wheel", str(wheel))
        assert done.returncode == 0, done.stderr
    with publishing_server(home) as url:
        yield url, home


def test_update_and_trust_install_from_certsight_publish(
    published: tuple[str, PkiHome], tmp_path: Path
) -> None:
    url, home = published
    agent_home = tmp_path / "agent-home"
    targets = home.home.root / "publish" / "tuf" / "targets" / "channels" / "canary" / "agent"
    (wheel,) = targets.glob("*.certsight_agent-1.0.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:  # as install.sh would leave the host
        assert "certsight_agent/trusted_root.json" in archive.namelist()
        archive.extractall(agent_home / "versions" / "1.0.0")
    (agent_home / "current").symlink_to("versions/1.0.0")

    def agent(*args: str) -> subprocess.CompletedProcess[str]:
        return run_agent(*args, agent_home=agent_home)

    assert agent("--version").stdout.strip() == "certsight-agent 1.0.0"
    done = agent("update", "--repo", url, "--channel", "canary")
    assert (done.returncode, done.stdout.strip()) == (0, "updated"), done.stderr
    assert agent("--version").stdout.strip() == "certsight-agent 1.1.0"

    pem = tmp_path / "roots.pem"
    done = agent("trust", "install", "--path", str(pem))
    assert done.returncode == 0, done.stderr
    installed = x509.load_pem_x509_certificates(pem.read_bytes())
    root = x509.load_pem_x509_certificate(home.home.pki.root_cert.read_bytes())
    assert installed == [root]

    p12 = tmp_path / "roots.p12"
    done = agent("trust", "install", "--path", str(p12), "--format", "p12")
    assert done.returncode == 0, done.stderr
    if shutil.which("keytool") is not None:
        listed = subprocess.run(
            ["keytool", "-list", "-keystore", str(p12), "-storepass", "changeit"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0 and "trustedCertEntry" in listed.stdout, listed.stdout
