"""The ACME account of one backend: its key and state file, and its registration.

Kept apart from the order flow in ``acme_upstream`` because it has a life of its own: the
key is made once and written 0600 with O_EXCL (two processes starting together must end
up with one account, not two), it outlives restarts in ``account.json``, and it is
registered with the CA (with External Account Binding when configured) only when the CA
does not know it yet.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from acme import errors, messages
from acme.client import ClientV2
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import Error as JoseError
from josepy.jwa import ES256, RS256
from josepy.jwk import JWK, JWKEC

from issuance.backends.acme_errors import Network, translated
from issuance.backends.base import BackendConfigError
from issuance.backends.settings import AcmeBackendSettings

logger = logging.getLogger(__name__)

USER_AGENT = "certsight"
ACCOUNT_FILE = "account.json"
MAX_REQUEST_SECONDS = 45  # one HTTP exchange with the CA (the acme package's default)


@dataclass(frozen=True)
class AccountState:
    """What ``account.json`` holds. The key never changes once written; the directory
    and account URL are set when the account is registered (again, if the directory
    changed: an account belongs to one CA)."""

    key: JWK
    directory: str | None = None
    account_url: str | None = None

    def dumps(self) -> str:
        return json.dumps(
            {
                "key": json.loads(self.key.json_dumps()),
                "directory": self.directory,
                "account_url": self.account_url,
            },
            indent=2,
        )

    @classmethod
    def loads(cls, text: str) -> AccountState:
        data = json.loads(text)
        key = JWK.from_json(data["key"])
        if not isinstance(key, JWK) or not hasattr(key.key, "private_numbers"):
            raise ValueError("the account key is not a private JWK")
        return cls(
            key=key,
            directory=data.get("directory"),
            account_url=data.get("account_url"),
        )


def write_file(path: Path, text: str, *, mode: int, replace_existing: bool) -> bool:
    """Write ``text`` to ``path`` whole or not at all: a temporary file created with
    O_EXCL at ``mode``, then renamed over ``path`` or, when ``path`` must not be replaced,
    linked to it (which fails if it exists, so two processes creating the same account
    file cannot both win). False when ``path`` already existed and was kept."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace_existing:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


class AcmeAccount:
    """The account state in ``state_dir / account.json`` and the client that signs with
    its key. Not thread-safe: the backend calls it under its lock."""

    def __init__(
        self,
        backend: str,
        *,
        settings: AcmeBackendSettings,
        state_dir: Path,
        secret: Callable[[str], str | None],
    ) -> None:
        self._backend = backend  # the backend's name, for messages
        self._settings = settings
        self._state_dir = state_dir
        self._secret = secret
        self._client: ClientV2 | None = None
        self._state = self._read_state()

    @property
    def path(self) -> Path:
        return self._state_dir / ACCOUNT_FILE

    def key(self) -> JWK:
        return self._load_or_create_state().key

    def known_url(self) -> str | None:
        """The account URL, if the state holds one for the configured directory."""
        state = self._state
        if state is None or state.directory != self._settings.directory:
            return None
        return state.account_url

    def client(self) -> ClientV2:
        """The client, made on first use: directory fetched, account registered once."""
        if self._client is not None:
            return self._client
        state = self._load_or_create_state()
        settings = self._settings
        # requests takes a CA bundle path where acme annotates ``verify_ssl`` as a bool.
        verify = cast(bool, str(settings.ca_bundle)) if settings.ca_bundle else True
        net = Network(
            state.key,
            alg=ES256 if isinstance(state.key, JWKEC) else RS256,
            verify_ssl=verify,
            user_agent=USER_AGENT,
            timeout=max(1, min(MAX_REQUEST_SECONDS, math.ceil(settings.timeout_seconds))),
        )
        with translated("directory", settings):
            client = ClientV2(ClientV2.get_directory(settings.directory, net), net)
        account_url = self.known_url()
        if account_url is not None:
            net.account = messages.RegistrationResource(
                body=messages.Registration(), uri=account_url
            )
        else:
            self._register(client, state)
        self._client = client
        return client

    def forget(self) -> None:
        """Drop the account URL (the CA no longer knows it); the key stays."""
        state = self._load_or_create_state()
        self._save_state(replace(state, account_url=None))
        self._client = None

    def close(self) -> None:
        if self._client is not None:
            self._client.net.session.close()
            self._client = None

    def _read_state(self) -> AccountState | None:
        try:
            return AccountState.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
            raise BackendConfigError(f"cannot read {self.path}: {exc}") from None

    def _load_or_create_state(self) -> AccountState:
        """The account key: read, or made once (EC P-256) and written 0600 with O_EXCL."""
        if self._state is not None:
            return self._state
        try:
            self._state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
            created = write_file(
                self.path,
                AccountState(key).dumps(),
                mode=0o600,
                replace_existing=False,
            )
        except OSError as exc:
            raise BackendConfigError(f"cannot write {self.path}: {exc.strerror}") from None
        if created:
            logger.info("CA backend %s: new ACME account key in %s", self._backend, self.path)
        state = self._read_state()  # another process may have made it first: use theirs
        if state is None:
            raise BackendConfigError(f"{self.path} vanished")
        self._state = state
        return state

    def _save_state(self, state: AccountState) -> None:
        try:
            write_file(self.path, state.dumps(), mode=0o600, replace_existing=True)
        except OSError as exc:
            raise BackendConfigError(f"cannot write {self.path}: {exc.strerror}") from None
        self._state = state

    def _register(self, client: ClientV2, state: AccountState) -> None:
        """newAccount with the contact, the CA's terms agreed (configuring a CA is
        agreeing to them), and External Account Binding when a kid is configured."""
        settings = self._settings
        binding: dict[str, Any] | None = None
        if settings.eab_kid is not None and settings.eab_hmac_key_env is not None:
            hmac_key = self._secret(settings.eab_hmac_key_env)
            if not hmac_key:
                raise BackendConfigError(
                    f"the variable {settings.eab_hmac_key_env} (the EAB HMAC key) is not set"
                )
            try:
                binding = messages.ExternalAccountBinding.from_data(
                    account_public_key=state.key.public_key(),
                    kid=settings.eab_kid,
                    hmac_key=hmac_key,
                    directory=client.directory,
                )
            except ValueError:
                raise BackendConfigError(
                    f"the variable {settings.eab_hmac_key_env} does not hold a base64url HMAC key"
                ) from None
        elif client.external_account_required():
            raise BackendConfigError(
                "the CA requires External Account Binding: set eab_kid and eab_hmac_key_env"
            )
        fields: dict[str, Any] = {"terms_of_service_agreed": True}
        if settings.contact:
            fields["contact"] = tuple(settings.contact)
        registration = messages.NewRegistration.from_data(
            external_account_binding=binding, **fields
        )
        with translated("account", settings):
            try:
                account_url = client.new_account(registration).uri
            except errors.ConflictError as existing:
                # The CA already has an account for this key (its URL was lost, or
                # another process registered it a moment ago): that account is ours.
                account_url = existing.location
                client.net.account = messages.RegistrationResource(
                    body=messages.Registration(), uri=account_url
                )
        logger.info("CA backend %s: ACME account %s", self._backend, account_url)
        self._save_state(replace(state, directory=settings.directory, account_url=account_url))
