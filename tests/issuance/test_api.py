"""The issuance API as its users meet it: `certsight serve issuance` over TLS on
loopback, tokens from `certsight token`, CSRs from `openssl req`, calls from curl and
httpx, chains checked by `openssl verify` and `openssl s_client`, revocation seen by
`openssl ocsp` against `certsight serve` and in the CRL."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from cryptography import x509

from tests.conftest import PkiHome, RunningServer, free_port, make_home, start_server
from tests.issuance.support import make_csr
from tests.issuance.test_service import forged_csr

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

SETTINGS = """
[issuance]
domains = ["corp.example", "10.0.0.0/8"]
deny = ["**.secret.corp.example"]

[issuance.profiles.short]
validity_days = 7
max_validity_days = 14

[issuance.profiles.broken]
backends = ["no-key"]

[issuance.backends.no-key]
type = "internal"
key = "/nonexistent/issuing.key"
"""


@dataclass
class Api:
    url: str
    home: PkiHome
    process: subprocess.Popen[bytes]
    token: str
    responders: RunningServer
    stderr: Path

    @property
    def root(self) -> Path:
        return self.home.home.pki.root_cert

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(
            base_url=self.url, verify=self.tls(), headers=headers, timeout=30, **kwargs
        )

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root))


def certsight(home: PkiHome, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTSIGHT_HOME": str(home.home.root)}
    return subprocess.run(
        [sys.executable, "-m", "certsight.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def create_token(home: PkiHome, name: str, *extra: str) -> str:
    made = certsight(home, "token", "create", "--name", name, *extra)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    responder_port = free_port()
    home = make_home(tmp_path_factory.mktemp("api-home"), port=responder_port)
    home.home.settings_file.write_text(SETTINGS)
    responders = _start_responders(home, responder_port)
    process: subprocess.Popen[bytes] | None = None
    try:  # whatever fails below, no server outlives the module
        token = create_token(
            home,
            "web",
            "--allow",
            "*.corp.example",
            "--allow",
            "10.1.0.0/16",
            "--profile",
            "tls-server",
            "--profile",
            "short",
            "--profile",
            "broken",
        )
        port = free_port()
        stderr = home.home.root / "issuance.stderr"
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "certsight.cli", "serve", "issuance", "--port", str(port)],
                env={**os.environ, "CERTSIGHT_HOME": str(home.home.root)},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        url = f"https://127.0.0.1:{port}"
        made = Api(url, home, process, token, responders, stderr)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve issuance exited: {stderr.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", verify=made.tls(), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"serve issuance did not start: {stderr.read_text()}")
                time.sleep(0.2)
        yield made
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        responders.stop()


def _start_responders(home: PkiHome, port: int) -> RunningServer:
    """`certsight serve` on the port the CA's AIA and CDP URLs name."""
    return start_server(home, port=port)


def openssl_csr(folder: Path, names: list[str], *, key_spec: str = "ec") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    key, csr = folder / "key.pem", folder / "req.csr"
    new_key = (
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        if key_spec == "ec"
        else ["-newkey", key_spec]
    )
    sans = ",".join(("IP:" if n[0].isdigit() else "DNS:") + n for n in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            *new_key,
            "-nodes",
            "-keyout",
            str(key),
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={sans}",
            "-out",
            str(csr),
        ],
        check=True,
        capture_output=True,
    )
    return key, csr


def curl(
    api: Api, *args: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any], str]:
    """curl as a shell script would call it; returns status, JSON body, headers."""
    command = ["curl", "-sS", "--cacert", str(api.root), "-D", "-", "-o", "-"]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
    head, _, payload = done.stdout.partition("\n\n")  # text mode: CRLF read as LF
    while head.split()[1] == "100":  # curl's Expect: 100-continue for larger bodies
        head, _, payload = payload.partition("\n\n")
    status = int(head.split()[1])
    return status, json.loads(payload) if payload.strip() else {}, head


