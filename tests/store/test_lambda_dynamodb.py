"""The production shape: the Lambda handler answering from DynamoDB (moto's real HTTP API)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from responders import lambda_handler
from responders.pki.operations import issue_to_files, revoke_serial
from responders.pki.reasons import RevocationReason
from responders.store.dynamodb import DynamoDbStore
from tests.conftest import make_home
from tests.responders.test_lambda import FakeContext, ocsp_response_of, v2_event
from tests.responders.test_ocsp_core import load, request_der


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def handler_env(
    dynamo_store: DynamoDbStore, table_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = make_home(tmp_path / "home")
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(home.home.pki.root))
    monkeypatch.setenv("CERTSIGHT_STORE", f"dynamodb://{table_name}")
    monkeypatch.setenv("CERTSIGHT_POLL_SECONDS", "0.2")
    lambda_handler.reset_for_tests()
    yield home.home.root
    lambda_handler.reset_for_tests()


def test_lambda_answers_from_dynamodb(handler_env: Path, dynamo_store: DynamoDbStore) -> None:
    from certsight.settings import Home

    home = Home(handler_env)
    issued = {}
    for name in ("api.example.test", "old.example.test"):
        files = issue_to_files(
            layout=home.pki,
            store=dynamo_store,
            raw_dir=home.raw,
            clock=utc_now,
            common_name=name,
            sans=[name],
            days=10,
            out_dir=home.root / "ddb-certs",
        )
        issued[name] = files
    revoke_serial(
        store=dynamo_store,
        raw_dir=home.raw,
        clock=utc_now,
        serial=issued["old.example.test"].issued.record.serial,
        reason=RevocationReason.superseded,
    )

    issuer = load(home.pki.issuing_cert)

    def post_for(name: str) -> dict[str, object]:
        data = request_der(load(issued[name].certificate), issuer)
        return v2_event("POST", "/ocsp", data)

    good = ocsp_response_of(lambda_handler.handler(post_for("api.example.test"), FakeContext()))
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    old = ocsp_response_of(lambda_handler.handler(post_for("old.example.test"), FakeContext()))
    assert old.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert old.revocation_reason is x509.ReasonFlags.superseded

    # A revocation written to DynamoDB reaches the warm container.
    revoke_serial(
        store=dynamo_store,
        raw_dir=home.raw,
        clock=utc_now,
        serial=issued["api.example.test"].issued.record.serial,
        reason=RevocationReason.keyCompromise,
    )
    status = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = ocsp_response_of(
            lambda_handler.handler(post_for("api.example.test"), FakeContext())
        )
        status = answer.certificate_status
        if status is ocsp.OCSPCertStatus.REVOKED:
            break
        time.sleep(0.1)
    assert status is ocsp.OCSPCertStatus.REVOKED

    crl_reply = lambda_handler.handler(v2_event("GET", "/crl/issuing-ca.crl"), FakeContext())
    assert crl_reply["statusCode"] == 200
    import base64

    crl = x509.load_der_x509_crl(base64.b64decode(crl_reply["body"]))
    listed = {entry.serial_number for entry in crl}
    assert {issued[n].issued.certificate.serial_number for n in issued} <= listed
    assert not (home.pki.crl_dir / "issuing-ca.crl").exists()  # Lambda writes no files
