"""Checks every request passes before any route reads it: the body's type and size.

Pure ASGI, so the body is read once, capped as it arrives (a client cannot make the
server buffer more than the cap by lying in Content-Length or by chunking), then
replayed to the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from issuance.problems import (
    BODY_TOO_LARGE,
    CONTENT_TYPE,
    UNSUPPORTED_MEDIA_TYPE,
    Problem,
    ProblemType,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
INTERNAL = ProblemType("internal", "The server failed; the request was not completed", 500)


class RequestGuard:
    def __init__(
        self, app: App, *, max_body_bytes: int, pass_through: tuple[str, ...] = ()
    ) -> None:
        self._app = app
        self._max = max_body_bytes
        # Paths under these prefixes go to a mounted app that checks its own bodies
        # (the ACME server: application/jose+json, ACME-typed errors).
        self._pass_through = pass_through

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self._pass_through):
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] in _WITH_BODY:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                await _problem(
                    send,
                    Problem(
                        UNSUPPORTED_MEDIA_TYPE,
                        f"send the body as application/json, not {media or 'no content type'}",
                    ),
                    scope["path"],
                )
                return
            body = await self._read(receive, headers.get("content-length"))
            if body is None:
                await _problem(
                    send,
                    Problem(BODY_TOO_LARGE, f"bodies are capped at {self._max} bytes"),
                    scope["path"],
                )
                return
            receive = _replay(body)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception:
            log.exception("issuance API failed on %s %s", scope["method"], scope["path"])
            if not started:
                await _problem(
                    send, Problem(INTERNAL, "an internal error; it was logged"), scope["path"]
                )

    async def _read(self, receive: Receive, declared: str | None) -> bytes | None:
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _problem(send: Send, problem: Problem, path: str) -> None:
    payload = orjson.dumps(problem.body(path))
    await send(
        {
            "type": "http.response.start",
            "status": problem.kind.status,
            "headers": [
                (b"content-type", CONTENT_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
