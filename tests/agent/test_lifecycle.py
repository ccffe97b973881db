"""Enroll, renew when due, stay quiet when not, back off when the server is down, say
so loudly near expiry: the real agent command against a real issuance server."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.agent.conftest import IssuanceApi, run_agent

pytestmark = pytest.mark.slow


def enroll(api: IssuanceApi, out: Path, agent_home: Path, *extra: str) -> None:
    done = run_agent(
        "enroll",
        "--server",
        api.url,
        "--token-file",
        str(api.token_file),
        "--name",
        "web1.corp.example",
        "--san",
        "api.corp.example",
        "--out",
        str(out),
        "--ca-bundle",
        str(api.ca_bundle),
        *extra,
        agent_home=agent_home,
    )
    assert done.returncode == 0, done.stderr


def status(out: Path, agent_home: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_agent(
        "status", "--out", str(out), "--format", "json", agent_home=agent_home, env=env
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def pair_matches(folder: Path) -> bool:
    key = serialization.load_pem_private_key((folder / "key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    return key.public_key() == cert.public_key()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_enroll_renew_when_due_then_quiet(issuance_api: IssuanceApi, tmp_path: Path) -> None:
    out, agent_home, hook_log = tmp_path / "certs", tmp_path / "agent-home", tmp_path / "hook.log"
    reload = f"sh -c 'echo \"$CERTSIGHT_AGENT_DIR\" >> {hook_log}'"
    enroll(issuance_api, out, agent_home, "--reload", reload)

    # installed as a set, key 0600, config without the token
    current = out / "current"
    assert current.is_symlink() and pair_matches(current)
    assert stat.S_IMODE((current / "key.pem").stat().st_mode) == 0o600
    config = (out / "agent.json").read_text()
    token = issuance_api.token_file.read_text().strip()
    assert token not in config and "token" not in json.loads(config)
    fullchain = (current / "fullchain.pem").read_text()
    assert fullchain.startswith((current / "cert.pem").read_text())
    assert hook_log.read_text().splitlines() == [str(current)]

    first = status(out, agent_home)
    assert first["installed"] and first["names"] == ["web1.corp.example", "api.corp.example"]
    assert first["window_source"] == "server" and first["agent_version"]
    start, end = first["renewal_window"]["start"], first["renewal_window"]["end"]
    assert start <= first["renew_at"] <= end

    # not due: exits 0 and says nothing
    quiet = run_agent("renew", "--out", str(out), agent_home=agent_home)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    assert status(out, agent_home)["serial"] == first["serial"]

    # the window has come (held clock): renewed over mTLS with a new key, hook ran
    old_key = (current / "key.pem").read_bytes()
    held = {"CERTSIGHT_AGENT_NOW": end}
    renewed = run_agent("renew", "--out", str(out), agent_home=agent_home, env=held)
    assert renewed.returncode == 0, renewed.stderr
    after = status(out, agent_home)
    assert after["serial"] != first["serial"]
    assert (current / "key.pem").read_bytes() != old_key and pair_matches(current)
    assert len(hook_log.read_text().splitlines()) == 2
    assert after["previous"] == first["set"]  # the previous set kept for rollback
    assert pair_matches(out / after["previous"])

    # the random point was picked once and kept: a second run agrees and does nothing
    again = run_agent("renew", "--out", str(out), agent_home=agent_home)
    assert again.returncode == 0 and again.stderr == ""
    assert status(out, agent_home) == after
    assert len(hook_log.read_text().splitlines()) == 2

    # rollback makes the previous set current again (and runs the hook)
    back = run_agent("rollback", "--out", str(out), agent_home=agent_home)
    assert back.returncode == 0, back.stderr
    assert status(out, agent_home)["serial"] == first["serial"] and pair_matches(current)


def test_the_server_window_is_asked_over_mutual_tls(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    """The status call carries no token (none is kept): it authenticates with the
    certificate, so the window comes from the server, not from the fallback rule; and
    with state.json lost, the issuer is read from the certificate itself."""
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    enroll(issuance_api, out, agent_home)
    issuer = json.loads((out / "state.json").read_text())["issuer"]
    (out / "state.json").unlink()
    done = run_agent("renew", "--out", str(out), agent_home=agent_home, env={})
    assert done.returncode == 0, done.stderr
    assert "server not asked" not in done.stderr
    report = status(out, agent_home)
    assert report["window_source"] == "server" and report["issuer"] == issuer


def test_failure_backs_off_then_fails_loudly_near_expiry(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    enroll(issuance_api, out, agent_home)
    report = status(out, agent_home)
    # the server goes away (a closed loopback port)
    config = json.loads((out / "agent.json").read_text())
    from tests.conftest import free_port

    config["server"] = f"https://127.0.0.1:{free_port()}"
    (out / "agent.json").write_text(json.dumps(config))
    due = {"CERTSIGHT_AGENT_NOW": report["renewal_window"]["end"]}

    failed = run_agent("renew", "--out", str(out), agent_home=agent_home, env=due)
    assert failed.returncode == 0  # not yet late: a warning, the timer stays green
    assert "renewal failed" in failed.stderr
    state = json.loads((out / "state.json").read_text())
    assert state["failures"] == 1 and state["next_attempt"] > report["renewal_window"]["end"]
    assert state["window_source"] == "fallback"

    # the timer fires again minutes later: back-off holds, no second attempt
    held = run_agent("renew", "--out", str(out), agent_home=agent_home, env=due)
    assert held.returncode == 0 and held.stderr == ""
    assert json.loads((out / "state.json").read_text())["failures"] == 1

    # in the last 10% of life: loud and non-zero
    not_after = datetime.fromisoformat(report["not_after"].replace("Z", "+00:00"))
    late = {"CERTSIGHT_AGENT_NOW": iso(not_after - timedelta(days=1))}
    loud = run_agent("renew", "--out", str(out), agent_home=agent_home, env=late)
    assert loud.returncode == 2
    assert "RENEWAL FAILING" in loud.stderr and "web1.corp.example" in loud.stderr
    assert json.loads((out / "state.json").read_text())["failures"] == 2

    # expired: the recovery path is named
    expired = {"CERTSIGHT_AGENT_NOW": iso(not_after + timedelta(minutes=1))}
    gone = run_agent("renew", "--out", str(out), agent_home=agent_home, env=expired)
    assert gone.returncode == 3
    assert "CERTIFICATE EXPIRED" in gone.stderr and "certsight-agent enroll" in gone.stderr
    assert pair_matches(out / "current")  # nothing was touched


def test_reload_failure_is_reported_and_the_install_stays(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    done = run_agent(
        "enroll",
        "--server",
        issuance_api.url,
        "--token-file",
        str(issuance_api.token_file),
        "--name",
        "web2.corp.example",
        "--out",
        str(out),
        "--ca-bundle",
        str(issuance_api.ca_bundle),
        "--reload",
        "sh -c 'echo nginx: configuration broken >&2; exit 3'",
        agent_home=agent_home,
    )
    assert done.returncode == 4
    assert "RELOAD FAILED" in done.stderr and "configuration broken" in done.stderr
    assert pair_matches(out / "current")


def test_pkcs12_and_signal_hook(issuance_api: IssuanceApi, tmp_path: Path) -> None:
    import subprocess
    import sys

    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    marker = tmp_path / "hup"
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, pathlib;"
            f"signal.signal(signal.SIGHUP, lambda *a: (pathlib.Path({str(marker)!r}).touch(),"
            " sys.exit(0)));"
            "print('ready', flush=True);"
            "signal.pause()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiter.stdout is not None and waiter.stdout.readline().strip() == "ready"
        pid_file = tmp_path / "server.pid"
        pid_file.write_text(f"{waiter.pid}\n")
        enroll(
            issuance_api,
            out,
            agent_home,
            "--p12",
            "--p12-password",
            "s3cret",
            "--signal",
            "HUP",
            "--pid-file",
            str(pid_file),
        )
        assert waiter.wait(timeout=30) == 0 and marker.exists()
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    key, cert, chain = pkcs12.load_key_and_certificates(
        (out / "current" / "cert.p12").read_bytes(), b"s3cret"
    )
    assert key is not None and cert is not None
    assert key.public_key() == cert.public_key() and chain
    assert stat.S_IMODE((out / "current" / "cert.p12").stat().st_mode) == 0o600
    assert os.readlink(out / "current").startswith("versions/")


def test_a_revoked_certificate_names_the_recovery(
    issuance_api: IssuanceApi, tmp_path: Path
) -> None:
    import ssl

    import httpx

    out, agent_home = tmp_path / "certs", tmp_path / "agent-home"
    enroll(issuance_api, out, agent_home)
    report = status(out, agent_home)
    token = issuance_api.token_file.read_text().strip()
    revoked = httpx.post(
        f"{issuance_api.url}/v1/certificates/{report['issuer']}/{report['serial']}/revoke",
        json={"reason": "superseded"},
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(issuance_api.ca_bundle)),
    )
    assert revoked.status_code == 200, revoked.text
    done = run_agent("renew", "--out", str(out), agent_home=agent_home)
    assert done.returncode == 3
    assert "CERTIFICATE REVOKED" in done.stderr and "certsight-agent enroll" in done.stderr


def test_renew_without_enrollment_is_a_precise_error(tmp_path: Path) -> None:
    done = run_agent("renew", "--out", str(tmp_path / "nothing"), agent_home=tmp_path / "home")
    assert done.returncode == 1
    assert "agent.json does not exist: run `certsight-agent enroll`" in done.stderr
    assert "Traceback" not in done.stderr
