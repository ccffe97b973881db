"""The ``certsight`` command line. Command and option names are an interface: scripts
depend on them (docs/cli.md). Each command is a thin adapter over the packages."""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from certsight.dashboarding import DashboardConfigError
from certsight.querying import QueryError
from certsight.reporting import ReportError
from certsight.settings import CertsightSettings, Home, SettingsError
from dashboards.reports.model import PERIODS
from dashboards.settings import AUDIENCES, DashboardSettingsError
from ingest.locking import LakeBusyError
from ingest.schema import TABLES
from ingest.sources import SourceError
from ingest.storage import StorageError
from issuance.crl_updater import sign_crls
from issuance.hierarchy import CaExistsError, init_ca
from issuance.operations import (
    AmbiguousSerialError,
    issue_to_files,
    register_ca_material,
    revoke_serial,
)
from pki.certificates import IssuanceError
from pki.keys import KeyType
from pki.pem import CertificateFileError
from pki.reasons import ReasonError, RevocationReason
from pki.serials import SerialFormatError, parse_serial
from pki.store.base import StoreError
from pki.store.crls import open_crl_store
from pki.store.factory import open_store
from responders.web.server import ServerStartError
from simulator.command import simulate_command, simulate_options
from warehouse.dbt_runner import DbtError
from warehouse.networks import NetworksError
from warehouse.reading import WarehouseMissingError

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

# Errors a user can fix; anything else is a bug and keeps its traceback.
_USER_ERRORS = (
    CaExistsError,
    CertificateFileError,
    FileExistsError,
    FileNotFoundError,
    IssuanceError,
    SerialFormatError,
    StoreError,
    AmbiguousSerialError,
    ReasonError,
    ServerStartError,
    SourceError,
    LakeBusyError,
    StorageError,
    NetworksError,
    DbtError,
    SettingsError,
    QueryError,
    WarehouseMissingError,
    DashboardConfigError,
    DashboardSettingsError,
    ReportError,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def home_option(command: F) -> F:
    """``--home DIR`` on every command, after its name (env CERTSIGHT_HOME, default ./data)."""

    @click.option(
        "--home",
        "home_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="certsight home (env CERTSIGHT_HOME, default ./data)",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, home_dir: Path | None, **kwargs: Any) -> Any:
        try:
            return command(*args, home=Home.resolve(home_dir), **kwargs)
        except _USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="certsight")
def main() -> None:
    """certsight: certificate lifecycle services and the intelligence on their traffic."""


@main.group()
def ca() -> None:
    """Certificate authority set-up."""


@ca.command("init")
@click.option(
    "--base-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="public URL of the responders; goes into AIA and CRL distribution points",
)
@click.option(
    "--key-type",
    type=click.Choice([k.value for k in KeyType]),
    default="ec-p256",
    show_default=True,
)
@click.option("--org", default="certsight", show_default=True, help="organisation in CA names")
@home_option
def ca_init(home: Home, base_url: str, key_type: str, org: str) -> None:
    """Create a root CA, an issuing CA and a delegated OCSP signer under HOME/pki."""
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--base-url")
    now = utc_now()
    layout = home.pki
    material = init_ca(
        layout, base_url=base_url, key_type=KeyType(key_type), now=now, organization=org
    )
    store = open_store(home.store_uri)
    register_ca_material(layout=layout, store=store, raw_dir=home.raw, now=now)
    sign_crls(layout, store, open_crl_store(home.crl_location), utc_now)
    table = Table(title=f"CA created under {layout.root}", show_header=True)
    table.add_column("file")
    table.add_column("subject")
    for path, cert in (
        (layout.root_cert, material.root_cert),
        (layout.issuing_cert, material.issuing_cert),
        (layout.signer_cert, material.signer_cert),
    ):
        table.add_row(path.name, cert.subject.rfc4514_string())
    console.print(table)
    console.print(
        f"keys: {layout.issuing_key.name}, {layout.signer_key.name} (mode 0600); "
        f"{layout.root_key.name}: move it offline in production"
    )
    console.print(f"first CRLs signed and stored in {home.crl_location}")


@main.command()
@click.option("--cn", "common_name", required=True, help="subject common name")
@click.option("--san", "sans", multiple=True, help="DNS name or IP address (repeatable)")
@click.option("--days", default=47, show_default=True, type=int, help="validity in days")
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="sign this CSR (PEM or DER) instead of generating a key",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="output folder (default HOME/certs)",
)
@click.option(
    "--key-type",
    type=click.Choice([k.value for k in KeyType]),
    default=None,
    help="key to generate (default: the CA's)",
)
@home_option
def issue(
    home: Home,
    common_name: str,
    sans: tuple[str, ...],
    days: int,
    csr_path: Path | None,
    out_dir: Path | None,
    key_type: str | None,
) -> None:
    """Issue a TLS certificate; prints its serial in hex."""
    home.pki.read_config()  # "run ca init first" before anything is created
    if csr_path and key_type:
        raise click.UsageError("--key-type chooses a key to generate; a --csr brings its own key")
    files = issue_to_files(
        layout=home.pki,
        store=open_store(home.store_uri),
        raw_dir=home.raw,
        clock=utc_now,
        common_name=common_name,
        sans=list(sans),
        days=days,
        out_dir=out_dir or home.certs,
        csr_path=csr_path,
        key_type=KeyType(key_type) if key_type else None,
    )
    errors.print(f"certificate: {files.certificate}")
    if files.key:
        errors.print(f"key:         {files.key} (mode 0600)")
    errors.print(f"chain:       {files.chain}")
    click.echo(files.issued.record.serial)


