"""The issuance API behind a Lambda Function URL with IAM auth: the caller is the IAM
principal the URL verified, mapped to a policy by ``[issuance.principals.*]``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from issuance import lambda_handler
from tests.conftest import PkiHome, make_home
from tests.issuance.support import make_csr

ROLE = "arn:aws:iam::123456789012:role/web-agents"
SESSION = "arn:aws:sts::123456789012:assumed-role/web-agents/i-0abc123"

SETTINGS = f"""
[issuance]
domains = ["corp.example"]

[issuance.principals.web-agents]
arn = "{ROLE}"
allow = ["*.web.corp.example"]
"""


def function_url_event(
    method: str, path: str, body: dict[str, Any] | None, *, arn: str | None = SESSION
) -> dict[str, Any]:
    """A Function URL request (payload 2.0) as AWS hands it over after IAM auth."""
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abcdefgh",
        "domainName": "abcdefgh.lambda-url.eu-west-1.on.aws",
        "domainPrefix": "abcdefgh",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "10.20.30.40",
            "userAgent": "certsight-agent/1.0",
        },
        "requestId": "6f5e1c9a-0000-4000-8000-000000000001",
        "routeKey": "$default",
        "stage": "$default",
        "time": "07/Dec/2026:05:00:00 +0000",
        "timeEpoch": 1796533200000,
    }
    if arn:
        context["authorizer"] = {
            "iam": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AROAEXAMPLE:i-0abc123",
                "userArn": arn,
                "userId": "AROAEXAMPLE:i-0abc123",
            }
        }
    payload = json.dumps(body).encode() if body is not None else b""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": context["domainName"],
            "authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/...",
        },
        "requestContext": context,
        "body": base64.b64encode(payload).decode(),
        "isBase64Encoded": True,
    }


@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PkiHome]:
    home = make_home(tmp_path / "home")
    settings = tmp_path / "certsight.toml"
    settings.write_text(SETTINGS)
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(home.home.pki.root))
    monkeypatch.setenv("CERTSIGHT_STORE", str(home.home.pki.store))
    monkeypatch.setenv("CERTSIGHT_CRLS", str(home.home.pki.crl_dir))
    monkeypatch.setenv("CERTSIGHT_SETTINGS", str(settings))
    monkeypatch.setenv("CERTSIGHT_ISSUANCE_STATE", str(tmp_path / "state"))
    lambda_handler.reset_for_tests()
    yield home
    lambda_handler.reset_for_tests()


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = lambda_handler.api_handler(event, None)
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], json.loads(body or "{}"), response.get("headers", {})


def test_an_iam_principal_issues_within_its_policy(
    lambda_env: PkiHome, caplog: pytest.LogCaptureFixture
) -> None:
    csr, _ = make_csr(["app1.web.corp.example"])
    status, body, _ = call(function_url_event("POST", "/v1/certificates", {"csr": csr}))
    assert status == 201, body
    assert body["requester"] == "iam:web-agents" and body["names"] == ["app1.web.corp.example"]
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificates(body["chain"].encode())[0])
    # the issuance event is a JSON log record (CloudWatch Logs, then RAW)
    event = next(r for r in caplog.records if getattr(r, "serial", None) == body["serial"])
    assert event.getMessage() == "issued" and event.__dict__["requester"] == "iam:web-agents"

    csr, _ = make_csr(["db.corp.example"])
    status, body, _ = call(function_url_event("POST", "/v1/certificates", {"csr": csr}))
    assert status == 403 and body["rule"] == "grant"


def test_a_principal_without_a_policy_is_refused(lambda_env: PkiHome) -> None:
    csr, _ = make_csr(["app1.web.corp.example"])
    stranger = "arn:aws:sts::123456789012:assumed-role/other/x"
    for event in (
        function_url_event("POST", "/v1/certificates", {"csr": csr}, arn=stranger),
        function_url_event("POST", "/v1/certificates", {"csr": csr}, arn=None),
    ):
        status, body, _ = call(event)
        assert status == 401 and body["type"].endswith("unauthorized")


def test_a_scheduled_event_signs_the_crls(lambda_env: PkiHome) -> None:
    result = lambda_handler.handler({"source": "aws.scheduler"}, None)
    assert set(result["crls"]) >= {"issuing-ca"}
