"""The issuance zip serves the issuance API from its unpacked contents alone: FastAPI,
pydantic's compiled core, Mangum and the rest come from the wheels it ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import make_home
from tests.issuance.support import make_csr
from tests.issuance.test_lambda_api import SETTINGS, function_url_event
from tests.lambda_sandbox import lambda_python

API_SCRIPT = """
import base64, json
from issuance import lambda_handler
response = lambda_handler.api_handler(json.loads(sys.argv[3]), None)
body = response["body"]
if response.get("isBase64Encoded"):
    body = base64.b64decode(body).decode()
print("RESULT " + json.dumps({"status": response["statusCode"], "body": json.loads(body)}))
"""


@pytest.mark.slow
def test_issuance_unit_issues_through_the_api_from_its_unpacked_zip(
    unpacked: dict[str, Path], runtime_dir: Path, tmp_path: Path
) -> None:
    home = make_home(tmp_path / "home")
    settings = tmp_path / "certsight.toml"
    settings.write_text(SETTINGS)
    csr, _ = make_csr(["zip.web.corp.example"])
    event = function_url_event("POST", "/v1/certificates", {"csr": csr})
    done = lambda_python(
        unpacked["issuance"],
        runtime_dir,
        API_SCRIPT,
        json.dumps(event),
        env={
            "CERTSIGHT_PKI_DIR": str(home.home.pki.root),
            "CERTSIGHT_STORE": str(home.home.pki.store),
            "CERTSIGHT_SETTINGS": str(settings),
            "CERTSIGHT_ISSUANCE_STATE": str(tmp_path / "state"),
        },
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == 201, result
    assert result["body"]["requester"] == "iam:web-agents"
    leaf = x509.load_pem_x509_certificate(result["body"]["certificate"].encode())
    issuing = x509.load_pem_x509_certificate(home.home.pki.issuing_cert.read_bytes())
    leaf.verify_directly_issued_by(issuing)
