"""Certificates, bundles and CRLs from this CA and from others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ingest.run import read_object
from ingest.sources import find_sources
from issuance.crl_updater import CrlIssuer, CrlUpdater
from pki.keys import load_private_key
from pki.store.crls import open_crl_store
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import load

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_bundle_registers_issuers_and_inventories_leaves(pki_home: PkiHome, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki_home.good.read_bytes() + pki_home.home.pki.chain.read_bytes())
    report, rows = read_object(find_sources([str(bundle)])[0], NOW)
    assert (report.format, report.records_read, report.records_written) == ("pem", 3, 3)
    issuers = {row["subject"]: row for row in rows.rows["issuers"]}
    assert len(issuers) == 2
    issuing = load(pki_home.home.pki.issuing_cert)
    row = issuers[issuing.subject.rfc4514_string()]
    store_key = pki_home.store().find_serial(pki_home.good_serial)[0].issuer_key_sha1
    assert row["issuer_key_sha1"] == store_key
    assert row["self_signed"] is False and len(row["name_sha256"]) == 64
    [leaf] = rows.rows["certificates"]
    assert leaf["serial"] == pki_home.good_serial and leaf["issuer_key_sha1"] == store_key
    assert leaf["sans"] == ["good.example.test"] and leaf["key_algorithm"] == "ec-p256"


def test_der_leaf_uses_its_authority_key_identifier(pki_home: PkiHome, tmp_path: Path) -> None:
    path = tmp_path / "leaf.cer"
    path.write_bytes(load(pki_home.good).public_bytes(serialization.Encoding.DER))
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert report.format == "der"
    store_key = pki_home.store().find_serial(pki_home.good_serial)[0].issuer_key_sha1
    assert rows.rows["certificates"][0]["issuer_key_sha1"] == store_key


def test_crl_entries_become_revocations(pki_home: PkiHome, tmp_path: Path) -> None:
    layout = pki_home.home.pki
    updater = CrlUpdater(
        [CrlIssuer("issuing-ca", load(layout.issuing_cert), load_private_key(layout.issuing_key))],
        pki_home.store(),
        open_crl_store(str(tmp_path / "crls")),
        lambda: NOW,
    )
    built = updater.update("issuing-ca")
    der_path = tmp_path / "issuing.crl"
    der_path.write_bytes(built.der)
    pem_path = tmp_path / "issuing.crl.pem"
    pem_path.write_bytes(x509.load_der_x509_crl(built.der).public_bytes(serialization.Encoding.PEM))
    for path in (der_path, pem_path):
        report, rows = read_object(find_sources([str(path)])[0], NOW)
        revoked = rows.rows["revocations"]
        assert any(
            r["serial"] == pki_home.revoked_serial and r["revocation_reason"] == "keyCompromise"
            for r in revoked
        )
        assert report.records_read == report.records_written == len(revoked)
        assert all(r["source"] == "crl" for r in revoked)


def foreign_leaf_without_aki() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "stranger")])
    issuer = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Someone Else CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(42)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_unreadable_and_unplaceable_input_is_quarantined_without_secrets(
    tmp_path: Path,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(foreign_leaf_without_aki().public_bytes(serialization.Encoding.PEM) + key_pem)
    report, rows = read_object(find_sources([str(mixed)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (2, 0, 2)
    reasons = " ".join(q["reason"] for q in rows.quarantined)
    assert "issuer unknown" in reasons and "not a certificate or CRL" in reasons
    body = key_pem.split(b"\n")[1].decode()
    assert all(body not in str(q["raw"]) for q in rows.quarantined)
    der_key = tmp_path / "key.der"
    der_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    report, rows = read_object(find_sources([str(der_key)])[0], NOW)
    assert report.quarantined == 1 and "content withheld" in rows.quarantined[0]["raw"]
