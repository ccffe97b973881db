"""Cache headers that let a CDN keep answering through an origin outage (issue 15).

The validation service is driven with a held clock, so every header is checked at exact
moments: ``max-age`` is the cap until less than the cap of freshness is left,
``stale-if-error`` covers the rest up to nextUpdate (RFC 5861 4 counts it from the end of
max-age, so the two add up to nextUpdate), ``must-revalidate`` only when nothing valid is
left past max-age, and ``Expires`` says what max-age says.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509 import ocsp

from certsight.cli import main
from responders.web.exchange import HttpRequest, ValidationService
from responders.web.runtime import Runtime, RuntimeConfig, build_runtime
from tests.conftest import PkiHome, make_home, start_server
from tests.responders.test_http_server import http
from tests.responders.test_ocsp_core import load, request_der

CONTROL = re.compile(
    r"max-age=(?P<max_age>\d+), public, no-transform, "
    r"(?:stale-if-error=(?P<stale>\d+)|(?P<revalidate>must-revalidate))"
)


class HeldClock:
    """Time that moves only when the test says so, on whole seconds (as HTTP dates are)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def runtime_at(home: PkiHome, clock: HeldClock, **overrides: object) -> Runtime:
    config = RuntimeConfig(
        pki_dir=str(home.home.pki.root),
        raw_dir=None,
        store_uri=str(home.home.pki.store),
        **overrides,  # type: ignore[arg-type]
    )
    return build_runtime(config, adapter="test", clock=clock)


def parse_control(value: str) -> tuple[int, int | None]:
    """(max-age, stale-if-error); stale-if-error None means must-revalidate was sent."""
    match = CONTROL.fullmatch(value)
    assert match, value
    stale = match["stale"]
    return int(match["max_age"]), None if stale is None else int(stale)


def expected(
    now: datetime, fresh_until: datetime, valid_until: datetime, cap: int
) -> tuple[int, int | None, str]:
    """What the headers must say at ``now``: max-age, stale-if-error, Expires (``now``
    plus max-age; once the freshness is gone, the instant it went, which says the same:
    stale)."""
    max_age = max(0, min(cap, int((fresh_until - now).total_seconds())))
    stale = int((valid_until - now).total_seconds()) - max_age
    expires_at = fresh_until if max_age == 0 else now + timedelta(seconds=max_age)
    expires = formatdate(expires_at.timestamp(), usegmt=True)
    return max_age, (stale if stale > 0 else None), expires


def ocsp_exchange(
    runtime: Runtime, method: str, der: bytes, **headers: str
) -> tuple[int, dict[bytes, bytes], bytes]:
    if method == "GET":
        path = "/ocsp/" + quote(base64.b64encode(der).decode(), safe="")
        request = HttpRequest("GET", path, headers, b"", "192.0.2.9")
    else:
        request = HttpRequest("POST", "/ocsp", headers, der, "192.0.2.9")
    reply = runtime.service.handle(request).reply
    return reply.status, dict(reply.headers), reply.body


# -- OCSP ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("cap", [300, 900])
def test_ocsp_max_age_is_capped_and_stale_if_error_reaches_next_update(
    pki_home: PkiHome, method: str, cap: int
) -> None:
    """One pre-signed response (validity 3600 s, re-signed 600 s before nextUpdate) asked
    at several moments of its life: early, the cap binds; near the end, with cap 900, the
    freshness left binds and nothing is left to serve stale, so must-revalidate."""
    clock = HeldClock()
    runtime = runtime_at(pki_home, clock, roles=("ocsp",), cdn_max_age_s=cap)
    der = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    status, headers, body = ocsp_exchange(runtime, method, der)
    assert status == 200
    signed = ocsp.load_der_ocsp_response(body)
    next_update = signed.next_update_utc
    assert next_update is not None
    assert next_update - clock.now == timedelta(seconds=3600)  # the setting this test assumes
    seen = []
    for age in (0, 1, 1799, 2700, 2999):
        clock.now = signed.this_update_utc + timedelta(seconds=age)
        status, headers, again = ocsp_exchange(runtime, method, der)
        assert status == 200 and again == body  # the pre-signed response, not a new one
        control = headers[b"cache-control"].decode()
        max_age, stale, expires = expected(clock.now, next_update, next_update, cap)
        assert parse_control(control) == (max_age, stale), (age, control)
        assert headers[b"expires"].decode() == expires
        assert parsedate_to_datetime(headers[b"last-modified"].decode()) == signed.this_update_utc
        seen.append(parse_control(control))
    remaining = [3600 - e for e in (0, 1, 1799, 2700, 2999)]
    if cap == 300:
        assert seen == [(300, r - 300) for r in remaining]
    else:  # 601 s left at 2999: max-age 601, nothing past it
        assert seen == [(900, 2700), (900, 2699), (900, 901), (900, None), (601, None)]


def test_ocsp_get_304_keeps_the_cache_headers(pki_home: PkiHome) -> None:
    clock = HeldClock()
    runtime = runtime_at(pki_home, clock, roles=("ocsp",))
    der = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    _, first, _ = ocsp_exchange(runtime, "GET", der)
    clock.now += timedelta(seconds=100)
    status, again, body = ocsp_exchange(
        runtime, "GET", der, **{"if-none-match": first[b"etag"].decode()}
    )
    assert status == 304 and body == b""
    assert again[b"etag"] == first[b"etag"]
    assert again[b"last-modified"] == first[b"last-modified"]
    assert parse_control(again[b"cache-control"].decode()) == (300, 3600 - 100 - 300)


