"""``certsight run``: the whole stack on 127.0.0.1, what ``make run`` starts."""

from __future__ import annotations

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home


@click.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--backfill-requests",
    default=300_000,
    show_default=True,
    type=click.IntRange(0),
    help="OCSP requests of simulated history on the first run (0: none)",
)
@click.option(
    "--dashboard-port",
    default=8501,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="port of the dashboards on 127.0.0.1 (0: no dashboards)",
)
@click.option(
    "--live-rate",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 200.0),
    help="OCSP and CRL requests per second from the live simulated population (0: none)",
)
@click.option(
    "--issuance-port",
    default=8443,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="port of the issuance API (TLS) on 127.0.0.1 (0: no issuance API)",
)
@click.option(
    "--publishing-port",
    default=8081,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="port of the publishing server (trust stores, agent releases) on 127.0.0.1 (0: none)",
)
@home_option
def run(
    home: Home,
    port: int,
    backfill_requests: int,
    dashboard_port: int,
    live_rate: float,
    issuance_port: int,
    publishing_port: int,
) -> None:
    """The whole stack on 127.0.0.1, on embedded defaults: what `make run` starts."""
    from certsight.demo import RunOptions, prepare_demo, run_demo
    from certsight.demo_publishing import guide_lines, start_publishing, stop_publishing

    publishing = None
    if publishing_port:
        prepare_demo(home, port=port, console=console)  # the CA the trust store comes from
        publishing = start_publishing(home, publishing_port, console)
        if publishing is not None:
            for line in guide_lines(home, publishing, issuance_port):
                console.print(line, soft_wrap=True, highlight=False)
    try:
        run_demo(
            home,
            RunOptions(
                port=port,
                backfill_requests=backfill_requests,
                dashboard_port=dashboard_port,
                live_rate=live_rate,
                issuance_port=issuance_port,
            ),
            console=console,
        )
    finally:
        if publishing is not None:
            stop_publishing(publishing)
