"""The CRL role serves what the CRL updater stored, and nothing it cannot verify.

The validation module holds no CA key: these tests run the responder's runtime on a
``pki`` folder from which both CA keys have been removed.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from issuance.crl_updater import CrlIssuer, CrlUpdater
from pki.crl import build_crl
from pki.keys import KeyType, generate_key, load_private_key
from pki.layout import PkiLayout
from pki.store.base import StoreUnavailableError
from pki.store.crls import CrlStore, CrlStoreError, StoredCrl, open_crl_store
from responders.crl.server import CrlServer, CrlServerSettings
from responders.web.runtime import RuntimeConfig, build_runtime
from tests.conftest import PkiHome, make_home
from tests.responders.test_exchange import get
from tests.responders.test_ocsp_core import Clock, load


def validation_only(home: PkiHome, target: Path) -> PkiLayout:
    """A copy of the home's ``pki`` folder as a validation host has it: no CA key."""
    shutil.copytree(home.home.pki.root, target)
    layout = PkiLayout(target)
    layout.issuing_key.unlink()
    layout.root_key.unlink()
    return layout


def test_runtime_without_ca_keys_serves_stored_crls(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    layout = validation_only(home, tmp_path / "validation")
    runtime = build_runtime(
        RuntimeConfig(pki_dir=str(layout.root), raw_dir=None, store_uri=str(home.home.pki.store)),
        adapter="test",
    )
    status, headers, body, record = get(runtime, "/crl/issuing-ca.crl")
    assert status == 200
    assert body == (home.home.pki.crl_dir / "issuing-ca.crl").read_bytes()
    crl = x509.load_der_x509_crl(body)
    assert int(home.revoked_serial, 16) in {entry.serial_number for entry in crl}
    assert (
        record is not None
        and record["crl_number"]
        == crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    )
    assert headers[b"content-type"] == b"application/pkix-crl"
    # OCSP still answers: it signs with the delegated signer's key only.
    assert runtime.ocsp is not None


def _updater(home: PkiHome, crls: CrlStore, clock: Clock) -> CrlUpdater:
    layout = home.home.pki
    issuer = CrlIssuer(
        "issuing-ca", load(layout.issuing_cert), load_private_key(layout.issuing_key)
    )
    return CrlUpdater([issuer], home.store(), crls, clock)


def test_a_new_stored_crl_is_served_after_the_recheck(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    clock = Clock()
    crls = open_crl_store(str(tmp_path / "crls"))
    updater = _updater(home, crls, clock)
    first = updater.update("issuing-ca")
    server = CrlServer(
        [("issuing-ca", load(home.home.pki.issuing_cert))],
        crls,
        clock,
        CrlServerSettings(recheck=timedelta(seconds=1), max_age=timedelta(minutes=10)),
    )
    served = server.current("issuing-ca")
    assert served is not None and served.der == first.der and served.number == first.number
    assert served.fresh_until == first.this_update + timedelta(minutes=10)
    clock.now += timedelta(seconds=30)
    second = updater.update("issuing-ca")
    assert server.current("issuing-ca") is not served  # rechecked: 30 s > 1 s
    again = server.current("issuing-ca")
    assert again is not None and again.number == second.number
    assert server.current("root-ca") is None  # not a CA this server was given
    assert server.current("../etc/passwd") is None


def test_a_crl_not_signed_by_the_named_ca_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    clock = Clock()
    crls = open_crl_store(str(tmp_path / "crls"))
    good = _updater(home, crls, clock).update("issuing-ca")
    server = CrlServer([("issuing-ca", load(home.home.pki.issuing_cert))], crls, clock)
    assert server.current("issuing-ca") is not None
    # An attacker (or a mistake) stores a CRL signed by another key under the CA's name.
    forged = build_crl(
        ca_cert=load(home.home.pki.issuing_cert),
        ca_key=generate_key(KeyType.ec_p256),
        revoked=[],
        number=10**6,
        this_update=clock.now,
        next_update=clock.now + timedelta(days=1),
    )
    crls.put("issuing-ca", forged.der)
    clock.now += timedelta(seconds=5)
    served = server.current("issuing-ca")
    assert served is not None and served.der == good.der  # the verified one stays


class _BrokenStore:
    location = "broken://"

    def __init__(self, inner: CrlStore) -> None:
        self.inner = inner
        self.broken = False

    def put(self, name: str, der: bytes) -> None:
        self.inner.put(name, der)

    def get(self, name: str) -> StoredCrl | None:
        if self.broken:
            raise StoreUnavailableError("disk gone")
        return self.inner.get(name)

    def version(self, name: str) -> str | None:
        if self.broken:
            raise StoreUnavailableError("disk gone")
        return self.inner.version(name)


def test_an_unreadable_store_keeps_the_last_crl(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    clock = Clock()
    inner = open_crl_store(str(tmp_path / "crls"))
    built = _updater(home, inner, clock).update("issuing-ca")
    store = _BrokenStore(inner)
    server = CrlServer([("issuing-ca", load(home.home.pki.issuing_cert))], store, clock)
    assert server.current("issuing-ca") is not None
    store.broken = True
    clock.now += timedelta(minutes=1)
    served = server.current("issuing-ca")
    assert served is not None and served.der == built.der


def test_folder_store_refuses_names_that_leave_it(tmp_path: Path) -> None:
    crls = open_crl_store(str(tmp_path))
    for name in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(CrlStoreError):
            crls.put(name, b"x")
    assert not any(tmp_path.iterdir())
    assert crls.get("missing") is None and crls.version("missing") is None


def test_an_older_crl_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """Two updaters racing (or an old S3 object version restored) must not bring back a CRL
    that lacks revocations the CRL in service lists."""
    home = make_home(tmp_path)
    clock = Clock()
    crls = open_crl_store(str(tmp_path / "crls"))
    updater = _updater(home, crls, clock)
    older = updater.update("issuing-ca")
    newer = updater.update("issuing-ca")
    server = CrlServer([("issuing-ca", load(home.home.pki.issuing_cert))], crls, clock)
    served = server.current("issuing-ca")
    assert served is not None and served.number == newer.number
    crls.put("issuing-ca", older.der)  # the slower writer lands last
    clock.now += timedelta(seconds=5)
    served = server.current("issuing-ca")
    assert served is not None and served.number == newer.number


def test_the_asgi_server_reads_stored_crls_off_the_request_path(tmp_path: Path) -> None:
    """With refresh_on_read off, a request never touches the store: only refresh() does."""
    home = make_home(tmp_path)
    clock = Clock()
    inner = open_crl_store(str(tmp_path / "crls"))
    _updater(home, inner, clock).update("issuing-ca")
    store = _BrokenStore(inner)
    server = CrlServer([("issuing-ca", load(home.home.pki.issuing_cert))], store, clock)
    server.refresh("issuing-ca")
    server.refresh_on_read = False
    store.broken = True  # any store call from here on would raise inside refresh and log
    clock.now += timedelta(minutes=5)
    assert server.current("issuing-ca") is not None