@main.command()
@click.argument("serial")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...",
)
@click.option(
    "--issuer",
    "issuer_key_sha1",
    default=None,
    help="issuer key SHA-1 (hex), when the serial exists under several CAs",
)
@home_option
def revoke(home: Home, serial: str, reason: str, issuer_key_sha1: str | None) -> None:
    """Revoke a certificate by serial (hex, any case, colons or 0x allowed)."""
    parsed_reason = RevocationReason.parse(reason)
    home.pki.read_config()
    record = revoke_serial(
        store=open_store(home.store_uri),
        raw_dir=home.raw,
        clock=utc_now,
        serial=parse_serial(serial),
        reason=parsed_reason,
        issuer_key_sha1=issuer_key_sha1.lower() if issuer_key_sha1 else None,
    )
    click.echo(
        f"revoked {record.serial} ({record.subject}) at "
        f"{record.revoked_at:%Y-%m-%d %H:%M:%S}Z, reason {parsed_reason.name}"
    )


@main.command()
@click.argument("role", type=click.Choice(["ocsp", "crl", "all"]), default="all")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
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
    "--log-batch-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="longest wait before an access-log batch is written under HOME/raw",
)
@home_option
def serve(
    home: Home,
    role: str,
    host: str,
    port: int,
    workers: int,
    ocsp_validity: int,
    log_batch_seconds: float,
) -> None:
    """Serve OCSP (POST /ocsp, GET /ocsp/{request}) and CRLs (GET /crl/<ca>.crl)."""
    from certsight.serving import crl_updater_process, runtime_config
    from responders.web.server import serve as serve_http

    config = runtime_config(
        home, role=role, ocsp_validity=ocsp_validity, log_batch_seconds=log_batch_seconds
    )
    with crl_updater_process(home) if "crl" in config.roles else _nothing() as updater:
        if updater is None and "crl" in config.roles:
            errors.print(
                f"no CA keys in {home.pki.root}: serving the CRLs stored in "
                f"{home.crl_location} by a CRL updater elsewhere"
            )
        errors.print(f"serving {role} on http://{host}:{port} (home {home.root}); Ctrl-C stops")
        serve_http(config, host=host, port=port, workers=workers)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None


@main.group()
def crl() -> None:
    """CRL signing (the issuance module's CRL updater)."""


