"""The ``certsight`` command line, driven in-process as an operator types it.

Command and option names are an interface (scripts depend on them), so these tests
spell them out literally. User mistakes must end in a one-line ``Error:`` and a
non-zero exit, never a traceback; private keys go to 0600 files and never to output.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certsight.cli import main
from pki.reasons import RevocationReason
from pki.store.base import CertStatus
from pki.store.sqlite import SqliteStore

SERIAL = re.compile(r"(?:[0-9a-f]{2})+")
KEY_FILES = ("root-ca.key", "issuing-ca.key", "ocsp-signer.key", "root-ocsp-signer.key")
CA_FILES = ("root-ca.pem", "issuing-ca.pem", "ocsp-signer.pem", "root-ocsp-signer.pem", *KEY_FILES)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads CERTSIGHT_HOME and CERTSIGHT_STORE: none may leak in from outside."""
    monkeypatch.delenv("CERTSIGHT_HOME", raising=False)
    monkeypatch.delenv("CERTSIGHT_STORE", raising=False)


def cli(*args: str | Path, env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``certsight ARGS``; every run is checked for leaked private key material."""
    result = CliRunner().invoke(main, [str(arg) for arg in args], env=env)
    assert "PRIVATE KEY" not in result.stdout
    assert "PRIVATE KEY" not in result.stderr
    return result


def ok(*args: str | Path, env: Mapping[str, str | None] | None = None) -> Result:
    result = cli(*args, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def assert_user_error(result: Result, *fragments: str) -> None:
    """Non-zero exit through click (SystemExit), a message, and no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.startswith(("Error:", "Usage:")), result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def even_hex(number: int) -> str:
    digits = format(number, "x")
    return digits if len(digits) % 2 == 0 else "0" + digits


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def issuer_key_sha1(cert: x509.Certificate) -> str:
    """RFC 5280 4.2.1.2 method 1 is SHA-1 over the subjectPublicKey bits, as CertIDs use."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()


def store_of(home: Path) -> SqliteStore:
    return SqliteStore(home / "pki" / "certificates.sqlite")


def events(home: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for batch in sorted((home / "raw" / "issuance").glob("*/*.jsonl.gz")):
        for line in gzip.decompress(batch.read_bytes()).splitlines():
            if line.strip():
                yield batch, json.loads(line)


def issue(home: Path, cn: str, *extra: str) -> str:
    """Issue and return the serial, the last line of stdout."""
    result = ok("issue", "--home", home, "--cn", cn, *extra)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    ok("ca", "init", "--home", root)
    return root


# -- ca init -------------------------------------------------------------------


def test_ca_init_creates_the_hierarchy(tmp_path: Path) -> None:
    root = tmp_path / "home"
    result = ok("ca", "init", "--home", root)
    pki = root / "pki"

    for name in CA_FILES:
        assert (pki / name).is_file(), name
    for name in KEY_FILES:
        assert mode(pki / name) == 0o600, name
    assert mode(pki) == 0o700
    assert "issuing-ca.pem" in result.stdout

    root_cert = load_cert(pki / "root-ca.pem")
    issuing = load_cert(pki / "issuing-ca.pem")
    signer = load_cert(pki / "ocsp-signer.pem")
    assert root_cert.subject == root_cert.issuer
    assert issuing.issuer == root_cert.subject
    assert signer.issuer == issuing.subject
    issuing.verify_directly_issued_by(root_cert)
    signer.verify_directly_issued_by(issuing)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    signer.extensions.get_extension_for_class(x509.OCSPNoCheck)

    key = serialization.load_pem_private_key((pki / "issuing-ca.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert public_der(key.public_key()) == public_der(issuing.public_key())

    # The CA material is in the inventory: the issuing CA and the signer, good.
    store = store_of(root)
    for cert in (issuing, signer):
        [record] = store.find_serial(even_hex(cert.serial_number))
        assert record.status is CertStatus.good


def test_second_ca_init_refuses_to_overwrite(home: Path) -> None:
    before = snapshot(home / "pki")
    for args in ([], ["--key-type", "rsa-2048"], ["--base-url", "https://other.example"]):
        result = cli("ca", "init", "--home", home, *args)
        assert_user_error(result, "refusing to overwrite")
    assert snapshot(home / "pki") == before


def test_ca_init_with_rsa_keys(tmp_path: Path) -> None:
    root = tmp_path / "home"
    ok("ca", "init", "--home", root, "--key-type", "rsa-2048")
    pki = root / "pki"
    for name in KEY_FILES:
        key = serialization.load_pem_private_key((pki / name).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey), name
        assert key.key_size == 2048
    for name in ("root-ca.pem", "issuing-ca.pem", "ocsp-signer.pem"):
        assert isinstance(load_cert(pki / name).public_key(), rsa.RSAPublicKey), name

    issue(root, "rsa.example.test")
    leaf = load_cert(root / "certs" / "rsa.example.test.pem")
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    leaf_key = serialization.load_pem_private_key(
        (root / "certs" / "rsa.example.test.key").read_bytes(), None
    )
    assert isinstance(leaf_key, rsa.RSAPrivateKey)


@pytest.mark.parametrize("base_url", ["https://pki.example.com", "https://pki.example.com/"])
def test_base_url_goes_into_aia_and_crl_distribution_point(tmp_path: Path, base_url: str) -> None:
    root = tmp_path / "home"
    ok("ca", "init", "--home", root, "--base-url", base_url)
    issue(root, "web.example.test")
    leaf = load_cert(root / "certs" / "web.example.test.pem")

    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ocsp_urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    assert ocsp_urls == ["https://pki.example.com/ocsp"]
    ca_issuers = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    assert ca_issuers == ["https://pki.example.com/ca/issuing-ca.crt"]
    crl_dp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for dp in crl_dp for name in dp.full_name or []] == [
        "https://pki.example.com/crl/issuing-ca.crl"
    ]


def test_ca_init_rejects_a_base_url_without_http_scheme(tmp_path: Path) -> None:
    root = tmp_path / "home"
    result = cli("ca", "init", "--home", root, "--base-url", "pki.example.com")
    assert_user_error(result, "--base-url", "http:// or https://")
    assert not (root / "pki" / "root-ca.pem").exists()


# -- issue ---------------------------------------------------------------------


def test_issue_with_generated_key(home: Path) -> None:
    started = datetime.now(UTC)
    result = ok(
        "issue",
        "--home",
        home,
        "--cn",
        "x",
        "--san",
        "a.example",
        "--san",
        "10.1.2.3",
        "--days",
        "10",
    )
    serial = result.stdout.strip().splitlines()[-1]
    assert SERIAL.fullmatch(serial), serial

    certs = home / "certs"
    leaf = load_cert(certs / "x.pem")
    assert even_hex(leaf.serial_number) == serial
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "x"

    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.example"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]

    not_after = leaf.not_valid_after_utc
    assert leaf.not_valid_before_utc <= started
    assert timedelta(days=10) - timedelta(minutes=1) <= not_after - started
    assert not_after - started <= timedelta(days=10) + timedelta(minutes=1)

    key_path = certs / "x.key"
    assert mode(key_path) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert public_der(key.public_key()) == public_der(leaf.public_key())

    chain = x509.load_pem_x509_certificates((certs / "x.chain.pem").read_bytes())
    issuing, root_cert = (
        load_cert(home / "pki" / "issuing-ca.pem"),
        load_cert(home / "pki" / "root-ca.pem"),
    )
    assert chain == [leaf, issuing, root_cert]
    leaf.verify_directly_issued_by(issuing)

    record = store_of(home).get(issuer_key_sha1(issuing), serial)
    assert record is not None
    assert record.status is CertStatus.good
    assert set(record.sans) == {"a.example", "10.1.2.3"}
    assert str(certs / "x.pem") in " ".join(result.stderr.split())


def make_csr(tmp_path: Path, *, tamper: bool = False) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aaaa.example.test")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("aaaa.example.test")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    der = csr.public_bytes(serialization.Encoding.DER)
    if tamper:
        # Same length, still well-formed DER, but the signed bytes changed.
        der = der.replace(b"aaaa.example.test", b"bbbb.example.test")
        assert not x509.load_der_x509_csr(der).is_signature_valid
    path = tmp_path / "request.csr"
    path.write_bytes(x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM))
    return path, key


def test_issue_from_csr_writes_no_key(home: Path, tmp_path: Path) -> None:
    csr_path, key = make_csr(tmp_path)
    serial = issue(home, "csr.example.test", "--csr", str(csr_path))
    certs = home / "certs"
    leaf = load_cert(certs / "csr.example.test.pem")
    assert even_hex(leaf.serial_number) == serial
    assert not (certs / "csr.example.test.key").exists()
    assert (certs / "csr.example.test.chain.pem").exists()
    assert public_der(leaf.public_key()) == public_der(key.public_key())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["aaaa.example.test"]


def test_issue_refuses_a_csr_with_a_broken_signature(home: Path, tmp_path: Path) -> None:
    csr_path, _ = make_csr(tmp_path, tamper=True)
    result = cli("issue", "--home", home, "--cn", "broken.example.test", "--csr", csr_path)
    assert_user_error(result, "signature does not verify")
    assert not (home / "certs" / "broken.example.test.pem").exists()
    assert [r for _, r in events(home) if r.get("subject") == "CN=broken.example.test"] == []


def test_issue_refuses_a_file_that_is_not_a_csr(home: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.csr"
    bogus.write_bytes(
        b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n"
    )
    result = cli("issue", "--home", home, "--cn", "bogus.example.test", "--csr", bogus)
    assert_user_error(result, "not a certificate signing request")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be between 1 and 398, got 0"),
        (["--days", "399"], "--days must be between 1 and 398, got 399"),
        (["--san", "bad name!"], "not a valid DNS name or IP address: 'bad name!'"),
        (["--cn", ""], "--cn must be 1 to 64 characters"),
    ],
    ids=["days-0", "days-399", "bad-san", "empty-cn"],
)
def test_issue_rejects_bad_input_clearly(home: Path, args: list[str], message: str) -> None:
    before = snapshot(home)
    result = cli("issue", "--home", home, "--cn", "input.example.test", *args)
    assert_user_error(result, message)
    after = snapshot(home)
    # Nothing issued: no certificate or key files, no event; the store may only be re-read.
    assert {name for name in after if not name.startswith("pki/")} == {
        name for name in before if not name.startswith("pki/")
    }
    assert not (home / "certs").exists() or not any((home / "certs").iterdir())


def test_issue_refuses_to_overwrite_existing_files(home: Path) -> None:
    issue(home, "twice.example.test")
    certs = home / "certs"
    before = snapshot(certs)
    result = cli("issue", "--home", home, "--cn", "twice.example.test")
    assert_user_error(result, "twice.example.test.pem exists")
    assert snapshot(certs) == before
    issued = [r for _, r in events(home) if r.get("subject") == "CN=twice.example.test"]
    assert len(issued) == 1


def test_issue_without_a_ca_says_to_run_ca_init(tmp_path: Path) -> None:
    result = cli("issue", "--home", tmp_path / "empty", "--cn", "x")
    assert_user_error(result, "certsight ca init")


# -- revoke --------------------------------------------------------------------


def openssl_serial(pem: Path) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to produce its `serial=` spelling")
    done = subprocess.run(
        [openssl, "x509", "-serial", "-noout", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = done.stdout.strip()
    assert printed.startswith("serial=")
    return printed


def spell(serial: str, pem: Path, spelling: str) -> str:
    if spelling == "colons":
        return ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).upper()
    if spelling == "0x":
        return "0x" + serial
    return openssl_serial(pem)


@pytest.mark.parametrize(
    ("spelling", "reason", "expected"),
    [
        ("colons", "keyCompromise", RevocationReason.keyCompromise),
        ("0x", "superseded", RevocationReason.superseded),
        ("openssl", "cessationOfOperation", RevocationReason.cessationOfOperation),
    ],
)
def test_revoke_accepts_serials_as_people_paste_them(
    home: Path, spelling: str, reason: str, expected: RevocationReason
) -> None:
    serial = issue(home, "revoke.example.test")
    pem = home / "certs" / "revoke.example.test.pem"
    typed = spell(serial, pem, spelling)
    assert typed != serial
    if spelling == "colons":
        assert re.fullmatch(r"[0-9A-F]{2}(?::[0-9A-F]{2})+", typed)

    result = ok("revoke", typed, "--home", home, "--reason", reason)
    assert serial in result.stdout
    assert reason in result.stdout

    issuing = load_cert(home / "pki" / "issuing-ca.pem")
    record = store_of(home).get(issuer_key_sha1(issuing), serial)
    assert record is not None
    assert record.status is CertStatus.revoked
    assert record.revocation_reason is expected
    assert record.revoked_at is not None
    assert abs(datetime.now(UTC) - record.revoked_at) < timedelta(minutes=1)


def test_revoke_reason_defaults_to_unspecified(home: Path) -> None:
    serial = issue(home, "default.example.test")
    ok("revoke", serial, "--home", home)
    [record] = store_of(home).find_serial(serial)
    assert record.revocation_reason is RevocationReason.unspecified


@pytest.mark.parametrize(
    ("serial", "reason", "message"),
    [
        ("0102030405060708", "keyCompromise", "no certificate with serial 0102030405060708"),
        ("not-hex!", "keyCompromise", "not a hexadecimal serial number"),
        (None, "becauseISaidSo", "unknown revocation reason 'becauseISaidSo'"),
        (None, "removeFromCRL", "removeFromCRL"),
    ],
    ids=["unknown-serial", "non-hex", "bad-reason", "remove-from-crl"],
)
def test_revoke_errors_are_clear(home: Path, serial: str | None, reason: str, message: str) -> None:
    real = issue(home, "keep.example.test")
    result = cli("revoke", serial or real, "--home", home, "--reason", reason)
    assert_user_error(result, message)
    [record] = store_of(home).find_serial(real)
    assert record.status is CertStatus.good
    assert [r for _, r in events(home) if r["event"] == "revoked"] == []


def test_revoking_twice_is_refused(home: Path) -> None:
    serial = issue(home, "twice-revoked.example.test")
    ok("revoke", serial, "--home", home, "--reason", "keyCompromise")
    result = cli("revoke", serial, "--home", home, "--reason", "superseded")
    assert_user_error(result, "already revoked")
    [record] = store_of(home).find_serial(serial)
    assert record.revocation_reason is RevocationReason.keyCompromise
    revoked = [r for _, r in events(home) if r["event"] == "revoked"]
    assert len(revoked) == 1


# -- events, environment, secrets ----------------------------------------------


def test_issue_and_revoke_write_issuance_events(home: Path) -> None:
    serial = issue(home, "events.example.test", "--san", "events.example.test")
    ok("revoke", serial, "--home", home, "--reason", "superseded")
    issuing = load_cert(home / "pki" / "issuing-ca.pem")
    leaf_pem = (home / "certs" / "events.example.test.pem").read_text()

    mine = [(batch, r) for batch, r in events(home) if r.get("serial") == serial]
    assert [r["event"] for _, r in mine] == ["issued", "revoked"]
    for batch, record in mine:
        assert record["log"] == "issuance"
        assert record["issuer_key_sha1"] == issuer_key_sha1(issuing)
        assert record["subject"] == "CN=events.example.test"
        assert batch.parent.parent == home / "raw" / "issuance"
        assert re.fullmatch(r"dt=\d{4}-\d\d-\d\d", batch.parent.name)
        assert batch.parent.name == f"dt={record['event_time'][:10]}"
        assert batch.name.endswith(".jsonl.gz")
    issued, revoked = mine[0][1], mine[1][1]
    assert issued["certificate_pem"] == leaf_pem
    assert issued["sans"] == ["events.example.test"]
    assert revoked["revocation_reason"] == "superseded"
    for batch in (home / "raw").rglob("*.gz"):
        assert b"PRIVATE KEY" not in gzip.decompress(batch.read_bytes())


def test_certsight_home_environment_variable(tmp_path: Path) -> None:
    env_home = tmp_path / "from-env"
    env = {"CERTSIGHT_HOME": str(env_home)}
    ok("ca", "init", env=env)
    assert (env_home / "pki" / "issuing-ca.pem").is_file()
    serial = ok("issue", "--cn", "env.example.test", env=env).stdout.strip().splitlines()[-1]
    assert (env_home / "certs" / "env.example.test.pem").is_file()
    ok("revoke", serial, env=env)
    [record] = store_of(env_home).find_serial(serial)
    assert record.status is CertStatus.revoked

    # --home wins over the environment.
    flag_home = tmp_path / "from-flag"
    ok("ca", "init", "--home", flag_home, env=env)
    assert (flag_home / "pki" / "issuing-ca.pem").is_file()


def test_no_private_key_material_in_any_output(tmp_path: Path) -> None:
    root = tmp_path / "home"
    outputs = [
        cli("ca", "init", "--home", root),
        cli("ca", "init", "--home", root),
        cli("issue", "--home", root, "--cn", "secret.example.test"),
        cli("issue", "--home", root, "--cn", "secret.example.test"),
        cli("issue", "--home", root, "--cn", "rsa.example.test", "--key-type", "rsa-2048"),
    ]
    serial = outputs[2].stdout.strip().splitlines()[-1]
    outputs.append(cli("revoke", serial, "--home", root, "--reason", "keyCompromise"))
    keys = [*sorted((root / "pki").glob("*.key")), *sorted((root / "certs").glob("*.key"))]
    assert len(keys) == 6
    bodies: set[str] = set()
    for key in keys:
        pem_lines = key.read_text().splitlines()
        assert pem_lines[0] == "-----BEGIN PRIVATE KEY-----"
        bodies.update(line for line in pem_lines[1:-1] if len(line) >= 32)
    for result in outputs:
        text = result.stdout + result.stderr
        assert "PRIVATE KEY" not in text
        assert not any(body in text for body in bodies)


def test_serve_refuses_clearly_before_starting(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    assert_user_error(cli("serve", "--home", empty), "ca init")
    (home / "pki" / "ocsp-signer.key").unlink()
    result = cli("serve", "--home", home, "--port", "1")
    assert_user_error(result, "ocsp-signer.key")
    assert_user_error(cli("serve", "--home", home, "--log-batch-seconds", "0"), "log-batch-seconds")


def test_ingest_reads_home_raw_once_and_reports(home: Path) -> None:
    issue(home, "lake.example.test")
    first = ok("ingest", "--home", home)
    assert "ingested into" in first.stdout and "certificates" in first.stdout
    assert list((home / "lake" / "certificates").rglob("*.parquet"))
    again = ok("ingest", "--home", home)
    assert "0 new object(s)" in again.stdout
    assert_user_error(cli("ingest", "--home", home, str(home / "missing")), "no such file")
    unreachable = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = cli("ingest", "--home", home, "--lake", "s3://bucket/lake", env=unreachable)
    assert_user_error(result, "ingest could not run", "127.0.0.1:9")
