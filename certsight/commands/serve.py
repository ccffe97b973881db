"""``certsight serve``: the validation server, and the CRL updater beside it where the CA
keys are; ``certsight serve issuance``: the issuance API; ``certsight serve publishing``:
the published files (trust stores, agent releases, TUF metadata)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import click

from certsight.commands.common import errors, home_option
from certsight.settings import Home


@click.command()
@click.argument(
    "role", type=click.Choice(["ocsp", "crl", "all", "issuance", "publishing"]), default="all"
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(1, 65535),
    help="default 8080 for the responders, 8443 for issuance, 8081 for publishing",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="server processes sharing the port",
)
@click.option(
    "--ocsp-validity",
    default=3600,
    show_default=True,
    type=click.IntRange(120),
    help="seconds from thisUpdate to nextUpdate",
)
@click.option(
    "--status-max-age",
    default=300,
    show_default=True,
    type=click.IntRange(5),
    help="seconds without a successful read of the store's change feed after which "
    "remembered statuses are no longer signed (cached responses are served until their "
    "nextUpdate, then tryLater)",
)
@click.option(
    "--cdn-max-age",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="cap, in seconds, on the max-age of OCSP and CRL answers: a revocation reaches "
    "clients behind a CDN within it; stale-if-error lets the CDN serve what it holds up to "
    "the answer's nextUpdate while this server is down",
)
@click.option(
    "--log-batch-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="longest wait before an access-log batch is written under HOME/raw",
)
@click.option(
    "--no-crl-updater",
    is_flag=True,
    help="do not start the CRL updater here even where the CA keys are (one runs elsewhere)",
)
@click.option(
    "--trust-viewer-address",
    is_flag=True,
    help="log CloudFront-Viewer-Address as the client (only behind a CDN; with "
    "CERTSIGHT_ORIGIN_SECRET set, only on requests carrying that secret)",
)
@click.option(
    "--plain-http",
    is_flag=True,
    help="issuance only: plain HTTP on a loopback address (no TLS, so no mTLS renewal)",
)
@home_option
def serve(
    home: Home,
    role: str,
    host: str,
    port: int | None,
    workers: int,
    ocsp_validity: int,
    status_max_age: int,
    cdn_max_age: int,
    log_batch_seconds: float,
    no_crl_updater: bool,
    trust_viewer_address: bool,
    plain_http: bool,
) -> None:
    """Serve OCSP (POST /ocsp, GET /ocsp/{request}) and CRLs (GET /crl/<ca>.crl), or with
    ISSUANCE the issuance API (/v1, docs/issuance.md), or with PUBLISHING the files under
    HOME/publish (docs/publishing.md)."""
    if role == "publishing":
        if workers != 1 or plain_http or trust_viewer_address or no_crl_updater:
            raise click.UsageError(
                "`serve publishing` takes --host, --port and --log-batch-seconds only"
            )
        _serve_publishing(home, host, port, log_batch_seconds)
        return
    if role == "issuance":
        from certsight.issuing import serve_issuance_api

        serve_issuance_api(home, host=host, port=port, plain_http=plain_http, workers=workers)
        return
    if plain_http:
        raise click.UsageError("--plain-http is for `serve issuance`; the responders speak HTTP")
    port = port or 8080
    from certsight.serving import crl_updater_process, runtime_config
    from responders.web.server import serve as serve_http

    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM before uvicorn runs: stop alike, child included

    signal.signal(signal.SIGTERM, _terminated)
    config = runtime_config(
        home,
        role=role,
        ocsp_validity=ocsp_validity,
        status_max_age=status_max_age,
        cdn_max_age=cdn_max_age,
        log_batch_seconds=log_batch_seconds,
        trust_viewer_address=trust_viewer_address,
    )
    supervise = "crl" in config.roles and not no_crl_updater
    with crl_updater_process(home) if supervise else _nothing() as updater:
        if updater is None and "crl" in config.roles:
            why = "--no-crl-updater" if no_crl_updater else f"no CA keys in {home.pki.root}"
            errors.print(
                f"{why}: serving the CRLs stored in {home.crl_location} by a CRL updater elsewhere"
            )
        if trust_viewer_address:
            errors.print(
                "logging CloudFront-Viewer-Address as the client: only safe when the CDN is "
                "the only way in"
            )
        errors.print(f"serving {role} on http://{host}:{port} (home {home.root}); Ctrl-C stops")
        serve_http(config, host=host, port=port, workers=workers)


def _serve_publishing(home: Home, host: str, port: int | None, log_batch_seconds: float) -> None:
    from certsight.commands.publish import served_folder
    from certsight.settings import CertsightSettings
    from publishing.web import PublishingServerError, serve_publishing

    port = port or CertsightSettings.load(home).publishing.port
    folder = served_folder(home)
    errors.print(f"serving {folder} on http://{host}:{port}; Ctrl-C stops")
    try:
        serve_publishing(
            folder, home.raw, host=host, port=port, log_batch_seconds=log_batch_seconds
        )
    except PublishingServerError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None
