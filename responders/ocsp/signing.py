"""The innermost source: sign an answered request with its authority's signer.

The validity window is [read time to the second, + validity]. thisUpdate is when the
statuses were read from the store (``AnsweredRequest.read_at``, rounded down, so never
later), not when they are signed: RFC 6960 4.2.2.1 makes it the most recent time the
status is known to have been correct; producedAt is the signing time. nextUpdate is set
(4.2.2.1), so clients and caches know when to ask again. A nonce is echoed in the response
extensions (RFC 8954 2.1), which makes that response unique to its request: it gets no
ETag, so neither the response cache nor HTTP caches (RFC 5019 6.2) will share it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from responders.ocsp.response import ResponseStatus
from responders.ocsp.source import AnsweredRequest, OcspResult, log_cert_id


class SigningSource:
    """Builds and signs the DER response (RFC 6960 4.2.1) for every request it gets."""

    def __init__(self, validity: timedelta) -> None:
        self._validity = validity

    def response(self, request: AnsweredRequest, now: datetime) -> OcspResult:
        admitted = request.admitted
        nonce = admitted.request.nonce
        this_update = request.read_at.replace(microsecond=0)
        next_update = this_update + self._validity
        body = admitted.authority.signer.build(
            request.answers,
            produced_at=now,
            this_update=this_update,
            next_update=next_update,
            nonce=nonce,
        )
        issuer_key_sha1 = admitted.issuer_key_sha1
        return OcspResult(
            body,
            ResponseStatus.successful,
            cert_ids=tuple(
                log_cert_id(a.cert_id, issuer_key_sha1, a.status.value) for a in request.answers
            ),
            nonce=nonce is not None,
            this_update=this_update,
            next_update=next_update,
            etag=None if nonce is not None else _etag(body),
            issuer_key_sha1=issuer_key_sha1,
        )


def _etag(body: bytes) -> str:
    """A strong validator of the exact bytes (RFC 9110 8.8.3), for If-None-Match and 304s."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
