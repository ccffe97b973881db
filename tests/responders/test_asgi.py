"""The ASGI adapter in-process: body caps, headers in and out, connection recycling."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from responders.web.asgi import ValidationApp
from responders.web.runtime import RuntimeConfig
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import load, request_der

Message = MutableMapping[str, Any]


def call(app: ValidationApp, scope: dict[str, Any], chunks: list[bytes]) -> list[Message]:
    sent: list[Message] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def scope(
    path: str,
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] = ("192.0.2.4", 40000),
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": headers or [],
        "client": client,
    }


def app_for(home: PkiHome, tmp_path: Path, **overrides: Any) -> ValidationApp:
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(home.home.pki.root),
            raw_dir=str(tmp_path),
            store_uri=str(home.home.pki.store),
            **overrides,
        )
    )
    app.start()
    return app


def test_body_in_chunks_and_headers_out(pki_home: PkiHome, tmp_path: Path) -> None:
    app = app_for(pki_home, tmp_path)
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    sent = call(app, scope("/ocsp"), [data[:10], data[10:50], data[50:]])
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"content-type"] == b"application/ocsp-response"
    assert int(headers[b"content-length"]) == len(body["body"])
    assert b"connection" not in headers
    app.stop()


def test_declared_oversize_is_refused_without_reading(pki_home: PkiHome, tmp_path: Path) -> None:
    app = app_for(pki_home, tmp_path)
    sent = call(app, scope("/ocsp", headers=[(b"content-length", b"999999")]), [b""])
    assert sent[0]["status"] == 413
    streamed = call(app, scope("/ocsp"), [b"\x30" * 10_000, b"\x30" * 10_000])
    assert streamed[0]["status"] == 413
    app.stop()


def test_client_that_leaves_early_gets_nothing_and_breaks_nothing(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    app = app_for(pki_home, tmp_path)
    assert call(app, scope("/ocsp"), []) == []
    assert call(app, scope("/healthz", "GET"), [b""])[0]["status"] == 200
    app.stop()


def test_keep_alive_connections_are_recycled(pki_home: PkiHome, tmp_path: Path) -> None:
    app = app_for(pki_home, tmp_path, max_requests_per_connection=3)
    one, other = ("192.0.2.4", 40001), ("192.0.2.4", 40002)
    closes = []
    for client in (one, one, other, one, one):
        sent = call(app, scope("/healthz", "GET", client=client), [b""])
        closes.append(dict(sent[0]["headers"]).get(b"connection"))
    assert closes == [None, None, None, b"close", None]
    app.stop()


def test_connection_counts_are_bounded_oldest_first(pki_home: PkiHome, tmp_path: Path) -> None:
    """Closed connections are never reported, so the table of per-connection counts must
    make room itself: the connection seen first is dropped and only starts counting again."""
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.home.pki.root),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
            max_requests_per_connection=3,
        ),
        tracked_connections=2,
    )
    app.start()
    first, second, third = (("192.0.2.9", port) for port in (50001, 50002, 50003))
    closes = []
    for client in (first, first, second, third, first, first, first):
        sent = call(app, scope("/healthz", "GET", client=client), [b""])
        closes.append(dict(sent[0]["headers"]).get(b"connection"))
    # `first` made room for `third` after its two requests, so it closes only at its third
    # request after that, not at its first one.
    assert closes == [None, None, None, None, None, None, b"close"]
    assert len(app._per_connection) <= 2
    app.stop()
