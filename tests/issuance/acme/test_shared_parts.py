"""The parts the ACME server shares between threads: the SQLite state (a connection per
thread, WAL with synchronous=NORMAL, compare-and-set kept) and the validator's one
HTTP client (used from several validation threads at once, no redirects)."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from issuance.acme.settings import AcmeSettings
from issuance.acme.store import AcmeStore
from issuance.acme.validation import Challenge, Validator

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _order(order_id: str) -> dict[str, object]:
    return {
        "id": order_id,
        "account_id": "a1",
        "status": "ready",
        "identifiers": [{"type": "dns", "value": "x.corp.example"}],
        "profile": "tls-server",
        "authorizations": ["z1"],
        "expires_at": NOW + timedelta(hours=1),
        "created_at": NOW,
    }


def test_each_thread_reads_on_its_own_wal_connection_with_normal_sync(tmp_path: Path) -> None:
    store = AcmeStore(tmp_path / "issuance.sqlite")
    assert store.insert("acme_orders", _order("o1"))
    try:
        seen: dict[str, tuple[int, str, int, int]] = {}

        def look(name: str) -> None:
            conn = store._conn()
            seen[name] = (
                id(conn),
                str(conn.execute("pragma journal_mode").fetchone()[0]),
                int(conn.execute("pragma synchronous").fetchone()[0]),
                int(conn.execute("pragma wal_autocheckpoint").fetchone()[0]),
            )

        look("main")
        worker = threading.Thread(target=look, args=("worker",))
        worker.start()
        worker.join()
        assert seen["main"][0] != seen["worker"][0]
        # 1: NORMAL; 0: checkpoints on the store's own thread, not inside a commit
        assert seen["main"][1:] == seen["worker"][1:] == ("wal", 1, 0)
    finally:
        store.close()
    wal = tmp_path / "issuance.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # folded in at close


def test_compare_and_set_has_one_winner_across_threads(tmp_path: Path) -> None:
    """Eight threads, each on its own connection, move one ready order to processing:
    exactly one wins (finalize twice at once must not issue twice)."""
    store = AcmeStore(tmp_path / "issuance.sqlite")
    try:
        assert store.insert("acme_orders", _order("o1"))
        start = threading.Barrier(8)

        def finalize() -> bool:
            start.wait()
            return store.update(
                "acme_orders", "o1", {"status": "processing"}, when_status=("ready",)
            )

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _n: finalize(), range(8)))
        assert sorted(results) == [False] * 7 + [True]
    finally:
        store.close()


def test_a_read_goes_on_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """WAL: a writer elsewhere (a second worker mid-transaction) does not stop reads."""
    path = tmp_path / "issuance.sqlite"
    store = AcmeStore(path)
    try:
        assert store.insert("acme_orders", _order("o1"))
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("begin immediate")
            other.execute("update acme_orders set status = 'processing' where id = 'o1'")
            row = store.get("acme_orders", "o1")
            assert row is not None and row["status"] == "ready"  # the committed state
            other.execute("commit")
        finally:
            other.close()
        row = store.get("acme_orders", "o1")
        assert row is not None and row["status"] == "processing"
    finally:
        store.close()


def test_one_validator_client_serves_concurrent_attempts_and_follows_no_redirect() -> None:
    """Sixteen http-01 attempts at once through one Validator (one httpx client), and a
    redirect to the right answer is still an incorrect response."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.path.rsplit("/", 1)[-1]
            if token == "moved":
                self.send_response(302)
                self.send_header("Location", "/.well-known/acme-challenge/t0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = f"{token}.thumb".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = AcmeSettings(http01_port=int(server.server_address[1]), resolvers=["127.0.0.1:9"])
    validator = Validator(settings)
    try:

        def attempt(n: int) -> object:
            challenge = Challenge(
                kind="http-01", token=f"t{n}", identifier_type="ip", identifier="127.0.0.1"
            )
            return validator.validate(challenge, f"t{n}.thumb")

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(attempt, range(16))) == [None] * 16
        moved = Challenge(
            kind="http-01", token="moved", identifier_type="ip", identifier="127.0.0.1"
        )
        error = validator.validate(moved, "t0.thumb")
        assert error is not None and error.kind.code == "incorrectResponse"
        assert "302" in error.detail
    finally:
        validator.close()
        server.shutdown()
        server.server_close()
