"""Early renewal: a certificate due before its profile's window -- flagged by an analyst
(`certsight renew-early`), revoked, issued by a CA being retired, or found by the
warehouse validated after its revocation -- has its window moved to now, everywhere the
window is read (the service's view, GET /v1/certificates over real HTTP)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from certsight.cli import main
from certsight.demo import _ingest_every
from certsight.settings import CertsightSettings, Home, SettingsError
from issuance.early_renewal import EarlyRenewals, Source, moved_window
from issuance.runtime import open_state
from issuance.service import IssueRequest
from issuance.settings import EarlyRenewalSettings
from issuance.statedb import StateDb
from issuance.views import CertificateView
from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus
from pki.store.sqlite import SqliteStore
from tests.conftest import PkiHome, make_home
from tests.issuance.support import make_csr, utc_now
from tests.issuance.test_api import Api, api, certsight  # noqa: F401 - the fixture
from tests.issuance.test_service import GRANT, Rig, build
from tests.warehouse.conftest import CA, START, make_scenario

SLACK = timedelta(minutes=5)  # "now" in a window: between the test's start and its end


@pytest.fixture(scope="module")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> PkiHome:
    return make_home(tmp_path_factory.mktemp("early-renewal-home"))


def rig_with(ca_home: PkiHome, tmp: Path, **early: Any) -> Rig:
    return build(
        ca_home,
        tmp,
        {"domains": ["corp.example", "10.0.0.0/8"], "early_renewal": early},
    )


@pytest.fixture
def rig(ca_home: PkiHome, tmp_path: Path) -> Iterator[Rig]:
    made = rig_with(ca_home, tmp_path)
    yield made
    made.service.close()
    made.store.close()


def issue(rig: Rig, name: str) -> CertificateView:
    csr, _ = make_csr([name])
    view = rig.service.issue(IssueRequest(csr=csr, profile="tls-server"), GRANT)
    assert isinstance(view, CertificateView)
    return view


def is_now(moment: datetime, before: datetime) -> bool:
    return before - timedelta(seconds=1) <= moment <= utc_now()


# -- the window itself ------------------------------------------------------------------


def test_a_flag_never_postpones_a_window_already_open() -> None:
    normal = (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 10, tzinfo=UTC))
    hour = timedelta(hours=1)
    # flagged before the window: it moves to the flag, for an hour
    early = datetime(2026, 11, 20, tzinfo=UTC)
    assert moved_window(normal, early, hour) == (early, early + hour)
    # flagged inside it: it ends an hour later, its start stays
    inside = datetime(2026, 12, 5, tzinfo=UTC)
    assert moved_window(normal, inside, hour) == (normal[0], inside + hour)
    # flagged after it: unchanged (already overdue)
    assert moved_window(normal, datetime(2026, 12, 20, tzinfo=UTC), hour) == normal


def test_an_unflagged_certificate_keeps_its_profile_window(rig: Rig) -> None:
    view = issue(rig, "plain.corp.example")
    again = rig.service.certificate(view.issuer, view.serial)
    assert view.renewal_start > view.not_before + timedelta(days=19)
    assert again.renewal_start == view.renewal_start and again.early_renewal == ()
    assert again.body()["renewal"]["early"] == [] and again.renewal_reason is None


# -- sources ----------------------------------------------------------------------------


def test_an_analyst_flag_moves_the_window_to_now_with_its_reason(rig: Rig) -> None:
    view = issue(rig, "flagged.corp.example")
    record = rig.store.get(view.issuer, view.serial)
    assert record is not None
    before = utc_now()
    rig.service.early_renewals.flag(record, Source.analyst, "key on a laptop that was stolen", "al")
    moved = rig.service.certificate(view.issuer, view.serial)
    assert is_now(moved.renewal_start, before)
    assert moved.renewal_end - moved.renewal_start == timedelta(minutes=60)  # the default
    assert moved.renewal_reason == "analyst: key on a laptop that was stolen"
    early = moved.body()["renewal"]["early"]
    assert [(e["source"], e["reason"]) for e in early] == [
        ("analyst", "key on a laptop that was stolen")
    ]
    # flagged again (a corrected reason): the window clients saw stays where it was
    rig.service.early_renewals.flag(record, Source.analyst, "stolen laptop, ticket 4411", "al")
    again = rig.service.certificate(view.issuer, view.serial)
    assert again.renewal_start == moved.renewal_start
    assert again.renewal_reason == "analyst: stolen laptop, ticket 4411"


def test_a_revoked_certificate_is_due_from_its_revocation(rig: Rig) -> None:
    """Its holder must deploy a replacement: the window of the revoked one says so."""
    view = issue(rig, "revoked.corp.example")
    revoked = rig.service.revoke(view.issuer, view.serial, RevocationReason.keyCompromise, GRANT)
    assert revoked.revoked_at is not None
    assert revoked.renewal_start == revoked.revoked_at
    assert [e.source for e in revoked.early_renewal] == [Source.revoked]
    assert "keyCompromise" in (revoked.renewal_reason or "")


def test_every_certificate_of_a_retiring_ca_is_due_and_stays_due(
    ca_home: PkiHome, tmp_path: Path
) -> None:
    before = utc_now()
    retiring = rig_with(ca_home, tmp_path, retiring_cas=["internal"], window_minutes=30)
    try:
        view = issue(retiring, "old-ca.corp.example")  # a retiring CA that still issues
        assert is_now(view.renewal_start, before)
        assert view.renewal_end - view.renewal_start == timedelta(minutes=30)
        assert [e.source for e in view.early_renewal] == [Source.retiring_ca]
        assert "being retired" in (view.renewal_reason or "")
        first = retiring.service.certificate(view.issuer, view.serial)
    finally:
        retiring.service.close()
        retiring.store.close()
    # another process on the same state (a restart, a second worker): the same window,
    # since a window that restarted at every check would never be reached by ACME clients
    again = rig_with(ca_home, tmp_path, retiring_cas=[view.issuer.upper()], window_minutes=30)
    try:
        later = again.service.certificate(view.issuer, view.serial)
    finally:
        again.service.close()
        again.store.close()
    assert (later.renewal_start, later.renewal_end) == (first.renewal_start, first.renewal_end)
    # the CA taken off the list: the profile's window again
    kept = rig_with(ca_home, tmp_path)
    try:
        back = kept.service.certificate(view.issuer, view.serial)
    finally:
        kept.service.close()
        kept.store.close()
    assert back.early_renewal == () and back.renewal_start > view.not_before + timedelta(days=19)


def test_retiring_cas_must_name_a_backend_or_an_issuer_key() -> None:
    with pytest.raises(SettingsError) as caught:
        CertsightSettings.parse({"issuance": {"early_renewal": {"retiring_cas": ["old-pca"]}}})
    assert "'old-pca' is neither a CA backend (internal) nor an issuer key SHA-1" in str(
        caught.value
    )
    with pytest.raises(SettingsError, match="window_minutes: must be >= 1, not 0"):
        CertsightSettings.parse({"issuance": {"early_renewal": {"window_minutes": 0}}})


# -- certsight renew-early --------------------------------------------------------------


def run_cli(home: PkiHome, *args: str) -> Any:
    return CliRunner().invoke(main, ["renew-early", *args, "--home", str(home.home.root)])


def stored_flags(home: PkiHome, issuer: str, serial: str) -> list[dict[str, Any]]:
    state = open_state(home.home.issuance)
    try:
        return state.early_renewals(issuer, serial)
    finally:
        state.close()


def test_renew_early_refuses_unknown_and_ambiguous_serials(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    unknown = run_cli(home, "0badcafe", "--reason", "x")
    assert unknown.exit_code == 1
    assert "no certificate with serial 0badcafe in the store" in unknown.output
    # the same serial under a second CA: the command cannot guess which is meant
    store = SqliteStore(home.home.pki.store)
    mine = store.find_serial(home.good_serial)[0]
    other = "ab" * 20
    store.add(CertificateRecord(**{**_fields(mine), "issuer_key_sha1": other}))
    store.close()
    ambiguous = run_cli(home, home.good_serial, "--reason", "x")
    assert ambiguous.exit_code == 1
    assert f"serial {home.good_serial} exists under several issuers" in ambiguous.output
    assert "pass --issuer" in ambiguous.output
    assert stored_flags(home, other, home.good_serial) == []
    chosen = run_cli(home, home.good_serial, "--issuer", other.upper(), "--reason", "move it")
    assert chosen.exit_code == 0, chosen.output
    assert [f["reason"] for f in stored_flags(home, other, home.good_serial)] == ["move it"]
    assert stored_flags(home, mine.issuer_key_sha1, home.good_serial) == []


def test_renew_early_needs_a_reason_or_clear(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    missing = run_cli(home, home.good_serial)
    assert missing.exit_code == 2 and "give --reason TEXT" in missing.output
    blank = run_cli(home, home.good_serial, "--reason", "   ")
    assert blank.exit_code == 2 and "needs a reason" in blank.output
    nothing = run_cli(home, home.good_serial, "--clear")
    assert nothing.exit_code == 1 and "has no early-renewal flag from an analyst" in nothing.output


def test_renew_early_moves_the_window_the_api_serves_and_clear_restores_it(api: Api) -> None:  # noqa: F811
    """Over real HTTP: the running `certsight serve issuance` reads the flag the CLI wrote
    into the shared state, with no restart."""
    csr, _ = make_csr(["ari.corp.example"])
    with api.client() as client:
        made = client.post("/v1/certificates", json={"csr": csr})
        assert made.status_code == 201, made.text
        body = made.json()
        path = f"/v1/certificates/{body['issuer']}/{body['serial']}"
        normal = client.get(path).json()["renewal"]
        assert normal["early"] == [] and normal["start"] > body["not_before"]
        before = utc_now()
        flagged = certsight(
            api.home, "renew-early", body["serial"].upper(), "--reason", "decommissioned host"
        )
        assert flagged.returncode == 0, flagged.stderr
        assert f"flagged {body['serial']}" in flagged.stdout
        moved = client.get(path).json()["renewal"]
        cleared = certsight(api.home, "renew-early", body["serial"], "--clear")
        assert cleared.returncode == 0, cleared.stderr
        restored = client.get(path).json()["renewal"]
    start = datetime.fromisoformat(moved["start"])
    assert before - timedelta(seconds=1) <= start <= utc_now()
    assert datetime.fromisoformat(moved["end"]) - start == timedelta(minutes=60)
    assert [(e["source"], e["reason"]) for e in moved["early"]] == [
        ("analyst", "decommissioned host")
    ]
    assert restored == normal


def _fields(record: CertificateRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in CertificateRecord.__slots__}


def test_flags_of_different_sources_are_kept_apart(tmp_path: Path, ca_home: PkiHome) -> None:
    """Clearing the analyst's flag leaves the warehouse's: the certificate stays due."""
    state = StateDb(tmp_path / "state.sqlite")
    try:
        early = EarlyRenewals(state, EarlyRenewalSettings(), utc_now)
        record = SqliteStore(ca_home.home.pki.store).find_serial(ca_home.good_serial)[0]
        early.flag(record, Source.revoked_still_validated, "validated after revocation", "wh")
        early.flag(record, Source.analyst, "also flagged by hand", "al")
        assert early.clear(record, Source.analyst)
        assert not early.clear(record, Source.analyst)
        assert [f.source for f in early.flags(record)] == [Source.revoked_still_validated]
    finally:
        state.close()


# -- the warehouse's finding --------------------------------------------------------------


@pytest.mark.slow  # a real dbt build of the warehouse fixture: about 25 s
def test_certsight_runs_round_flags_revoked_certificates_still_validated(tmp_path: Path) -> None:
    """The warehouse fixture (0101 revoked on day 7, validated on day 9 by 10.1.0.66),
    built by one round of `certsight run`'s loop, which then feeds the finding into the
    issuance state through files only; `renew-early --from-warehouse` repeats it."""
    scenario = make_scenario(tmp_path)
    home = Home(scenario.home)
    store = SqliteStore(home.pki.store)
    revoked_at = START + timedelta(days=7)
    store.add(
        CertificateRecord(
            issuer_key_sha1=CA.key_sha1,
            serial="0101",
            subject="CN=www.corp",
            sans=("www.corp", "10.20.0.1"),
            not_before=START - timedelta(days=20),
            not_after=START + timedelta(days=27),
            profile="tls-server",
            status=CertStatus.revoked,
            revoked_at=revoked_at,
            revocation_reason=RevocationReason.keyCompromise,
        )
    )
    record = store.get(CA.key_sha1, "0101")
    store.close()
    assert record is not None
    out = io.StringIO()
    stop = threading.Event()
    stop.set()  # one round
    _ingest_every(home, 60.0, stop, Console(file=out, width=200))
    assert "1 revoked certificate(s) still validated: their renewal window is now (0101)" in (
        out.getvalue()
    )
    state = open_state(home.issuance)
    try:
        early = EarlyRenewals(state, EarlyRenewalSettings(), utc_now)
        flags = early.flags(record)
        assert [f.source for f in flags] == [Source.revoked_still_validated]
        assert flags[0].flagged_by == "warehouse"
        assert "validated after its revocation" in flags[0].reason
        assert "keyCompromise" in flags[0].reason
        assert "10.1.0.66" not in flags[0].reason  # client addresses stay in the warehouse
        # what a holder is told: both reasons, the window from the revocation
        normal = (START + timedelta(days=11), START + timedelta(days=19))
        window = early.window(record, normal)
        assert window.start == revoked_at
        assert [f.source for f in window.early] == [
            Source.revoked,
            Source.revoked_still_validated,
        ]
    finally:
        state.close()
    again = CliRunner().invoke(main, ["renew-early", "--from-warehouse", "--home", str(home.root)])
    assert again.exit_code == 0, again.output
    assert "1 revoked certificate(s) still validated" in again.output
    state = open_state(home.issuance)
    try:  # the same flag: its time, and so the window clients saw, did not move
        assert [row["flagged_at"] for row in state.early_renewals(CA.key_sha1, "0101")] == [
            flags[0].flagged_at.isoformat()
        ]
    finally:
        state.close()


def test_no_warehouse_yet_is_said_plainly(tmp_path: Path) -> None:
    fed = CliRunner().invoke(
        main, ["renew-early", "--from-warehouse", "--home", str(tmp_path / "home")]
    )
    assert fed.exit_code == 1
    assert "warehouse.duckdb does not exist yet: run `certsight build` first" in fed.output


def test_a_flag_from_an_unknown_source_is_skipped_not_fatal(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A newer version sharing the state may write sources this one does not know."""
    view = issue(rig, "future.corp.example")
    other = StateDb(tmp_path / "state.sqlite")  # the rig's state file, as another process
    try:
        other.flag_early_renewal(
            {
                "issuer_key_sha1": view.issuer,
                "serial": view.serial,
                "source": "quantum-weak",
                "reason": "from a later version",
                "flagged_at": utc_now().isoformat(),
                "flagged_by": "future",
            },
            refresh_reason=True,
        )
    finally:
        other.close()
    with caplog.at_level("WARNING", logger="issuance.early_renewal"):
        again = rig.service.certificate(view.issuer, view.serial)
    assert again.renewal_start == view.renewal_start and again.early_renewal == ()
    assert "unknown source 'quantum-weak': ignored" in caplog.text
