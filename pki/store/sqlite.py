"""SQLite backend: the embedded default.

WAL journaling lets the CLI write (issue, revoke) while a running responder
reads, without either blocking the other. Each thread gets its own connection
because sqlite3 connections must not cross threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pki.reasons import RevocationReason
from pki.store.base import (
    AlreadyRevokedError,
    CertificateExistsError,
    CertificateNotFoundError,
    CertificateRecord,
    CertStatus,
    Change,
    StoreUnavailableError,
)
from pki.store.checkpoint import WalCheckpointer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    issuer_key_sha1   TEXT NOT NULL,
    serial            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    sans              TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    profile           TEXT NOT NULL,
    key_algorithm     TEXT NOT NULL,
    requester         TEXT NOT NULL,
    issued_at         TEXT,
    status            TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason INTEGER,
    ca_backend        TEXT NOT NULL,
    PRIMARY KEY (issuer_key_sha1, serial)
);
CREATE INDEX IF NOT EXISTS certificates_serial ON certificates (serial);
CREATE INDEX IF NOT EXISTS certificates_revoked
    ON certificates (issuer_key_sha1) WHERE status = 'revoked';
CREATE TABLE IF NOT EXISTS changes (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_key_sha1 TEXT NOT NULL,
    serial          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS crl_numbers (
    issuer_key_sha1 TEXT PRIMARY KEY,
    last_number     INTEGER NOT NULL
);
"""

_COLUMNS = (
    "issuer_key_sha1, serial, subject, sans, not_before, not_after, profile, key_algorithm,"
    " requester, issued_at, status, revoked_at, revocation_reason, ca_backend"
)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _row_to_record(row: sqlite3.Row) -> CertificateRecord:
    reason = row["revocation_reason"]
    not_before = _parse(row["not_before"])
    not_after = _parse(row["not_after"])
    assert not_before is not None and not_after is not None
    return CertificateRecord(
        issuer_key_sha1=row["issuer_key_sha1"],
        serial=row["serial"],
        subject=row["subject"],
        sans=tuple(json.loads(row["sans"])),
        not_before=not_before,
        not_after=not_after,
        profile=row["profile"],
        key_algorithm=row["key_algorithm"],
        requester=row["requester"],
        issued_at=_parse(row["issued_at"]),
        status=CertStatus(row["status"]),
        revoked_at=_parse(row["revoked_at"]),
        revocation_reason=None if reason is None else RevocationReason(reason),
        ca_backend=row["ca_backend"],
    )


class SqliteStore:
    def __init__(
        self, path: Path, *, busy_timeout_s: float = 5.0, background_checkpoints: bool = False
    ) -> None:
        """``background_checkpoints``: for a process that writes on every request (the
        issuance API): WAL checkpoints run on a thread of their own, not inside a commit
        (``pki.store.checkpoint``)."""
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Before the first connection, which then turns automatic checkpoints off.
        self._checkpointer = WalCheckpointer(path) if background_checkpoints else None
        try:
            self._conn().executescript(_SCHEMA)
        except sqlite3.Error as exc:
            if self._checkpointer is not None:
                self._checkpointer.close()
            raise StoreUnavailableError(f"cannot prepare {path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self._path, timeout=self._busy_timeout_s, isolation_level=None
                )
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                if self._checkpointer is not None:
                    conn.execute("PRAGMA wal_autocheckpoint=0")
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"cannot open {self._path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _write(self) -> _Transaction:
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        return _Transaction(self._conn())

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"{self._path}: {exc}") from exc

    def add(self, record: CertificateRecord) -> None:
        values = (
            record.issuer_key_sha1,
            record.serial,
            record.subject,
            json.dumps(list(record.sans)),
            _stamp(record.not_before),
            _stamp(record.not_after),
            record.profile,
            record.key_algorithm,
            record.requester,
            _stamp(record.issued_at),
            record.status.value,
            _stamp(record.revoked_at),
            None if record.revocation_reason is None else int(record.revocation_reason),
            record.ca_backend,
        )
        with self._write() as conn:
            try:
                conn.execute(
                    f"INSERT INTO certificates ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",  # noqa: S608
                    values,
                )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" not in str(exc):
                    raise
                raise CertificateExistsError(
                    f"certificate {record.serial} of issuer {record.issuer_key_sha1} exists"
                ) from exc
            self._log_change(conn, record.issuer_key_sha1, record.serial)

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM certificates WHERE issuer_key_sha1 = ? AND serial = ?",  # noqa: S608
            (issuer_key_sha1, serial),
        )
        return _row_to_record(rows[0]) if rows else None

    def find_serial(self, serial: str) -> Sequence[CertificateRecord]:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM certificates WHERE serial = ?",  # noqa: S608
            (serial,),
        )
        return [_row_to_record(row) for row in rows]

    def revoke(
        self, issuer_key_sha1: str, serial: str, when: datetime, reason: RevocationReason
    ) -> CertificateRecord:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?"
                " WHERE issuer_key_sha1 = ? AND serial = ? AND status = 'good'",
                (_stamp(when), int(reason), issuer_key_sha1, serial),
            )
            if cursor.rowcount == 0:
                row = conn.execute(
                    "SELECT status FROM certificates WHERE issuer_key_sha1 = ? AND serial = ?",
                    (issuer_key_sha1, serial),
                ).fetchone()
                if row is None:
                    raise CertificateNotFoundError(f"no certificate with serial {serial}")
                raise AlreadyRevokedError(f"certificate {serial} is already revoked")
            self._log_change(conn, issuer_key_sha1, serial)
        record = self.get(issuer_key_sha1, serial)
        assert record is not None
        return record

    def revoked(self, issuer_key_sha1: str) -> Iterator[CertificateRecord]:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM certificates"  # noqa: S608
            " WHERE issuer_key_sha1 = ? AND status = 'revoked' ORDER BY serial",
            (issuer_key_sha1,),
        )
        return (_row_to_record(row) for row in rows)

    def changes_since(self, sequence: int) -> Sequence[Change]:
        rows = self._query(
            "SELECT sequence, issuer_key_sha1, serial FROM changes"
            " WHERE sequence > ? ORDER BY sequence LIMIT 10000",
            (sequence,),
        )
        return [Change(row[0], row[1], row[2]) for row in rows]

    def next_crl_number(self, issuer_key_sha1: str) -> int:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO crl_numbers (issuer_key_sha1, last_number) VALUES (?, 1)"
                " ON CONFLICT (issuer_key_sha1) DO UPDATE SET last_number = last_number + 1",
                (issuer_key_sha1,),
            )
            row = conn.execute(
                "SELECT last_number FROM crl_numbers WHERE issuer_key_sha1 = ?",
                (issuer_key_sha1,),
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    @staticmethod
    def _log_change(conn: sqlite3.Connection, issuer_key_sha1: str, serial: str) -> None:
        conn.execute(
            "INSERT INTO changes (issuer_key_sha1, serial) VALUES (?, ?)",
            (issuer_key_sha1, serial),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: writers queue on the lock instead of failing late."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(str(exc)) from exc
        return self._conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._conn.execute("COMMIT" if exc is None else "ROLLBACK")
        except sqlite3.Error as failure:
            raise StoreUnavailableError(f"could not finish the write: {failure}") from failure
        if isinstance(exc, sqlite3.Error):
            raise StoreUnavailableError(f"write failed: {exc}") from exc
