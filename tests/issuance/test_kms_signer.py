"""The issuing CA's key in AWS KMS, as the signer object cryptography's builders call.

KMS is moto's real HTTP server on loopback (fixtures ``aws_env``, ``moto_endpoint``),
never patched functions. Two things moto cannot show are tested with a collaborator
injected into ``KmsSigner`` instead (``LocalKms``, a client object with KMS's ``Sign``
semantics over a local key):

- ``MessageType=DIGEST``: moto 5.2 hashes the digest again (moto PR 10202), so its
  DIGEST signatures verify only against sha256(digest); real KMS signs the digest as
  given. ``LocalKms`` signs DIGEST messages with ``Prehashed(SHA256)``, as KMS does.
- KMS errors moto never raises (it signs with disabled keys and is never throttled):
  ``LocalKms`` raises them in the shape botocore gives for real AWS answers.

Every signature is checked by cryptography and by the ``openssl`` command line.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from mypy_boto3_kms import KMSClient

from certsight.cli import main
from certsight.serving import can_sign_crls
from certsight.settings import Home
from issuance.backends.internal import InternalBackend
from issuance.hierarchy import init_ca
from issuance.signers import (
    RAW_MESSAGE_LIMIT,
    KmsOnlySignsError,
    KmsSigner,
    KmsSignerError,
    kms_client,
    open_issuing_signer,
)
from pki.keys import KeyType
from pki.layout import CaConfig, PkiLayout
from tests.conftest import free_port

PEM = serialization.Encoding.PEM
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
ARN = "arn:aws:kms:us-east-1:111122223333:key/{}"


# -- collaborators -------------------------------------------------------------------


def aws_error(code: str, message: str, operation: str) -> ClientError:
    """A KMS error as botocore raises it for a real AWS answer (HTTP 400, JSON body)."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": "b8e8a6d4-0000-4000-8000-000000000000",
                "HostId": "",
                "HTTPStatusCode": 400,
                "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
                "RetryAttempts": 0,
            },
        },
        operation,
    )


class LocalKms:
    """KMS's ``GetPublicKey`` and ``Sign`` over a local P-256 key, with real KMS rules:
    RAW messages of 1 to 4096 bytes, signed as ECDSA over their SHA-256; DIGEST
    messages of exactly 32 bytes, signed as given (``Prehashed``), not hashed again."""

    def __init__(
        self,
        *,
        key_spec: str = "ECC_NIST_P256",
        key_usage: str = "SIGN_VERIFY",
        sign_error: ClientError | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        # The key KMS actually signs with; another one models a key swapped behind an alias.
        self.signing_key = signing_key or self.key
        self.key_spec = key_spec
        self.key_usage = key_usage
        self.sign_error = sign_error
        self.signed: list[tuple[str, bytes]] = []  # (MessageType, Message) per Sign call

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]:
        return {
            "KeyId": ARN.format(KeyId),
            "PublicKey": self.key.public_key().public_bytes(*SPKI),
            "KeySpec": self.key_spec,
            "CustomerMasterKeySpec": self.key_spec,
            "KeyUsage": self.key_usage,
            "SigningAlgorithms": ["ECDSA_SHA_256"],
        }

    def sign(
        self, *, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str
    ) -> Mapping[str, Any]:
        self.signed.append((MessageType, Message))
        if self.sign_error is not None:
            raise self.sign_error
        assert SigningAlgorithm == "ECDSA_SHA_256"
        if MessageType == "RAW":
            if not 1 <= len(Message) <= 4096:
                raise aws_error("ValidationException", "Message: length at most 4096", "Sign")
            signature = self.signing_key.sign(Message, ec.ECDSA(hashes.SHA256()))
        else:
            if len(Message) != 32:
                raise aws_error("ValidationException", "Digest is invalid length", "Sign")
            signature = self.signing_key.sign(Message, ec.ECDSA(Prehashed(hashes.SHA256())))
        return {"KeyId": ARN.format(KeyId), "Signature": signature, "SigningAlgorithm": "x"}


class Recording:
    """A real boto3 client that notes each call made through it: how often the signer
    asks KMS, and with which message type, is behaviour worth asserting."""

    def __init__(self, client: KMSClient) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_public_key(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("GetPublicKey", kwargs))
        return self._client.get_public_key(**kwargs)

    def sign(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("Sign", kwargs))
        return self._client.sign(**kwargs)


