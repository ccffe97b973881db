"""A real OpenID Connect provider for the sign-in tests, and a home that signs in with it.

The provider is ``oidc-provider-mock`` (PyPI; Authlib under Flask): discovery document,
authorization code flow with nonce, RS256-signed ID tokens, end-session endpoint. It
runs in a thread of the test process on 127.0.0.1 and stops when its context ends. Its
login page lists the users given here as one button each; a user's claims (``groups``
among them) go into the ID token, where ``dashboards/access.py`` reads them.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from certsight.settings import Home

CLIENT_ID = "certsight-dashboard"
CLIENT_SECRET = "client-secret-of-the-sign-in-tests"
COOKIE_SECRET = "cookie-secret-of-the-sign-in-tests-0123456789"  # 45 bytes
SECRETS = {
    "CERTSIGHT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "CERTSIGHT_DASHBOARD_COOKIE_SECRET": COOKIE_SECRET,
}
# group claim values -> audiences, as [dashboard.audiences] says
AUDIENCES = {"pki": ["pki-team"], "cyber": ["soc"], "management": ["it-leadership"]}


@dataclass(frozen=True)
class Person:
    sub: str
    email: str
    groups: tuple[str, ...]


PKI_ENGINEER = Person("pat", "pat@corp.example", ("staff", "pki-team"))
ANALYST = Person("sam", "sam@corp.example", ("soc",))
OUTSIDER = Person("lee", "lee@corp.example", ("marketing",))
PEOPLE = (PKI_ENGINEER, ANALYST, OUTSIDER)


@dataclass(frozen=True)
class Provider:
    url: str

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@contextmanager
def oidc_provider(people: Sequence[Person] = PEOPLE) -> Iterator[Provider]:
    """The provider on a free port of 127.0.0.1, in a thread that ends with the context."""
    from oidc_provider_mock import User, app  # type: ignore[import-untyped]
    from werkzeug.serving import make_server

    users = [
        User(sub=person.sub, claims={"email": person.email, "groups": list(person.groups)})
        for person in people
    ]
    server = make_server("127.0.0.1", 0, app(user_claims=users, require_nonce=True), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="oidc-provider"
    )
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def signed_in_home(
    root: Path,
    provider: Provider,
    port: int,
    *,
    warehouse: Path | None = None,
    audiences: Mapping[str, Sequence[str]] = AUDIENCES,
) -> Home:
    """A home whose dashboards sign in with ``provider`` and come back to 127.0.0.1:port;
    with a copy of ``warehouse`` when given (the dashboards only read it)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "[dashboard.oidc]",
        f'server_metadata_url = "{provider.metadata_url}"',
        f'client_id = "{CLIENT_ID}"',
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"',
        'groups_claim = "groups"',
        "",
        "[dashboard.audiences]",
        *(f"{audience} = {json.dumps(list(groups))}" for audience, groups in audiences.items()),
    ]
    (root / "certsight.toml").write_text("\n".join(lines) + "\n")
    home = Home(root)
    if warehouse is not None:
        shutil.copyfile(warehouse, home.warehouse)
    return home
