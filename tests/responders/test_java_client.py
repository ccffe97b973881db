"""A real Java PKIX client validating certificates against a running ``certsight serve``.

Java's ``PKIXRevocationChecker`` is one of the strict OCSP clients certsight must satisfy:
it checks the delegated signer (id-kp-OCSPSigning, issued by the CA), the CertID, the
validity window and the reason code. With NO_FALLBACK and without SOFT_FAIL, any answer
it cannot use fails the validation, so a pass here means the responses are right.

Observed on OpenJDK 17: requests that encode to at most 255 characters (all of ours: a
SHA-1 CertID without nonce is 83 octets) are sent as GET ``<responder>/<urlencoded base64>``,
with ``java.net.URLEncoder`` percent-encoding ``/``, ``+`` and ``=``; never as POST.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.x509 import ocsp

from tests.conftest import PkiHome, RunningServer, free_port

pytestmark = pytest.mark.slow

JAVA_CLASS = "OcspCheck"
JAVA_SOURCE = """\
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URI;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateRevokedException;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/** Usage: OcspCheck LEAF.pem ISSUING.pem ROOT.pem OCSP_URL; exit 0 valid, 3 revoked, 1 else. */
public final class OcspCheck {
    private static X509Certificate load(CertificateFactory factory, String path)
            throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) factory.generateCertificate(in);
        }
    }

    public static void main(String[] args) {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            X509Certificate leaf = load(factory, args[0]);
            X509Certificate issuing = load(factory, args[1]);
            X509Certificate root = load(factory, args[2]);
            CertPath path = factory.generateCertPath(List.of(leaf, issuing));
            CertPathValidator validator = CertPathValidator.getInstance("PKIX");
            PKIXRevocationChecker checker =
                (PKIXRevocationChecker) validator.getRevocationChecker();
            checker.setOcspResponder(URI.create(args[3]));
            // No SOFT_FAIL: an unreachable or unusable responder fails the validation.
            checker.setOptions(EnumSet.of(
                PKIXRevocationChecker.Option.NO_FALLBACK,
                PKIXRevocationChecker.Option.ONLY_END_ENTITY));
            PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
            params.setRevocationEnabled(true);
            params.addCertPathChecker(checker);
            try {
                validator.validate(path, params);
            } catch (CertPathValidatorException e) {
                Throwable cause = e.getCause();
                if (e.getReason() == CertPathValidatorException.BasicReason.REVOKED
                        && cause instanceof CertificateRevokedException) {
                    CertificateRevokedException revoked = (CertificateRevokedException) cause;
                    System.out.println("REVOKED:" + revoked.getRevocationReason());
                    System.exit(3);
                }
                System.out.println("INVALID:" + e.getReason() + ":" + e.getMessage());
                System.exit(1);
            }
            System.out.println("VALID");
            System.exit(0);
        } catch (Exception e) {
            System.out.println("ERROR:" + e);
            System.exit(1);
        }
    }
}
"""


@dataclass(frozen=True)
class JavaOutcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def verdict(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip("a JDK (javac and java on PATH) is needed for the Java PKIX client test")
    folder = tmp_path_factory.mktemp("java")
    source = folder / f"{JAVA_CLASS}.java"
    source.write_text(JAVA_SOURCE)
    classes = folder / "classes"
    compiled = subprocess.run(
        [javac, "-d", str(classes), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    return classes


def run_java(classes: Path, home: PkiHome, certificate: Path, ocsp_url: str) -> JavaOutcome:
    java = shutil.which("java")
    assert java is not None
    done = subprocess.run(
        [
            java,
            "-cp",
            str(classes),
            JAVA_CLASS,
            str(certificate),
            str(home.pki / "issuing-ca.pem"),
            str(home.pki / "root-ca.pem"),
            ocsp_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return JavaOutcome(done.returncode, done.stdout, done.stderr)


def access_records(raw_ocsp: Path) -> Iterator[dict[str, Any]]:
    for batch in sorted(raw_ocsp.glob("dt=*/*.jsonl.gz")):
        for line in gzip.decompress(batch.read_bytes()).splitlines():
            if line.strip():
                record: dict[str, Any] = json.loads(line)
                yield record


def java_records_for(
    server: RunningServer, serial: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Access-log records of Java's requests about ``serial``, once the batch is on disk."""
    raw_ocsp = server.home.home.raw / "ocsp"
    deadline = time.monotonic() + timeout
    while True:
        found = [
            record
            for record in access_records(raw_ocsp)
            if str(record.get("user_agent") or "").startswith("Java/")
            and any(cert_id.get("serial") == serial for cert_id in record.get("cert_ids") or [])
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def expected_request_der(leaf_pem: Path, issuer_pem: Path) -> bytes:
    """The request Java builds: one SHA-1 CertID, no nonce, no extensions."""
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
    issuer = x509.load_pem_x509_certificate(issuer_pem.read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, SHA1()).build()
    return request.public_bytes(serialization.Encoding.DER)


def test_good_certificate_validates(java_classes: Path, server: RunningServer) -> None:
    outcome = run_java(java_classes, server.home, server.home.good, f"{server.url}/ocsp")
    assert outcome.verdict == "VALID", outcome
    assert outcome.returncode == 0, outcome


def test_revoked_certificate_is_rejected_with_its_reason(
    java_classes: Path, server: RunningServer
) -> None:
    outcome = run_java(java_classes, server.home, server.home.revoked, f"{server.url}/ocsp")
    assert outcome.verdict == "REVOKED:KEY_COMPROMISE", outcome
    assert outcome.returncode == 3, outcome


def test_unreachable_responder_fails_hard_without_soft_fail(
    java_classes: Path, server: RunningServer
) -> None:
    """The client is strict: without an answer it never reports VALID (guards the harness)."""
    dead_url = f"http://127.0.0.1:{free_port()}/ocsp"
    outcome = run_java(java_classes, server.home, server.home.good, dead_url)
    assert outcome.returncode == 1, outcome
    assert outcome.verdict.startswith("INVALID:UNDETERMINED_REVOCATION_STATUS"), outcome


@pytest.mark.parametrize(("which", "cert_status"), [("good", "good"), ("revoked", "revoked")])
def test_java_sends_percent_encoded_get(
    java_classes: Path, server: RunningServer, which: str, cert_status: str
) -> None:
    home = server.home
    certificate, serial = (
        (home.good, home.good_serial) if which == "good" else (home.revoked, home.revoked_serial)
    )
    outcome = run_java(java_classes, home, certificate, f"{server.url}/ocsp")
    assert outcome.returncode in (0, 3), outcome

    records = java_records_for(server, serial)
    assert records, f"no access-log record of Java's request for {serial} within 10 s"
    der = expected_request_der(certificate, home.pki / "issuing-ca.pem")
    b64 = base64.b64encode(der).decode("ascii")
    # java.net.URLEncoder: every base64 character but [A-Za-z0-9] is percent-encoded.
    expected_path = "/ocsp/" + quote(b64, safe="")
    for record in records:
        assert record["http_method"] == "GET", record
        assert record["path"] == expected_path, record
        assert record["request_bytes"] == 0, record
        assert record["http_status"] == 200, record
        assert record["response_status"] == "successful", record
        assert record["nonce"] is False, record
        assert [c["cert_status"] for c in record["cert_ids"]] == [cert_status], record
        assert [c["hash_algorithm"] for c in record["cert_ids"]] == ["sha1"], record
    path = records[0]["path"]
    encoded = path[len("/ocsp/") :]
    # Escapes are there exactly where base64 has them; none of / + = travels raw.
    assert not set("/+=") & set(encoded), path
    assert unquote(encoded) == b64
    assert ("%2F" in encoded) == ("/" in b64)
    assert ("%2B" in encoded) == ("+" in b64)
    assert ("%3D" in encoded) == ("=" in b64)
    if len(der) % 3:  # the usual 83-octet request always ends in base64 padding
        assert encoded.endswith("%3D"), path
    parsed = ocsp.load_der_ocsp_request(base64.b64decode(unquote(encoded)))
    assert format(parsed.serial_number, "x").zfill(len(serial)) == serial