@crl.command("update")
@click.option(
    "--watch",
    is_flag=True,
    help="keep running: follow revocations in the store and refresh before CRLs age",
)
@click.option(
    "--refresh",
    default=3600,
    show_default=True,
    type=click.IntRange(60),
    help="seconds between scheduled re-signings of each CRL",
)
@click.option(
    "--validity",
    default=86400,
    show_default=True,
    type=click.IntRange(120),
    help="seconds from a CRL's thisUpdate to its nextUpdate",
)
@home_option
def crl_update(home: Home, watch: bool, refresh: int, validity: int) -> None:
    """Sign each CA's CRL and store it where the responders read it (HOME/pki/crl or
    CERTSIGHT_CRLS). Needs the CA keys: run it where issuance runs, not on the responders."""
    import threading
    from datetime import timedelta

    from issuance.crl_updater import CrlSettings, CrlUpdater, issuers_from_layout
    from pki.store.feed import ChangeFeed

    if refresh >= validity:
        raise click.BadParameter("--refresh must be shorter than --validity")
    store = open_store(home.store_uri)
    updater = CrlUpdater(
        issuers_from_layout(home.pki),
        store,
        open_crl_store(home.crl_location),
        utc_now,
        CrlSettings(refresh=timedelta(seconds=refresh), validity=timedelta(seconds=validity)),
    )
    feed = ChangeFeed(store)  # from now on: the first round signs every CRL anyway
    for name, built in zip(updater.names, updater.update_all(), strict=True):
        errors.print(f"CRL {name} #{built.number} ({built.entries} entries) stored")
    if not watch:
        store.close()
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        updater.follow(feed, stop)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


@main.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--lake",
    "lake_dir",
    default=None,
    help="LAKE location (default HOME/lake); a local folder in this version",
)
@home_option
def ingest(home: Home, sources: tuple[str, ...], lake_dir: str | None) -> None:
    """Read RAW logs into the Parquet LAKE, exactly once (default source: HOME/raw)."""
    from certsight.ingesting import run_ingest

    run_ingest(home, list(sources), lake_dir, console=console)


@main.command()
@click.option(
    "--networks",
    "networks_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CIDR table cidr,zone,site,owner (default HOME/networks.csv, else the last build's)",
)
@click.option("--lake", "lake_uri", default=None, help="LAKE location (default HOME/lake)")
@click.option("--full-refresh", is_flag=True, help="rebuild every day of history (alerts are kept)")
@click.option("--test", "run_tests", is_flag=True, help="also run the models' data and unit tests")
@click.option(
    "--learning-days",
    default=7,
    show_default=True,
    type=click.IntRange(0, 365),
    help="days of traffic learned before new_edge alerts are raised",
)
@home_option
def build(
    home: Home,
    networks_csv: Path | None,
    lake_uri: str | None,
    full_refresh: bool,
    run_tests: bool,
    learning_days: int,
) -> None:
    """Run the warehouse models and the detectors: LAKE -> HOME/warehouse.duckdb."""
    from certsight.building import run_build, summary

    report = run_build(
        home,
        lake_uri=lake_uri,
        networks_csv=networks_csv,
        full_refresh=full_refresh,
        run_tests=run_tests,
        learning_days=learning_days,
        console=errors,
    )
    console.print(summary(report))


@main.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="alerts active on or after this day (event time)",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--status", type=click.Choice(["open", "cleared", "all"]), default="open", show_default=True
)
@click.option("--detector", default=None, help="only this detector")
@home_option
def alerts(
    home: Home, since: datetime | None, output_format: str, status: str, detector: str | None
) -> None:
    """List the detectors' findings, most severe and newest first."""
    from certsight.alerting import print_alerts

    print_alerts(
        home,
        since=since.date() if since else None,
        status=status,
        detector=detector,
        output_format=output_format,
        console=console,
    )


@main.command()
@click.argument("query", required=False)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@home_option
def sql(home: Home, query: str | None, output_format: str) -> None:
    """SQL over the warehouse, read-only; without QUERY, an interactive prompt."""
    from certsight.querying import interactive, run_query, write_result
    from warehouse.reading import open_warehouse

    with open_warehouse(home.warehouse) as con:
        if query is None:
            interactive(con, console)
            return
        names, rows = run_query(con, query)
        write_result(names, rows, output_format, console=console)


