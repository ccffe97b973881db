"""The ``[alerts]`` and ``[reports]`` tables of certsight.toml: which destinations are set.

Neither table lists the services: ``[alerts]`` is a flat table whose keys belong to
the registered alert sinks (each sink's settings model owns its keys as field
aliases: ``webhook_url``, ``webhook_retries``...), and ``[reports] destination`` is a
folder or a URI whose scheme picks the registered report store. Each key is
validated by the model of the module that uses it; an error names the key as users
wrote it (``alerts.webhook_retries``), never a nesting of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, SerializeAsAny, model_validator

from warehouse.alert import SEVERITIES
from warehouse.destinations.base import (
    SETTINGS_CONFIG,
    AlertSinkSettings,
    DestinationSettings,
    Severity,
    alert_sinks,
    report_stores,
    required_keys,
    setting_errors,
    setting_keys,
    unknown_keys,
)
from warehouse.destinations.folder import FolderSettings


class AlertsSettings(BaseModel):
    """``[alerts]``: ``min_severity`` for every sink, and each sink's own keys.

    A sink exists when its anchor (its key without a default: ``jsonl``,
    ``webhook_url``, ``sns_topic_arn``) is set; its other keys without the anchor
    are refused, as they would do nothing.
    """

    model_config = SETTINGS_CONFIG

    min_severity: Severity = SEVERITIES[0]
    sinks: dict[str, SerializeAsAny[AlertSinkSettings]] = Field(default_factory=dict)

    @classmethod
    def settings_keys(cls) -> tuple[str, ...]:
        """Every key the table accepts, for the message about one it does not."""
        owned = (
            key for sink in alert_sinks().values() for key in setting_keys(sink.settings_model)
        )
        return ("min_severity", *owned)

    @model_validator(mode="before")
    @classmethod
    def _by_sink(cls, table: Any) -> Any:
        """Hand each sink the keys it owns, validated by its own model."""
        if not isinstance(table, Mapping):
            raise ValueError("must be a table ([alerts])")
        sinks = alert_sinks()
        owner = {
            key: slug for slug, sink in sinks.items() for key in setting_keys(sink.settings_model)
        }
        given = dict(table)
        unknown = [key for key in given if key != "min_severity" and key not in owner]
        if unknown:
            raise unknown_keys("alerts", given, unknown)
        groups: dict[str, dict[str, Any]] = {}
        for key, value in given.items():
            if key in owner:
                groups.setdefault(owner[key], {})[key] = value
        orphans = [
            (key, f"has no effect without {missing[0]}; set it or remove this", group[key])
            for slug, group in groups.items()
            if (missing := [k for k in required_keys(sinks[slug].settings_model) if k not in group])
            for key in sorted(group)
        ]
        if orphans:
            raise setting_errors("alerts", orphans)
        validated = {
            slug: sinks[slug].settings_model.model_validate(group)
            for slug, group in sorted(groups.items())
        }
        kept = {"min_severity": given["min_severity"]} if "min_severity" in given else {}
        return {**kept, "sinks": validated}

    def configured(self) -> list[AlertSinkSettings]:
        """The sinks' settings, in slug order, each with its effective ``min_severity``."""
        return [
            sink
            if sink.min_severity
            else sink.model_copy(update={"min_severity": self.min_severity})
            for sink in self.sinks.values()
        ]


class ReportsSettings(BaseModel):
    """``[reports]``: where reports go, a folder (relative to HOME) or a store's URI."""

    model_config = SETTINGS_CONFIG

    destination: SerializeAsAny[DestinationSettings] = FolderSettings()

    @model_validator(mode="before")
    @classmethod
    def _store(cls, table: Any) -> Any:
        """Pick the report store by the destination's scheme and let it check the rest."""
        if not isinstance(table, Mapping):
            raise ValueError("must be a table ([reports])")
        if "destination" not in table:
            return table
        given = dict(table)
        value = given["destination"]
        stores = {store.scheme: store for store in report_stores().values()}
        accepted = " and ".join("folders" if s is None else f"{s}://" for s in stores)
        if not isinstance(value, str) or not value.strip():
            problem = f"must be a folder or a URI ({accepted})"
            raise setting_errors("reports", [("destination", problem, value)])
        value = value.strip()
        scheme = value.partition("://")[0] if "://" in value else None
        store = stores.get(scheme)
        if store is None:
            # The scheme alone is quoted: the rest of a URI may hold credentials.
            problem = f"only {accepted} are supported, not {scheme}://"
            raise setting_errors("reports", [("destination", problem, value)])
        return {**given, "destination": store.settings_model.model_validate({"destination": value})}
