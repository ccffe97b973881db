"""Alert delivery after the swap, from the outbox, end to end: a real `certsight build` over
the hand-made LAKE, a JSON-lines file and a webhook receiver on 127.0.0.1 (real sockets,
nothing mocked). What is asserted is the order of events (what a reader could see when the
webhook was called) and what each sink received, never how long anything took."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.conftest import CA, DAYS, START, Scenario
from tests.warehouse.destinations.support import Received

_PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


class Hook:
    """A webhook receiver on a free 127.0.0.1 port. On each POST it records the request,
    then runs ``on_post`` (what the test observes or does at that moment), then answers
    ``status``. It stops itself when the test ends (fixture ``hooks``)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.on_post: Callable[[], None] | None = None
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append(Received(self.path, dict(self.headers), body))
                if hook.on_post is not None:
                    hook.on_post()
                try:
                    self.send_response(hook.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the sender is gone (killed on purpose)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/certsight"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    for name in _PROXIES:  # httpx honours them; the receiver is on loopback
        monkeypatch.delenv(name, raising=False)
    receiver = Hook()
    yield receiver
    receiver.close()


def build(home: Path) -> Any:
    return CliRunner().invoke(main, ["build", "--home", str(home)])


def live_open_alerts(home: Path) -> int | None:
    """What a reader opening HOME/warehouse.duckdb now sees: its open alerts (None: no
    warehouse yet)."""
    path = home / "warehouse.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = con.execute("select count(*) from alerts where status = 'open'").fetchone()
    finally:
        con.close()
    return int(found[0]) if found else None


def journal_keys(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


def configure(home: Path, url: str, *extra: str) -> None:
    (home / "certsight.toml").write_text(
        "\n".join(["[alerts]", 'jsonl = "out/alerts.jsonl"', f'webhook_url = "{url}"', *extra])
        + "\n"
    )


def test_failing_sinks_do_not_delay_the_swap_and_get_exactly_what_they_missed(
    scenario: Scenario, hook: Hook
) -> None:
    home = scenario.home
    journal = home / "out" / "alerts.jsonl"
    journal.mkdir(parents=True)  # a folder where the file should be: the sink fails
    configure(home, hook.url, "webhook_retries = 1", "webhook_backoff = 0.01")
    hook.status = 503
    seen: list[int | None] = []
    hook.on_post = lambda: seen.append(live_open_alerts(home))

    first = build(home)
    assert first.exit_code == 0, first.output
    assert "delivery to jsonl failed" in first.output
    assert "delivery to webhook failed" in first.output
    # both attempts of the webhook came after the swap: readers already had the new alerts
    assert seen == [5, 5]
    first_key = hook.requests[0].headers["Idempotency-Key"]

    journal.rmdir()
    hook.status = 200
    hook.on_post = None
    second = build(home)
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output  # nothing rebuilt: delivery alone
    assert "delivered 5 alert(s) to jsonl" in second.output
    assert "delivered 5 alert(s) to webhook" in second.output
    assert len(journal_keys(journal)) == 5
    assert len(hook.requests) == 3
    assert hook.requests[2].headers["Idempotency-Key"] == first_key
    assert hook.requests[2].body == hook.requests[0].body

    third = build(home)
    assert third.exit_code == 0, third.output
    assert "delivered" not in third.output
    assert len(hook.requests) == 3
    assert len(journal_keys(journal)) == 5


def test_a_build_killed_while_delivering_has_swapped_and_the_next_run_sends_the_rest(
    scenario: Scenario, hook: Hook, tmp_path: Path
) -> None:
    """SIGKILL after the webhook received the alerts and before their delivery was
    recorded: the warehouse is already swapped in, the JSON-lines file (delivered and
    recorded before the webhook) gets nothing twice, the webhook gets the same batch again
    with the same Idempotency-Key even though a new alert was raised in between, and the
    new alert goes to both."""
    home = scenario.home
    journal = home / "out" / "alerts.jsonl"
    configure(home, hook.url, "webhook_retries = 0", "webhook_timeout = 60")
    running: list[subprocess.Popen[bytes]] = []
    ready = threading.Event()
    seen: list[int | None] = []

    def crash() -> None:
        seen.append(live_open_alerts(home))
        assert ready.wait(60)
        running[0].send_signal(signal.SIGKILL)
        running[0].wait(60)  # dead before it could read an answer or record anything

    hook.on_post = crash
    env = {name: value for name, value in os.environ.items() if name not in _PROXIES}
    with (tmp_path / "build.log").open("wb") as log:
        command = [sys.executable, "-c", "from certsight.cli import main; main()", "build"]
        process = subprocess.Popen(
            [*command, "--home", str(home)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        running.append(process)
        ready.set()
        returncode = process.wait(240)
    assert returncode == -signal.SIGKILL, (tmp_path / "build.log").read_text()
    assert seen == [5]  # the swap came before the delivery
    assert live_open_alerts(home) == 5
    assert len(journal_keys(journal)) == 5
    lost = hook.requests[0]
    assert len(lost.alerts) == 5

    scenario.writer.request(START + timedelta(days=DAYS, hours=3), "10.1.0.9", CA, "0bae")
    scenario.writer.flush()
    hook.on_post = None
    second = build(home)
    assert second.exit_code == 0, second.output
    assert "incremental build" in second.output
    by_key = {request.headers["Idempotency-Key"]: request for request in hook.requests[1:]}
    assert len(by_key) == 2
    resent = by_key.pop(lost.headers["Idempotency-Key"])
    assert resent.body == lost.body  # byte for byte: the receiver can drop it
    (new,) = by_key.values()
    assert [(a["detector"], a["serial"]) for a in new.alerts] == [("unknown_certificate", "0bae")]
    keys = journal_keys(journal)
    assert len(keys) == len(set(keys)) == 6
    assert keys[-1] == new.alerts[0]["key"]

    third = build(home)
    assert third.exit_code == 0, third.output
    assert len(hook.requests) == 3
    assert len(journal_keys(journal)) == 6
