"""The issuance service's own state: API tokens and orders that are not finished yet.

One SQLite file (``HOME/issuance/issuance.sqlite``, mode 0600) in WAL mode, so the
CLI and a running server share it. Certificates themselves live in the certificate
store, which OCSP and the CRL updater read; this file holds only what issuance alone
needs, and the early-renewal flags that move a certificate's renewal window.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from pki.store.checkpoint import WalCheckpointer

_SCHEMA = """
create table if not exists tokens (
    name text primary key,
    token_hash text not null unique,
    allow text not null,
    profiles text not null,
    rate_limit text not null,
    created_at text not null,
    expires_at text,
    revoked_at text
);
create table if not exists issued (
    issuer_key_sha1 text not null,
    serial text not null,
    certificate text not null,
    chain text not null,
    request_id text not null,
    renewal_start text not null,
    renewal_end text not null,
    primary key (issuer_key_sha1, serial)
);
create table if not exists orders (
    id text primary key,
    requester text not null,
    state text not null,
    profile text not null,
    backend text,
    reference text,
    request text not null,
    result text,
    problem text,
    retry_after integer,
    created_at text not null,
    updated_at text not null
);
create table if not exists early_renewals (
    issuer_key_sha1 text not null,
    serial text not null,
    source text not null,
    reason text not null,
    flagged_at text not null,
    flagged_by text not null,
    primary key (issuer_key_sha1, serial, source)
);
"""

_FLAG = (
    "insert into early_renewals"
    " (issuer_key_sha1, serial, source, reason, flagged_at, flagged_by)"
    " values (?, ?, ?, ?, ?, ?) on conflict (issuer_key_sha1, serial, source) do "
)
_FLAG_KEEPING_REASON = _FLAG + "nothing"
_FLAG_REFRESHING_REASON = (
    _FLAG + "update set reason = excluded.reason, flagged_by = excluded.flagged_by"
)


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StateDb:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")
        # Checkpoints on a thread of their own: not inside a request's commit.
        self._conn.execute("pragma wal_autocheckpoint=0")
        self._checkpointer = WalCheckpointer(path)
        self._conn.execute("pragma busy_timeout=5000")
        self._conn.executescript(_SCHEMA)

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            count = self._conn.execute(sql, args).rowcount
        self._checkpointer.wrote()
        return count

    # -- tokens -------------------------------------------------------------------------
    def insert_token(
        self,
        *,
        name: str,
        token_hash: str,
        allow: str,
        profiles: str,
        rate_limit: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> bool:
        try:
            self._write(
                "insert into tokens values (?, ?, ?, ?, ?, ?, ?, null)",
                (
                    name,
                    token_hash,
                    allow,
                    profiles,
                    rate_limit,
                    _stamp(created_at),
                    _stamp(expires_at),
                ),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        return self._one("select * from tokens where token_hash = ?", (token_hash,))

    def token_by_name(self, name: str) -> dict[str, Any] | None:
        return self._one("select * from tokens where name = ?", (name,))

    def tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("select * from tokens order by name").fetchall()
        return [dict(row) for row in rows]

    def revoke_token(self, name: str, when: datetime) -> bool:
        changed = self._write(
            "update tokens set revoked_at = ? where name = ? and revoked_at is null",
            (_stamp(when), name),
        )
        return changed == 1

    # -- issued certificates: what GET /v1/certificates returns beside the store's status --
    def insert_issued(self, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = f"insert or replace into issued ({columns}) values ({marks})"  # noqa: S608
        self._write(sql, tuple(row.values()))

    def issued(self, issuer_key_sha1: str, serial: str) -> dict[str, Any] | None:
        return self._one(
            "select * from issued where issuer_key_sha1 = ? and serial = ?",
            (issuer_key_sha1, serial),
        )

    # -- orders -------------------------------------------------------------------------
    def insert_order(self, order: dict[str, Any]) -> None:
        """Insert, or replace the row of the same id: an order that was processing
        becomes pending at its backend under the same id."""
        columns = ", ".join(order)
        marks = ", ".join("?" for _ in order)
        sql = f"insert or replace into orders ({columns}) values ({marks})"  # noqa: S608
        self._write(sql, tuple(order.values()))

    def update_order(self, order_id: str, **fields: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in fields)
        self._write(
            f"update orders set {assignments} where id = ?",  # noqa: S608 - fixed column names
            (*fields.values(), order_id),
        )

    def order(self, order_id: str) -> dict[str, Any] | None:
        return self._one("select * from orders where id = ?", (order_id,))

    # -- early renewal flags (issuance/early_renewal.py) ----------------------------------
    def flag_early_renewal(self, row: dict[str, str], *, refresh_reason: bool) -> None:
        """Insert a flag; an existing one of the same source keeps its ``flagged_at`` (so
        the window it moved stays where clients saw it), and its reason unless asked to
        refresh it (new evidence from the warehouse, an analyst's corrected reason)."""
        self._write(
            _FLAG_REFRESHING_REASON if refresh_reason else _FLAG_KEEPING_REASON,
            (
                row["issuer_key_sha1"],
                row["serial"],
                row["source"],
                row["reason"],
                row["flagged_at"],
                row["flagged_by"],
            ),
        )

    def early_renewals(self, issuer_key_sha1: str, serial: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "select * from early_renewals where issuer_key_sha1 = ? and serial = ?"
                " order by flagged_at",
                (issuer_key_sha1, serial),
            ).fetchall()
        return [dict(row) for row in rows]

    def clear_early_renewal(self, issuer_key_sha1: str, serial: str, source: str) -> bool:
        return (
            self._write(
                "delete from early_renewals"
                " where issuer_key_sha1 = ? and serial = ? and source = ?",
                (issuer_key_sha1, serial, source),
            )
            == 1
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._checkpointer.close()
