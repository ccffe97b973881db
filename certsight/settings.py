"""Where things live and how they are set: the home folder (``--home`` or
``CERTSIGHT_HOME``), ``HOME/certsight.toml`` and the environment.

This module is the only reader of certsight.toml (once per load) and of certsight's
environment variables. ``CertsightSettings`` is the root model: it composes each
package's model of its own table (``[alerts]`` and ``[reports]`` from
``warehouse.destinations``, ``[dashboard]`` and ``[privacy]`` from
``dashboards.settings``, ``[issuance]`` from ``issuance.settings``, ``[acme]`` from
``issuance.acme.settings``, ``[publishing]`` from
``publishing.settings``) and refuses any
key none of them knows. Packages receive what they need as arguments; secrets stay in
environment variables the file names, looked up through ``Environment`` when they are
used. docs/settings.md lists every table, key and variable.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, get_args

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from dashboards.settings import (
    HOME_ENV,
    DashboardSection,
    DashboardSettings,
    PrivacySettings,
)
from issuance.acme.settings import AcmeSettings
from issuance.settings import IssuanceSettings
from pki.layout import PkiLayout
from publishing.settings import PublishingSettings
from warehouse.destinations import AlertsSettings, Context, ReportsSettings

__all__ = [
    "CRLS_ENV",
    "DEFAULT_HOME",
    "HOME_ENV",
    "MEMORY_LIMIT_ENV",
    "SETTINGS_FILE",
    "STORE_ENV",
    "CertsightSettings",
    "Environment",
    "Home",
    "SettingsError",
]

STORE_ENV: Final = "CERTSIGHT_STORE"
CRLS_ENV: Final = "CERTSIGHT_CRLS"
MEMORY_LIMIT_ENV: Final = "CERTSIGHT_DUCKDB_MEMORY_LIMIT"
DEFAULT_HOME: Final = Path("data")
SETTINGS_FILE: Final = "certsight.toml"

_SECRET_WORDS: Final = ("token", "secret", "password", "passwd", "credential", "key")


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, option: str | Path | None) -> Home:
        chosen = option or os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().absolute())

    @property
    def pki(self) -> PkiLayout:
        return PkiLayout(self.root / "pki")

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def issuance(self) -> Path:
        """The issuance service's own state: tokens, orders, its TLS certificate."""
        return self.root / "issuance"

    @property
    def certs(self) -> Path:
        """Default output folder of ``certsight issue``."""
        return self.root / "certs"

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def store_uri(self) -> str:
        """``CERTSIGHT_STORE`` (e.g. ``dynamodb://certsight-certificates``) or the SQLite file."""
        return os.environ.get(STORE_ENV) or str(self.pki.store)

    @property
    def crl_location(self) -> str:
        """Where the CRL updater stores signed CRLs and the responders read them:
        ``CERTSIGHT_CRLS`` (a folder or ``s3://bucket/prefix``) or ``HOME/pki/crl``."""
        return os.environ.get(CRLS_ENV) or str(self.pki.crl_dir)


@dataclass(frozen=True)
class Environment:
    """The process environment as certsight reads it.

    A live view by default (``os.environ``): a secret is looked up when it is used,
    so a rotated webhook token is picked up by the next delivery without a restart.
    """

    variables: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def secret(self, name: str) -> str | None:
        """The value of the variable ``name``, or None when unset or blank."""
        value = self.variables.get(name, "").strip()
        return value or None

    @property
    def duckdb_memory_limit(self) -> str | None:
        """``CERTSIGHT_DUCKDB_MEMORY_LIMIT``: DuckDB's share of a build (default 6GB)."""
        return self.variables.get(MEMORY_LIMIT_ENV) or None


