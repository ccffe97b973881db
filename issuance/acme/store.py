"""ACME state in the issuance service's SQLite file (the local backend of
``state.AcmeState``): EAB keys, accounts, nonces, orders and authorizations, each with
its expiry.

A table per resource, the nested parts (identifiers, challenges) as JSON: a resource
is always read and written whole by its id. Status changes are compare-and-set
(``update(..., when_status=...)``), so two workers (``serve issuance --workers``) or
a validator thread racing a client never both win. The same file as tokens and orders
(``HOME/issuance/issuance.sqlite``), so ``certsight acme eab create`` and a running
server share it without a restart.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
create table if not exists acme_eab (
    kid text primary key,
    name text not null unique,
    hmac_key text not null,
    allow text not null,
    profiles text not null,
    rate_limit text not null,
    created_at text not null,
    revoked_at text
);
create table if not exists acme_accounts (
    id text primary key,
    thumbprint text not null unique,
    jwk text not null,
    status text not null,
    contact text not null,
    eab_kid text,
    created_at text not null
);
create table if not exists acme_nonces (
    value text primary key,
    expires_at text not null
);
create table if not exists acme_orders (
    id text primary key,
    account_id text not null,
    status text not null,
    identifiers text not null,
    profile text not null,
    authorizations text not null,
    expires_at text not null,
    error text,
    replaces text,
    issuer text,
    serial text,
    service_order text,
    created_at text not null
);
create index if not exists acme_orders_replaces on acme_orders (replaces);
create table if not exists acme_authz (
    id text primary key,
    account_id text not null,
    order_id text not null,
    identifier_type text not null,
    identifier_value text not null,
    wildcard integer not null,
    status text not null,
    expires_at text not null,
    challenges text not null
);
"""

TABLES = frozenset({"acme_eab", "acme_accounts", "acme_orders", "acme_authz"})


def _columns() -> dict[str, tuple[str, ...]]:
    """Each table's columns, read from the schema above (other backends fill the
    columns a row was written without, as SQLite does with NULL)."""
    found: dict[str, tuple[str, ...]] = {}
    for block in _SCHEMA.split("create table if not exists ")[1:]:
        name, _, body = block.partition(" (")
        found[name] = tuple(
            line.split()[0] for line in body.split(");")[0].splitlines() if line.strip()
        )
    return found


COLUMNS = _columns()
JSON_COLUMNS = frozenset(
    {"allow", "profiles", "jwk", "contact", "identifiers", "authorizations", "error", "challenges"}
)
KEYS = {"acme_eab": "kid"}


def stamp(moment: datetime) -> str:
    return moment.isoformat()


class AcmeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma busy_timeout=5000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- generic resources ----------------------------------------------------------------
    def insert(self, table: str, row: dict[str, Any]) -> bool:
        """False when the key (or a unique column) is taken."""
        _check(table)
        encoded = _encode(row)
        columns = ", ".join(encoded)
        marks = ", ".join("?" for _ in encoded)
        try:
            with self._lock:
                self._conn.execute(
                    f"insert into {table} ({columns}) values ({marks})",  # noqa: S608 - fixed names
                    tuple(encoded.values()),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        _check(table)
        return self.find(table, KEYS.get(table, "id"), key)

    def find(self, table: str, column: str, value: str) -> dict[str, Any] | None:
        _check(table)
        with self._lock:
            row = self._conn.execute(
                f"select * from {table} where {column} = ?",  # noqa: S608 - fixed names
                (value,),
            ).fetchone()
        return _decode(dict(row)) if row is not None else None

    def select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        _check(table)
        with self._lock:
            rows = self._conn.execute(
                f"select * from {table} where {column} = ? order by rowid",  # noqa: S608
                (value,),
            ).fetchall()
        return [_decode(dict(row)) for row in rows]

    def all(self, table: str) -> list[dict[str, Any]]:
        _check(table)
        with self._lock:
            rows = self._conn.execute(f"select * from {table} order by rowid").fetchall()  # noqa: S608
        return [_decode(dict(row)) for row in rows]

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        when_status: tuple[str, ...] | None = None,
    ) -> bool:
        """Apply ``changes``; with ``when_status``, only if the row's status is one of
        them (compare-and-set). True when a row changed; False also when a unique
        value (an account key's thumbprint) is taken."""
        _check(table)
        encoded = _encode(changes)
        sets = ", ".join(f"{column} = ?" for column in encoded)
        sql = f"update {table} set {sets} where {KEYS.get(table, 'id')} = ?"  # noqa: S608
        args: list[Any] = [*encoded.values(), key]
        if when_status:
            sql += f" and status in ({', '.join('?' for _ in when_status)})"
            args.extend(when_status)
        try:
            with self._lock:
                return self._conn.execute(sql, args).rowcount == 1
        except sqlite3.IntegrityError:  # a unique value taken meanwhile (a key rollover race)
            return False

    # -- nonces ---------------------------------------------------------------------------
    def add_nonce(self, value: str, expires_at: datetime) -> None:
        with self._lock:
            self._conn.execute("insert into acme_nonces values (?, ?)", (value, stamp(expires_at)))

    def take_nonce(self, value: str, now: datetime) -> bool:
        """Consume a nonce: true once, if it was issued here and has not expired."""
        with self._lock:
            row = self._conn.execute(
                "delete from acme_nonces where value = ? returning expires_at", (value,)
            ).fetchone()
        return row is not None and datetime.fromisoformat(row[0]) > now

    def purge(self, now: datetime, *, keep_orders_until: datetime) -> None:
        """Forget expired nonces, and orders (with their authorizations) that expired
        before ``keep_orders_until`` (kept a while so clients read why they failed)."""
        with self._lock:
            self._conn.execute("delete from acme_nonces where expires_at <= ?", (stamp(now),))
            self._conn.execute(
                "delete from acme_authz where expires_at <= ?", (stamp(keep_orders_until),)
            )
            self._conn.execute(
                "delete from acme_orders where expires_at <= ? and status != 'valid'",
                (stamp(keep_orders_until),),
            )


def _check(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"not an ACME table: {table}")


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        column: json.dumps(value)
        if column in JSON_COLUMNS and value is not None
        else stamp(value)
        if isinstance(value, datetime)
        else value
        for column, value in row.items()
    }


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS & row.keys():
        if row[column] is not None:
            row[column] = json.loads(row[column])
    return row
