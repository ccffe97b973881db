"""AWS Lambda adapter: Function URL / API Gateway HTTP API payload 2.0 events.

Lambda runs one request per container at a time and has no background tasks,
so the change feed is polled on the request path, at most once per
``poll_interval_s``: one cheap query keeps revocations visible within seconds.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

from responders.web.clientip import NO_TRUST, ViewerTrust, client_address
from responders.web.exchange import Exchange, HttpReply, HttpRequest
from responders.web.runtime import Runtime


class LambdaFrontend:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._next_sync = 0.0

    def handle(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], Exchange | None]:
        trust = self.runtime.viewer_trust
        request = request_from_event(event, self.runtime.service.max_body, trust)
        if request is None:
            reply = HttpReply(
                400, [(b"content-type", b"text/plain")], b"not an HTTP API v2 event\n"
            )
            return result_from_reply(reply), None
        if trust.secrets and not trust.from_cdn(request.headers):
            # An origin secret is configured: this function answers through the CDN only.
            reply = HttpReply(403, [(b"content-type", b"text/plain")], b"not through the CDN\n")
            return result_from_reply(reply), None
        now = time.monotonic()
        if now >= self._next_sync:
            self._next_sync = now + self.runtime.config.poll_interval_s
            try:
                self.runtime.sync()
            except Exception:  # noqa: BLE001, S110 - store trouble shows as tryLater below
                pass
        exchange = self.runtime.service.handle(request)
        return result_from_reply(exchange.reply), exchange


def request_from_event(
    event: Mapping[str, Any], max_body: int, trust: ViewerTrust = NO_TRUST
) -> HttpRequest | None:
    try:
        http = event["requestContext"]["http"]
        method = str(http["method"]).upper()
        path = str(event.get("rawPath") or http.get("path") or "/")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw_body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(raw_body, validate=True)
        else:
            body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
        source_ip = str(http.get("sourceIp") or "")
        request_id = event["requestContext"].get("requestId")
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError):
        return None
    return HttpRequest(
        method=method,
        path=path,
        headers=headers,
        body=body[: max_body + 1],
        client_ip=client_address(headers, source_ip, trust),
        body_too_large=len(body) > max_body,
        request_id=str(request_id) if request_id else None,
    )


def result_from_reply(reply: HttpReply) -> dict[str, Any]:
    return {
        "statusCode": reply.status,
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in reply.headers},
        "body": base64.b64encode(reply.body).decode("ascii"),
        "isBase64Encoded": True,
    }
