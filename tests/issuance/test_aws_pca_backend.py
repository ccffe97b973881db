"""The AWS Private CA backend over real HTTP: moto's ACM PCA server for the happy path,
and a loopback server answering with recorded AWS error shapes for the rest.

moto issues real certificates but always at once, never with an error AWS would give
(bad input raises Python errors there), so the asynchronous path and the error mapping
are tested against replies shaped like PCA's: the awsJson1_1 protocol, ``__type`` and
``message`` (or ``Message``) in the body, ``x-amzn-ErrorType`` and the HTTP status AWS
uses. Nothing is patched: botocore signs, sends, parses and retries as in production.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from issuance.backends import open_backend
from issuance.backends.aws_pca import AwsPcaBackend
from issuance.backends.aws_pca_shapes import (
    chain_above,
    idempotency_token,
    pca_serial,
    validity_for,
)
from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    CertificateOrder,
    Issued,
    Pending,
    SubmitResult,
)
from issuance.backends.settings import AwsPcaBackendSettings
from pki.identity import key_sha1
from pki.layout import PkiLayout
from pki.reasons import RevocationReason

if TYPE_CHECKING:
    from mypy_boto3_acm_pca import ACMPCAClient

ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
JSON_11 = "application/x-amz-json-1.1"
CA_ARN = (
    "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/"
    "11223344-1234-1122-2233-112233445566"
)
CERT_ARN = f"{CA_ARN}/certificate/6707447683a9b7f4055627ffd55cebcc"
OTHER_CA_CERT_ARN = (
    "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/"
    "99999999-1234-1122-2233-112233445566/certificate/6707447683a9b7f4055627ffd55cebcc"
)
# Distinctive credentials, so that a message echoing any of them would be caught.
KEY_ID = "AKIACERTSIGHTTEST777"
SECRET = "certsight/TestSecret+Key/0123456789abcdefABCD"
TOKEN = "certsight-session-token-FQoGZXIvYXdzEXAMPLE"


# -- shared helpers --------------------------------------------------------------------
def context(tmp_path: Path) -> BackendContext:
    return BackendContext(
        layout=PkiLayout(tmp_path / "pki"),
        state_dir=tmp_path / "state",
        clock=lambda: datetime.now(UTC),
    )


def make_csr(
    names: tuple[str, ...] = ("app.example.test",), *, with_sans: bool = True
) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    )
    if with_sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def make_order(
    csr: x509.CertificateSigningRequest,
    names: tuple[str, ...] = ("app.example.test",),
    *,
    request_id: str = "ord-0001",
    validity: timedelta = timedelta(days=30),
    ekus: tuple[str, ...] = ("serverAuth", "clientAuth"),
) -> CertificateOrder:
    return CertificateOrder(
        request_id=request_id,
        csr=csr,
        common_name=names[0],
        names=names,
        validity=validity,
        profile="web",
        ekus=ekus,
        requester="tester",
        now=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
    )


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def assert_chain_verifies(leaf: x509.Certificate, chain: tuple[x509.Certificate, ...]) -> None:
    """Each certificate is signed by the next one, and the last one by itself."""
    for child, parent in zip((leaf, *chain), (*chain, chain[-1]), strict=True):
        child.verify_directly_issued_by(parent)


def openssl_verify(
    tmp_path: Path, leaf: x509.Certificate, chain: tuple[x509.Certificate, ...]
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "root.pem").write_text(pem(chain[-1]))
    (tmp_path / "untrusted.pem").write_text(pem(*chain[:-1]) or pem(chain[-1]))
    (tmp_path / "leaf.pem").write_text(pem(leaf))
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "untrusted.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def backends() -> Iterator[list[AwsPcaBackend]]:
    """Backends made by a test, closed at its end (their connection pools included)."""
    made: list[AwsPcaBackend] = []
    yield made
    for backend in made:
        backend.close()


# == (a) the happy path against moto's ACM PCA server ===================================
@dataclass(frozen=True)
class MotoPca:
    client: ACMPCAClient
    root_arn: str
    issuing_arn: str
    issuing_cert_arn: str  # the issuing CA's own certificate, issued by the root CA
    root: x509.Certificate
    issuing: x509.Certificate


@pytest.fixture
def moto_pca(aws_env: str) -> Iterator[MotoPca]:
    """A two-level PCA hierarchy in moto: a root CA, and an issuing CA under it.

    moto puts CA extensions only into certificates made with the RootCACertificate
    template, so the root signs the issuing CA's CSR with that template: a CA certificate
    (basicConstraints CA, keyCertSign) issued by the root, which is what matters here."""
    client = boto3.client("acm-pca", region_name="us-east-1", endpoint_url=aws_env)

    def create(common_name: str, key_algorithm: Any, ca_type: Any) -> str:
        return client.create_certificate_authority(
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": key_algorithm,
                "SigningAlgorithm": "SHA256WITHRSA",
                "Subject": {"CommonName": common_name, "Organization": "certsight tests"},
            },
            CertificateAuthorityType=ca_type,
        )["CertificateAuthorityArn"]

    def sign_ca(by: str, ca_arn: str) -> tuple[str, str]:
        csr = client.get_certificate_authority_csr(CertificateAuthorityArn=ca_arn)["Csr"]
        arn = client.issue_certificate(
            CertificateAuthorityArn=by,
            Csr=csr.encode(),
            SigningAlgorithm="SHA256WITHRSA",
            TemplateArn=ROOT_TEMPLATE,
            Validity={"Value": 5, "Type": "YEARS"},
        )["CertificateArn"]
        certificate = client.get_certificate(CertificateAuthorityArn=by, CertificateArn=arn)
        return arn, certificate["Certificate"]

    root_arn = create("certsight test root", "RSA_2048", "ROOT")
    _, root_pem = sign_ca(root_arn, root_arn)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=root_arn, Certificate=root_pem.encode()
    )
    issuing_arn = create("certsight test issuing CA", "EC_prime256v1", "SUBORDINATE")
    issuing_cert_arn, issuing_pem = sign_ca(root_arn, issuing_arn)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=issuing_arn,
        Certificate=issuing_pem.encode(),
        CertificateChain=root_pem.encode(),
    )
    yield MotoPca(
        client=client,
        root_arn=root_arn,
        issuing_arn=issuing_arn,
        issuing_cert_arn=issuing_cert_arn,
        root=x509.load_pem_x509_certificate(root_pem.encode()),
        issuing=x509.load_pem_x509_certificate(issuing_pem.encode()),
    )
    client.close()


@pytest.fixture
def moto_backend(moto_pca: MotoPca, tmp_path: Path, backends: list[AwsPcaBackend]) -> AwsPcaBackend:
    """Built the way the service builds it, through the registry. No endpoint_url: the
    default chain (AWS_ENDPOINT_URL from ``aws_env``) leads to moto."""
    settings = AwsPcaBackendSettings(type="aws-pca", ca_arn=moto_pca.issuing_arn)
    backend = open_backend("pca-test", settings, context(tmp_path))
    assert isinstance(backend, AwsPcaBackend)
    backends.append(backend)
    return backend


def test_a_cryptography_csr_is_issued_under_the_pca_hierarchy(
    moto_pca: MotoPca, moto_backend: AwsPcaBackend, tmp_path: Path
) -> None:
    names = ("app.example.test", "www.app.example.test")
    csr = make_csr(names)

    result = moto_backend.submit(make_order(csr, names))

    assert isinstance(result, Issued)
    leaf = result.certificate
    assert leaf.public_key() == csr.public_key()
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(names)
    # moto's GetCertificate chain holds only the issuing CA: completed from the CA's own.
    assert result.chain == (moto_pca.issuing, moto_pca.root)
    assert_chain_verifies(leaf, result.chain)
    verified = openssl_verify(tmp_path, leaf, result.chain)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().endswith(": OK")


def test_an_openssl_req_csr_is_issued_and_verifies_with_openssl(
    moto_backend: AwsPcaBackend, tmp_path: Path
) -> None:
    name = "openssl.example.test"
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-out",
            str(tmp_path / "csr.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    csr = x509.load_pem_x509_csr((tmp_path / "csr.pem").read_bytes())

    result = moto_backend.submit(make_order(csr, (name,), request_id="ord-openssl"))

    assert isinstance(result, Issued)
    assert result.certificate.public_key() == csr.public_key()
    assert result.certificate.subject == csr.subject
    verified = openssl_verify(tmp_path, result.certificate, result.chain)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_poll_collects_an_issued_arn_and_refuses_other_cas_certificates(
    moto_pca: MotoPca, moto_backend: AwsPcaBackend
) -> None:
    csr = make_csr()
    arn = moto_pca.client.issue_certificate(
        CertificateAuthorityArn=moto_pca.issuing_arn,
        Csr=csr.public_bytes(serialization.Encoding.PEM),
        SigningAlgorithm="SHA256WITHRSA",
        Validity={"Value": 10, "Type": "DAYS"},
    )["CertificateArn"]

    result = moto_backend.poll(arn)

    assert isinstance(result, Issued)
    assert result.certificate.public_key() == csr.public_key()
    assert result.chain == (moto_pca.issuing, moto_pca.root)
    # The issuing CA's own certificate is real, but the root CA's: not this CA's to give.
    for foreign in (
        moto_pca.issuing_cert_arn,
        f"{arn}/../x",
        moto_pca.issuing_arn,
        "not-an-arn",
    ):
        with pytest.raises(BackendRefusedError, match="not a certificate of this CA"):
            moto_backend.poll(foreign)


def test_revoke_reaches_pca_with_the_serial_and_reason(
    moto_pca: MotoPca, moto_backend: AwsPcaBackend, local_ca: LocalCa
) -> None:
    from moto.acmpca.models import acmpca_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    result = moto_backend.submit(make_order(make_csr(), request_id="ord-revoke"))
    assert isinstance(result, Issued)

    moto_backend.revoke(result.certificate, RevocationReason.keyCompromise)

    # moto has no API that lists revocations; its server runs in this process.
    authority = acmpca_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].certificate_authorities[
        moto_pca.issuing_arn
    ]
    serial = pca_serial(result.certificate.serial_number)
    assert authority.revoked_certificates[serial]["revocation_reason"] == "KEY_COMPROMISE"
    # A certificate of another CA is not this CA's to revoke.
    other = local_ca.sign(make_csr())
    with pytest.raises(BackendRefusedError, match="not issued by this CA"):
        moto_backend.revoke(other, RevocationReason.superseded)
    assert pca_serial(other.serial_number) not in authority.revoked_certificates


def test_describe_and_chain_come_from_the_ca(
    moto_pca: MotoPca, moto_backend: AwsPcaBackend
) -> None:
    assert moto_backend.chain() == (moto_pca.issuing, moto_pca.root)
    described = moto_backend.describe()
    assert described == {
        "name": "pca-test",
        "type": "aws-pca",
        "ca_arn": moto_pca.issuing_arn,
        "subject": moto_pca.issuing.subject.rfc4514_string(),
        "issuer_key_sha1": key_sha1(moto_pca.issuing),
        "not_after": moto_pca.issuing.not_valid_after_utc.isoformat(),
        "status": "ACTIVE",
    }


# == (b) recorded AWS shapes over real HTTP ==============================================
Reply = tuple[int, dict[str, str], bytes]


def ok(payload: dict[str, Any]) -> Reply:
    return 200, {"Content-Type": JSON_11}, json.dumps(payload).encode()


def aws_error(status: int, code: str, message: str = "", *, message_key: str = "message") -> Reply:
    """An awsJson1_1 error as PCA sends it: ``__type`` (sometimes with a namespace),
    the message under ``message`` or ``Message``, and the type in ``x-amzn-ErrorType``."""
    body: dict[str, str] = {"__type": code}
    if message:
        body[message_key] = message
    short = code.rsplit("#", 1)[-1]
    headers = {
        "Content-Type": JSON_11,
        "x-amzn-ErrorType": f"{short}:http://internal.amazon.com/coral/com.amazonaws.acmpca/",
    }
    return status, headers, json.dumps(body).encode()


IN_PROGRESS = aws_error(
    400,
    "RequestInProgressException",
    f"The request to issue certificate {CERT_ARN} is still in progress. Try again later.",
)
THROTTLED = aws_error(400, "ThrottlingException", "Rate exceeded")
LIMIT = aws_error(
    400,
    "LimitExceededException",
    "The maximum number of IssueCertificate requests per second for this account has "
    "been exceeded.",
)
INVALID_STATE = aws_error(
    400,
    "InvalidStateException",
    "The current state of the private CA is not valid or does not permit the requested operation.",
)
REQUEST_FAILED = aws_error(400, "RequestFailedException", "The request has failed.")
INTERNAL = aws_error(500, "InternalFailure", "An internal error has occurred.")
GATEWAY = (503, {"Content-Type": "text/html"}, b"<html><body>503 Service Unavailable</body></html>")
MALFORMED_CSR = aws_error(400, "MalformedCSRException", "The CSR signature is invalid.")
INVALID_ARGS = aws_error(
    400, "InvalidArgsException", "The validity period is longer than the CA certificate's."
)
INVALID_ARN = aws_error(400, "InvalidArnException", f"Invalid ARN: {CA_ARN}x")
NOT_FOUND = aws_error(400, "ResourceNotFoundException", f"Could not find resource {CA_ARN}")
ACCESS_DENIED = aws_error(
    400,
    "com.amazon.coral.service#AccessDeniedException",
    "User: arn:aws:sts::111122223333:assumed-role/certsight-issuer/i-0123456789abcdef0 is "
    f"not authorized to perform: acm-pca:IssueCertificate on resource: {CA_ARN} because no "
    "identity-based policy allows the acm-pca:IssueCertificate action",
    message_key="Message",
)
UNRECOGNIZED = aws_error(
    400, "UnrecognizedClientException", "The security token included in the request is invalid."
)
ALREADY_REVOKED = aws_error(
    400, "RequestAlreadyProcessedException", "The certificate has already been revoked."
)


class RecordedPca:
    """A loopback HTTP server speaking PCA's JSON protocol with scripted replies.

    ``answer(operation, *replies)`` queues replies for one operation (``X-Amz-Target:
    ACMPrivateCA.<operation>``); the last one repeats. Every request is kept, decoded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval: shutdown() waits up to one interval for the loop to notice.
        serve = partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, operation: str, *replies: Reply) -> None:
        with self._lock:
            self._replies[operation] = list(replies)

    def bodies(self, operation: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for name, body in self.requests if name == operation]

    def _reply(self, operation: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append((operation, body))
            queue = self._replies.get(operation)
            if not queue:
                return aws_error(404, "UnknownOperationException")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                status, headers, body = recorded._reply(
                    target.removeprefix("ACMPrivateCA."), json.loads(raw or b"{}")
                )
                self.send_response(status)
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test output is for assertions."""

        return Handler


@dataclass(frozen=True)
class LocalCa:
    """A root and an issuing CA made here, to sign what the recorded server returns."""

    root: x509.Certificate
    issuing: x509.Certificate
    issuing_key: ec.EllipticCurvePrivateKey

    def sign(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        return _certificate(
            csr.subject, csr.public_key(), self.issuing.subject, self.issuing_key, ca=False
        )


def _certificate(
    subject: x509.Name, public_key: Any, issuer: x509.Name, key: Any, *, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def local_ca() -> LocalCa:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorded root")])
    root = _certificate(root_name, root_key.public_key(), root_name, root_key, ca=True)
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorded issuing CA")])
    issuing = _certificate(issuing_name, issuing_key.public_key(), root_name, root_key, ca=True)
    return LocalCa(root=root, issuing=issuing, issuing_key=issuing_key)


@pytest.fixture
def credentials(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recognisable credentials in the default chain (and no real AWS config)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


@pytest.fixture
def recorded(credentials: None, local_ca: LocalCa) -> Iterator[RecordedPca]:
    """The recorded server, with a healthy EC P-256 CA behind it until a test says else."""
    server = RecordedPca()
    server.start()
    server.answer(
        "DescribeCertificateAuthority",
        ok(
            {
                "CertificateAuthority": {
                    "Arn": CA_ARN,
                    "Status": "ACTIVE",
                    "Type": "SUBORDINATE",
                    "CertificateAuthorityConfiguration": {
                        "KeyAlgorithm": "EC_prime256v1",
                        "SigningAlgorithm": "SHA256WITHECDSA",
                        "Subject": {"CommonName": "recorded issuing CA"},
                    },
                }
            }
        ),
    )
    server.answer(
        "GetCertificateAuthorityCertificate",
        ok({"Certificate": pem(local_ca.issuing), "CertificateChain": pem(local_ca.root)}),
    )
    server.answer("IssueCertificate", ok({"CertificateArn": CERT_ARN}))
    yield server
    server.stop()


MakeBackend = Callable[..., AwsPcaBackend]


@pytest.fixture
def make_backend(
    recorded: RecordedPca, tmp_path: Path, backends: list[AwsPcaBackend]
) -> MakeBackend:
    """A backend on the recorded server: one attempt per call, so nothing waits."""

    def make(**fields: Any) -> AwsPcaBackend:
        values: dict[str, Any] = {
            "type": "aws-pca",
            "ca_arn": CA_ARN,
            "endpoint_url": recorded.url,
            "max_attempts": 1,
            "wait_seconds": 0.0,
            "poll_seconds": 7,
            **fields,
        }
        settings = AwsPcaBackendSettings(**values)
        backend = AwsPcaBackend.from_settings("pca-recorded", settings, context(tmp_path))
        backends.append(backend)
        return backend

    return make


def test_submit_answers_pending_while_pca_works_and_poll_collects_it(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    csr = make_csr()
    backend = make_backend()
    recorded.answer("GetCertificate", IN_PROGRESS)

    pending = backend.submit(make_order(csr))

    assert pending == Pending(reference=CERT_ARN, retry_after=7)
    assert isinstance(backend.poll(CERT_ARN), Pending)  # still in progress
    leaf = local_ca.sign(csr)
    recorded.answer(
        "GetCertificate",
        ok({"Certificate": pem(leaf), "CertificateChain": pem(local_ca.issuing, local_ca.root)}),
    )
    collected = backend.poll(CERT_ARN)
    assert collected == Issued(certificate=leaf, chain=(local_ca.issuing, local_ca.root))
    # What PCA was asked for.
    (issue,) = recorded.bodies("IssueCertificate")
    assert issue["CertificateAuthorityArn"] == CA_ARN
    assert base64.b64decode(issue["Csr"]) == csr.public_bytes(serialization.Encoding.PEM)
    assert issue["SigningAlgorithm"] == "SHA256WITHECDSA"  # from the CA's EC_prime256v1 key
    assert issue["Validity"] == {"Value": 30, "Type": "DAYS"}
    assert issue["TemplateArn"] == "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
    assert issue["IdempotencyToken"] == idempotency_token(make_order(csr))
    assert "ApiPassthrough" not in issue
    assert all(
        body == {"CertificateAuthorityArn": CA_ARN, "CertificateArn": CERT_ARN}
        for body in recorded.bodies("GetCertificate")
    )


def test_submit_waits_through_in_progress_replies_within_wait_seconds(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    csr = make_csr()
    leaf = local_ca.sign(csr)
    # The chain root first: the backend orders it by issuer, not by position.
    recorded.answer(
        "GetCertificate",
        IN_PROGRESS,
        IN_PROGRESS,
        ok({"Certificate": pem(leaf), "CertificateChain": pem(local_ca.root, local_ca.issuing)}),
    )
    backend = make_backend(wait_seconds=30.0)

    result = backend.submit(make_order(csr))

    assert result == Issued(certificate=leaf, chain=(local_ca.issuing, local_ca.root))
    assert len(recorded.bodies("GetCertificate")) == 3


@pytest.mark.parametrize("chain_text", ["", "root only"])
def test_a_chain_without_the_issuing_ca_is_completed_from_the_ca(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa, chain_text: str
) -> None:
    csr = make_csr()
    leaf = local_ca.sign(csr)
    chain = pem(local_ca.root) if chain_text else ""
    recorded.answer("GetCertificate", ok({"Certificate": pem(leaf), "CertificateChain": chain}))

    result = make_backend().submit(make_order(csr))

    assert isinstance(result, Issued)
    assert result.chain == (local_ca.issuing, local_ca.root)
    assert_chain_verifies(result.certificate, result.chain)


def test_a_root_ca_chain_of_only_itself_is_complete(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    csr = make_csr()
    key = ec.generate_private_key(ec.SECP256R1())  # a root CA that issues directly
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorded root CA issuing")])
    root = _certificate(name, key.public_key(), name, key, ca=True)
    leaf = _certificate(csr.subject, csr.public_key(), name, key, ca=False)
    recorded.answer("GetCertificate", ok({"Certificate": pem(leaf), "CertificateChain": pem(root)}))

    result = make_backend().submit(make_order(csr))

    assert result == Issued(certificate=leaf, chain=(root,))
    assert recorded.bodies("GetCertificateAuthorityCertificate") == []


ISSUE_ERRORS = [
    pytest.param(THROTTLED, BackendUnavailableError, "ThrottlingException", id="throttled"),
    pytest.param(LIMIT, BackendUnavailableError, "LimitExceededException", id="quota"),
    pytest.param(INVALID_STATE, BackendUnavailableError, "InvalidStateException", id="ca-state"),
    pytest.param(REQUEST_FAILED, BackendUnavailableError, "RequestFailedException", id="failed"),
    pytest.param(INTERNAL, BackendUnavailableError, "InternalFailure", id="500"),
    pytest.param(GATEWAY, BackendUnavailableError, "503", id="503-html"),
    pytest.param(MALFORMED_CSR, BackendRefusedError, "MalformedCSRException", id="bad-csr"),
    pytest.param(INVALID_ARGS, BackendRefusedError, "InvalidArgsException", id="bad-args"),
    pytest.param(INVALID_ARN, BackendConfigError, "InvalidArnException", id="bad-arn"),
    pytest.param(NOT_FOUND, BackendConfigError, "ResourceNotFoundException", id="no-ca"),
    pytest.param(ACCESS_DENIED, BackendConfigError, "AccessDeniedException", id="denied"),
    pytest.param(UNRECOGNIZED, BackendConfigError, "UnrecognizedClientException", id="creds"),
]


def assert_safe_message(error: BackendError, code: str) -> None:
    """Names the backend and AWS's code; never a credential, nor who AWS said we are."""
    message = str(error)
    assert "pca-recorded" in message
    assert code in message
    for secret in (KEY_ID, SECRET, TOKEN, "assumed-role", "certsight-issuer"):
        assert secret not in message


@pytest.mark.parametrize(("reply", "expected", "code"), ISSUE_ERRORS)
def test_issue_certificate_errors_map_to_the_contract(
    recorded: RecordedPca,
    make_backend: MakeBackend,
    reply: Reply,
    expected: type[BackendError],
    code: str,
) -> None:
    recorded.answer("IssueCertificate", reply)

    with pytest.raises(BackendError) as caught:
        make_backend().submit(make_order(make_csr()))

    assert type(caught.value) is expected
    assert_safe_message(caught.value, code)
    assert len(recorded.bodies("IssueCertificate")) == 1  # max_attempts=1: no retry
    assert recorded.bodies("GetCertificate") == []


def test_a_refused_csr_carries_aws_explanation_to_the_requester(
    recorded: RecordedPca, make_backend: MakeBackend
) -> None:
    recorded.answer("IssueCertificate", MALFORMED_CSR)

    with pytest.raises(BackendRefusedError, match=r"The CSR signature is invalid\."):
        make_backend().submit(make_order(make_csr()))


def test_transient_retries_happen_inside_botocore_up_to_max_attempts(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    csr = make_csr()
    recorded.answer("IssueCertificate", INTERNAL, ok({"CertificateArn": CERT_ARN}))
    recorded.answer("GetCertificate", ok({"Certificate": pem(local_ca.sign(csr))}))

    result = make_backend(max_attempts=2).submit(make_order(csr))

    assert isinstance(result, Issued)
    assert len(recorded.bodies("IssueCertificate")) == 2


def test_describe_errors_on_the_way_to_the_signing_algorithm_map_too(
    recorded: RecordedPca, make_backend: MakeBackend
) -> None:
    recorded.answer("DescribeCertificateAuthority", ACCESS_DENIED)

    with pytest.raises(BackendConfigError) as caught:
        make_backend().submit(make_order(make_csr()))

    assert_safe_message(caught.value, "AccessDeniedException")
    assert recorded.bodies("IssueCertificate") == []


def test_a_closed_port_is_unavailable(credentials: None, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = AwsPcaBackendSettings(
        type="aws-pca",
        ca_arn=CA_ARN,
        endpoint_url=f"http://127.0.0.1:{port}",
        signing_algorithm="SHA256WITHECDSA",
        max_attempts=1,
    )
    backend = AwsPcaBackend.from_settings("pca-recorded", settings, context(tmp_path))
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            backend.submit(make_order(make_csr()))
        assert_safe_message(caught.value, "EndpointConnectionError")
        assert backend.describe()["status"] == "unknown (EndpointConnectionError)"
        assert "error" in backend.describe()
    finally:
        backend.close()


def test_an_endpoint_that_never_answers_is_unavailable(credentials: None, tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections (backlog) and never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        settings = AwsPcaBackendSettings(
            type="aws-pca",
            ca_arn=CA_ARN,
            endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
            signing_algorithm="SHA256WITHECDSA",
            max_attempts=1,
            read_timeout_seconds=0.5,
        )
        backend = AwsPcaBackend.from_settings("pca-recorded", settings, context(tmp_path))
        try:
            with pytest.raises(BackendUnavailableError) as caught:
                backend.submit(make_order(make_csr()))
        finally:
            backend.close()
    assert_safe_message(caught.value, "ReadTimeoutError")


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        pytest.param(THROTTLED, Pending, id="throttled-stays-pending"),
        pytest.param(INTERNAL, Pending, id="500-stays-pending"),
        pytest.param(REQUEST_FAILED, BackendUnavailableError, id="pca-gave-up"),
        pytest.param(NOT_FOUND, BackendRefusedError, id="unknown-certificate"),
        pytest.param(ACCESS_DENIED, BackendConfigError, id="denied"),
    ],
)
def test_get_certificate_errors_after_pca_accepted_the_order(
    recorded: RecordedPca, make_backend: MakeBackend, reply: Reply, outcome: type[object]
) -> None:
    """Once IssueCertificate said yes, a transient error must not send the order to the
    next CA (it would be issued twice): it stays pending, for submit and poll alike."""
    recorded.answer("GetCertificate", reply)
    backend = make_backend()

    calls: list[Callable[[], SubmitResult]] = [
        partial(backend.submit, make_order(make_csr())),
        partial(backend.poll, CERT_ARN),
    ]
    for call in calls:
        if outcome is Pending:
            assert call() == Pending(reference=CERT_ARN, retry_after=7)
        else:
            with pytest.raises(BackendError) as caught:
                call()
            assert type(caught.value) is outcome
            assert "pca-recorded" in str(caught.value)


def test_poll_refuses_references_of_other_cas_without_asking(
    recorded: RecordedPca, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    for reference in (OTHER_CA_CERT_ARN, CA_ARN, f"{CERT_ARN}/x", "", "6707447683a9b7f4"):
        with pytest.raises(BackendRefusedError, match="not a certificate of this CA"):
            backend.poll(reference)
    assert recorded.bodies("GetCertificate") == []


@pytest.mark.parametrize(
    ("reason", "pca_reason"),
    [
        (RevocationReason.unspecified, "UNSPECIFIED"),
        (RevocationReason.keyCompromise, "KEY_COMPROMISE"),
        (RevocationReason.cACompromise, "CERTIFICATE_AUTHORITY_COMPROMISE"),
        (RevocationReason.affiliationChanged, "AFFILIATION_CHANGED"),
        (RevocationReason.superseded, "SUPERSEDED"),
        (RevocationReason.cessationOfOperation, "CESSATION_OF_OPERATION"),
        (RevocationReason.privilegeWithdrawn, "PRIVILEGE_WITHDRAWN"),
        (RevocationReason.aACompromise, "A_A_COMPROMISE"),
    ],
)
def test_revoke_sends_the_serial_in_colon_hex_and_pca_reason_names(
    recorded: RecordedPca,
    make_backend: MakeBackend,
    local_ca: LocalCa,
    reason: RevocationReason,
    pca_reason: str,
) -> None:
    leaf = local_ca.sign(make_csr())
    recorded.answer("RevokeCertificate", ok({}))

    make_backend().revoke(leaf, reason)

    (body,) = recorded.bodies("RevokeCertificate")
    assert body == {
        "CertificateAuthorityArn": CA_ARN,
        "CertificateSerial": pca_serial(leaf.serial_number),
        "RevocationReason": pca_reason,
    }
    assert int(body["CertificateSerial"].replace(":", ""), 16) == leaf.serial_number


def test_revoke_outcomes(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    leaf = local_ca.sign(make_csr())
    backend = make_backend()
    # Already revoked at PCA: what the caller wants is true, so no error.
    recorded.answer("RevokeCertificate", ALREADY_REVOKED)
    backend.revoke(leaf, RevocationReason.keyCompromise)
    # PCA revocation is final: no hold, and nothing to take off a CRL.
    for reason in (RevocationReason.certificateHold, RevocationReason.removeFromCRL):
        with pytest.raises(BackendRefusedError, match=reason.name):
            backend.revoke(leaf, reason)
    recorded.answer("RevokeCertificate", INVALID_STATE)
    with pytest.raises(BackendUnavailableError) as caught:
        backend.revoke(leaf, RevocationReason.superseded)
    assert_safe_message(caught.value, "InvalidStateException")
    assert len(recorded.bodies("RevokeCertificate")) == 2


def test_api_passthrough_puts_the_orders_names_and_ekus_into_the_request(
    recorded: RecordedPca, make_backend: MakeBackend
) -> None:
    recorded.answer("GetCertificate", IN_PROGRESS)
    names = ("app.example.test", "192.0.2.7", "2001:db8::7")
    order = make_order(make_csr(names[:1], with_sans=False), names, ekus=("clientAuth",))

    make_backend(api_passthrough=True).submit(order)

    (issue,) = recorded.bodies("IssueCertificate")
    assert issue["TemplateArn"] == (
        "arn:aws:acm-pca:::template/EndEntityCertificate_APIPassthrough/V1"
    )
    assert issue["ApiPassthrough"] == {
        "Extensions": {
            "SubjectAlternativeNames": [
                {"DnsName": "app.example.test"},
                {"IpAddress": "192.0.2.7"},
                {"IpAddress": "2001:db8::7"},
            ],
            "ExtendedKeyUsage": [{"ExtendedKeyUsageType": "CLIENT_AUTH"}],
        }
    }


def test_api_passthrough_with_a_template_that_ignores_it_is_a_config_error(
    make_backend: MakeBackend,
) -> None:
    with pytest.raises(BackendConfigError, match="APIPassthrough template"):
        make_backend(
            api_passthrough=True,
            template_arn="arn:aws:acm-pca:::template/EndEntityCertificate/V1",
        )
    make_backend(
        api_passthrough=True,
        template_arn="arn:aws:acm-pca:::template/BlankEndEntityCertificate_APICSRPassthrough/V1",
    )


@pytest.mark.parametrize(
    ("key_algorithm", "signing_algorithm"),
    [
        ("EC_prime256v1", "SHA256WITHECDSA"),
        ("EC_secp384r1", "SHA384WITHECDSA"),
        ("RSA_2048", "SHA256WITHRSA"),
        ("RSA_4096", "SHA256WITHRSA"),
    ],
)
def test_the_signing_algorithm_follows_the_ca_key_and_is_read_once(
    recorded: RecordedPca, make_backend: MakeBackend, key_algorithm: str, signing_algorithm: str
) -> None:
    recorded.answer(
        "DescribeCertificateAuthority",
        ok(
            {
                "CertificateAuthority": {
                    "Arn": CA_ARN,
                    "Status": "ACTIVE",
                    "CertificateAuthorityConfiguration": {
                        "KeyAlgorithm": key_algorithm,
                        "SigningAlgorithm": signing_algorithm,
                        "Subject": {"CommonName": "recorded issuing CA"},
                    },
                }
            }
        ),
    )
    recorded.answer("GetCertificate", IN_PROGRESS)
    backend = make_backend()

    backend.submit(make_order(make_csr(), request_id="one"))
    backend.submit(make_order(make_csr(), request_id="two"))

    assert [b["SigningAlgorithm"] for b in recorded.bodies("IssueCertificate")] == [
        signing_algorithm,
        signing_algorithm,
    ]
    assert len(recorded.bodies("DescribeCertificateAuthority")) == 1


def test_a_configured_signing_algorithm_needs_no_describe(
    recorded: RecordedPca, make_backend: MakeBackend
) -> None:
    recorded.answer("GetCertificate", IN_PROGRESS)

    make_backend(signing_algorithm="SHA384WITHECDSA").submit(make_order(make_csr()))

    assert recorded.bodies("IssueCertificate")[0]["SigningAlgorithm"] == "SHA384WITHECDSA"
    assert recorded.bodies("DescribeCertificateAuthority") == []


def test_chain_and_describe_read_the_ca_once(
    recorded: RecordedPca, make_backend: MakeBackend, local_ca: LocalCa
) -> None:
    backend = make_backend()

    assert backend.chain() == (local_ca.issuing, local_ca.root)
    assert backend.chain() == (local_ca.issuing, local_ca.root)
    described = backend.describe()
    backend.describe()

    assert described["issuer_key_sha1"] == key_sha1(local_ca.issuing)
    assert described["status"] == "ACTIVE"
    assert len(recorded.bodies("GetCertificateAuthorityCertificate")) == 1
    assert len(recorded.bodies("DescribeCertificateAuthority")) == 1


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"ca_arn": "arn:aws:acm:us-east-1:111122223333:certificate/abc"}, "not an AWS Private"),
        ({"ca_arn": f"{CA_ARN}/certificate/abc"}, "not an AWS Private CA ARN"),
        ({"signing_algorithm": "SHA256withRSA"}, "unknown signing_algorithm"),
    ],
)
def test_settings_that_cannot_work_are_config_errors(
    make_backend: MakeBackend, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(BackendConfigError, match=match):
        make_backend(**fields)


def test_request_shapes() -> None:
    """Validity, idempotency token and serial in the forms PCA takes."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert validity_for(timedelta(days=90), now) == {"Value": 90, "Type": "DAYS"}
    assert validity_for(timedelta(hours=6), now) == {"Value": 20260301180000, "Type": "END_DATE"}
    with pytest.raises(BackendRefusedError):
        validity_for(timedelta(0), now)
    csr = make_csr()
    token = idempotency_token(make_order(csr))
    assert len(token) <= 36
    assert token == idempotency_token(make_order(csr))
    assert token != idempotency_token(make_order(make_csr()))
    assert token != idempotency_token(make_order(csr, request_id="ord-0002"))
    assert pca_serial(0x0A1B) == "0a:1b"
    assert pca_serial(0xFF) == "ff"
    assert pca_serial(0x1FF) == "01:ff"


def test_chain_above_ignores_strangers_and_order(local_ca: LocalCa) -> None:
    leaf = local_ca.sign(make_csr())
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    # Same name as the issuing CA, different key: it did not sign the leaf.
    impostor = _certificate(
        local_ca.issuing.subject,
        stranger_key.public_key(),
        local_ca.issuing.subject,
        stranger_key,
        ca=True,
    )
    pool = [local_ca.root, impostor, local_ca.issuing]
    assert chain_above(leaf, pool) == (local_ca.issuing, local_ca.root)
    assert chain_above(leaf, []) == ()
