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
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from issuance.acme.state import Write
from pki.store.checkpoint import WalCheckpointer

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
        self._path = path
        # A connection per thread (WAL lets readers run beside the one writer), so a
        # poll does not queue behind a validator's write on one shared connection.
        # Compare-and-set stays a single statement, or one BEGIN IMMEDIATE transaction
        # (update_together), which SQLite serialises across connections and processes.
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        # Checkpoints on a thread of their own, as issuance/statedb.py: with NORMAL a
        # checkpoint syncs the file, and inside a commit it would stall that request.
        self._checkpointer = WalCheckpointer(path)
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("pragma journal_mode=wal")
            # As issuance/statedb.py and pki/store/sqlite.py: in WAL mode NORMAL syncs at
            # checkpoints, not at every commit. A process crash loses nothing (the WAL is
            # in the OS); a power loss may lose the last commits -- nonces a client
            # retries on badNonce, and order steps it polls again -- never corrupts.
            conn.execute("pragma synchronous=normal")
            conn.execute("pragma wal_autocheckpoint=0")
            conn.execute("pragma busy_timeout=5000")
            with self._opened_lock:
                self._opened.append(conn)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()
        self._checkpointer.close()

    # -- generic resources ----------------------------------------------------------------
    def insert(self, table: str, row: dict[str, Any]) -> bool:
        """False when the key (or a unique column) is taken."""
        _check(table)
        encoded = _encode(row)
        columns = ", ".join(encoded)
        marks = ", ".join("?" for _ in encoded)
        try:
            self._conn().execute(
                f"insert into {table} ({columns}) values ({marks})",  # noqa: S608 - fixed names
                tuple(encoded.values()),
            )
        except sqlite3.IntegrityError:
            return False
        self._checkpointer.wrote()
        return True

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        _check(table)
        return self.find(table, KEYS.get(table, "id"), key)

    def find(self, table: str, column: str, value: str) -> dict[str, Any] | None:
        _check(table)
        row = (
            self._conn()
            .execute(
                f"select * from {table} where {column} = ?",  # noqa: S608 - fixed names
                (value,),
            )
            .fetchone()
        )
        return _decode(dict(row)) if row is not None else None

    def select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        _check(table)
        rows = (
            self._conn()
            .execute(
                f"select * from {table} where {column} = ? order by rowid",  # noqa: S608
                (value,),
            )
            .fetchall()
        )
        return [_decode(dict(row)) for row in rows]

    def all(self, table: str) -> list[dict[str, Any]]:
        _check(table)
        rows = self._conn().execute(f"select * from {table} order by rowid").fetchall()  # noqa: S608
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
        self._checkpointer.wrote()
        try:
            return _update(self._conn(), table, key, changes, when_status) == 1
        except sqlite3.IntegrityError:  # a unique value taken meanwhile (a key rollover race)
            return False

    def update_together(self, writes: Sequence[Write]) -> bool:
        """One ``BEGIN IMMEDIATE`` transaction: every write's status matched, or none
        is kept."""
        for write in writes:
            _check(write.table)
        conn = self._conn()
        conn.execute("begin immediate")
        try:
            for write in writes:
                if _update(conn, write.table, write.key, write.changes, write.when_status) != 1:
                    conn.execute("rollback")
                    return False
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
        self._checkpointer.wrote()
        return True

    # -- nonces ---------------------------------------------------------------------------
    def add_nonce(self, value: str, expires_at: datetime) -> None:
        self._conn().execute("insert into acme_nonces values (?, ?)", (value, stamp(expires_at)))
        self._checkpointer.wrote()

    def take_nonce(self, value: str, now: datetime) -> bool:
        """Consume a nonce: true once, if it was issued here and has not expired."""
        row = (
            self._conn()
            .execute("delete from acme_nonces where value = ? returning expires_at", (value,))
            .fetchone()
        )
        self._checkpointer.wrote()
        return row is not None and datetime.fromisoformat(row[0]) > now

    def purge(self, now: datetime, *, keep_orders_until: datetime) -> None:
        """Forget expired nonces, and orders (with their authorizations) that expired
        before ``keep_orders_until`` (kept a while so clients read why they failed)."""
        conn = self._conn()
        conn.execute("delete from acme_nonces where expires_at <= ?", (stamp(now),))
        conn.execute("delete from acme_authz where expires_at <= ?", (stamp(keep_orders_until),))
        conn.execute(
            "delete from acme_orders where expires_at <= ? and status != 'valid'",
            (stamp(keep_orders_until),),
        )
        self._checkpointer.wrote()


def _check(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"not an ACME table: {table}")


def _update(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    changes: Mapping[str, Any],
    when_status: tuple[str, ...] | None,
) -> int:
    """The rows changed (or, with no changes, matched): one statement, so the status
    check and the write are one step."""
    encoded = _encode(changes)
    where = f"{KEYS.get(table, 'id')} = ?"
    args: list[Any] = [key]
    if when_status:
        where += f" and status in ({', '.join('?' for _ in when_status)})"
        args.extend(when_status)
    if not encoded:
        found = conn.execute(f"select count(*) from {table} where {where}", args).fetchone()  # noqa: S608
        return int(found[0])
    sets = ", ".join(f"{column} = ?" for column in encoded)
    sql = f"update {table} set {sets} where {where}"  # noqa: S608 - fixed names
    return int(conn.execute(sql, [*encoded.values(), *args]).rowcount)


def _encode(row: Mapping[str, Any]) -> dict[str, Any]:
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