def bearer(api: Api, token: str | None = None) -> list[str]:
    return ["-H", f"Authorization: Bearer {token or api.token}"]


def issue_with_openssl(api: Api, folder: Path, names: list[str]) -> tuple[dict[str, Any], Path]:
    key, csr = openssl_csr(folder, names)
    status, body, _ = curl(
        api,
        *bearer(api),
        f"{api.url}/v1/certificates",
        body={"csr": csr.read_text(), "profile": "tls-server"},
    )
    assert status == 201, body
    return body, key


def test_issue_with_openssl_and_curl_and_verify_the_chain(api: Api, tmp_path: Path) -> None:
    body, _ = issue_with_openssl(api, tmp_path, ["www.corp.example", "10.1.0.7"])
    leaf, chain = tmp_path / "leaf.pem", tmp_path / "chain.pem"
    leaf.write_text(body["certificate"])
    chain.write_text(body["chain"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(api.root), "-untrusted", str(chain), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stderr
    assert body["names"] == ["www.corp.example", "10.1.0.7"]
    assert body["requester"] == "api:web" and body["ca_backend"] == "internal"
    assert body["serial"] == body["serial"].lower() and len(body["issuer"]) == 40
    assert (
        body["not_before"] < body["renewal"]["start"] < body["renewal"]["end"] < body["not_after"]
    )
    # the chain runs from the issuing CA up to the root
    chain_certs = x509.load_pem_x509_certificates(body["chain"].encode())
    assert chain_certs[-1] == x509.load_pem_x509_certificate(api.root.read_bytes())
    with api.client() as client:
        got = client.get(f"/v1/certificates/{body['issuer']}/{body['serial']}")
    assert got.status_code == 200 and got.json()["certificate"] == body["certificate"]


def test_the_server_certificate_chains_to_the_home_root(api: Api) -> None:
    port = api.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            str(api.root),
            "-verify_return_error",
            "-servername",
            "localhost",
        ],
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout[-2000:] + done.stderr


def test_mutual_tls_renewal_with_curl(api: Api, tmp_path: Path) -> None:
    body, old_key = issue_with_openssl(api, tmp_path / "first", ["mtls.corp.example"])
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(body["certificate"])
    client_cert = ["--cert", str(leaf), "--key", str(old_key)]
    url = f"{api.url}/v1/certificates/renew"
    _, same_csr = tmp_path / "first" / "key.pem", tmp_path / "first" / "req.csr"
    status, problem, _ = curl(api, *client_cert, url, body={"csr": same_csr.read_text()})
    assert status == 400 and problem["type"].endswith("same-key")
    _, new_csr = openssl_csr(tmp_path / "second", ["mtls.corp.example"])
    status, problem, _ = curl(api, url, body={"csr": new_csr.read_text()})
    assert status == 401 and problem["type"].endswith("unauthorized")
    status, renewed, _ = curl(api, *client_cert, url, body={"csr": new_csr.read_text()})
    assert status == 201, renewed
    assert renewed["serial"] != body["serial"] and renewed["names"] == ["mtls.corp.example"]
    assert renewed["requester"] == "api:web"
    new_leaf = x509.load_pem_x509_certificate(renewed["certificate"].encode())
    assert (
        new_leaf.public_key()
        != x509.load_pem_x509_certificate(body["certificate"].encode()).public_key()
    )


def test_a_certificate_from_another_ca_cannot_renew(api: Api, tmp_path: Path) -> None:
    """The TLS layer only accepts client certificates of the issuing CA."""
    stranger_home = make_home(tmp_path / "other")
    leaf = stranger_home.good
    key = leaf.with_suffix(".key")
    _, csr = openssl_csr(tmp_path / "csr", ["good.example.test"])
    command = [
        "curl",
        "-sS",
        "--cacert",
        str(api.root),
        "--cert",
        str(leaf),
        "--key",
        str(key),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        json.dumps({"csr": csr.read_text()}),
        f"{api.url}/v1/certificates/renew",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # the handshake fails (curl exits non-zero) or the request is refused: never a 201
    assert done.returncode != 0 or '"status":201' not in done.stdout


def test_revocation_is_seen_by_ocsp_and_the_crl(api: Api, tmp_path: Path) -> None:
    body, _ = issue_with_openssl(api, tmp_path, ["rev.corp.example"])
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(body["certificate"])
    status, revoked, _ = curl(
        api,
        *bearer(api),
        f"{api.url}/v1/certificates/{body['issuer']}/{body['serial']}/revoke",
        body={"reason": "keyCompromise"},
    )
    assert status == 200 and revoked["status"] == "revoked", revoked
    issuing = api.home.home.pki.issuing_cert
    responder = api.responders.url
    deadline = time.monotonic() + 60  # a bound for a stuck test, not a speed claim (bench/)
    ocsp_text = crl_text = ""
    while time.monotonic() < deadline:
        ocsp = subprocess.run(
            [
                "openssl",
                "ocsp",
                "-issuer",
                str(issuing),
                "-cert",
                str(leaf),
                "-url",
                f"{responder}/ocsp",
                "-CAfile",
                str(api.root),
                "-no_nonce",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        ocsp_text = ocsp.stdout
        crl = httpx.get(f"{responder}/crl/issuing-ca.crl", timeout=5)
        crl_text = ""
        if crl.status_code == 200:
            parsed = x509.load_der_x509_crl(crl.content)
            found = parsed.get_revoked_certificate_by_serial_number(int(body["serial"], 16))
            crl_text = "listed" if found is not None else ""
        if ": revoked" in ocsp_text and crl_text == "listed":
            break
        time.sleep(0.2)
    assert ": revoked" in ocsp_text and "Reason: keyCompromise" in ocsp_text, ocsp_text
    assert crl_text == "listed"


@pytest.mark.parametrize(
    ("case", "status", "kind"),
    [
        ("no token", 401, "unauthorized"),
        ("unknown token", 401, "unauthorized"),
        ("wrong content type", 415, "unsupported-media-type"),
        ("body too large", 413, "body-too-large"),
        ("not json", 400, "malformed-request"),
        ("csr missing", 400, "malformed-request"),
        ("unknown field", 400, "malformed-request"),
        ("malformed csr", 400, "malformed-csr"),
        ("forged csr", 400, "bad-csr-signature"),
        ("weak key", 400, "weak-key"),
        ("name not allowed", 403, "name-not-allowed"),
        ("validity out of bounds", 400, "validity-out-of-bounds"),
        ("unknown profile", 400, "unknown-profile"),
        ("backend unavailable", 503, "backend-unavailable"),
        ("unknown route", 404, "not-found"),
    ],
)
def test_every_bad_input_gets_its_problem_type(
    api: Api, tmp_path: Path, case: str, status: int, kind: str
) -> None:
    good_csr, _ = make_csr(["bad.corp.example"])
    weak = ""
    if case == "weak key":
        weak = openssl_csr(tmp_path, ["bad.corp.example"], key_spec="rsa:1024")[1].read_text()
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    content: bytes | None = None
    path, method = "/v1/certificates", "POST"
    documents: dict[str, Any] = {
        "csr missing": {"profile": "tls-server"},
        "unknown field": {"csr": good_csr, "colour": "red"},
        "malformed csr": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"},
        "forged csr": {"csr": forged_csr(["bad.corp.example"])},
        "weak key": {"csr": weak},
        "name not allowed": {"csr": make_csr(["www.elsewhere.example"])[0]},
        "validity out of bounds": {"csr": good_csr, "profile": "short", "validity_days": 30},
        "unknown profile": {"csr": good_csr, "profile": "nope"},
        "backend unavailable": {"csr": good_csr, "profile": "broken"},
    }
    if case == "no token":
        headers.pop("Authorization")
    elif case == "unknown token":
        headers["Authorization"] = "Bearer cst_nothing"
    elif case == "wrong content type":
        headers["Content-Type"] = "text/plain"
    elif case == "body too large":
        content = json.dumps({"csr": "x" * 200_000}).encode()
    elif case == "not json":
        content = b"{not json"
    elif case == "unknown route":
        path, method = "/v1/nothing-here", "GET"
    if content is None and method == "POST":
        content = json.dumps(documents.get(case, {"csr": good_csr})).encode()
    with httpx.Client(base_url=api.url, verify=api.tls(), timeout=30) as client:
        reply = client.request(method, path, content=content, headers=headers)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["type"] == f"urn:certsight:problem:{kind}"
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if kind == "name-not-allowed":
        assert problem["name"] == "www.elsewhere.example" and problem["rule"] == "domains"
    if status == 503:
        assert int(reply.headers["retry-after"]) > 0
    if status == 401:
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    token = create_token(api.home, "burst", "--allow", "*.corp.example", "--rate-limit", "2/minute")
    csr, _ = make_csr(["burst.corp.example"])
    with api.client(token) as client:
        codes = [client.post("/v1/certificates", json={"csr": csr}).status_code for _ in range(3)]
        last = client.post("/v1/certificates", json={"csr": csr})
    assert codes == [201, 201, 429]
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    token = create_token(api.home, "shortlived", "--allow", "*.corp.example")
    csr, _ = make_csr(["t.corp.example"])
    with api.client(token) as client:
        assert client.post("/v1/certificates", json={"csr": csr}).status_code == 201
        assert certsight(api.home, "token", "revoke", "shortlived").returncode == 0
        assert client.post("/v1/certificates", json={"csr": csr}).status_code == 401


def test_token_cli_prints_the_secret_once_and_stores_only_a_hash(api: Api) -> None:
    made = certsight(api.home, "token", "create", "--name", "cli", "--allow", "h.corp.example")
    assert made.returncode == 0
    secret = made.stdout.strip().splitlines()[-1]
    assert made.stdout.strip() == secret and secret.startswith("cst_")  # alone on stdout
    listed = certsight(api.home, "token", "list", "--format", "json")
    rows = json.loads(listed.stdout)
    assert {"name": "cli", "state": "active"}.items() <= next(
        r for r in rows if r["name"] == "cli"
    ).items()
    database = api.home.home.issuance / "issuance.sqlite"
    assert secret.encode() not in database.read_bytes()
    assert oct(database.stat().st_mode & 0o777) == "0o600"
    duplicate = certsight(api.home, "token", "create", "--name", "cli", "--allow", "x.corp.example")
    assert duplicate.returncode == 1 and "exists" in duplicate.stderr
    bad = certsight(api.home, "token", "create", "--name", "p", "--allow", "*.com")
    assert bad.returncode == 1 and "top-level domain" in bad.stderr
    unknown = certsight(
        api.home, "token", "create", "--name", "q", "--allow", "a.corp.example", "--profile", "gold"
    )
    assert unknown.returncode == 1 and "unknown profile gold" in unknown.stderr


def test_profiles_and_cas(api: Api) -> None:
    with api.client() as client:
        profiles = {p["name"]: p for p in client.get("/v1/profiles").json()}
        cas = {c["name"]: c for c in client.get("/v1/cas").json()}
    assert profiles["tls-server"]["validity_days"] == 30
    assert profiles["tls-server"]["ekus"] == ["serverAuth", "clientAuth"]
    assert profiles["short"]["max_validity_days"] == 14
    assert cas["internal"]["available"] is True and cas["internal"]["type"] == "internal"
    assert cas["no-key"]["available"] is False and "issuing.key" in cas["no-key"]["error"]


def test_openapi_document_matches_the_routes(api: Api) -> None:
    with api.client() as client:
        document = client.get("/v1/openapi.json").json()
    from fastapi.routing import APIRoute

    from issuance.api.app import create_app
    from issuance.runtime import build_runtime
    from issuance.settings import IssuanceSettings

    runtime = build_runtime(
        layout=api.home.home.pki,
        settings=IssuanceSettings(),
        store_uri=str(api.home.home.pki.store),
        raw_dir=api.home.home.root / "raw-unused",
        state_dir=api.home.home.root / "state-unused",
        clock=lambda: __import__("datetime").datetime.now(__import__("datetime").UTC),
    )
    try:
        served = {
            (route.path, method.lower())
            for route in runtime.app.routes
            if isinstance(route, APIRoute) and route.include_in_schema
            for method in route.methods or ()
        }
    finally:
        runtime.close()
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert {path for path, _ in documented} == {
        "/v1/certificates",
        "/v1/certificates/renew",
        "/v1/certificates/{issuer}/{serial}",
        "/v1/certificates/{issuer}/{serial}/revoke",
        "/v1/orders/{order_id}",
        "/v1/profiles",
        "/v1/cas",
    }
    issue = document["paths"]["/v1/certificates"]["post"]
    assert {"201", "202", "400", "401", "403", "429", "503"} <= set(issue["responses"])
    assert "application/problem+json" in issue["responses"]["403"]["content"]
    del create_app


def test_issuance_events_land_in_the_lake(api: Api, tmp_path: Path) -> None:
    body, _ = issue_with_openssl(api, tmp_path, ["lake.corp.example"])
    raw = api.home.home.raw / "issuance"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server writes events in 1 s batches
        if any(body["serial"] in _read_gz(p) for p in raw.rglob("*.jsonl.gz")):
            break
        time.sleep(0.2)
    done = certsight(api.home, "ingest")
    assert done.returncode == 0, done.stderr
    lake = api.home.home.lake / "certificates"
    rows = duckdb.execute(
        f"select requester, ca_backend, profile, sans from read_parquet('{lake}/**/*.parquet')"
        " where serial = ?",
        [body["serial"]],
    ).fetchall()
    assert rows == [("api:web", "internal", "tls-server", ["lake.corp.example"])]


def _read_gz(path: Path) -> str:
    import gzip

    return gzip.decompress(path.read_bytes()).decode()


def test_a_chunked_body_is_capped_as_it_arrives(api: Api) -> None:
    """No Content-Length to trust: the cap applies to the bytes actually read."""

    def chunks() -> Iterator[bytes]:
        yield b'{"csr": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    with api.client() as client:
        reply = client.post(
            "/v1/certificates", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == 413
    assert reply.json()["type"] == "urn:certsight:problem:body-too-large"


def test_plain_http_is_refused_off_loopback(api: Api) -> None:
    done = certsight(api.home, "serve", "issuance", "--plain-http", "--host", "0.0.0.0")
    assert done.returncode == 1 and "loopback only" in done.stderr


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"),
    [
        ("POST", "/v1/certificates", '{"csr": "x", "profile": "\\ud800"}', "malformed-request"),
        ("POST", "/v1/certificates", '{"csr": "x", "\\ud800": 1}', "malformed-request"),
        ("GET", "/v1/certificates/%23meta/change-seq", None, "malformed-request"),
        ("GET", "/v1/certificates/" + "a" * 40 + "/zz", None, "malformed-request"),
        ("GET", "/v1/orders/not-an-order-id", None, "malformed-request"),
        ("GET", "/v1/orders/..%2f..%2fetc", None, "not-found"),
        (
            "POST",
            "/v1/certificates/" + "a" * 40 + "/01/revoke",
            '{"reason": -1}',
            "bad-revocation-reason",
        ),
    ],
)
def test_odd_input_is_a_problem_never_a_500(
    api: Api, method: str, path: str, body: str | None, kind: str
) -> None:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=api.url, verify=api.tls(), timeout=30) as client:
        reply = client.request(method, path, content=body, headers=headers)
    assert reply.status_code in (400, 404), reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["type"] == f"urn:certsight:problem:{kind}"
