"""SQL functions the models need that neither DuckDB's core nor Athena spell the same way.

Registered on every connection dbt opens (a dbt-duckdb plugin named in the profile), so the
models stay plain SQL. Readers of the finished warehouse never need them.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.func import FunctionNullHandling

from warehouse.addresses import ip_key


class Plugin(BasePlugin):
    """dbt-duckdb calls this for every connection it opens."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.create_function(
            "certsight_ip_key",
            ip_key,
            ["VARCHAR"],
            "VARCHAR",
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        """Nothing to configure."""
