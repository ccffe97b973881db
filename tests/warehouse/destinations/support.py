"""What the destination tests share: alerts to send, a scripted HTTP receiver on
loopback, a recording sleep, and the context a destination is built with."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from warehouse.alert import Alert
from warehouse.destinations import Context
from warehouse.destinations.webhook import WebhookSettings, WebhookSink

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_alert(
    key: str,
    *,
    severity: str = "high",
    detector: str = "ocsp-flood",
    evidence: dict[str, Any] | None = None,
    count: int = 3,
    last_seen: datetime | None = None,
) -> Alert:
    return Alert(
        key=key,
        detector=detector,
        severity=severity,
        first_seen=T0,
        last_seen=last_seen or T0 + timedelta(minutes=5),
        client_ip="198.51.100.7",
        server="ocsp.example.test",
        serial="0a1b2c",
        issuer="issuing-ca",
        count=count,
        evidence={"requests": 1200, "window_s": 60} if evidence is None else evidence,
    )


def context(home: Path) -> Context:
    """HOME, and secrets looked up in this process's environment when used."""
    return Context(home=home, secret=os.environ.get)


class Sleeps:
    """The webhook's sleep: records what was asked, then really sleeps (tiny delays)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def alerts(self) -> list[dict[str, Any]]:
        document: dict[str, Any] = json.loads(self.body)
        alerts: list[dict[str, Any]] = document["alerts"]
        return alerts


class Receiver:
    """``http.server`` on a free 127.0.0.1 port answering from ``script`` in order, then
    with ``then`` for ever: 503s, 429s, 400s, slow answers, redirects."""

    def __init__(self, script: Sequence[Reply] = (), then: Reply | None = None) -> None:
        self.script = list(script)
        self.then = then or Reply()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    reply = receiver.script.pop(0) if receiver.script else receiver.then
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout test)

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


def start(receivers: list[Receiver], *script: Reply, then: Reply | None = None) -> Receiver:
    receiver = Receiver(script, then)
    receivers.append(receiver)
    return receiver


def webhook(url: str, sleeps: Sleeps | None = None, **options: Any) -> WebhookSink:
    """A sink with quick retries; ``options`` are the [alerts] keys without ``webhook_``."""
    chosen: dict[str, Any] = {"retries": 4, "backoff": 0.01, "backoff_max": 0.2, "timeout": 2.0}
    chosen.update(options)
    settings = WebhookSettings.model_validate(
        {"webhook_url": url, **{f"webhook_{key}": value for key, value in chosen.items()}}
    )
    return WebhookSink(settings, context(Path.cwd()), sleep=sleeps or Sleeps())
