"""``certsight docs``: the dbt documentation of the warehouse, built offline and served on
loopback. The data dictionary analysts read: every model, column, test and the lineage."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

from certsight.settings import Home
from warehouse.build import write_profile_for
from warehouse.dbt_runner import run_dbt


def generate_docs(home: Home) -> Path:
    """Build the static documentation site; return its folder.

    dbt reads column types from the database, so it runs on a copy of the warehouse: a
    read-write open of the real file would wait for every dashboard to let go of it."""
    work_dir = home.root / ".warehouse" / "docs"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    copy = work_dir / home.warehouse.name
    if home.warehouse.exists():
        shutil.copyfile(home.warehouse, copy)
    profiles = write_profile_for(copy, work_dir)
    run_dbt(
        ["docs", "generate", "--static"], profiles_dir=profiles, work_dir=work_dir, variables="{}"
    )
    copy.unlink(missing_ok=True)
    return work_dir / "target"


def serve_docs(site: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each on the console."""
