"""Fixtures of the destination tests: scripted webhook receivers, no proxies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.warehouse.destinations.support import Receiver


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours *_proxy variables; the receivers are on loopback."""
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()
