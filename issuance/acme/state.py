"""Where ACME state lives: the storage boundary, and opening a backend from a URI.

Two backends with one interface: ``store.AcmeStore`` (SQLite, the issuance state file:
one host, any number of workers) and ``dynamodb_store.DynamoAcmeStore`` (one DynamoDB
table: several issuance hosts behind a load balancer, which must share nonces, accounts
and orders). ``[acme] state`` chooses: empty for SQLite, ``dynamodb://TABLE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

MAX_TOGETHER = 100  # rows in one update_together: DynamoDB's TransactWriteItems limit


@dataclass(frozen=True)
class Write:
    """One row's part of ``update_together``: apply ``changes`` if the row's status is
    one of ``when_status``; with no changes, only the condition is checked (a sibling
    authorization that must still read as it did)."""

    table: str
    key: str
    when_status: tuple[str, ...]
    changes: Mapping[str, Any] = field(default_factory=dict)


class AcmeState(Protocol):
    """Rows by table and key (``acme_eab``, ``acme_accounts``, ``acme_orders``,
    ``acme_authz``), with unique lookups (``find``), lists (``select``) and
    compare-and-set updates, plus single-use nonces."""

    def insert(self, table: str, row: dict[str, Any]) -> bool: ...

    def get(self, table: str, key: str) -> dict[str, Any] | None: ...

    def find(self, table: str, column: str, value: str) -> dict[str, Any] | None: ...

    def select(self, table: str, column: str, value: str) -> list[dict[str, Any]]: ...

    def all(self, table: str) -> list[dict[str, Any]]: ...

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        when_status: tuple[str, ...] | None = None,
    ) -> bool: ...

    def update_together(self, writes: Sequence[Write]) -> bool:
        """All or none (one transaction): True when every row's status matched and the
        changes were written; False, and nothing written, when one did not. Used where a
        client must never see one write without the other (RFC 8555 7.1.6: the order is
        ready as soon as its last authorization is valid)."""
        ...

    def add_nonce(self, value: str, expires_at: datetime) -> None: ...

    def take_nonce(self, value: str, now: datetime) -> bool: ...

    def purge(self, now: datetime, *, keep_orders_until: datetime) -> None: ...

    def close(self) -> None: ...


def open_acme_state(uri: str, sqlite_file: Path) -> AcmeState:
    """``""`` (the issuance state file ``sqlite_file``) or ``dynamodb://TABLE``
    (endpoint, region and credentials from the standard AWS settings)."""
    if uri.startswith("dynamodb://"):
        from issuance.acme.dynamodb_store import DynamoAcmeStore  # boto3 only when asked

        return DynamoAcmeStore.from_environment(uri.removeprefix("dynamodb://").strip("/"))
    if uri:
        raise ValueError(f"[acme] state {uri!r}: leave it empty (SQLite) or dynamodb://TABLE")
    from issuance.acme.store import AcmeStore

    return AcmeStore(sqlite_file)
