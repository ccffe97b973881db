"""One running ACME server for the ACME tests (starting one costs seconds); tests use
names of their own, so they do not see each other's orders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acme_servers import running_challtestsrv
from tests.conftest import free_port, make_home, start_server
from tests.issuance.acme.support import AcmeServer, create_eab, running_acme


@pytest.fixture(scope="session")
def acme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeServer]:
    root = tmp_path_factory.mktemp("acme")
    responder_port = free_port()
    home = make_home(root / "home", port=responder_port)
    responders = start_server(home, port=responder_port)
    try:
        with (
            running_challtestsrv(root / "dns") as dns,
            running_acme(home, responders, dns) as server,
        ):
            server.eab = create_eab(home, "web", "**.acme.corp.example")
            yield server
    finally:
        responders.stop()
