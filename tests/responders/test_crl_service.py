"""The CRL service over a real SQLite store: entries, numbers, schedule, publication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from responders.crl.service import SETTLE, CrlIssuer, CrlService, CrlSettings
from responders.pki.issuance import issue_certificate
from responders.pki.keys import KeyType, generate_key, load_private_key
from responders.pki.reasons import RevocationReason
from tests.conftest import make_home
from tests.responders.test_ocsp_core import Clock, load


def test_crl_lists_every_revocation_and_numbers_increase(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    layout = home.home.pki
    store = home.store()
    issuing, key = load(layout.issuing_cert), load_private_key(layout.issuing_key)
    reasons = [
        RevocationReason.keyCompromise,
        RevocationReason.superseded,
        RevocationReason.unspecified,
        RevocationReason.cessationOfOperation,
    ]
    expected: dict[int, RevocationReason] = {
        int(home.revoked_serial, 16): RevocationReason.keyCompromise
    }
    public = generate_key(KeyType.ec_p256).public_key()
    for index in range(300):
        issued = issue_certificate(
            common_name=f"h{index}.example.test",
            sans=[],
            days=5,
            issuing_cert=issuing,
            issuing_key=key,
            config=layout.read_config(),
            now=datetime.now(UTC),
            public_key=public,
        )
        store.add(issued.record)
        if index % 3 == 0:
            reason = reasons[index % len(reasons)]
            store.revoke(
                issued.record.issuer_key_sha1, issued.record.serial, datetime.now(UTC), reason
            )
            expected[issued.certificate.serial_number] = reason
    clock = Clock()
    service = CrlService(
        [CrlIssuer("issuing-ca", issuing, key)],
        store,
        clock,
        CrlSettings(refresh=timedelta(hours=1), validity=timedelta(hours=24)),
        publish_dir=tmp_path / "published",
    )
    first = service.current("issuing-ca")
    assert first is not None
    crl = x509.load_der_x509_crl(first.crl.der)
    issuer_key = issuing.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(issuer_key)
    found = {entry.serial_number: entry for entry in crl}
    assert set(found) == set(expected)
    for serial, reason in expected.items():
        extensions = found[serial].extensions
        if reason is RevocationReason.unspecified:
            assert len(extensions) == 0  # RFC 5280 5.3.1: no reasonCode for unspecified
        else:
            assert extensions.get_extension_for_class(x509.CRLReason).value.reason is (
                reason.to_x509()
            )
    assert crl.last_update_utc == clock.now.replace(microsecond=0)
    assert crl.next_update_utc == clock.now.replace(microsecond=0) + timedelta(hours=24)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert (tmp_path / "published" / "issuing-ca.crl").read_bytes() == first.crl.der

    # Served from memory until something changes or the hour is up.
    assert service.current("issuing-ca") is first
    clock.now += timedelta(minutes=61)
    second = service.current("issuing-ca")
    assert second is not None and second.crl.number > first.crl.number

    # A revocation: rebuilt at once, and again once the settle delay has passed.
    service.mark_changed(store.find_serial(home.good_serial)[0].issuer_key_sha1)
    assert service.due() == ["issuing-ca"]
    third = service.current("issuing-ca")
    assert third is not None and third.crl.number > second.crl.number
    assert service.due() == []
    clock.now += SETTLE
    assert service.due() == ["issuing-ca"]
    assert service.current("nope") is None


def test_crl_numbers_survive_a_new_service(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    layout = home.home.pki
    issuer = CrlIssuer(
        "issuing-ca", load(layout.issuing_cert), load_private_key(layout.issuing_key)
    )
    numbers = []
    for _ in range(3):
        service = CrlService([issuer], home.store(), lambda: datetime.now(UTC))
        published = service.current("issuing-ca")
        assert published is not None
        numbers.append(published.crl.number)
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
