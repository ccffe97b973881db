"""The issuance core without HTTP: policy, profiles, CSR checks, fallback, orders,
renewal, revocation, and what each leaves in the store and in the events."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from issuance.backends.base import (
    BackendContext,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
)
from issuance.backends.internal import InternalBackend
from issuance.backends.settings import InternalBackendSettings
from issuance.policy import Grant
from issuance.problems import Problem
from issuance.service import IssuanceService, IssueRequest
from issuance.settings import IssuanceSettings
from issuance.statedb import StateDb
from issuance.views import CertificateView, OrderView
from pki.identity import key_sha1
from pki.pem import load_pem_certificate
from pki.rawlog import ListSink
from pki.reasons import RevocationReason
from pki.store.base import CertStatus
from pki.store.sqlite import SqliteStore
from tests.conftest import PkiHome, make_home
from tests.issuance.support import ScriptedBackend, make_csr, utc_now

GRANT = Grant.build(
    "api:web",
    ["*.corp.example", "**.svc.corp.example", "10.1.0.0/16"],
    ["tls-server", "short"],
    "1000/minute",
)


# The grants renewals look up again: who obtained a certificate, if still allowed.
ACTIVE: dict[str, Grant] = {GRANT.requester: GRANT}


@dataclass
class Rig:
    service: IssuanceService
    events: ListSink
    store: SqliteStore
    home: PkiHome
    backends: dict[str, CaBackend]

    @property
    def internal(self) -> CaBackend:
        return self.backends["internal"]


@pytest.fixture(scope="module")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> PkiHome:
    return make_home(tmp_path_factory.mktemp("issuance-home"))


def build(home: PkiHome, tmp: Path, settings: dict[str, Any], **extra: CaBackend) -> Rig:
    layout = home.home.pki
    context = BackendContext(layout=layout, state_dir=tmp / "backends", clock=utc_now)
    internal = InternalBackend.from_settings("internal", InternalBackendSettings(), context)
    backends: dict[str, CaBackend] = {"internal": internal, **extra}
    store = SqliteStore(layout.store)
    events = ListSink()
    service = IssuanceService(
        settings=IssuanceSettings.model_validate(settings),
        store=store,
        state=StateDb(tmp / "state.sqlite"),
        events=events,
        backends=backends,
        clock=utc_now,
        grants=ACTIVE.get,
        submit_wait_seconds=0.5,
    )
    return Rig(service, events, store, home, backends)


@pytest.fixture
def rig(ca_home: PkiHome, tmp_path: Path) -> Iterator[Rig]:
    made = build(
        ca_home,
        tmp_path,
        {
            "domains": ["corp.example", "10.0.0.0/8"],
            "deny": ["**.secret.corp.example"],
            "profiles": {"short": {"validity_days": 7, "max_validity_days": 14}},
        },
    )
    yield made
    made.service.close()
    made.store.close()


def problem_of(excinfo: pytest.ExceptionInfo[Problem]) -> dict[str, Any]:
    return excinfo.value.body()


def issue(rig: Rig, names: list[str], **kwargs: Any) -> CertificateView:
    csr, _ = make_csr(names)
    result = rig.service.issue(IssueRequest(csr=csr, profile="tls-server", **kwargs), GRANT)
    assert isinstance(result, CertificateView)
    return result


def test_issues_under_the_profile_and_records_everywhere(rig: Rig) -> None:
    view = issue(rig, ["www.corp.example", "10.1.2.3"])
    leaf = x509.load_pem_x509_certificate(view.certificate.encode())  # type: ignore[union-attr]
    chain = x509.load_pem_x509_certificates(view.chain.encode())  # type: ignore[union-attr]
    leaf.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(chain[1])
    assert view.serial == f"{leaf.serial_number:x}".zfill(len(view.serial))
    assert view.issuer == key_sha1(chain[0])
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in sans] == ["www.corp.example", "10.1.2.3"]
    ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(ekus) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=30, minutes=5)
    # renewal window: from 2/3 of the lifetime, halfway to expiry
    lifetime = view.not_after - view.not_before
    assert abs((view.renewal_start - view.not_before) - lifetime * 2 / 3) < timedelta(seconds=1)
    assert view.not_before < view.renewal_start < view.renewal_end < view.not_after
    record = rig.store.get(view.issuer, view.serial)
    assert record is not None and record.requester == "api:web" and record.ca_backend == "internal"
    [event] = rig.events.records
    assert event["event"] == "issued" and event["requester"] == "api:web"
    assert event["ca_backend"] == "internal" and event["profile"] == "tls-server"
    assert event["sans"] == ["www.corp.example", "10.1.2.3"] and event["request_id"]
    again = rig.service.certificate(view.issuer, view.serial)
    assert again.certificate == view.certificate and again.status == "good"


def test_sans_narrow_the_csr_and_never_widen_it(rig: Rig) -> None:
    view = issue(rig, ["a.corp.example", "b.corp.example"], sans=("B.corp.example.",))
    assert view.names == ("b.corp.example",)
    with pytest.raises(Problem) as excinfo:
        issue(rig, ["a.corp.example"], sans=("c.corp.example",))
    body = problem_of(excinfo)
    assert body["type"].endswith("name-not-allowed") and body["rule"] == "not-in-csr"
    assert body["name"] == "c.corp.example"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("deep.er.corp.example", "grant"),  # *.corp.example is one label only
        ("x.secret.corp.example", "deny:**.secret.corp.example"),
        ("www.other.example", "domains"),
        ("10.2.0.1", "grant"),  # inside domains, outside the token's CIDR
        ("192.168.1.1", "domains"),
    ],
)
def test_a_refusal_names_the_name_and_the_rule(rig: Rig, name: str, rule: str) -> None:
    with pytest.raises(Problem) as excinfo:
        issue(rig, ["ok.corp.example", name])
    body = problem_of(excinfo)
    assert body["status"] == 403 and body["name"] == name and body["rule"] == rule
    assert name in body["detail"]
    assert rig.events.records == []


def test_public_suffixes_are_refused_whatever_the_grant(rig: Rig, tmp_path: Path) -> None:
    wide = Grant.build(
        "api:wide", ["**.co.uk", "*.github.io", "co.uk"], ["tls-server"], "10/minute"
    )
    open_rig = build(rig.home, tmp_path / "open", {})
    try:
        for name in ("co.uk", "*.github.io"):
            csr, _ = make_csr([name])
            with pytest.raises(Problem) as excinfo:
                open_rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), wide)
            assert problem_of(excinfo)["rule"] == "public-suffix"
        csr, _ = make_csr(["shop.example.co.uk"])
        assert isinstance(
            open_rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), wide),
            CertificateView,
        )
    finally:
        open_rig.service.close()
        open_rig.store.close()


def test_validity_within_bounds(rig: Rig) -> None:
    csr, _ = make_csr(["v.corp.example"])
    view = rig.service.issue(IssueRequest(csr=csr, profile="short", validity_days=14), GRANT)
    assert isinstance(view, CertificateView)
    assert view.not_after - view.not_before == timedelta(days=14, minutes=5)
    for days in (15, 0):
        with pytest.raises(Problem) as excinfo:
            rig.service.issue(IssueRequest(csr=csr, profile="short", validity_days=days), GRANT)
        body = problem_of(excinfo)
        assert body["type"].endswith("validity-out-of-bounds")
        assert (body["minimum"], body["maximum"]) == (1, 14)


def test_profiles_unknown_or_not_granted(rig: Rig) -> None:
    csr, _ = make_csr(["p.corp.example"])
    with pytest.raises(Problem) as excinfo:
        rig.service.issue(IssueRequest(csr=csr, profile="nope"), GRANT)
    assert problem_of(excinfo)["type"].endswith("unknown-profile")
    narrow = Grant.build("api:narrow", ["*.corp.example"], ["tls-server"], "10/minute")
    with pytest.raises(Problem) as excinfo:
        rig.service.issue(IssueRequest(csr=csr, profile="short"), narrow)
    assert "may use" in problem_of(excinfo)["detail"]


def test_bad_csrs_get_their_own_problem_types(rig: Rig) -> None:
    good, _ = make_csr(["k.corp.example"])
    weak_rsa, _ = make_csr(["k.corp.example"], key=rsa.generate_private_key(65537, 1024))
    small_curve, _ = make_csr(["k.corp.example"], key=ec.generate_private_key(ec.SECP224R1()))
    truncated = good[: len(good) // 2] + "\n-----END CERTIFICATE REQUEST-----\n"
    cases = {
        "malformed-csr": [
            "not a csr",
            good.replace("CERTIFICATE REQUEST", "CERTIFICATE"),
            truncated,
        ],
        "weak-key": [weak_rsa, small_curve],
    }
    for kind, bodies in cases.items():
        for body in bodies:
            with pytest.raises(Problem) as excinfo:
                rig.service.issue(IssueRequest(csr=body, profile="tls-server"), GRANT)
            assert problem_of(excinfo)["type"].endswith(kind), body[:40]


def forged_csr(names: list[str]) -> str:
    """A CSR whose body names one key and whose signature comes from another: what an
    attacker sends to get a certificate for a key they do not hold."""
    victim = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem, _ = make_csr(names)
    request = asn1_csr.CertificationRequest.load(
        x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
    )
    request["certification_request_info"]["subject_pk_info"] = asn1_keys.PublicKeyInfo.load(
        victim.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    body = base64.encodebytes(request.dump(force=True)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_a_csr_with_a_forged_signature_is_refused(rig: Rig) -> None:
    with pytest.raises(Problem) as excinfo:
        rig.service.issue(
            IssueRequest(csr=forged_csr(["f.corp.example"]), profile="tls-server"), GRANT
        )
    assert problem_of(excinfo)["type"].endswith("bad-csr-signature")
    assert rig.events.records == []


def test_rate_limit_gives_retry_after(rig: Rig) -> None:
    slow = Grant.build("api:slow", ["*.corp.example"], ["tls-server"], "2/minute")
    csr, _ = make_csr(["r.corp.example"])
    for _ in range(2):
        rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), slow)
    with pytest.raises(Problem) as excinfo:
        rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), slow)
    assert problem_of(excinfo)["status"] == 429
    assert excinfo.value.retry_after is not None and 1 <= excinfo.value.retry_after <= 60


def test_fallback_when_a_backend_is_unavailable_not_when_it_refuses(
    ca_home: PkiHome, tmp_path: Path
) -> None:
    down = ScriptedBackend("down", fail=BackendUnavailableError)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["primary", "internal"]}},
            "backends": {"primary": {"type": "internal"}},
        },
        primary=down,
    )
    try:
        view = issue(rig, ["fb.corp.example"])
        assert view.ca_backend == "internal" and len(down.submitted) == 1
        assert rig.events.records[-1]["ca_backend"] == "internal"
        rig.backends["primary"] = ScriptedBackend("primary", fail=BackendRefusedError)
        rig.service._opened.clear()  # the next lookup opens the refusing one
        with pytest.raises(Problem) as excinfo:
            issue(rig, ["fb.corp.example"])
        body = problem_of(excinfo)
        assert body["type"].endswith("backend-refused") and body["backend"] == "primary"
        rig.backends["primary"] = ScriptedBackend("primary", fail=BackendUnavailableError)
        rig.backends["internal"] = ScriptedBackend("internal", fail=BackendUnavailableError)
        rig.service._opened.clear()
        with pytest.raises(Problem) as excinfo:
            issue(rig, ["fb.corp.example"])
        body = problem_of(excinfo)
        assert body["status"] == 503 and excinfo.value.retry_after
        assert [b["backend"] for b in body["backends"]] == ["primary", "internal"]
    finally:
        rig.service.close()
        rig.store.close()


def test_asynchronous_backend_gives_an_order_to_collect(ca_home: PkiHome, tmp_path: Path) -> None:
    base = build(ca_home, tmp_path / "base", {})
    later = ScriptedBackend("pca", inner=base.internal, pending_polls=1)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["pca"]}},
            "backends": {"pca": {"type": "internal"}},
        },
        pca=later,
    )
    try:
        csr, _ = make_csr(["later.corp.example"])
        first = rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), GRANT)
        assert isinstance(first, OrderView) and first.status == "pending"
        assert first.retry_after == 2 and rig.events.records == []
        other = Grant.build("api:other", ["*.corp.example"], ["tls-server"], "10/minute")
        with pytest.raises(Problem):
            rig.service.order(first.order_id, other.requester)  # not the requester's
        second = rig.service.order(first.order_id, GRANT.requester)
        assert isinstance(second, OrderView) and second.status == "pending"
        done = rig.service.order(first.order_id, GRANT.requester)
        assert isinstance(done, CertificateView) and done.ca_backend == "pca"
        assert rig.events.records[-1]["request_id"] == first.order_id
        again = rig.service.order(first.order_id, GRANT.requester)  # twice: same certificate
        assert isinstance(again, CertificateView) and again.serial == done.serial
        assert len(rig.events.records) == 1
    finally:
        rig.service.close()
        rig.store.close()
        base.service.close()
        base.store.close()


def test_a_slow_backend_finishes_in_the_background(ca_home: PkiHome, tmp_path: Path) -> None:
    base = build(ca_home, tmp_path / "base", {})

    class Slow(ScriptedBackend):
        def submit(self, order):  # type: ignore[no-untyped-def]
            time.sleep(1.5)  # longer than the rig's 0.5 s wait
            return super().submit(order)

    slow = Slow("acme", inner=base.internal, slow=True)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["acme"]}},
            "backends": {"acme": {"type": "internal"}},
        },
        acme=slow,
    )
    try:
        csr, _ = make_csr(["slow.corp.example"])
        first = rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), GRANT)
        assert isinstance(first, OrderView) and first.status == "processing"
        deadline = time.monotonic() + 30
        while True:
            result = rig.service.order(first.order_id, GRANT.requester)
            if isinstance(result, CertificateView) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert isinstance(result, CertificateView) and result.ca_backend == "acme"
    finally:
        rig.service.close()
        rig.store.close()
        base.service.close()
        base.store.close()


def test_renewal_needs_a_new_key_and_the_same_names(rig: Rig) -> None:
    csr, key = make_csr(["ren.corp.example", "ren2.corp.example"])
    view = rig.service.issue(IssueRequest(csr=csr, profile="short"), GRANT)
    assert isinstance(view, CertificateView)
    current = x509.load_pem_x509_certificate(view.certificate.encode())  # type: ignore[union-attr]
    same_key, _ = make_csr(["ren.corp.example", "ren2.corp.example"], key=key)
    with pytest.raises(Problem) as excinfo:
        rig.service.renew(current, same_key)
    assert problem_of(excinfo)["type"].endswith("same-key")
    fewer, _ = make_csr(["ren.corp.example"])
    with pytest.raises(Problem) as excinfo:
        rig.service.renew(current, fewer)
    assert problem_of(excinfo)["rule"] == "renewal-names"
    fresh, _ = make_csr(["ren2.corp.example", "ren.corp.example"])
    renewed = rig.service.renew(current, fresh)
    assert isinstance(renewed, CertificateView)
    assert renewed.serial != view.serial and renewed.profile == "short"
    assert renewed.requester == "api:web"
    event = rig.events.records[-1]
    assert event["event"] == "renewed" and event["renews"] == view.serial


def test_renewal_refuses_foreign_and_revoked_certificates(rig: Rig) -> None:
    stranger = load_pem_certificate(rig.home.good)  # issued by `certsight issue`, not the API
    fresh, _ = make_csr(["good.example.test"])
    with pytest.raises(Problem) as excinfo:
        rig.service.renew(stranger, fresh)
    assert problem_of(excinfo)["status"] == 403
    view = issue(rig, ["gone.corp.example"])
    rig.service.revoke(view.issuer, view.serial, RevocationReason.superseded, GRANT)
    current = x509.load_pem_x509_certificate(view.certificate.encode())  # type: ignore[union-attr]
    fresh, _ = make_csr(["gone.corp.example"])
    with pytest.raises(Problem) as excinfo:
        rig.service.renew(current, fresh)
    assert "revoked" in problem_of(excinfo)["detail"]


def test_revocation_reaches_the_store_and_the_events(rig: Rig) -> None:
    view = issue(rig, ["rev.corp.example"])
    outsider = Grant.build("api:outsider", ["*.other.example"], ["tls-server"], "10/minute")
    with pytest.raises(Problem) as excinfo:
        rig.service.revoke(view.issuer, view.serial, RevocationReason.keyCompromise, outsider)
    assert problem_of(excinfo)["status"] == 403
    with pytest.raises(Problem) as excinfo:
        rig.service.revoke(view.issuer, view.serial, RevocationReason.certificateHold, GRANT)
    assert problem_of(excinfo)["type"].endswith("bad-revocation-reason")
    revoked = rig.service.revoke(view.issuer, view.serial, RevocationReason.keyCompromise, GRANT)
    assert revoked.status == "revoked" and revoked.revocation_reason == "keyCompromise"
    record = rig.store.get(view.issuer, view.serial)
    assert record is not None and record.status is CertStatus.revoked
    assert rig.events.records[-1]["event"] == "revoked"
    with pytest.raises(Problem) as excinfo:
        rig.service.revoke(view.issuer, view.serial, RevocationReason.keyCompromise, GRANT)
    assert problem_of(excinfo)["status"] == 409
    with pytest.raises(Problem) as excinfo:
        rig.service.revoke(view.issuer, "00ff", RevocationReason.keyCompromise, GRANT)
    assert problem_of(excinfo)["status"] == 404


def test_revocation_tells_an_external_backend(ca_home: PkiHome, tmp_path: Path) -> None:
    base = build(ca_home, tmp_path / "base", {})
    external = ScriptedBackend("ext", inner=base.internal)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["ext"]}},
            "backends": {"ext": {"type": "internal"}},
        },
        ext=external,
    )
    try:
        view = issue(rig, ["ext.corp.example"])
        rig.service.revoke(view.issuer, view.serial, RevocationReason.superseded, GRANT)
        assert external.revoked == [(int(view.serial, 16), RevocationReason.superseded)]
    finally:
        rig.service.close()
        rig.store.close()
        base.service.close()
        base.store.close()


def test_renewal_stops_when_the_grant_is_gone(rig: Rig) -> None:
    """A revoked token (or a removed principal) renews nothing, and a grant narrowed
    since no longer covers the names."""
    gone = Grant.build("api:gone", ["*.corp.example"], ["tls-server"], "100/minute")
    csr, _ = make_csr(["left.corp.example"])
    view = rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), gone)
    assert isinstance(view, CertificateView)
    current = x509.load_pem_x509_certificate(view.certificate.encode())  # type: ignore[union-attr]
    fresh, _ = make_csr(["left.corp.example"])
    with pytest.raises(Problem) as excinfo:
        rig.service.renew(current, fresh)
    assert problem_of(excinfo)["status"] == 403 and "no longer" in problem_of(excinfo)["detail"]
    ACTIVE["api:gone"] = Grant.build("api:gone", ["only.corp.example"], ["tls-server"], "9/minute")
    try:
        with pytest.raises(Problem) as excinfo:
            rig.service.renew(current, fresh)
        assert problem_of(excinfo)["rule"] == "grant"
    finally:
        del ACTIVE["api:gone"]


def test_a_wildcard_cannot_cover_a_denied_name(rig: Rig) -> None:
    settings = {"deny": ["vault.corp.example"]}
    guarded = build(rig.home, rig.home.home.root / "guarded", settings)
    try:
        csr, _ = make_csr(["*.corp.example"])
        with pytest.raises(Problem) as excinfo:
            guarded.service.issue(IssueRequest(csr=csr, profile="tls-server"), GRANT)
        assert problem_of(excinfo)["rule"] == "deny:vault.corp.example"
        csr, _ = make_csr(["*.other.corp.example"])
        wide = Grant.build("api:w", ["**.corp.example"], ["tls-server"], "9/minute")
        issued = guarded.service.issue(IssueRequest(csr=csr, profile="tls-server"), wide)
        assert isinstance(issued, CertificateView)
    finally:
        guarded.service.close()
        guarded.store.close()


class Overreaching(ScriptedBackend):
    """A CA that certifies the CSR as it is, names and subject included."""

    def submit(self, order):  # type: ignore[no-untyped-def]
        self.submitted.append(order)
        assert self.inner is not None
        csr = order.csr
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        from dataclasses import replace as copy

        widened = copy(order, names=tuple(str(n.value) for n in sans))
        return self.inner.submit(widened)


def test_a_ca_that_certifies_the_csr_as_is_gets_no_narrowed_order(
    ca_home: PkiHome, tmp_path: Path
) -> None:
    base = build(ca_home, tmp_path / "base", {})
    as_is = Overreaching("pca", inner=base.internal)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["pca"]}},
            "backends": {"pca": {"type": "internal"}},
        },
        pca=as_is,
    )
    try:
        csr, _ = make_csr(["mine.corp.example", "victim.elsewhere.example"])
        with pytest.raises(Problem) as excinfo:
            rig.service.issue(
                IssueRequest(csr=csr, profile="tls-server", sans=("mine.corp.example",)), GRANT
            )
        assert problem_of(excinfo)["type"].endswith("backend-refused")
        assert as_is.submitted == []  # never sent
        csr, _ = make_csr(["ok.corp.example"], common_name="Bank Ltd")
        with pytest.raises(Problem) as excinfo:
            rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), GRANT)
        assert "CN" in problem_of(excinfo)["detail"] and as_is.submitted == []
    finally:
        rig.service.close()
        rig.store.close()
        base.service.close()
        base.store.close()


def test_a_certificate_with_unchecked_names_is_withdrawn_not_delivered(
    ca_home: PkiHome, tmp_path: Path
) -> None:
    base = build(ca_home, tmp_path / "base", {})

    class Sneaky(ScriptedBackend):
        @property
        def certifies_csr_as_is(self) -> bool:
            return False

        def submit(self, order):  # type: ignore[no-untyped-def]
            from dataclasses import replace as copy

            assert self.inner is not None
            return self.inner.submit(copy(order, names=(*order.names, "extra.corp.example")))

    sneaky = Sneaky("odd", inner=base.internal)
    rig = build(
        ca_home,
        tmp_path,
        {
            "profiles": {"tls-server": {"backends": ["odd"]}},
            "backends": {"odd": {"type": "internal"}},
        },
        odd=sneaky,
    )
    try:
        with pytest.raises(Problem) as excinfo:
            issue(rig, ["fine.corp.example"])
        assert "names differ" in problem_of(excinfo)["detail"]
        assert [reason for _, reason in sneaky.revoked] == [RevocationReason.cessationOfOperation]
        assert rig.events.records == []
    finally:
        rig.service.close()
        rig.store.close()
        base.service.close()
        base.store.close()
