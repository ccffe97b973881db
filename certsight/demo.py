"""``certsight run``: the whole product as it stands, on one machine, on embedded defaults.

Today that is the CA (created if missing), a few demo certificates (one of them
revoked, so that both answers can be seen), two weeks of simulated enterprise traffic
(on the first run, with incidents to find), the OCSP and CRL services on 127.0.0.1,
and every minute: ingest of the logs into the Parquet LAKE (with the retention of
``[privacy]`` applied at start and once a UTC day), then the warehouse build,
its detectors and the delivery of new alerts, the reports as periods complete, the
dashboards on 127.0.0.1:8501, and a live simulated population (simulator.live) sending
real OCSP GET/POST and CRL requests to the running responder.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography import x509
from rich.console import Console

from certsight.building import run_build
from certsight.building import summary as build_summary
from certsight.dashboarding import remove_secrets
from certsight.dashboarding import stop as dashboard_stop
from certsight.demo_issuance import (
    guide_lines,
    issue_through_api,
    start_issuance,
    stop_issuance,
)
from certsight.early_renewing import feed_from_warehouse
from certsight.ingesting import ingest_home, summary
from certsight.reporting import write_due_reports
from certsight.retaining import changed_anything, retain_home
from certsight.retaining import summary as retention_summary
from certsight.serving import crl_updater_process, runtime_config
from certsight.settings import Home
from issuance.hierarchy import init_ca
from issuance.operations import file_stem, issue_to_files, register_ca_material, revoke_serial
from pki.keys import KeyType
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import CertStatus
from pki.store.factory import open_store
from pki.store.objects import FolderObjectStore
from publishing.cacerts import load_ca_certificates, publish_ca_certificates
from responders.web.server import serve
from simulator.live import LivePopulation, prepare_live_enterprise

DEMO_HOSTS = ("www.demo.internal", "api.demo.internal", "legacy.demo.internal")
REVOKED_HOST = "legacy.demo.internal"
INGEST_EVERY_S = 60.0
BACKFILL_DAYS = 14
BACKFILL_REQUESTS = 300_000
DASHBOARD_PORT = 8501
LIVE_RATE = 1.0
FIRST_QUERY = "select * from client_server_edges order by requests desc limit 20"


def _now() -> datetime:
    return datetime.now(UTC)


def prepare_demo(home: Home, *, port: int, console: Console) -> dict[str, str]:
    """Create what is missing and return ``{host: serial}``; reruns reuse the home."""
    layout = home.pki
    store = open_store(home.store_uri)
    if not layout.exists():
        init_ca(layout, base_url=f"http://127.0.0.1:{port}", key_type=KeyType.ec_p256, now=_now())
        register_ca_material(layout=layout, store=store, raw_dir=home.raw, now=_now())
        console.print(f"[green]created a CA[/] under {layout.root}")
    out = home.certs / "demo"
    serials: dict[str, str] = {}
    for host in DEMO_HOSTS:
        pem = out / f"{file_stem(host)}.pem"
        if pem.exists():
            serials[host] = serial_hex(
                x509.load_pem_x509_certificate(pem.read_bytes()).serial_number
            )
            continue
        files = issue_to_files(
            layout=layout,
            store=store,
            raw_dir=home.raw,
            clock=_now,
            common_name=host,
            sans=[host],
            days=47,
            out_dir=out,
        )
        serials[host] = files.issued.record.serial
        console.print(f"issued {host}: serial {serials[host]}")
    revoked = serials[REVOKED_HOST]
    matches = store.find_serial(revoked)
    if matches and matches[0].status is CertStatus.good:
        revoke_serial(
            store=store,
            raw_dir=home.raw,
            clock=_now,
            serial=revoked,
            reason=RevocationReason.keyCompromise,
        )
        console.print(f"revoked {REVOKED_HOST} (keyCompromise) so both answers can be seen")
    store.close()
    return serials


def backfill(home: Home, console: Console, requests: int = BACKFILL_REQUESTS) -> None:
    """Two weeks of a simulated enterprise's traffic, ending at midnight UTC today, written
    as production would (CDN and responder logs, certificates, CRLs) so that the warehouse
    and the detectors have history to work on. Only once per home."""
    from simulator.config import make_config
    from simulator.run import TRUTH, run_simulation

    if requests <= 0 or (home.root / TRUTH).exists():
        return
    today = _now().replace(hour=0, minute=0, second=0, microsecond=0)
    config = make_config(
        seed=1,
        end=today,
        days=BACKFILL_DAYS,
        requests=requests,
        clients=None,
        servers=None,
        learning_days=7,
        incidents=3,
    )
    with console.status("simulating two weeks of enterprise traffic ..."):
        result = run_simulation(config, home.root, mode="raw")
    console.print(
        f"simulated {result.requests:,} OCSP requests from {result.clients:,} clients to "
        f"{result.servers:,} servers ({BACKFILL_DAYS} days, with incidents to find) in "
        f"{result.seconds:.0f} s"
    )


@dataclass(frozen=True)
class RunOptions:
    port: int = 8080
    backfill_requests: int = BACKFILL_REQUESTS
    dashboard_port: int = DASHBOARD_PORT  # 0: no dashboards
    issuance_port: int = 8443  # 0: no issuance API
    live_rate: float = LIVE_RATE  # requests per second; 0: no live population


def publish_ca_files(home: Home, console: Console) -> None:
    """The publishing module's job under `run`: the CA certificates where relying parties
    download them (HOME/publish/ca; an S3 bucket behind a CDN in AWS)."""
    report = publish_ca_certificates(
        load_ca_certificates(home.pki), FolderObjectStore(home.root / "publish" / "ca")
    )
    console.print(
        f"CA certificates published in {report.location} "
        f"({len(report.written)} written, {len(report.unchanged)} unchanged)"
    )


def run_demo(home: Home, options: RunOptions, *, console: Console) -> None:
    port = options.port
    prepare_demo(home, port=port, console=console)
    publish_ca_files(home, console)
    enterprise = prepare_live_enterprise(home, clock=_now, console=console)
    dashboard = _start_dashboard(home, options.dashboard_port, console)
    issuance = None
    if options.issuance_port:
        issuance = start_issuance(home, options.issuance_port, console)
        if issuance is not None:
            issue_through_api(home, issuance, console)
    population: LivePopulation | None = None
    stop = threading.Event()
    ingester: threading.Thread | None = None
    try:
        backfill(home, console, options.backfill_requests)
        if dashboard is not None and dashboard.process.poll() is not None:
            console.print(
                f"[red]the dashboards stopped at start[/] (exit {dashboard.process.returncode});"
                f" see {dashboard.log}"
            )
            dashboard = None
        served = f"http://127.0.0.1:{port}"
        _print_guide(home, served, dashboard, console)
        if issuance is not None:
            for line in guide_lines(home, issuance):
                console.print(line, soft_wrap=True)
        if options.live_rate > 0:
            population = LivePopulation(served, enterprise, rate_per_second=options.live_rate)
            population.start()
        # The live population plays a CDN in front of the responder: it says which
        # simulated client asked in CloudFront-Viewer-Address, as CloudFront would.
        config = runtime_config(home, log_batch_seconds=10.0, trust_viewer_address=True)
        ingester = threading.Thread(
            target=_ingest_every, args=(home, INGEST_EVERY_S, stop, console), daemon=True
        )
        ingester.start()
        with crl_updater_process(home):
            serve(config, host="127.0.0.1", port=port)
    finally:
        if population is not None:
            population.stop()
            console.print(f"live population: {_live_summary(population)}")
        stop.set()
        if ingester is not None:
            ingester.join(timeout=300)
            _round(home, console)  # what the last log flush wrote
        if issuance is not None:
            stop_issuance(issuance)
        if dashboard is not None:
            dashboard_stop(dashboard.process)
            remove_secrets(home)


@dataclass(frozen=True)
class _Dashboard:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _start_dashboard(home: Home, port: int, console: Console) -> _Dashboard | None:
    """Streamlit in a child process, its output in a log file so that it does not drown
    the console; it shows "no warehouse yet" until the first build lands."""
    if port == 0:
        return None
    from certsight.dashboarding import DashboardConfigError, check_port, prepare, start

    try:
        check_port("127.0.0.1", port)
        launch = prepare(home, "127.0.0.1", port, no_auth=False)
    except DashboardConfigError as exc:
        console.print(f"[yellow]dashboards not started:[/] {exc}")
        return None
    log = home.root / "logs" / "dashboard.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = start(launch, output=output)
    return _Dashboard(process, launch.url, log)


def _live_summary(population: LivePopulation) -> str:
    stats = population.stats.snapshot()
    return (
        f"{stats['sent']:,} requests sent ({stats['ocsp']:,} OCSP, {stats['crl']:,} CRL), "
        f"{stats['errors']:,} failed"
    )


def _print_guide(home: Home, served: str, dashboard: _Dashboard | None, console: Console) -> None:
    base = home.pki.read_config().base_url
    if base != served:
        console.print(
            f"[yellow]note:[/] this CA's certificates point at {base}, but the server "
            f"listens on {served}; the URLs below are the certificates' own",
            soft_wrap=True,
        )
    pki = home.pki.root
    demo = home.certs / "demo"
    console.rule("certsight is running")
    if dashboard is not None:
        console.print(f"[bold]dashboards[/]  {dashboard.url}/   (log: {dashboard.log})")
        console.print(
            f"  look first at the alert queue: {dashboard.url}/cyber  (select an alert, "
            "follow its links to the client and the server)"
        )
        console.print(
            f"  PKI team: {dashboard.url}/pki    management: {dashboard.url}/management",
            soft_wrap=True,
        )
    for line in (
        f"OCSP  POST {base}/ocsp   GET {base}/ocsp/<base64 request>",
        f"CRL   {base}/crl/issuing-ca.crl   {base}/crl/root-ca.crl",
        f"CA    {base}/ca/issuing-ca.crt    {base}/ca/root-ca.crt",
        f"logs  {home.raw}/ocsp  {home.raw}/crl  (gzip JSON lines, every 10 s)",
    ):
        console.print(line, soft_wrap=True)
    console.print("\nAsk for a good and a revoked certificate's status (paste into a shell):")
    for host in ("www.demo.internal", REVOKED_HOST):
        console.print(
            f"  openssl ocsp -issuer {pki}/issuing-ca.pem -cert {demo}/{file_stem(host)}.pem "
            f"-url {base}/ocsp -CAfile {pki}/root-ca.pem -verify_other {pki}/issuing-ca.pem "
            "-resp_text",
            soft_wrap=True,
        )
    console.print(
        f"  curl -s {base}/crl/issuing-ca.crl | openssl crl -inform DER -noout -text",
        soft_wrap=True,
    )
    console.print(f"lake  {home.lake}  (Parquet, ingested from the logs every minute)")
    console.print(f"warehouse  {home.warehouse}  (rebuilt after each ingest; alerts delivered)")
    console.print(f"reports  {home.root / 'reports'}  (written as periods complete)")
    console.print("\nIn another shell, with .venv/bin on PATH:")
    for line in (
        f"  certsight alerts --home {home.root}            # what the detectors found",
        f'  certsight sql --home {home.root} "{FIRST_QUERY}"',
        f"  certsight report --home {home.root} --audience management --out report.html",
        f"  certsight docs --home {home.root}              # the data dictionary",
    ):
        console.print(line, soft_wrap=True)
    console.print(
        "\nA live simulated population keeps validating certificates through the responder. "
        "Ctrl-C stops everything, flushes the logs, ingests and builds them."
    )


def _ingest_every(home: Home, seconds: float, stop: threading.Event, console: Console) -> None:
    """RAW -> LAKE -> warehouse in the background while the server runs; retention at
    start and on the first round of each UTC day."""
    retained_on: date | None = None
    while True:
        today = _now().date()
        if _round(home, console, retain=retained_on != today):
            retained_on = today
        if stop.wait(seconds):
            return


def _round(home: Home, console: Console, *, retain: bool = False) -> bool:
    """One ingest, retention when asked, and build; True when retention was tried. A
    failed round is reported and retried at the next one: the ingest is exactly-once and
    a failed build leaves the previous warehouse in place. A failed retention is tried
    again the next day (it is safe to repeat) and never holds up the build."""
    try:
        report = ingest_home(home)
        if report.sources:
            console.print(summary(report))
    except Exception as exc:  # noqa: BLE001 - keep serving; the next round retries
        console.print(f"[red]ingest failed:[/] {exc}")
        return False
    if retain:
        _retain(home, console)  # before the build, so that this round's build follows it
    try:
        built = run_build(home, console=console)
        if built.mode != "unchanged":
            console.print(build_summary(built))
    except Exception as exc:  # noqa: BLE001 - keep serving; the next round retries
        console.print(f"[red]build failed:[/] {exc}")
        return retain
    try:  # the build's revoked-but-validated findings move those renewal windows to now
        fed = feed_from_warehouse(home, clock=_now).summary()
        if fed:
            console.print(fed)
    except Exception as exc:  # noqa: BLE001 - the next round feeds again (it is idempotent)
        console.print(f"[red]early-renewal feed failed:[/] {exc}")
    try:
        for written in write_due_reports(home, now=_now(), console=console):
            console.print(f"report written: {written}")
    except Exception as exc:  # noqa: BLE001 - a report problem must not stop the service
        console.print(f"[red]reports failed:[/] {exc}")
    return retain


def _retain(home: Home, console: Console) -> None:
    try:
        retention = retain_home(home, _now())
    except Exception as exc:  # noqa: BLE001 - the service goes on; tomorrow tries again
        console.print(
            f"[red]retention failed[/] (tried again tomorrow, or run `certsight lake retain`): "
            f"{exc}"
        )
        return
    if changed_anything(retention) or retention.raw.not_ingested:
        console.print(retention_summary(retention))