# -- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
def kms(aws_env: str) -> KMSClient:
    return boto3.client("kms", region_name="us-east-1", endpoint_url=aws_env)


@pytest.fixture
def kms_key(kms: KMSClient) -> str:
    created = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    return created["KeyMetadata"]["KeyId"]


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ca_cert(
    subject: str, public: ec.EllipticCurvePublicKey, issuer: str, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


class Hierarchy:
    """Files for openssl: a local root that certifies a KMS signer's key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = ca_cert("Test Root", self.root_key.public_key(), "Test Root", self.root_key)
        self.root_pem = write(folder / "root.pem", self.root)
        self.issuing_pem = folder / "issuing.pem"
        self.bundle = folder / "bundle.pem"  # issuing CA then root: `openssl crl -CAfile`

    def certify(self, signer: KmsSigner) -> x509.Certificate:
        issuing = ca_cert("Test Issuing", signer.public_key(), "Test Root", self.root_key)
        write(self.issuing_pem, issuing)
        self.bundle.write_bytes(self.issuing_pem.read_bytes() + self.root_pem.read_bytes())
        return issuing


@pytest.fixture
def hierarchy(tmp_path: Path) -> Hierarchy:
    return Hierarchy(tmp_path)


def ec_public(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def write(path: Path, item: x509.Certificate | x509.CertificateRevocationList) -> Path:
    path.write_bytes(item.public_bytes(PEM))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def assert_openssl_verifies_cert(root: Path, issuing: Path, leaf: Path) -> None:
    done = openssl("verify", "-CAfile", root, "-untrusted", issuing, leaf)
    assert done.returncode == 0 and done.stdout.strip() == f"{leaf}: OK", done


def assert_openssl_verifies_crl(bundle: Path, crl: Path, inform: str = "PEM") -> None:
    done = openssl("crl", "-inform", inform, "-in", crl, "-CAfile", bundle, "-verify", "-noout")
    assert done.returncode == 0 and "verify OK" in done.stderr, done


def leaf_for(issuing: x509.Certificate, signer: KmsSigner) -> x509.Certificate:
    now = datetime.now(UTC)
    subject_key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(name("leaf.example.test"))
        .issuer_name(issuing.subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("leaf.example.test")]), critical=False
        )
        .sign(signer, hashes.SHA256())
    )


def crl_for(
    issuing: x509.Certificate, signer: KmsSigner, serials: range
) -> x509.CertificateRevocationList:
    now = datetime.now(UTC).replace(microsecond=0)
    revoked = [
        x509.RevokedCertificateBuilder(serial_number=s, revocation_date=now).build()
        for s in serials
    ]
    return x509.CertificateRevocationListBuilder(
        issuer_name=issuing.subject,
        last_update=now,
        next_update=now + timedelta(hours=24),
        extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1))],
        revoked_certificates=revoked,
    ).sign(signer, hashes.SHA256())


# -- against moto: GetPublicKey and RAW signatures -----------------------------------


def test_public_key_comes_from_kms_once(kms: KMSClient, kms_key: str) -> None:
    recording = Recording(kms)
    signer = KmsSigner.open(kms_key, client=recording)

    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    assert signer.public_key().public_bytes(*SPKI) == kms.get_public_key(KeyId=kms_key)["PublicKey"]
    assert isinstance(signer.curve, ec.SECP256R1)
    assert signer.key_size == 256
    for _ in range(3):
        signer.public_key()
    assert [call for call, _ in recording.calls] == ["GetPublicKey"]


def test_certificate_signed_in_kms_verifies(
    kms: KMSClient, kms_key: str, hierarchy: Hierarchy, tmp_path: Path
) -> None:
    recording = Recording(kms)
    signer = KmsSigner.open(kms_key, client=recording)
    issuing = hierarchy.certify(signer)

    leaf = leaf_for(issuing, signer)

    leaf.verify_directly_issued_by(issuing)
    assert_openssl_verifies_cert(
        hierarchy.root_pem, hierarchy.issuing_pem, write(tmp_path / "l", leaf)
    )
    [(call, sent)] = recording.calls[1:]
    assert (call, sent["MessageType"], sent["SigningAlgorithm"]) == ("Sign", "RAW", "ECDSA_SHA_256")
    assert sent["Message"] == leaf.tbs_certificate_bytes


def test_crl_signed_in_kms_verifies(
    kms: KMSClient, kms_key: str, hierarchy: Hierarchy, tmp_path: Path
) -> None:
    signer = KmsSigner.open(kms_key, client=kms)
    issuing = hierarchy.certify(signer)

    crl = crl_for(issuing, signer, range(1, 20))

    assert len(crl.tbs_certlist_bytes) <= RAW_MESSAGE_LIMIT  # RAW: moto signs it right
    assert crl.is_signature_valid(ec_public(issuing))
    assert_openssl_verifies_crl(hierarchy.bundle, write(tmp_path / "c.pem", crl))


def test_openssl_rejects_a_crl_from_another_key(
    kms: KMSClient, kms_key: str, hierarchy: Hierarchy, tmp_path: Path
) -> None:
    """The openssl check above can fail: a CRL under the same name but another key."""
    signer = KmsSigner.open(kms_key, client=kms)
    hierarchy.certify(signer)
    other = KmsSigner.open(
        kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"],
        client=kms,
    )
    impostor = ca_cert("Test Issuing", other.public_key(), "Test Root", hierarchy.root_key)

    crl = write(tmp_path / "c.pem", crl_for(impostor, other, range(1, 3)))

    done = openssl("crl", "-in", crl, "-CAfile", hierarchy.bundle, "-verify", "-noout")
    assert "verify OK" not in done.stderr, done


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("RSA_2048", "SIGN_VERIFY"), ("ECC_NIST_P384", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", None)],
)
def test_a_key_that_is_not_p256_for_signing_is_refused(
    kms: KMSClient, spec: Any, usage: Any
) -> None:
    args = {"KeySpec": spec} | ({"KeyUsage": usage} if usage else {})
    key_id = kms.create_key(**args)["KeyMetadata"]["KeyId"]

    with pytest.raises(KmsSignerError, match=rf"KMS key {key_id} is a {spec} key") as caught:
        KmsSigner.open(key_id, client=kms)

    assert "must be ECC_NIST_P256 with key usage SIGN_VERIFY" in str(caught.value)
    assert not caught.value.transient


def test_an_unknown_key_id_is_a_named_error(aws_env: str) -> None:
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"

    with pytest.raises(KmsSignerError) as caught:
        KmsSigner.open(missing, region="us-east-1", endpoint_url=aws_env)

    assert caught.value.code == "NotFoundException"
    assert not caught.value.transient
    assert str(caught.value).startswith(f"KMS key {missing}: GetPublicKey failed: no such key")


def test_an_unreachable_endpoint_is_a_transient_error(
    kms: KMSClient, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the default chain's retries, kept short
    nowhere = f"http://127.0.0.1:{free_port()}"
    public = KmsSigner.open(kms_key, client=kms).public_key()

    with pytest.raises(KmsSignerError) as opening:
        KmsSigner.open(kms_key, region="us-east-1", endpoint_url=nowhere)
    away = KmsSigner(kms_key, kms_client(region="us-east-1", endpoint_url=nowhere), public)
    with pytest.raises(KmsSignerError) as signing:
        away.sign(b"tbs", ec.ECDSA(hashes.SHA256()))

    for caught, action in ((opening, "GetPublicKey"), (signing, "Sign (RAW)")):
        assert caught.value.transient
        assert f"{action} failed: KMS endpoint unreachable" in str(caught.value)


def test_the_client_uses_the_given_region_and_endpoint(aws_env: str, kms_key: str) -> None:
    signer = KmsSigner.open(kms_key, region="us-east-1", endpoint_url=aws_env)

    assert (signer.region, signer.endpoint_url, signer.key_id) == ("us-east-1", aws_env, kms_key)
    signature = signer.sign(b"to be signed", ec.ECDSA(hashes.SHA256()))
    signer.public_key().verify(signature, b"to be signed", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(KmsSignerError, match="NotFoundException"):
        KmsSigner.open(kms_key, region="eu-west-1", endpoint_url=aws_env)  # keys are regional


# -- the DIGEST path and errors moto does not raise: LocalKms ------------------------


def test_a_big_crl_is_signed_as_a_sha256_digest(hierarchy: Hierarchy, tmp_path: Path) -> None:
    """Real KMS semantics through ``LocalKms``: moto 5.2 re-hashes DIGEST messages."""
    local = LocalKms()
    signer = KmsSigner.open("big-crl", client=local)
    issuing = hierarchy.certify(signer)

    crl = crl_for(issuing, signer, range(1, 400))

    assert len(crl.tbs_certlist_bytes) > RAW_MESSAGE_LIMIT
    assert local.signed == [("DIGEST", hashlib.sha256(crl.tbs_certlist_bytes).digest())]
    assert crl.is_signature_valid(ec_public(issuing))
    assert_openssl_verifies_crl(hierarchy.bundle, write(tmp_path / "big.pem", crl))


@pytest.mark.parametrize(("size", "kind"), [(RAW_MESSAGE_LIMIT, "RAW"), (4097, "DIGEST")])
def test_raw_up_to_4096_bytes_then_digest(size: int, kind: str) -> None:
    local = LocalKms()
    signer = KmsSigner.open("edge", client=local)
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    signature = signer.sign(message, ec.ECDSA(hashes.SHA256()))

    [(sent_kind, sent)] = local.signed
    assert sent_kind == kind
    assert sent == (message if kind == "RAW" else hashlib.sha256(message).digest())
    signer.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    ("code", "message", "transient", "reason"),
    [
        ("DisabledException", "{arn} is disabled.", False, "the key is disabled"),
        ("KMSInvalidStateException", "{arn} is pending deletion.", False, "pending deletion"),
        ("ThrottlingException", "Rate exceeded", True, "KMS throttled the request"),
        ("AccessDeniedException", "User: x is not authorized", False, "not allowed"),
    ],
)
def test_kms_refusals_become_named_errors(
    code: str, message: str, transient: bool, reason: str
) -> None:
    error = aws_error(code, message.format(arn=ARN.format("k")), "Sign")
    signer = KmsSigner.open("k", client=LocalKms(sign_error=error))

    with pytest.raises(KmsSignerError) as caught:
        signer.sign(b"tbs", ec.ECDSA(hashes.SHA256()))

    assert (caught.value.code, caught.value.transient) == (code, transient)
    assert str(caught.value).startswith(f"KMS key {ARN.format('k')}: Sign (RAW) failed: ")
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_signature_from_another_key_is_never_returned() -> None:
    """KMS signing with a key other than the one it described (an alias moved)."""
    swapped = LocalKms(signing_key=ec.generate_private_key(ec.SECP256R1()))
    signer = KmsSigner.open("moved", client=swapped)

    with pytest.raises(KmsSignerError, match="does not verify with the key's public key"):
        signer.sign(b"tbs", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    "algorithm",
    [
        ec.ECDSA(hashes.SHA384()),
        ec.ECDSA(hashes.SHA512()),
        ec.ECDSA(Prehashed(hashes.SHA256())),
        ec.ECDSA(hashes.SHA256(), deterministic_signing=True),
    ],
    ids=["sha384", "sha512", "prehashed", "deterministic"],
)
def test_only_ecdsa_sha256_is_signed(algorithm: ec.ECDSA) -> None:
    local = LocalKms()
    signer = KmsSigner.open("k", client=local)

    with pytest.raises(UnsupportedAlgorithm):
        signer.sign(b"x" * 32, algorithm)

    assert local.signed == []


def test_the_private_key_never_leaves_kms() -> None:
    signer = KmsSigner.open("k", client=LocalKms())
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KmsOnlySignsError, match="private_numbers needs the private key"):
        signer.private_numbers()
    with pytest.raises(KmsOnlySignsError, match="private_bytes needs the private key"):
        signer.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KmsOnlySignsError, match="never leaves KMS"):
        signer.exchange(ec.ECDH(), peer)


def test_the_key_spec_field_of_real_kms_is_read() -> None:
    """Real KMS answers ``KeySpec`` (moto only the deprecated ``CustomerMasterKeySpec``)."""
    with pytest.raises(KmsSignerError, match="ECC_SECG_P256K1 key for SIGN_VERIFY"):
        KmsSigner.open("k", client=LocalKms(key_spec="ECC_SECG_P256K1"))


# -- ca.json ---------------------------------------------------------------------------


def test_ca_json_records_the_kms_key_and_reads_old_files(tmp_path: Path) -> None:
    layout = PkiLayout(tmp_path)
    layout.root.mkdir(exist_ok=True)
    config = CaConfig(
        base_url="https://pki.example",
        key_type=KeyType.ec_p256,
        issuing_kms_key_id=ARN.format("k"),
        kms_region="eu-west-1",
        kms_endpoint_url="https://kms.eu-west-1.amazonaws.com",
    )
    layout.config.write_text(config.to_json())
    assert layout.read_config() == config
    assert layout.holds_issuing_key()

    # A ca.json from before KMS keys: no such fields, and none written for a file key.
    old = '{"base_url": "https://pki.example", "key_type": "ec-p256"}'
    layout.config.write_text(old)
    read = layout.read_config()
    assert read.issuing_kms_key_id is None and read.kms_region is None
    assert json.loads(read.to_json()) == json.loads(old)
    assert not layout.holds_issuing_key()

    with pytest.raises(ValueError, match="needs the KMS key"):
        CaConfig(base_url="https://x", key_type=KeyType.ec_p256, kms_region="eu-west-1")


def test_open_issuing_signer_chooses_file_or_kms(
    aws_env: str, kms_key: str, tmp_path: Path
) -> None:
    layout = PkiLayout(tmp_path)
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    from_kms = open_issuing_signer(layout, kms_key_id=kms_key, region="us-east-1")
    from_file = open_issuing_signer(layout, key=key_file)

    assert isinstance(from_kms, KmsSigner) and from_kms.key_id == kms_key
    assert not isinstance(from_file, KmsSigner)
    with pytest.raises(ValueError, match="not both"):
        open_issuing_signer(layout, key=key_file, kms_key_id=kms_key)


# -- the command line: ca init, issue, revoke, crl update ------------------------------


def cli(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert "PRIVATE KEY" not in result.output
    return result


def ok(*args: str | Path) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def kms_only(
    kms: KMSClient, kms_key: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """From here on KMS is reachable only through the endpoint ``ca.json`` records."""
    for variable in ("CERTSIGHT_HOME", "CERTSIGHT_STORE", "CERTSIGHT_CRLS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    kms.create_alias(AliasName=f"alias/issuing-{kms_key}", TargetKeyId=kms_key)
    return kms_key


def test_ca_init_with_a_kms_key_then_issue_and_crl_update(
    kms: KMSClient, kms_only: str, moto_endpoint: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    pki = home / "pki"

    result = ok(
        "ca", "init", "--home", home,
        "--issuing-kms-key", f"alias/issuing-{kms_only}",
        "--kms-region", "us-east-1", "--kms-endpoint-url", moto_endpoint,
    )  # fmt: skip

    assert f"issuing CA key: in AWS KMS, {kms_only}" in " ".join(result.stdout.split())
    assert "issuing-ca.key" not in result.stdout

    assert not (pki / "issuing-ca.key").exists()
    for key in ("root-ca.key", "ocsp-signer.key", "root-ocsp-signer.key"):
        assert (pki / key).stat().st_mode & 0o777 == 0o600, key
    assert json.loads((pki / "ca.json").read_text()) == {
        "base_url": "http://127.0.0.1:8080",
        "key_type": "ec-p256",
        "issuing_kms_key_id": kms_only,  # the key the alias named, not the alias
        "kms_region": "us-east-1",
        "kms_endpoint_url": moto_endpoint,
    }
    root = x509.load_pem_x509_certificate((pki / "root-ca.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((pki / "issuing-ca.pem").read_bytes())
    signer = x509.load_pem_x509_certificate((pki / "ocsp-signer.pem").read_bytes())
    assert (
        issuing.public_key().public_bytes(*SPKI) == kms.get_public_key(KeyId=kms_only)["PublicKey"]
    )
    issuing.verify_directly_issued_by(root)
    signer.verify_directly_issued_by(issuing)  # the OCSP signer's certificate: signed in KMS
    assert_openssl_verifies_cert(
        pki / "root-ca.pem", pki / "issuing-ca.pem", pki / "ocsp-signer.pem"
    )
    assert can_sign_crls(Home(home))

    serial = ok("issue", "--home", home, "--cn", "leaf.example.test").stdout.strip()
    leaf_pem = home / "certs" / "leaf.example.test.pem"
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
    leaf.verify_directly_issued_by(issuing)
    assert_openssl_verifies_cert(pki / "root-ca.pem", pki / "issuing-ca.pem", leaf_pem)

    ok("revoke", serial, "--home", home)
    ok("crl", "update", "--home", home)

    crl_der = pki / "crl" / "issuing-ca.crl"
    crl = x509.load_der_x509_crl(crl_der.read_bytes())
    assert crl.is_signature_valid(ec_public(issuing))
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    assert_openssl_verifies_crl(pki / "ca-chain.pem", crl_der, inform="DER")
    crl_pem = write(tmp_path / "issuing.crl.pem", crl)
    checked = openssl(
        "verify", "-crl_check", "-CRLfile", crl_pem,
        "-CAfile", pki / "root-ca.pem", "-untrusted", pki / "issuing-ca.pem", leaf_pem,
    )  # fmt: skip
    assert checked.returncode != 0 and "certificate revoked" in checked.stdout + checked.stderr


def test_ca_init_refuses_a_kms_key_that_cannot_sign_as_a_ca(
    kms: KMSClient, kms_only: str, moto_endpoint: str, tmp_path: Path
) -> None:
    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    home = tmp_path / "home"

    result = cli(
        "ca", "init", "--home", home, "--issuing-kms-key", rsa_key,
        "--kms-region", "us-east-1", "--kms-endpoint-url", moto_endpoint,
    )  # fmt: skip

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    message = " ".join(result.stderr.split())
    assert message.startswith(f"Error: KMS key {rsa_key} is a RSA_2048 key for SIGN_VERIFY")
    assert not (home / "pki").exists()


def test_kms_failing_during_init_leaves_no_ca_behind(tmp_path: Path) -> None:
    """KMS signs the OCSP signer's certificate before any file is written: a failure
    there (throttled, here) leaves nothing that blocks running ``ca init`` again."""
    throttled = aws_error("ThrottlingException", "Rate exceeded", "Sign")
    signer = KmsSigner.open("k", client=LocalKms(sign_error=throttled))
    layout = PkiLayout(tmp_path / "pki")

    with pytest.raises(KmsSignerError, match="ThrottlingException"):
        init_ca(
            layout,
            base_url="https://pki.example",
            key_type=KeyType.ec_p256,
            now=datetime.now(UTC),
            issuing_signer=signer,
        )

    assert not layout.exists()
    assert list(layout.root.iterdir()) == []
    material = init_ca(
        layout,
        base_url="https://pki.example",
        key_type=KeyType.ec_p256,
        now=datetime.now(UTC),
        issuing_signer=KmsSigner.open("k", client=LocalKms()),
    )
    material.signer_cert.verify_directly_issued_by(material.issuing_cert)
    assert not layout.issuing_key.exists()
    assert layout.read_config().issuing_kms_key_id == ARN.format("k")


def test_kms_region_without_a_kms_key_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("ca", "init", "--home", tmp_path / "home", "--kms-region", "us-east-1")

    assert result.exit_code == 2
    assert "--kms-region and --kms-endpoint-url need --issuing-kms-key" in result.stderr
    assert not (tmp_path / "home" / "pki").exists()


def test_a_kms_key_that_is_not_the_certified_one_is_refused(
    kms: KMSClient, kms_only: str, moto_endpoint: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    ok(
        "ca", "init", "--home", home, "--issuing-kms-key", kms_only,
        "--kms-region", "us-east-1", "--kms-endpoint-url", moto_endpoint,
    )  # fmt: skip
    layout = PkiLayout(home / "pki")
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    config = json.loads(layout.config.read_text()) | {"issuing_kms_key_id": other}
    layout.config.write_text(json.dumps(config))

    with pytest.raises(KmsSignerError, match=f"KMS key {other} is not the key certified in"):
        open_issuing_signer(layout)


def test_the_internal_backend_says_its_key_is_in_kms(
    kms: KMSClient, kms_key: str, hierarchy: Hierarchy
) -> None:
    signer = KmsSigner.open(kms_key, client=kms)
    issuing = hierarchy.certify(signer)
    config = CaConfig(base_url="https://pki.example", key_type=KeyType.ec_p256)

    backend = InternalBackend(
        "home", issuing_cert=issuing, chain=(issuing,), key=signer, config=config
    )

    assert backend.describe()["key"] == "kms"
    assert re.fullmatch(r"[0-9a-f]{40}", backend.describe()["issuer_key_sha1"])
