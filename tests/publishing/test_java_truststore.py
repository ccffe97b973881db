"""The published PKCS#12 trust store in a real Java TLS client: it connects to
`openssl s_server` presenting a certificate obtained from certsight's issuance API (a
key made here, a CSR, the demo pipeline's token), trusting only the roots bundle, and
checks the certificate's status with OCSP against certsight's responder (no soft fail).
A revoked certificate of the same CA is refused by the same client: the check is real.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console

from certsight.demo_issuance import start_issuance, stop_issuance
from tests.conftest import PkiHome, RunningServer, free_port, make_home, start_server
from tests.publishing.helpers import certsight

pytestmark = pytest.mark.slow

JAVA_CLASS = "TlsCheck"
JAVA_SOURCE = """\
import java.io.FileInputStream;
import java.net.URI;
import java.security.KeyStore;
import java.security.cert.CertPathBuilder;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/** Usage: TlsCheck TRUSTSTORE.p12 PASSWORD PORT OCSP_URL; prints CONNECTED:subject or FAILED. */
public final class TlsCheck {
    public static void main(String[] args) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(args[0])) {
            trust.load(in, args[1].toCharArray());
        }
        PKIXBuilderParameters params = new PKIXBuilderParameters(trust, new X509CertSelector());
        PKIXRevocationChecker checker =
            (PKIXRevocationChecker) CertPathBuilder.getInstance("PKIX").getRevocationChecker();
        checker.setOcspResponder(URI.create(args[3]));
        checker.setOptions(EnumSet.of(
            PKIXRevocationChecker.Option.NO_FALLBACK,
            PKIXRevocationChecker.Option.ONLY_END_ENTITY));
        params.addCertPathChecker(checker);
        params.setRevocationEnabled(true);
        TrustManagerFactory factory = TrustManagerFactory.getInstance("PKIX");
        factory.init(new CertPathTrustManagerParameters(params));
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        try (SSLSocket socket =
                (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1",
                    Integer.parseInt(args[2]))) {
            socket.startHandshake();
            X509Certificate peer = (X509Certificate) socket.getSession().getPeerCertificates()[0];
            System.out.println("CONNECTED:" + peer.getSubjectX500Principal().getName());
        } catch (Exception e) {
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            System.out.println("FAILED:" + root);
            System.exit(1);
        }
    }
}
"""


@dataclass(frozen=True)
class Services:
    home: PkiHome
    responder: RunningServer
    truststore: Path
    api_certificate: Path  # leaf and chain, PEM
    api_key: Path


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac = shutil.which("javac")
    if javac is None or shutil.which("java") is None:
        pytest.skip("a JDK (javac and java on PATH) is needed for the Java TLS client test")
    folder = tmp_path_factory.mktemp("java-tls")
    source = folder / f"{JAVA_CLASS}.java"
    source.write_text(JAVA_SOURCE)
    compiled = subprocess.run(
        [javac, "-d", str(folder), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    return folder


def _from_issuance_api(home: PkiHome, out: Path) -> tuple[Path, Path]:
    """A certificate from `certsight serve issuance`, for a key made here."""
    child = start_issuance(home.home, free_port(), Console(quiet=True))
    assert child is not None, "the issuance API did not start"
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        name = "tls.demo.internal"
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        reply = httpx.post(
            f"{child.url}/v1/certificates",
            json={"csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
            headers={"Authorization": f"Bearer {child.token_file.read_text().strip()}"},
            verify=ssl.create_default_context(cafile=str(home.home.pki.root_cert)),
            timeout=30,
        )
        assert reply.status_code == 201, reply.text
    finally:
        stop_issuance(child)
    body = reply.json()
    certificate, key_file = out / "api.pem", out / "api.key"
    certificate.write_text(body["certificate"] + body["chain"])
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate, key_file


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    home = make_home(tmp_path_factory.mktemp("java-tls-home"))
    certsight(home.home, "publish", "truststore", "--password", "trust-me")
    api_certificate, api_key = _from_issuance_api(home, tmp_path_factory.mktemp("api"))
    responder = start_server(home)  # after issuance: the responder reads the store at start
    try:
        yield Services(
            home,
            responder,
            home.home.root / "publish" / "truststore" / "roots.p12",
            api_certificate,
            api_key,
        )
    finally:
        responder.stop()


def _tls_check(classes: Path, services: Services, certificate: Path, key: Path) -> str:
    port = free_port()
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(certificate),
            "-key",
            str(key),
            "-cert_chain",
            str(certificate),
            "-quiet",
            "-naccept",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            f":{port} "
            not in subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=True).stdout
        ):  # a port probe would count as s_server's one accepted connection
            assert server.poll() is None and time.monotonic() < deadline, "s_server did not start"
            time.sleep(0.1)
        done = subprocess.run(
            [
                "java",
                "-cp",
                str(classes),
                JAVA_CLASS,
                str(services.truststore),
                "trust-me",
                str(port),
                f"{services.responder.url}/ocsp",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return (done.stdout.strip().splitlines() or [done.stderr])[-1]
    finally:
        server.kill()
        server.wait()


def test_java_trusts_the_published_store_and_checks_ocsp(
    java_classes: Path, services: Services
) -> None:
    verdict = _tls_check(java_classes, services, services.api_certificate, services.api_key)
    assert verdict == "CONNECTED:CN=tls.demo.internal", verdict


def test_a_revoked_certificate_of_the_same_ca_is_refused(
    java_classes: Path, services: Services
) -> None:
    home = services.home
    chain = home.home.certs / "revoked.example.test.chain.pem"
    verdict = _tls_check(
        java_classes, services, chain, home.home.certs / "revoked.example.test.key"
    )
    assert verdict.startswith("FAILED:") and "revoked" in verdict.lower(), verdict
