"""The ceiling: a bare ASGI app returning certsight's reply bytes, nothing else.

Status, headers and body are those certsight gives to the benchmark request,
captured before the run, so the wire traffic is identical.

Started by ocsp_bench.py with the same uvicorn settings as certsight, so the gap
between the two is what certsight's own work costs per request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]


def create_app() -> Callable[..., Awaitable[None]]:
    body = Path(os.environ["BENCH_RESPONSE_FILE"]).read_bytes()
    captured = json.loads(Path(os.environ["BENCH_HEADERS_FILE"]).read_text())
    headers = [(name.encode(), value.encode()) for name, value in captured]
    headers.append((b"content-length", str(len(body)).encode()))

    async def app(
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
