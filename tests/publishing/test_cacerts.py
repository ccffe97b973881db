"""Publishing the CA certificates: what is published, and that nothing changes twice.

Against a real folder and against moto's S3 server on loopback (a real HTTP S3 API),
through the core and through the Lambda handler as the runtime calls it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from cryptography import x509

from pki.pem import CertificateFileError
from pki.store.objects import FolderObjectStore
from publishing import lambda_handler
from publishing.cacerts import (
    BUNDLE_NAME,
    MANIFEST_NAME,
    CaCertificate,
    PublishError,
    publish_ca_certificates,
    render,
)
from tests.conftest import PkiHome

ALL_FILES = ["root-ca.crt", "issuing-ca.crt", BUNDLE_NAME, MANIFEST_NAME]


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cas_of(home: PkiHome) -> list[CaCertificate]:
    layout = home.home.pki
    return [
        CaCertificate("root-ca", load(layout.root_cert)),
        CaCertificate("issuing-ca", load(layout.issuing_cert)),
    ]


@pytest.fixture
def certificates_only(pki_home: PkiHome, tmp_path: Path) -> Path:
    """A PKI folder as the publishing function gets it: the CA certificates, no key."""
    folder = tmp_path / "pki"
    folder.mkdir()
    for name in ("root-ca.pem", "issuing-ca.pem"):
        shutil.copy(pki_home.pki / name, folder / name)
    return folder


def test_files_are_der_certificates_a_pem_bundle_and_a_digest_manifest(
    pki_home: PkiHome,
) -> None:
    cas = cas_of(pki_home)
    files = render(cas)
    assert list(files) == ALL_FILES
    for ca in cas:
        assert x509.load_der_x509_certificate(files[f"{ca.name}.crt"]) == ca.certificate
    bundle = x509.load_pem_x509_certificates(files[BUNDLE_NAME])
    assert bundle == [ca.certificate for ca in cas]

    manifest = json.loads(files[MANIFEST_NAME])
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert sorted(listed) == sorted(ALL_FILES[:-1])
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert entry["bytes"] == len(files[name])
    assert listed["root-ca.crt"]["media_type"] == "application/pkix-cert"
    described = {c["name"]: c for c in manifest["certificates"]}
    root = cas[0].certificate
    assert (
        described["root-ca"]["sha256_fingerprint"]
        == hashlib.sha256(files["root-ca.crt"]).hexdigest()
    )
    assert described["root-ca"]["subject"] == root.subject.rfc4514_string()
    assert described["issuing-ca"]["issuer"] == root.subject.rfc4514_string()
    assert render(cas) == files  # no time stamp: the same certificates, the same bytes


def test_folder_publishing_writes_once_and_then_leaves_files_alone(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    folder = tmp_path / "published"
    first = publish_ca_certificates(cas_of(pki_home), FolderObjectStore(folder))
    assert first.written == tuple(ALL_FILES)
    assert first.unchanged == ()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert sorted(before) == sorted(ALL_FILES)  # no temporary file left behind

    again = publish_ca_certificates(cas_of(pki_home), FolderObjectStore(folder))
    assert again.written == ()
    assert again.unchanged == tuple(ALL_FILES)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before


def test_a_changed_ca_rewrites_only_what_depends_on_it(pki_home: PkiHome, tmp_path: Path) -> None:
    folder = tmp_path / "published"
    publish_ca_certificates(cas_of(pki_home), FolderObjectStore(folder))
    root, _ = cas_of(pki_home)
    renewed = CaCertificate("issuing-ca", load(pki_home.home.pki.signer_cert))

    report = publish_ca_certificates([root, renewed], FolderObjectStore(folder))
    assert report.unchanged == ("root-ca.crt",)
    assert report.written == ("issuing-ca.crt", BUNDLE_NAME, MANIFEST_NAME)
    assert (folder / "issuing-ca.crt").read_bytes() == render([root, renewed])["issuing-ca.crt"]


@pytest.mark.parametrize("name", ["../root-ca", "a/b", "", ".hidden"])
def test_names_that_could_leave_the_location_are_refused(pki_home: PkiHome, name: str) -> None:
    with pytest.raises(PublishError, match="not a file name"):
        render([CaCertificate(name, cas_of(pki_home)[0].certificate)])


def test_handler_publishes_to_a_folder(
    certificates_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "www" / "ca"
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(certificates_only))
    monkeypatch.setenv("CERTSIGHT_PUBLISH", str(target))

    result = lambda_handler.handler({"source": "aws.scheduler"}, None)
    assert result == {"location": str(target), "written": ALL_FILES, "unchanged": []}
    root = load(certificates_only / "root-ca.pem")
    assert x509.load_der_x509_certificate((target / "root-ca.crt").read_bytes()) == root
    assert lambda_handler.handler({}, None)["written"] == []


def test_handler_publishes_to_s3_once(
    aws_env: str, certificates_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.session.Session().client("s3")
    bucket = f"certsight-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(certificates_only))
    monkeypatch.setenv("CERTSIGHT_PUBLISH", f"s3://{bucket}/pki/ca")

    first = lambda_handler.handler({}, None)
    assert first["location"] == f"s3://{bucket}/pki/ca"
    assert first["written"] == ALL_FILES
    issuing = s3.get_object(Bucket=bucket, Key="pki/ca/issuing-ca.crt")
    assert issuing["ContentType"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(issuing["Body"].read()) == load(
        certificates_only / "issuing-ca.pem"
    )
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="pki/ca/ca-manifest.json")["Body"].read()
    )
    bundle = s3.get_object(Bucket=bucket, Key="pki/ca/ca-bundle.pem")["Body"].read()
    listed = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    assert listed[BUNDLE_NAME] == hashlib.sha256(bundle).hexdigest()

    second = lambda_handler.handler({}, None)
    assert second["written"] == []
    assert second["unchanged"] == ALL_FILES
    versions = s3.list_object_versions(Bucket=bucket, Prefix="pki/ca/")["Versions"]
    assert sorted(v["Key"] for v in versions) == sorted(f"pki/ca/{n}" for n in ALL_FILES)


def test_handler_names_a_missing_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(tmp_path))
    monkeypatch.setenv("CERTSIGHT_PUBLISH", str(tmp_path / "out"))
    with pytest.raises(CertificateFileError, match=r"root-ca\.pem"):
        lambda_handler.handler({}, None)


def test_handler_refuses_unknown_locations_and_missing_settings(
    certificates_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(certificates_only))
    monkeypatch.setenv("CERTSIGHT_PUBLISH", "ftp://example.test/ca")
    with pytest.raises(PublishError, match="publishing location: unsupported location"):
        lambda_handler.handler({}, None)
    monkeypatch.setenv("CERTSIGHT_PUBLISH", "s3://")
    with pytest.raises(PublishError, match="names no bucket"):
        lambda_handler.handler({}, None)
    monkeypatch.delenv("CERTSIGHT_PUBLISH")
    with pytest.raises(RuntimeError, match="CERTSIGHT_PUBLISH"):
        lambda_handler.handler({}, None)
