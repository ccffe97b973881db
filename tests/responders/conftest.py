"""Fixtures of the responder tests."""

from __future__ import annotations

import pytest

from responders.ocsp.authority import AuthorityIndex, load_authorities
from tests.conftest import PkiHome


@pytest.fixture(scope="module")
def authorities(pki_home: PkiHome) -> AuthorityIndex:
    return load_authorities(pki_home.home.pki)