@main.command()
@click.option(
    "--audience", type=click.Choice(AUDIENCES), required=True, help="whose report to write"
)
@click.option(
    "--period",
    type=click.Choice(PERIODS),
    default=None,
    help="week: the 7 days ending on END; month: the 1st of END's month to END "
    "(default: week for pki and cyber, month for management)",
)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="DATE",
    help="last UTC day of the period, YYYY-MM-DD (default: the last day with traffic)",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write this HTML file, its CSVs beside it as <stem>-<table>.csv "
    "(default: [reports] destination, HOME/reports)",
)
@home_option
def report(
    home: Home, audience: str, period: str | None, end: datetime | None, out_file: Path | None
) -> None:
    """An offline HTML report for an audience, with CSV files of its tables."""
    from certsight.reporting import make_report

    for location in make_report(
        home,
        audience=audience,
        period=period,
        end=end.date() if end else None,
        out=out_file,
        now=utc_now(),
        notes=errors,
    ):
        click.echo(location)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--no-auth",
    is_flag=True,
    help="serve a non-loopback address without sign-in (only behind an authenticating proxy)",
)
@home_option
def dashboard(home: Home, host: str, port: int, no_auth: bool) -> None:
    """The dashboards for the PKI team, cyber defence and management (Streamlit)."""
    from certsight.dashboarding import (
        check_exposure,
        check_port,
        prepare,
        remove_secrets,
        start,
        stop,
    )

    settings = CertsightSettings.load(home)
    check_exposure(host, settings.dashboard, no_auth=no_auth)  # before anything else
    check_port(host, port)
    launch = prepare(home, host, port, no_auth=no_auth, settings=settings)
    if launch.signed_in:
        console.print("sign-in: OIDC; each user sees the audiences their groups map to")
    elif no_auth and host != "127.0.0.1":
        errors.print(
            f"[yellow]warning:[/] serving {host} without sign-in (--no-auth): anyone who can "
            "reach it sees who relies on whom"
        )
    else:
        console.print("no sign-in configured: listening on loopback only, for this machine")
    if not home.warehouse.exists():
        console.print(f"no warehouse yet at {home.warehouse}: pages say so until a build")
    console.print(f"dashboards on {launch.url}/ ; Ctrl-C stops")
    process = start(launch)

    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # systemd and `docker stop` send SIGTERM: stop alike

    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        return
    finally:
        stop(process)  # never leave Streamlit running without its parent
        remove_secrets(home)
    if code:
        raise SystemExit(code)


@main.command()
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


@main.group()
def lake() -> None:
    """LAKE maintenance."""


@lake.command("compact")
@click.option("--lake", "lake_dir", default=None, help="LAKE location (default HOME/lake)")
@click.option(
    "--table",
    type=click.Choice(sorted(TABLES)),
    default=None,
    help="only this table (default: all)",
)
@home_option
def lake_compact(home: Home, lake_dir: str | None, table: str | None) -> None:
    """Merge each partition's small Parquet files into few large ones, atomically."""
    from certsight.ingesting import lake_for
    from ingest.compact import compact

    done = compact(lake_for(home, lake_dir), utc_now(), table=table)
    for item in done:
        console.print(
            f"{item.table}/{item.partition}: {item.files_before} files -> "
            f"{item.files_after} ({item.rows} rows)"
        )
    console.print(f"{len(done)} partition(s) compacted")


@main.command()
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
@home_option
def run(
    home: Home, port: int, backfill_requests: int, dashboard_port: int, live_rate: float
) -> None:
    """The whole stack on 127.0.0.1, on embedded defaults: what `make run` starts."""
    from certsight.demo import RunOptions, run_demo

    run_demo(
        home,
        RunOptions(
            port=port,
            backfill_requests=backfill_requests,
            dashboard_port=dashboard_port,
            live_rate=live_rate,
        ),
        console=console,
    )


@main.command()
@simulate_options
@home_option
def simulate(home: Home, **options: Any) -> None:
    """A synthetic enterprise's PKI traffic, with the alerts it should raise (docs/simulate.md)."""
    simulate_command(home, console, **options)


if __name__ == "__main__":
    main()
