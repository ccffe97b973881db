"""The one extension point for where certsight sends things: alerts and reports.

A destination is a service (a file, a webhook, an SNS topic, a folder, an S3 prefix)
with a slug, a pydantic model of its own settings, and one of two capabilities:
``AlertSink.deliver`` takes alerts, ``ReportStore.write`` takes named documents.
Subclassing registers a destination under its slug, so a new service is one module
that declares its settings and its sending code; the ``[alerts]`` and ``[reports]``
tables (``tables.py``) find it in the registry, nothing else lists the services.

A destination never reads the environment or ``certsight.toml`` itself: it receives
its validated settings and a ``Context`` (where HOME is, how to look a secret up)
from whoever loaded the settings (``certsight/settings.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from warehouse.alert import SEVERITIES, Alert

SETTINGS_CONFIG = ConfigDict(
    extra="forbid",  # a misspelt key is an error, never a silently ignored line
    strict=True,  # TOML has types: "5" is not a number, 1 is not true
    frozen=True,
    hide_input_in_errors=True,  # a URL with a signature must not reach a traceback
)
"""How every settings model of certsight.toml validates."""

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _severity(value: str) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"{value!r} is not one of {', '.join(SEVERITIES)}")
    return value


Severity = Annotated[str, AfterValidator(_severity)]


def between(low: int, high: int) -> AfterValidator:
    """One message for both bounds: "between 0 and 20, not -1" says what is allowed."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, not {value}")
        return value

    return AfterValidator(check)


def setting_errors(title: str, problems: Iterable[tuple[str, str, object]]) -> ValidationError:
    """A ``ValidationError`` placing each ``(key, problem, value)`` at its key.

    Raised from a model validator, pydantic prefixes these locations with the
    model's own, so a check that involves several keys still names the right one.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("setting", "{problem}", {"problem": problem}),
                loc=(key,),
                input=value,
            )
            for key, problem, value in problems
        ],
    )


def unknown_keys(title: str, table: dict[str, object], keys: Iterable[str]) -> ValidationError:
    """The error ``extra="forbid"`` gives, for a validator that sorts keys itself."""
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type="extra_forbidden", loc=(key,), input=table[key]) for key in keys],
    )


class DestinationSettings(BaseModel):
    """Base of each destination's settings model; field aliases are the keys users write."""

    model_config = SETTINGS_CONFIG


class AlertSinkSettings(DestinationSettings):
    """An alert sink's settings: each overrides ``min_severity`` with its own key."""

    min_severity: Severity | None = None


def setting_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys ``model`` accepts, as written in certsight.toml."""
    return tuple(field.alias or name for name, field in model.model_fields.items())


def required_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys without a default: a sink exists when they are set (its anchor)."""
    return tuple(
        field.alias or name for name, field in model.model_fields.items() if field.is_required()
    )


@dataclass(frozen=True)
class Context:
    """What a destination needs besides its settings, handed in by the settings' owner.

    ``secret`` is called when the secret is needed, not when settings load, so a
    rotated token is picked up without a restart.
    """

    home: Path
    secret: Callable[[str], str | None]

    def path(self, value: str) -> Path:
        """A settings path: ``~`` expanded, relative to HOME unless absolute."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.home / path


class DeliveryError(Exception):
    """A destination could not take some or all of what it was given.

    ``delivered`` holds the alert keys that did arrive before or despite the
    failure, so the caller retries only the others. Messages never hold secrets.
    """

    def __init__(self, destination: str, message: str, *, delivered: Iterable[str] = ()) -> None:
        self.destination = destination
        self.message = message
        self.delivered: tuple[str, ...] = tuple(delivered)
        super().__init__(f"{destination}: {message}")


S = TypeVar("S", bound=DestinationSettings)
A = TypeVar("A", bound=AlertSinkSettings)
D = TypeVar("D", bound="Destination[Any]")

_REGISTRY: dict[str, type[Destination[Any]]] = {}


class Destination(ABC, Generic[S]):
    """A service certsight sends to. Subclasses set ``slug`` and ``settings_model``.

    ``name`` defaults to the slug; it keys the warehouse's delivery records, so a
    sink's slug is an interface that must not change.
    """

    slug: ClassVar[str]
    settings_model: ClassVar[type[DestinationSettings]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        slug = cls.__dict__.get("slug")
        if slug is None:
            return  # an abstract family (AlertSink, ReportStore), not a service
        if slug in _REGISTRY and _REGISTRY[slug] is not cls:
            raise TypeError(f"destination slug {slug!r} is taken by {_REGISTRY[slug].__name__}")
        _REGISTRY[slug] = cls

    def __init__(self, settings: S, context: Context, *, name: str | None = None) -> None:
        self.settings = settings
        self.context = context
        self.name = name or self.slug

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AlertSink(Destination[A]):
    """Takes alerts; ``deliver`` raises ``DeliveryError`` for any it did not deliver."""

    @property
    def min_severity(self) -> str:
        """Alerts below this are not for this sink (``deliver_all`` filters them)."""
        return self.settings.min_severity or SEVERITIES[0]

    @abstractmethod
    def deliver(self, alerts: Sequence[Alert]) -> None:
        """Send ``alerts``; ``DeliveryError.delivered`` names those that arrived anyway."""


class ReportStore(Destination[S]):
    """Takes report files. ``scheme`` is the URI scheme it answers (None: a folder path)."""

    scheme: ClassVar[str | None]

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the files go: for messages, and the key of what was written there."""

    @abstractmethod
    def write(self, name: str, data: bytes, content_type: str) -> str:
        """Store ``data`` as ``name``, whole or not at all; returns where it went."""

    def __str__(self) -> str:
        return self.location


def alert_sinks() -> dict[str, type[AlertSink[Any]]]:
    """The registered alert sinks by slug, in slug order."""
    return {slug: cls for slug, cls in sorted(_REGISTRY.items()) if issubclass(cls, AlertSink)}


def report_stores() -> dict[str, type[ReportStore[Any]]]:
    """The registered report stores by slug, in slug order."""
    return {slug: cls for slug, cls in sorted(_REGISTRY.items()) if issubclass(cls, ReportStore)}


def build_sink(settings: DestinationSettings, context: Context) -> AlertSink[Any]:
    """The alert sink that ``settings`` configure."""
    return _build(alert_sinks(), settings, context)


def build_store(settings: DestinationSettings, context: Context) -> ReportStore[Any]:
    """The report store that ``settings`` configure."""
    return _build(report_stores(), settings, context)


def _build(family: dict[str, type[D]], settings: DestinationSettings, context: Context) -> D:
    for cls in family.values():
        if type(settings) is cls.settings_model:
            return cls(settings, context)
    raise LookupError(f"no destination takes {type(settings).__name__}")


def encode_alerts(
    alerts: Sequence[Alert],
) -> tuple[list[tuple[Alert, dict[str, Any]]], list[str]]:
    """``to_json`` of each alert; the keys of those whose evidence cannot be encoded.

    One detector's unserialisable evidence must not hold back everyone else's
    alerts, so the bad ones are set aside and reported by key.
    """
    good: list[tuple[Alert, dict[str, Any]]] = []
    bad: list[str] = []
    for alert in alerts:
        try:
            good.append((alert, alert.to_json()))
        except (TypeError, ValueError) as exc:
            bad.append(f"{alert.key}: cannot encode: {exc}")
    return good, bad
