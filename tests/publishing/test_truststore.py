"""Trust-store bundles read by the tools that use them: keytool for the PKCS#12 (each CA a
trustedCertEntry), openssl for the PKCS#7 in DER and PEM; versions by content."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from publishing.truststore import (
    Bundle,
    Format,
    TrustStoreError,
    build_bundle,
    build_bundles,
    content_version,
)
from tests.conftest import PkiHome


def cas(home: PkiHome) -> list[x509.Certificate]:
    layout = home.home.pki
    return [
        x509.load_pem_x509_certificate(layout.root_cert.read_bytes()),
        x509.load_pem_x509_certificate(layout.issuing_cert.read_bytes()),
    ]


def keytool_list(path: Path, password: str) -> subprocess.CompletedProcess[str]:
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool (a JDK) is needed to read the Java trust store")
    return subprocess.run(
        [keytool, "-list", "-keystore", str(path), "-storetype", "PKCS12", "-storepass", password],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_roots_and_intermediates_are_separate_bundles(pki_home: PkiHome) -> None:
    root, issuing = cas(pki_home)
    bundles = {b.bundle: b for b in build_bundles([issuing, root], password="changeit")}
    assert bundles[Bundle.ROOTS].certificates == (root,)
    assert bundles[Bundle.INTERMEDIATES].certificates == (issuing,)
    assert bundles[Bundle.ROOTS].version == content_version([root])
    assert len(bundles[Bundle.ROOTS].version) == 16


def test_keytool_lists_each_ca_as_a_trusted_certificate_entry(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    bundle = build_bundle(Bundle.ROOTS, cas(pki_home), password="s3cret-store")
    path = tmp_path / "both.p12"
    path.write_bytes(bundle.files[Format.P12])
    listed = keytool_list(path, "s3cret-store")
    assert listed.returncode == 0, listed.stderr
    assert "Your keystore contains 2 entries" in listed.stdout
    assert listed.stdout.count("trustedCertEntry") == 2
    refused = keytool_list(path, "changeit")  # the configured password, not the default
    assert refused.returncode != 0


@pytest.mark.parametrize("fmt", [Format.P7B, Format.P7B_PEM])
def test_openssl_reads_the_pkcs7_bundle(pki_home: PkiHome, tmp_path: Path, fmt: Format) -> None:
    root, issuing = cas(pki_home)
    bundle = build_bundle(Bundle.ROOTS, [root, issuing], password="changeit")
    path = tmp_path / f"b.{fmt.value}"
    path.write_bytes(bundle.files[fmt])
    inform = "DER" if fmt is Format.P7B else "PEM"
    done = subprocess.run(
        ["openssl", "pkcs7", "-inform", inform, "-in", str(path), "-print_certs", "-noout"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    subjects = [line for line in done.stdout.splitlines() if line.startswith("subject=")]
    assert len(subjects) == 2
    assert (
        str(root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value) in subjects[0]
    )


def test_manifest_describes_the_files_it_ships_with(pki_home: PkiHome) -> None:
    bundle = build_bundle(Bundle.ROOTS, cas(pki_home)[:1], password="changeit")
    manifest = json.loads(bundle.manifest())
    assert manifest["version"] == bundle.version and manifest["bundle"] == "roots"
    by_name = {f["name"]: f for f in manifest["files"]}
    assert set(by_name) == {"roots.pem", "roots.p7b", "roots.p7b.pem", "roots.p12"}
    for fmt, data in bundle.files.items():
        assert by_name[bundle.file_name(fmt)]["sha256"] == hashlib.sha256(data).hexdigest()


def test_no_certificates_or_password_is_a_precise_error(pki_home: PkiHome) -> None:
    with pytest.raises(TrustStoreError, match="no CA certificates"):
        build_bundles([], password="changeit")
    with pytest.raises(TrustStoreError, match="non-empty password"):
        build_bundle(Bundle.ROOTS, cas(pki_home)[:1], password="")
