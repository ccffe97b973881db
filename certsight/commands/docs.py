"""``certsight docs``: the dbt data dictionary, served offline."""

from __future__ import annotations

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8580, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="only build the site and print where it is")
@home_option
def docs(home: Home, host: str, port: int, no_serve: bool) -> None:
    """Build the warehouse's data dictionary (dbt docs) offline and serve it."""
    import time

    from certsight.docserver import generate_docs, serve_docs

    site = generate_docs(home)
    if no_serve:
        console.print(f"documentation built: {site / 'static_index.html'}")
        return
    server = serve_docs(site, host, port)
    bound = server.server_address[1]
    console.print(f"data dictionary on http://{host}:{bound}/static_index.html ; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
