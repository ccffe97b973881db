"""The production shape: the validation Lambda answering from DynamoDB, and the issuance
Lambda's CRL updater signing CRLs into S3 for it (moto's real HTTP APIs).

The validation function gets a ``pki`` folder without CA keys, as its deployment has."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from issuance import lambda_handler as issuance_lambda
from issuance.operations import issue_to_files, revoke_serial
from pki.reasons import RevocationReason
from pki.store.dynamodb import DynamoDbStore
from responders import lambda_handler
from tests.conftest import make_home
from tests.responders.test_crl_server import validation_only
from tests.responders.test_lambda import FakeContext, ocsp_response_of, v2_event
from tests.responders.test_ocsp_core import load, request_der


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def handler_env(
    dynamo_store: DynamoDbStore, table_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = make_home(tmp_path / "home")
    validation = validation_only(home, tmp_path / "validation-pki")
    boto3.session.Session().client("s3").create_bucket(Bucket="certsight-crls")
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(validation.root))
    monkeypatch.setenv("CERTSIGHT_STORE", f"dynamodb://{table_name}")
    monkeypatch.setenv("CERTSIGHT_CRLS", "s3://certsight-crls/crl")
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

    # No CRL is stored yet: the validation function has nothing to serve, and cannot sign.
    missing = lambda_handler.handler(v2_event("GET", "/crl/issuing-ca.crl"), FakeContext())
    assert missing["statusCode"] == 404

    # The issuance function's scheduled run signs with the CA key into S3.
    with pytest.MonkeyPatch.context() as issuance_env:
        issuance_env.setenv("CERTSIGHT_PKI_DIR", str(home.pki.root))
        signed = issuance_lambda.handler({"source": "aws.scheduler"}, FakeContext())
    assert set(signed["crls"]) == {"issuing-ca", "root-ca"}

    # The validation function re-checks the stored CRL once per second.
    deadline = time.monotonic() + 15
    while True:
        crl_reply = lambda_handler.handler(v2_event("GET", "/crl/issuing-ca.crl"), FakeContext())
        if crl_reply["statusCode"] == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert crl_reply["statusCode"] == 200
    crl = x509.load_der_x509_crl(base64.b64decode(crl_reply["body"]))
    listed = {entry.serial_number for entry in crl}
    assert {issued[n].issued.certificate.serial_number for n in issued} <= listed
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == signed["crls"]["issuing-ca"]["number"]
