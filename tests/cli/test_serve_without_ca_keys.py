"""`certsight serve` on a validation host: the CA keys are out of its reach.

The issuance host keeps the CA keys and runs the CRL updater; the validation host has
the certificates, the OCSP signer's key and the stored CRLs only, and shares the
certificate store and the CRL location with issuance (DynamoDB and S3 in production; an
SQLite file and a folder here, through ``CERTSIGHT_STORE`` and ``CERTSIGHT_CRLS``).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from certsight.settings import Home
from tests.conftest import PkiHome, make_home, start_server
from tests.responders.test_http_server import http
from tests.responders.test_ocsp_core import load, request_der

pytestmark = pytest.mark.slow


def certsight(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certsight.cli", *args],
        env={**os.environ, **environment},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def listed(crl_der: bytes, serial: str) -> bool:
    crl = x509.load_der_x509_crl(crl_der)
    return crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None


def test_validation_host_serves_ocsp_and_stored_crls_without_ca_keys(tmp_path: Path) -> None:
    issuance = make_home(tmp_path / "issuance")
    shared = {
        "CERTSIGHT_STORE": str(issuance.home.pki.store),
        "CERTSIGHT_CRLS": str(issuance.home.pki.crl_dir),
    }
    validation_root = tmp_path / "validation"
    shutil.copytree(issuance.home.pki.root, validation_root / "pki")
    for key in ("issuing-ca.key", "root-ca.key"):
        (validation_root / "pki" / key).unlink()
    keys = sorted(p.name for p in (validation_root / "pki").glob("*.key"))
    assert keys == ["ocsp-signer.key", "root-ocsp-signer.key"]  # the delegated signers only
    validation = PkiHome(Home(validation_root), Path(), "", Path(), "")

    server = start_server(validation, environment=shared)
    try:
        issuer = load(issuance.home.pki.issuing_cert)
        encoded = base64.b64encode(request_der(load(issuance.good), issuer)).decode()
        _, _, body = http("GET", f"{server.url}/ocsp/{encoded}")
        assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
        _, _, crl_body = http("GET", f"{server.url}/crl/issuing-ca.crl")
        assert listed(crl_body, issuance.revoked_serial)
        assert not listed(crl_body, issuance.good_serial)

        # Issuance revokes and its CRL updater signs; the validation host serves both.
        environment = {**shared, "CERTSIGHT_HOME": str(issuance.home.root)}
        certsight("revoke", issuance.good_serial, "--reason", "superseded", environment=environment)
        certsight("crl", "update", environment=environment)
        deadline = time.monotonic() + 15
        while True:
            _, _, crl_body = http("GET", f"{server.url}/crl/issuing-ca.crl")
            _, _, body = http("GET", f"{server.url}/ocsp/{encoded}")
            status = ocsp.load_der_ocsp_response(body).certificate_status
            done = listed(crl_body, issuance.good_serial) and status is ocsp.OCSPCertStatus.REVOKED
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert listed(crl_body, issuance.good_serial)
        assert status is ocsp.OCSPCertStatus.REVOKED
    finally:
        assert server.stop() == 0
    stderr = server.stderr()
    assert "no CA keys" in stderr


def test_crl_update_refuses_without_the_ca_key(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    home.home.pki.issuing_key.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "certsight.cli", "crl", "update", "--home", str(home.home.root)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no issuing CA key" in done.stderr
