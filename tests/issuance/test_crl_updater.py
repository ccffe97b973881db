"""The CRL updater over a real SQLite store: entries, numbers, schedule, storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from issuance.crl_updater import SETTLE, CrlIssuer, CrlSettings, CrlUpdater
from pki.certificates import issue_certificate
from pki.identity import key_sha1
from pki.keys import KeyType, generate_key, load_private_key
from pki.reasons import RevocationReason
from pki.store.crls import CrlStoreError, open_crl_store
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
    crls = open_crl_store(str(tmp_path / "published"))
    updater = CrlUpdater(
        [CrlIssuer("issuing-ca", issuing, key)],
        store,
        crls,
        clock,
        CrlSettings(refresh=timedelta(hours=1), validity=timedelta(hours=24)),
    )
    assert updater.due() == ["issuing-ca"]  # never built
    first = updater.update("issuing-ca")
    crl = x509.load_der_x509_crl(first.der)
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
    stored = crls.get("issuing-ca")
    assert stored is not None and stored.der == first.der

    # Nothing to do until something changes or the refresh time comes.
    assert updater.due() == []
    clock.now += timedelta(minutes=61)
    assert updater.due() == ["issuing-ca"]
    second = updater.update_due()[0]
    assert second.number > first.number
    assert crls.version("issuing-ca") != stored.version

    # A revocation: rebuilt at once, and again once the settle delay has passed.
    updater.mark_changed(store.find_serial(home.good_serial)[0].issuer_key_sha1)
    assert updater.due() == ["issuing-ca"]
    third = updater.update_due()[0]
    assert third.number > second.number
    assert updater.due() == []
    clock.now += SETTLE
    assert updater.due() == ["issuing-ca"]
    updater.mark_changed("00" * 20)  # another CA's certificate: not ours to rebuild
    updater.update_due()
    assert updater.due() == []


def test_crl_numbers_survive_a_new_updater(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    layout = home.home.pki
    issuer = CrlIssuer(
        "issuing-ca", load(layout.issuing_cert), load_private_key(layout.issuing_key)
    )
    numbers = []
    for _ in range(3):
        updater = CrlUpdater(
            [issuer], home.store(), open_crl_store(str(tmp_path / "crl")), lambda: datetime.now(UTC)
        )
        numbers.append(updater.update("issuing-ca").number)
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


class _FailingCrls:
    """A CRL location that refuses writes until told otherwise."""

    location = "failing://"

    def __init__(self) -> None:
        self.failing = True
        self.stored: dict[str, bytes] = {}

    def put(self, name: str, der: bytes) -> None:
        if self.failing:
            raise CrlStoreError("bucket unreachable")
        self.stored[name] = der

    def get(self, name: str) -> None:
        return None

    def version(self, name: str) -> None:
        return None


def test_a_crl_that_could_not_be_stored_stays_due(tmp_path: Path) -> None:
    """A revocation must reach the CRL on the next round once the location is back, not at
    the next hourly refresh."""
    home = make_home(tmp_path)
    layout = home.home.pki
    issuer = CrlIssuer(
        "issuing-ca", load(layout.issuing_cert), load_private_key(layout.issuing_key)
    )
    clock = Clock()
    crls = _FailingCrls()
    updater = CrlUpdater([issuer], home.store(), crls, clock)
    crls.failing = False
    updater.update("issuing-ca")
    crls.failing = True
    updater.mark_changed(key_sha1(issuer.cert))
    with pytest.raises(CrlStoreError):
        updater.update_due()
    assert updater.due() == ["issuing-ca"]
    crls.failing = False
    assert [built.entries for built in updater.update_due()] == [1]
    assert updater.due() == []
