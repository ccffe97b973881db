"""The issuance API under ``certsight run``: a child ``certsight serve issuance`` on
127.0.0.1 over TLS, a token for a demo pipeline, and one certificate obtained through
the API at start, so the inventory shows an automated issuance from the first minute.

The demo token's secret is kept in ``HOME/issuance/demo-pipeline.token`` (0600) rather
than printed, so it never lands in a terminal log; the guide reads it from there.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console

from certsight.settings import HOME_ENV, Home

DEMO_TOKEN_NAME = "demo-pipeline"  # noqa: S105 - the token's name, not its secret
DEMO_PATTERN = "*.demo.internal"
DEMO_API_HOST = "pipeline.demo.internal"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class IssuanceChild:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    token_file: Path


def token_file(home: Home) -> Path:
    return home.issuance / f"{DEMO_TOKEN_NAME}.token"


def ensure_demo_token(home: Home) -> Path:
    """A token that may obtain ``*.demo.internal``, created once per home."""
    path = token_file(home)
    if path.exists():
        return path
    from issuance.runtime import open_state
    from issuance.tokens import TokenStore

    state = open_state(home.issuance)
    try:
        secret = TokenStore(state).create(
            name=DEMO_TOKEN_NAME,
            allow=[DEMO_PATTERN],
            profiles=["tls-server"],
            rate_limit="60/minute",
            now=_now(),
        )
    finally:
        state.close()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return path


def start_issuance(home: Home, port: int, console: Console) -> IssuanceChild | None:
    """``certsight serve issuance`` in a child process; None (and a note) if it fails."""
    tokens = ensure_demo_token(home)
    log = home.root / "logs" / "issuance.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "certsight.cli", "serve", "issuance", "--port", str(port)],
            env={**os.environ, HOME_ENV: str(home.root)},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(home.pki.root_cert))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            console.print(
                f"[yellow]issuance API not started[/] (exit {process.returncode}); see {log}"
            )
            return None
        try:
            if httpx.get(f"{url}/healthz", verify=context, timeout=1).status_code == 200:
                return IssuanceChild(process, url, log, tokens)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_issuance(IssuanceChild(process, url, log, tokens))
            console.print(
                f"[yellow]issuance API did not answer in {START_TIMEOUT_S:.0f} s[/]; see {log}"
            )
            return None
        time.sleep(0.2)


def issue_through_api(home: Home, child: IssuanceChild, console: Console) -> str | None:
    """One certificate for the demo pipeline, as a pipeline would ask for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_API_HOST)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DEMO_API_HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    secret = child.token_file.read_text().strip()
    context = ssl.create_default_context(cafile=str(home.pki.root_cert))
    try:
        reply = httpx.post(
            f"{child.url}/v1/certificates",
            json={"csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
            headers={"Authorization": f"Bearer {secret}"},
            verify=context,
            timeout=30,
        )
    except httpx.HTTPError as exc:
        console.print(f"[yellow]issuance through the API failed:[/] {exc}")
        return None
    if reply.status_code != 201:
        console.print(f"[yellow]issuance through the API refused:[/] {reply.text[:300]}")
        return None
    body = reply.json()
    out = home.certs / "api"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{DEMO_API_HOST}.pem").write_text(body["certificate"] + body["chain"])
    console.print(
        f"issued {DEMO_API_HOST} through the issuance API as api:{DEMO_TOKEN_NAME}: "
        f"serial {body['serial']}, renew from {body['renewal']['start']}"
    )
    return str(body["serial"])


def guide_lines(home: Home, child: IssuanceChild) -> list[str]:
    example = json.dumps({"csr": "<PEM>", "profile": "tls-server"})
    bearer = f"Authorization: Bearer $(cat {child.token_file})"
    return [
        f"issuance API  {child.url}/v1   (OpenAPI: {child.url}/v1/openapi.json; log: {child.log})",
        f"  token of the demo pipeline: {child.token_file} (may obtain {DEMO_PATTERN})",
        f'  curl --cacert {home.pki.root_cert} -H "{bearer}" '
        f"-H 'Content-Type: application/json' -d '{example}' {child.url}/v1/certificates",
    ]


def stop_issuance(child: IssuanceChild) -> None:
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(20)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def _now() -> datetime:
    return datetime.now(UTC)
