"""The ACME state contract, on both backends: SQLite (the issuance state file) and
DynamoDB (moto's server on loopback, through the standard AWS settings)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from issuance.acme.dynamodb_store import DynamoAcmeStore
from issuance.acme.state import AcmeState, open_acme_state

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AcmeState]:
    if request.param == "sqlite":
        opened = open_acme_state("", tmp_path / "issuance.sqlite")
    else:
        request.getfixturevalue("aws_env")
        opened = open_acme_state(f"dynamodb://acme-{uuid.uuid4().hex[:8]}", tmp_path / "unused")
        assert isinstance(opened, DynamoAcmeStore)
        opened.ensure_table()
    try:
        yield opened
    finally:
        opened.close()


def account(key: str, thumbprint: str) -> dict[str, object]:
    return {
        "id": key,
        "thumbprint": thumbprint,
        "jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
        "status": "valid",
        "contact": ["mailto:a@corp.example"],
        "eab_kid": None,
        "created_at": NOW,
    }


def test_unique_keys_and_lookups(state: AcmeState) -> None:
    assert state.insert("acme_accounts", account("a1", "t1")) is True
    assert state.insert("acme_accounts", account("a1", "t9")) is False  # same id
    assert state.insert("acme_accounts", account("a2", "t1")) is False  # same key
    found = state.find("acme_accounts", "thumbprint", "t1")
    assert found is not None and found["id"] == "a1"
    assert found["contact"] == ["mailto:a@corp.example"] and found["jwk"]["kty"] == "EC"
    assert datetime.fromisoformat(found["created_at"]) == NOW
    assert state.find("acme_accounts", "thumbprint", "t9") is None
    # a key rollover moves the unique lookup with it
    assert state.update("acme_accounts", "a1", {"thumbprint": "t2", "jwk": {"kty": "EC"}})
    assert state.find("acme_accounts", "thumbprint", "t1") is None
    moved = state.find("acme_accounts", "thumbprint", "t2")
    assert moved is not None and moved["id"] == "a1"
    assert state.insert("acme_accounts", account("a3", "t1")) is True  # t1 is free again
    assert state.update("acme_accounts", "a3", {"thumbprint": "t2"}) is False  # taken


def test_compare_and_set_status(state: AcmeState) -> None:
    order = {
        "id": "o1",
        "account_id": "a1",
        "status": "ready",
        "identifiers": [{"type": "dns", "value": "x.corp.example"}],
        "profile": "tls-server",
        "authorizations": ["z1"],
        "expires_at": NOW + timedelta(hours=1),
        "replaces": "aki.serial",
        "created_at": NOW,
    }
    assert state.insert("acme_orders", order)
    assert state.insert("acme_orders", {**order, "id": "o2", "replaces": None})
    assert state.update("acme_orders", "o1", {"status": "processing"}, when_status=("ready",))
    assert not state.update("acme_orders", "o1", {"status": "processing"}, when_status=("ready",))
    row = state.get("acme_orders", "o1")
    assert row is not None and row["status"] == "processing"
    assert [o["id"] for o in state.select("acme_orders", "account_id", "a1")] == ["o1", "o2"]
    assert [o["id"] for o in state.select("acme_orders", "replaces", "aki.serial")] == ["o1"]
    assert state.get("acme_orders", "missing") is None
    assert not state.update("acme_orders", "missing", {"status": "valid"})


def test_nonces_are_single_use_and_expire_on_both(state: AcmeState) -> None:
    state.add_nonce("n1", NOW + timedelta(minutes=5))
    state.add_nonce("n0", NOW - timedelta(seconds=5))
    assert state.take_nonce("n1", NOW) is True
    assert state.take_nonce("n1", NOW) is False
    assert state.take_nonce("n0", NOW) is False
    state.purge(NOW, keep_orders_until=NOW - timedelta(days=30))


def test_eab_rows_listed_in_creation_order(state: AcmeState) -> None:
    for name in ("b", "a"):
        row = {
            "kid": f"kid-{name}",
            "name": name,
            "hmac_key": "k",
            "allow": ["*.corp.example"],
            "profiles": ["tls-server"],
            "rate_limit": "1/second",
            "created_at": NOW,
        }
        assert state.insert("acme_eab", row)
    assert state.insert("acme_eab", {**row, "kid": "kid-c"}) is False  # name "a" is taken
    assert [r["name"] for r in state.all("acme_eab")] == ["b", "a"]
    found = state.find("acme_eab", "name", "a")
    assert found is not None and found["kid"] == "kid-a"
    assert found["revoked_at"] is None  # a column never written reads as null, as in SQL
    assert state.update("acme_eab", "kid-a", {"revoked_at": NOW})
    revoked = state.get("acme_eab", "kid-a")
    assert revoked is not None and revoked["revoked_at"] == NOW.isoformat()


def test_state_setting_is_checked() -> None:
    from issuance.acme.settings import AcmeSettings

    assert AcmeSettings(state="dynamodb://acme").state == "dynamodb://acme"
    for bad in ("dynamodb://", "sqlite:///x", "acme"):
        with pytest.raises(ValueError, match="dynamodb://TABLE"):
            AcmeSettings(state=bad)


@pytest.mark.slow
def test_a_server_on_dynamodb_state_issues(aws_env: str, tmp_path: Path) -> None:
    """``[acme] state = "dynamodb://TABLE"``: the CLI's EAB key and the server's
    accounts, nonces and orders all in the table; a full http-01 order issues."""
    from tests.acme_servers import running_challtestsrv
    from tests.conftest import free_port, make_home, start_server
    from tests.issuance.acme.support import acme_client, create_eab, obtain, running_acme

    table = f"acme-{uuid.uuid4().hex[:8]}"
    store = open_acme_state(f"dynamodb://{table}", tmp_path / "unused")
    assert isinstance(store, DynamoAcmeStore)
    store.ensure_table()
    responder_port = free_port()
    home = make_home(tmp_path / "home", port=responder_port)
    responders = start_server(home, port=responder_port)
    try:
        with (
            running_challtestsrv(tmp_path / "dns") as dns,
            running_acme(
                home, responders, dns, acme_extra=f'state = "dynamodb://{table}"\n'
            ) as server,
        ):
            server.eab = create_eab(home, "web", "**.acme.corp.example")
            acme = acme_client(server)
            order, _ = obtain(server, acme, ["dynamo.acme.corp.example"])
            assert "BEGIN CERTIFICATE" in order.fullchain_pem
    finally:
        responders.stop()
    assert [row["name"] for row in store.all("acme_eab")] == ["web"]
    assert len(store.all("acme_orders")) == 1
    store.close()
