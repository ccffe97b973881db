"""The response cache alone: served until the refresh margin, nonces passed through,
forgotten on change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.cache import CachingSource
from responders.ocsp.response import ResponseStatus, unsuccessful
from responders.ocsp.source import OcspResult
from tests.conftest import PkiHome
from tests.responders.ocsp_doubles import (
    NOW,
    Recorder,
    admitted,
    issuing_key,
    serial_request,
    signed,
)


# -- the response cache ------------------------------------------------------------
def test_cache_serves_until_the_refresh_margin_then_asks_again(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7))
    first = cache.response(request, NOW)
    assert not first.cache_hit
    hit = cache.response(request, NOW + timedelta(minutes=49, seconds=59))
    assert hit.cache_hit and (hit.body, hit.etag) == (first.body, first.etag)
    assert (hit.this_update, hit.next_update) == (first.this_update, first.next_update)
    assert len(inner.requests) == 1
    refreshed = cache.response(request, NOW + timedelta(minutes=50))
    assert not refreshed.cache_hit and refreshed.body != first.body
    assert len(inner.requests) == 2
    assert cache.response(request, NOW + timedelta(minutes=51)).body == refreshed.body


def test_cache_passes_nonce_requests_through_and_keeps_nothing(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7, nonce=b"\x04\x02ab"))
    assert not cache.response(request, NOW).cache_hit
    assert not cache.response(request, NOW).cache_hit
    assert len(inner.requests) == 2 and len(cache) == 0


def test_cache_keeps_only_successful_answers(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    later = OcspResult(unsuccessful(ResponseStatus.tryLater), ResponseStatus.tryLater)
    inner = Recorder(lambda r, now: later)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    request = admitted(authorities, serial_request(pki_home, 7))
    assert cache.response(request, NOW) is later
    assert cache.response(request, NOW) is later
    assert len(inner.requests) == 2 and len(cache) == 0


def test_cache_forgets_every_entry_that_mentions_a_certificate(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    alone, pair, other = (
        admitted(authorities, serial_request(pki_home, *serials))
        for serials in ((7,), (7, 8), (9,))
    )
    for request in (alone, pair, other):
        cache.response(request, NOW)
    assert cache.forget(issuing_key(authorities), "07") == 2
    assert cache.forget("f" * 40, "09") == 0  # the same serial under another issuer
    assert not cache.response(alone, NOW).cache_hit
    assert not cache.response(pair, NOW).cache_hit
    assert cache.response(other, NOW).cache_hit


def test_cache_evicts_the_oldest_when_full(pki_home: PkiHome, authorities: AuthorityIndex) -> None:
    inner = Recorder(signed)
    cache = CachingSource(inner, max_entries=10, refresh_margin=timedelta(minutes=10))
    requests = [admitted(authorities, serial_request(pki_home, n)) for n in range(11)]
    for request in requests:
        cache.response(request, NOW)
    assert len(cache) == 10
    assert cache.response(requests[-1], NOW).cache_hit
    assert not cache.response(requests[0], NOW).cache_hit


def test_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        CachingSource(Recorder(signed), max_entries=0, refresh_margin=timedelta(0))
