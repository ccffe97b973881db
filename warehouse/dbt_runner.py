"""dbt, in-process: one function that runs a command and reports node progress.

dbt is imported lazily (it takes about a second) and is never allowed to reach the network:
no version check, no anonymous usage statistics.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent

NodeCallback = Callable[[str, str], None]
"""Called with (event, node name): event is ``start`` or ``done``."""


class DbtError(RuntimeError):
    """dbt could not finish; the message names the failing nodes and why."""


@dataclass(frozen=True)
class DbtOutcome:
    nodes: int
    failures: tuple[str, ...]


def run_dbt(
    command: Sequence[str],
    *,
    profiles_dir: Path,
    work_dir: Path,
    variables: str,
    on_node: NodeCallback | None = None,
) -> DbtOutcome:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner

    def callback(event: Any) -> None:
        name = event.info.name
        if on_node is None or name not in ("NodeStart", "NodeFinished"):
            return
        node = event.data.node_info.node_name
        on_node("start" if name == "NodeStart" else "done", node)

    args = [
        *command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        "--vars",
        variables,
        "--no-version-check",
        "--no-send-anonymous-usage-stats",
        "--quiet",
        "--no-use-colors",
    ]
    try:
        result = dbtRunner(callbacks=[callback]).invoke(args)
    finally:
        _close_duckdb()
    if result.exception is not None:
        raise DbtError(f"dbt {command[0]} failed: {result.exception}") from result.exception
    failures: list[str] = []
    nodes = 0
    for item in getattr(result.result, "results", None) or []:
        nodes += 1
        status = str(getattr(item, "status", ""))
        if status in ("error", "fail", "runtime error"):
            node = getattr(item, "node", None)
            label = getattr(node, "name", "?") if node is not None else "?"
            failures.append(f"{label}: {(item.message or status).strip()}")
    if not result.success and not failures:
        failures.append(f"dbt {command[0]} did not succeed (see {work_dir / 'logs'})")
    if failures:
        raise DbtError("; ".join(failures))
    return DbtOutcome(nodes=nodes, failures=())


def _close_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB database open in a class attribute between invocations
    of one process. A build renames its file into place afterwards, so a later build in the
    same process (`certsight run`, tests) would write through that stale handle into the
    live warehouse. Close it after every invocation."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment: Any = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        close = getattr(environment, "close", None)
        if callable(close):
            close()