class SettingsError(ValueError):
    """certsight.toml cannot be used as written. Each problem names the file, the table
    and the key (``/srv/certsight/certsight.toml: alerts.webhook_retries: must be
    between 0 and 20, not -1``); ``key`` is the first problem's dotted key, None when
    the file itself cannot be read. Values are quoted only where they cannot be secrets.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str | None, str]]) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.key, self.problem = self.problems[0]
        super().__init__(
            "\n".join(
                f"{source}: {key}: {text}" if key else f"{source}: {text}" for key, text in problems
            )
        )


class CertsightSettings(BaseModel):
    """``HOME/certsight.toml``: one table per package, each checked by that package's model."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    alerts: AlertsSettings = AlertsSettings()
    reports: ReportsSettings = ReportsSettings()
    dashboard: DashboardSection = DashboardSection()
    privacy: PrivacySettings = PrivacySettings()
    issuance: IssuanceSettings = IssuanceSettings()
    acme: AcmeSettings = AcmeSettings()
    publishing: PublishingSettings = PublishingSettings()

    _environment: Environment = PrivateAttr(default_factory=Environment)

    @classmethod
    def load(cls, home: Home, environ: Mapping[str, str] | None = None) -> CertsightSettings:
        """Read ``HOME/certsight.toml`` (no file: the defaults) and check every key."""
        source = home.settings_file
        try:
            with source.open("rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            document = {}
        except OSError as exc:
            raise SettingsError(str(source), [(None, f"cannot read: {exc.strerror}")]) from None
        except tomllib.TOMLDecodeError as exc:  # its message quotes positions, not values
            raise SettingsError(str(source), [(None, f"not valid TOML: {exc}")]) from None
        return cls.parse(document, source=str(source), environ=environ)

    @classmethod
    def parse(
        cls,
        document: Mapping[str, Any],
        *,
        source: str = SETTINGS_FILE,
        environ: Mapping[str, str] | None = None,
    ) -> CertsightSettings:
        """Check a parsed document; ``source`` names it in errors."""
        try:
            settings = cls.model_validate(document)
        except ValidationError as exc:
            # Not chained: pydantic's own text would carry the offending values.
            raise SettingsError(source, _problems(exc)) from None
        if environ is not None:
            settings._environment = Environment(environ)
        return settings

    @property
    def environment(self) -> Environment:
        return self._environment

    def acme_settings(self) -> AcmeSettings:
        """``[acme]`` with ``CERTSIGHT_ACME_HTTP01_PORT`` applied over ``http01_port``."""
        try:
            return self.acme.with_environment(self._environment.variables)
        except ValueError as exc:
            raise SettingsError("environment", [("acme.http01_port", str(exc))]) from None

    def dashboards(self) -> DashboardSettings:
        """What the dashboards app runs with: ``[dashboard]`` and ``[privacy]``."""
        return DashboardSettings(
            oidc=self.dashboard.oidc, audiences=self.dashboard.audiences, privacy=self.privacy
        )

    def destination_context(self, home: Home) -> Context:
        """What alert sinks and report stores need: HOME, and secrets from the environment."""
        return Context(home=home.root, secret=self._environment.secret)


# -- from pydantic's errors to messages that name the key -----------------------------


def _problems(error: ValidationError) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    for detail in error.errors(include_url=False):
        loc = tuple(str(part) for part in detail["loc"] if part != "[key]")
        problems.append((".".join(loc) or None, _describe(detail, loc)))
    return problems


def _describe(detail: Any, loc: tuple[str, ...]) -> str:
    kind: str = detail["type"]
    context: dict[str, Any] = detail.get("ctx") or {}
    given = _what(detail.get("input"))
    if kind == "extra_forbidden":
        return _unknown(loc)
    if kind in ("value_error", "assertion_error"):
        return str(context["error"])
    messages = {
        "missing": "is required",
        "string_type": f"must be a non-empty string, not {given}",
        "string_too_short": "must be a non-empty string",
        "bool_type": f"must be true or false, not {given}",
        "int_type": f"must be an integer, not {given}",
        "float_type": f"must be a number, not {given}",
        "finite_number": "must be a finite number",
        "model_type": f"must be a table, not {given}",
        "dict_type": f"must be a table, not {given}",
        "list_type": f"must be a list, not {given}",
        "tuple_type": f"must be a list, not {given}",
    }
    if kind in messages:
        return messages[kind]
    for bound, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if bound in context:
            return f"must be {sign} {context[bound]:g}, not {given}"
    return str(detail["msg"])


def _what(value: object) -> str:
    """How a wrong value is quoted: numbers and booleans as written, anything else by
    its kind, since a string in the wrong place may be a secret."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value!r}"
    kinds = {str: "a string", dict: "a table", list: "a list"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "a date or time")


def _unknown(loc: tuple[str, ...]) -> str:
    """Why a key is refused, what is known there, and the likely intended one."""
    key = loc[-1]
    model = _model_at(loc[:-1])
    known: tuple[str, ...] = ()
    if model is not None:
        custom = getattr(model, "settings_keys", None)
        known = tuple(custom()) if custom else _keys(model)
    what = "table" if len(loc) == 1 else "key"
    text = f"unknown {what}"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        text += f" (did you mean {close[0]}?)"
    if any(word in key.lower() for word in _SECRET_WORDS):
        text += (
            "; secrets never go in certsight.toml: keep them in an environment variable "
            "and name the variable in the table's *_env key"
        )
    if known:
        listed = ", ".join(f"[{k}]" if len(loc) == 1 else k for k in sorted(known))
        text += f"; known {what}s: {listed}"
    return text


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The settings model of the table at ``loc`` (``()`` is the file itself)."""
    model: type[BaseModel] = CertsightSettings
    for part in loc:
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        info = fields.get(part)
        if info is None:
            return None
        candidates = [info.annotation, *get_args(info.annotation)]
        found = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if found is None:
            return None
        model = found
    return model
