"""Order readiness (RFC 8555 7.1.6): the order is ready as soon as its last
authorization is valid, on both state backends.

The ACME ``Orders`` core runs in-process on a real store, a real issuance service and a
real validator fetching http-01 answers from a loopback server. The store is wrapped by
an observer that, after every write, reads the rows back the way a polling client
would: no moment may show every authorization valid and the order still pending
(``poll_and_finalize`` finalizes at that moment and would get orderNotReady).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256

from issuance.acme.accounts import Accounts
from issuance.acme.ari import IssuerIndex
from issuance.acme.dynamodb_store import DynamoAcmeStore
from issuance.acme.eab import EabKeys
from issuance.acme.jws import SignedRequest
from issuance.acme.orders import Orders
from issuance.acme.problems import AcmeError
from issuance.acme.resources import Urls
from issuance.acme.settings import AcmeSettings
from issuance.acme.state import AcmeState, Write, open_acme_state
from issuance.acme.validation import Validator, key_authorization
from issuance.backends.base import BackendContext, CaBackend
from issuance.backends.internal import InternalBackend
from issuance.backends.settings import InternalBackendSettings
from issuance.service import IssuanceService
from issuance.settings import IssuanceSettings
from issuance.statedb import StateDb
from pki.rawlog import ListSink
from pki.store.sqlite import SqliteStore
from tests.conftest import PkiHome
from tests.issuance.acme.support import ChallengeServer, make_csr, new_key
from tests.issuance.support import utc_now

URLS = Urls("https://127.0.0.1:8443/acme")
THUMB = b"\x01" * 32


@dataclass
class Observed:
    """An ``AcmeState`` that, after each write, reads every order back and notes any
    whose authorizations all read valid while the order reads pending."""

    inner: AcmeState
    torn: list[str] = field(default_factory=list)

    def _look(self) -> None:
        for order in self.inner.all("acme_orders"):
            authz = [self.inner.get("acme_authz", key) for key in order["authorizations"]]
            if order["status"] == "pending" and all(
                a is not None and a["status"] == "valid" for a in authz
            ):
                self.torn.append(str(order["id"]))

    def insert(self, table: str, row: dict[str, Any]) -> bool:
        return self.inner.insert(table, row)

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        return self.inner.get(table, key)

    def find(self, table: str, column: str, value: str) -> dict[str, Any] | None:
        return self.inner.find(table, column, value)

    def select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        return self.inner.select(table, column, value)

    def all(self, table: str) -> list[dict[str, Any]]:
        return self.inner.all(table)

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        when_status: tuple[str, ...] | None = None,
    ) -> bool:
        done = self.inner.update(table, key, changes, when_status=when_status)
        self._look()
        return done

    def update_together(self, writes: Sequence[Write]) -> bool:
        done = self.inner.update_together(writes)
        self._look()
        return done

    def add_nonce(self, value: str, expires_at: datetime) -> None:
        self.inner.add_nonce(value, expires_at)

    def take_nonce(self, value: str, now: datetime) -> bool:
        return self.inner.take_nonce(value, now)

    def purge(self, now: datetime, *, keep_orders_until: datetime) -> None:
        self.inner.purge(now, keep_orders_until=keep_orders_until)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Rig:
    orders: Orders
    state: Observed
    challenges: ChallengeServer


@pytest.fixture(params=["sqlite", "dynamodb"])
def rig(request: pytest.FixtureRequest, tmp_path: Path, pki_home: PkiHome) -> Iterator[Rig]:
    if request.param == "sqlite":
        inner = open_acme_state("", tmp_path / "issuance.sqlite")
    else:
        request.getfixturevalue("aws_env")
        inner = open_acme_state(f"dynamodb://acme-{uuid.uuid4().hex[:8]}", tmp_path / "unused")
        assert isinstance(inner, DynamoAcmeStore)
        inner.ensure_table()
    state = Observed(inner)
    challenges = ChallengeServer()
    layout = pki_home.home.pki
    context = BackendContext(layout=layout, state_dir=tmp_path / "backends", clock=utc_now)
    internal = InternalBackend.from_settings("internal", InternalBackendSettings(), context)
    backends: dict[str, CaBackend] = {"internal": internal}
    store = SqliteStore(layout.store)
    service = IssuanceService(
        settings=IssuanceSettings.model_validate({"domains": ["corp.example"]}),
        store=store,
        state=StateDb(tmp_path / "state.sqlite"),
        events=ListSink(),
        backends=backends,
        clock=utc_now,
        grants=lambda _requester: None,
    )
    settings = AcmeSettings(
        eab_required=False,
        open_allow=["*.acme.corp.example"],
        http01_port=challenges.port,
        resolvers=["127.0.0.1:9"],  # never asked: the identifiers are IP addresses
        validation_timeout_seconds=2,
        validation_attempts=1,
    )
    validator = Validator(settings)
    executor = ThreadPoolExecutor(2)
    orders = Orders(
        store=state,
        accounts=Accounts(state, EabKeys(state), settings, utc_now),
        service=service,
        issuers=IssuerIndex(lambda: ["internal"], backends.__getitem__),
        validator=validator,
        executor=executor,
        settings=settings,
        clock=utc_now,
    )
    try:
        yield Rig(orders, state, challenges)
    finally:
        executor.shutdown()
        validator.close()
        challenges.stop()
        service.close()
        store.close()
        state.close()


def put_order(
    rig: Rig, names: list[str], *, authz_status: str = "pending", order_status: str = "pending"
) -> tuple[str, list[tuple[str, str]]]:
    """An account, and an order for ``names`` with one http-01 authorization each,
    written as the server writes them; the order id and the challenge tokens."""
    now = utc_now()
    expires = now + timedelta(hours=1)
    account_id = uuid.uuid4().hex
    assert rig.state.insert(
        "acme_accounts",
        {
            "id": account_id,
            "thumbprint": uuid.uuid4().hex,
            "jwk": {"kty": "EC"},
            "status": "valid",
            "contact": [],
            "eab_kid": None,
            "created_at": now,
        },
    )
    order_id = uuid.uuid4().hex
    authz_ids: list[str] = []
    tokens: list[str] = []
    for name in names:
        authz_id, token = uuid.uuid4().hex, uuid.uuid4().hex
        kind = "ip" if name[0].isdigit() else "dns"
        challenge = {"type": "http-01", "token": token, "status": "processing"}
        assert rig.state.insert(
            "acme_authz",
            {
                "id": authz_id,
                "account_id": account_id,
                "order_id": order_id,
                "identifier_type": kind,
                "identifier_value": name,
                "wildcard": 0,
                "status": authz_status,
                "expires_at": expires,
                "challenges": [challenge],
            },
        )
        authz_ids.append(authz_id)
        tokens.append(token)
    assert rig.state.insert(
        "acme_orders",
        {
            "id": order_id,
            "account_id": account_id,
            "status": order_status,
            "identifiers": [{"type": "ip" if n[0].isdigit() else "dns", "value": n} for n in names],
            "profile": "tls-server",
            "authorizations": authz_ids,
            "expires_at": expires,
            "replaces": None,
            "created_at": now,
        },
    )
    return order_id, list(zip(authz_ids, tokens, strict=True))


def status_of(rig: Rig, table: str, key: str) -> str:
    row = rig.state.get(table, key)
    assert row is not None
    return str(row["status"])


def test_the_last_valid_authorization_and_the_ready_order_are_one_write(rig: Rig) -> None:
    """Validating the last authorization: no write leaves it valid beside a pending
    order. The first of two authorizations leaves the order pending, as it should."""
    order_id, pairs = put_order(rig, ["127.0.0.1", "127.0.0.1"])  # both on the loopback server
    for (authz_id, token), last in zip(pairs, (False, True), strict=True):
        answer = key_authorization(token, THUMB)
        rig.challenges.answers[token] = answer
        rig.orders._validate(authz_id, "http-01", answer)
        assert status_of(rig, "acme_authz", authz_id) == "valid"
        assert status_of(rig, "acme_orders", order_id) == ("ready" if last else "pending")
    assert rig.state.torn == []


def test_a_failed_validation_makes_the_order_invalid_with_the_authorization(rig: Rig) -> None:
    order_id, [(authz_id, token)] = put_order(rig, ["127.0.0.1"])
    rig.challenges.answers[token] = "something else"
    rig.orders._validate(authz_id, "http-01", key_authorization(token, THUMB))
    assert status_of(rig, "acme_authz", authz_id) == "invalid"
    order = rig.state.get("acme_orders", order_id)
    assert order is not None and order["status"] == "invalid"
    assert order["error"]["type"] == "urn:ietf:params:acme:error:unauthorized"


def test_update_together_writes_all_or_nothing(rig: Rig) -> None:
    order_id, [(authz_id, _token)] = put_order(rig, ["127.0.0.1"])
    refused = [
        Write("acme_authz", authz_id, ("pending",), {"status": "valid"}),
        Write("acme_orders", order_id, ("ready",), {"status": "processing"}),  # it is pending
    ]
    assert rig.state.update_together(refused) is False
    assert status_of(rig, "acme_authz", authz_id) == "pending"  # the first was not kept
    both = [
        Write("acme_authz", authz_id, ("pending",), {"status": "valid"}),
        Write("acme_orders", order_id, ("pending",), {"status": "ready"}),
    ]
    assert rig.state.update_together(both) is True
    assert status_of(rig, "acme_authz", authz_id) == "valid"
    assert status_of(rig, "acme_orders", order_id) == "ready"
    check_only = [Write("acme_authz", authz_id, ("pending",))]  # a condition, no change
    assert rig.state.update_together(check_only) is False


def signed(payload: object, account_id: str, url: str) -> SignedRequest:
    key = new_key()
    raw = json.dumps(payload).encode()
    kid = URLS.account(account_id)
    jws = acme_jws.JWS.sign(raw, key=key, alg=ES256, nonce=b"n", url=url, kid=kid)
    return SignedRequest(
        payload=payload, jwk=key.public_key(), kid=kid, url=url, raw_payload=raw, jws=jws
    )


def test_finalize_settles_an_order_left_pending_by_an_older_version(rig: Rig) -> None:
    """Every authorization valid, the order still pending (an older server wrote the
    two steps apart): finalize makes it ready and issues instead of orderNotReady."""
    names = ["older.acme.corp.example"]
    order_id, _pairs = put_order(rig, names, authz_status="valid")
    order = rig.state.get("acme_orders", order_id)
    assert order is not None
    der, _key = make_csr(names)
    csr = x509.load_pem_x509_csr(der).public_bytes(serialization.Encoding.DER)
    payload = {"csr": base64.urlsafe_b64encode(csr).decode().rstrip("=")}
    request = signed(payload, str(order["account_id"]), URLS.of(f"order/{order_id}/finalize"))
    try:
        reply = rig.orders.finalize(request, order_id, URLS)
    except AcmeError as error:
        pytest.fail(f"finalize refused: {error.kind.code}: {error.detail}")
    assert status_of(rig, "acme_orders", order_id) == "valid"
    assert reply.status == 200


def test_finalize_still_refuses_an_order_with_a_pending_authorization(rig: Rig) -> None:
    names = ["early.acme.corp.example"]
    order_id, _pairs = put_order(rig, names)
    order = rig.state.get("acme_orders", order_id)
    assert order is not None
    request = signed({"csr": "x"}, str(order["account_id"]), URLS.of("finalize"))
    with pytest.raises(AcmeError) as caught:
        rig.orders.finalize(request, order_id, URLS)
    assert caught.value.kind.code == "orderNotReady"
    assert status_of(rig, "acme_orders", order_id) == "pending"


def test_the_observer_sees_two_separate_writes(rig: Rig) -> None:
    """The check itself: an authorization written valid alone, before its order, is
    reported (the tests above can fail)."""
    order_id, [(authz_id, _token)] = put_order(rig, ["127.0.0.1"])
    assert rig.state.update("acme_authz", authz_id, {"status": "valid"})
    assert rig.state.torn == [order_id]
