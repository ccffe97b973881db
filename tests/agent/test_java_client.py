"""End to end: a Java TLS client, trusting only the PKCS#12 trust store that the agent
installed through TUF, connects to `openssl s_server` presenting the certificate the
agent enrolled for, and checks it with OCSP against certsight's responder (no soft
fail). The Java client and the s_server harness are publishing's
(tests/publishing/test_java_truststore.py), reused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agent.conftest import agent_token, issuance_server, publishing_server, run_agent
from tests.conftest import free_port, make_home, start_server
from tests.issuance.test_api import certsight
from tests.publishing.test_java_truststore import JAVA_CLASS, JAVA_SOURCE, Services, _tls_check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("javac") is None or shutil.which("java") is None,
        reason="a JDK (javac and java on PATH) is needed for the Java TLS client test",
    ),
]
PASSWORD = "trust-me"  # the one the reused harness gives Java


def test_java_trusts_what_the_agent_installed_and_checks_ocsp(tmp_path: Path) -> None:
    source = tmp_path / f"{JAVA_CLASS}.java"
    source.write_text(JAVA_SOURCE)
    compiled = subprocess.run(
        ["javac", "-d", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr

    responder_port = free_port()  # the port the CA's AIA names
    home = make_home(tmp_path / "home", port=responder_port)
    token_file = agent_token(home)
    done = certsight(home, "publish", "truststore", "--password", PASSWORD)
    assert done.returncode == 0, done.stderr
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    with issuance_server(home) as issuance:
        enrolled = run_agent(
            "enroll",
            "--server",
            issuance,
            "--token-file",
            str(token_file),
            "--name",
            "tls.corp.example",
            "--out",
            str(out),
            "--ca-bundle",
            str(home.home.pki.root_cert),
            agent_home=agent_home,
        )
        assert enrolled.returncode == 0, enrolled.stderr
    truststore = tmp_path / "trust" / "roots.p12"
    with publishing_server(home) as repo:
        installed = run_agent(
            "trust",
            "install",
            "--repo",
            repo,
            "--path",
            str(truststore),
            "--format",
            "p12",
            "--root",
            str(home.home.root / "publish" / "tuf" / "metadata" / "1.root.json"),
            agent_home=agent_home,
        )
        assert installed.returncode == 0, installed.stderr
    responder = start_server(home, port=responder_port)  # reads the store at start
    try:
        services = Services(home, responder, truststore, Path(), Path())
        current = out / "current"
        verdict = _tls_check(tmp_path, services, current / "fullchain.pem", current / "key.pem")
        assert verdict == "CONNECTED:CN=tls.corp.example", verdict
    finally:
        responder.stop()