def test_ocsp_nonce_answers_stay_uncacheable(pki_home: PkiHome) -> None:
    clock = HeldClock()
    runtime = runtime_at(pki_home, clock, roles=("ocsp",))
    issuer = load(pki_home.home.pki.issuing_cert)
    der = request_der(load(pki_home.good), issuer, nonce=b"n" * 16)
    status, headers, _ = ocsp_exchange(runtime, "POST", der)
    assert status == 200 and headers[b"cache-control"] == b"no-store"
    assert b"expires" not in headers and b"etag" not in headers


@pytest.fixture(scope="module")
def own_home(tmp_path_factory: pytest.TempPathFactory) -> PkiHome:
    """A home no other test's CRL updater re-signs while these tests hold the clock."""
    return make_home(tmp_path_factory.mktemp("cdn"))


# -- CRLs ------------------------------------------------------------------------------
def test_crl_fresh_for_the_cap_then_stale_if_error_until_its_next_update(
    own_home: PkiHome,
) -> None:
    """A CRL is fresh no longer than the CRL server's own bound (an hour after
    thisUpdate), but its bytes stay valid until nextUpdate: a CDN may serve them that
    long while the origin fails, and not a second longer."""
    clock = HeldClock()
    runtime = runtime_at(own_home, clock, roles=("crl",))
    status, _, body = get_crl(runtime)
    assert status == 200
    crl = x509.load_der_x509_crl(body)
    this_update, next_update = crl.last_update_utc, crl.next_update_utc
    assert next_update is not None
    fresh_until = this_update + timedelta(hours=1)
    assert next_update > fresh_until + timedelta(hours=1)  # room for every moment below
    moments = [
        this_update + timedelta(seconds=10),  # the cap binds
        fresh_until - timedelta(seconds=100),  # 100 s of freshness left
        fresh_until + timedelta(hours=1),  # not fresh, still valid: stale-if-error only
        next_update - timedelta(seconds=1),
        next_update + timedelta(seconds=5),  # expired: nothing to serve stale
    ]
    seen = []
    for moment in moments:
        clock.now = moment
        status, headers, again = get_crl(runtime)
        assert status == 200 and again == body
        max_age, stale, expires = expected(moment, fresh_until, next_update, 300)
        assert parse_control(headers[b"cache-control"].decode()) == (max_age, stale), moment
        assert headers[b"expires"].decode() == expires
        seen.append(parse_control(headers[b"cache-control"].decode()))
    left = [int((next_update - m).total_seconds()) for m in moments]
    assert seen == [(300, left[0] - 300), (100, left[1] - 100), (0, left[2]), (0, 1), (0, None)]


def test_crl_304_keeps_the_cache_headers(own_home: PkiHome) -> None:
    clock = HeldClock()
    runtime = runtime_at(own_home, clock, roles=("crl",))
    _, first, _ = get_crl(runtime)
    status, again, body = get_crl(runtime, **{"if-none-match": first[b"etag"].decode()})
    assert status == 304 and body == b""
    assert again[b"cache-control"] == first[b"cache-control"]
    assert again[b"expires"] == first[b"expires"]


def get_crl(runtime: Runtime, **headers: str) -> tuple[int, dict[bytes, bytes], bytes]:
    reply = runtime.service.handle(
        HttpRequest("GET", "/crl/issuing-ca.crl", headers, b"", "192.0.2.9")
    ).reply
    return reply.status, dict(reply.headers), reply.body


# -- the setting -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "at least 1 second, got 0"),
        (-300, "at least 1 second, got -300"),
        (1.5, "whole number of seconds, got 1.5"),
        ("300", "whole number of seconds, got '300'"),
        (True, "whole number of seconds, got True"),
    ],
)
def test_a_cap_that_is_not_a_positive_integer_is_refused(
    pki_home: PkiHome, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        runtime_at(pki_home, HeldClock(), cdn_max_age_s=value)
    with pytest.raises(ValueError, match=re.escape(message)):
        ValidationService(
            ocsp=None,
            crl=None,
            ca_certificates={},
            clock=HeldClock(),
            adapter="test",
            cdn_max_age=value,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "'0' is not in the range x>=1"),
        ("-1", "'-1' is not in the range x>=1"),
        ("5m", "'5m' is not a valid integer"),
        ("1.5", "'1.5' is not a valid integer"),
    ],
)
def test_serve_refuses_a_bad_cap_before_starting(tmp_path: Path, value: str, message: str) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--cdn-max-age", value], env={"CERTSIGHT_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "Invalid value for '--cdn-max-age'" in result.output
    assert message.replace("'", "") in result.output.replace("'", "")


def test_serve_sends_the_cap_it_was_given(own_home: PkiHome) -> None:
    """``certsight serve --cdn-max-age`` as an operator runs it: a real worker process
    answers over loopback HTTP with that cap, and stale-if-error up to nextUpdate."""
    running = start_server(own_home, "--cdn-max-age", "120")
    try:
        der = request_der(load(own_home.good), load(own_home.home.pki.issuing_cert))
        for method, url, body in (
            ("POST", f"{running.url}/ocsp", der),
            ("GET", f"{running.url}/ocsp/{base64.b64encode(der).decode()}", None),
        ):
            status, headers, answer = http(method, url, body)
            assert status == 200
            next_update = ocsp.load_der_ocsp_response(answer).next_update_utc
            assert next_update is not None
            max_age, stale = parse_control(headers["cache-control"])
            assert max_age == 120 and stale is not None
            # Real time passes between signing and this check: a second or two of slack.
            remaining = (next_update - datetime.now(UTC)).total_seconds()
            assert abs(max_age + stale - remaining) <= 2
        status, headers, _ = http("GET", f"{running.url}/crl/issuing-ca.crl")
        assert status == 200 and parse_control(headers["cache-control"])[0] == 120
    finally:
        assert running.stop() == 0
