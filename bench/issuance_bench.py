"""Issuance API rate against pyca/cryptography's bare build-and-sign rate, and the
latency of one issuance through the upstream backends (AWS Private CA, ACME).

One command: ``python bench/issuance_bench.py`` (also run by ``make bench``). In one run:

1. bare rate: ``pki.certificates.issue_certificate`` with the arguments the internal
   backend passes (the ``tls-server`` profile, the home CA's file key, a P-256 CSR made
   once), one thread, in this process;
2. API rate: a fresh temporary home (``certsight ca init --key-type ec-p256``), a token
   with a huge rate limit, ``certsight serve issuance`` as a child process on 127.0.0.1,
   and h2load POSTing the same CSR to ``/v1/certificates`` over HTTP/1.1 keep-alive
   connections, every answer a 201 (policy, store write, state row and event included).
   Plain HTTP first (so the load generator does not measure TLS), then the same over
   TLS. The goal: the plain-HTTP API reaches at least 50% of the bare rate;
3. reference latencies (no target): one issuance at a time through the ``aws-pca``
   backend against moto's ACM PCA server, and through the ``acme`` backend against
   Debian's pebble (skipped, and said so, when pebble is not installed).

The section it writes to bench/RESULTS.md replaces the one a previous run wrote
(``--no-write``: print only). ``--profile`` also samples the server with py-spy during
one extra plain-HTTP run and prints where its time goes (not recorded).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from bench.ocsp_bench import ensure_h2load, free_port  # noqa: E402
from bench.results import HEADER, RESULTS, machine  # noqa: E402
from issuance.backends.base import CertificateOrder  # noqa: E402

TARGET = 0.5  # the API's rate over the bare rate
NAME = "bench.example.test"
PROFILE = "tls-server"
REQUESTER = "api:bench"
SECTION = "### Issuance API rate"
RATE_LIMIT = "1000000/minute"
WARMUP_REQUESTS = 200
START_SECONDS = 60.0


# -- helpers ---------------------------------------------------------------------------
def make_csr(name: str) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )


def certsight(home: Path, *args: str) -> str:
    """A certsight command on ``home``; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "certsight.cli", *args, "--home", str(home)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        sys.exit(f"certsight {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (the worker
    processes of ``--workers``), from Linux /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def runs_ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


# -- 1. bare rate ----------------------------------------------------------------------
@dataclass
class BareResult:
    rate: float
    count: int
    rounds: list[float]
    cpu_ms: float  # process CPU per certificate


def bare_rate(home: Path, csr: x509.CertificateSigningRequest, seconds: float) -> BareResult:
    """``issue_certificate`` as ``InternalBackend.submit`` calls it for an API order of the
    default profile: same CA certificate, file key, config, validity, EKUs and names.
    Three rounds of ``seconds / 3`` (at most 1,000 certificates each); the median."""
    from issuance.settings import IssuanceSettings
    from pki.certificates import issue_certificate
    from pki.identity import key_sha1
    from pki.keys import load_private_key
    from pki.layout import PkiLayout
    from pki.pem import load_pem_certificate

    layout = PkiLayout(home / "pki")
    config = layout.read_config()
    issuing_cert = load_pem_certificate(layout.issuing_cert)
    issuing_key = load_private_key(layout.issuing_key)
    profile = IssuanceSettings().all_profiles()[PROFILE]
    validity = timedelta(days=profile.validity_days)
    ekus = tuple(profile.ekus)
    issuer_key = key_sha1(issuing_cert)

    def one() -> None:
        issue_certificate(
            common_name=NAME,
            sans=[NAME],
            validity=validity,
            issuing_cert=issuing_cert,
            issuing_key=issuing_key,
            config=config,
            now=datetime.now(UTC),
            csr=csr,
            requester=REQUESTER,
            profile=PROFILE,
            ekus=ekus,
            ca_backend="internal",
            csr_verified=True,  # building and signing only: the bare rate the goal names
            issuer_key_sha1=issuer_key,
        )

    for _ in range(50):  # warm-up
        one()
    rounds, total, cpu = [], 0, 0.0
    for _ in range(3):
        count = 0
        cpu_start, start = time.process_time(), time.perf_counter()
        while count < 1000 and time.perf_counter() - start < seconds / 3:
            one()
            count += 1
        rounds.append(count / (time.perf_counter() - start))
        cpu += time.process_time() - cpu_start
        total += count
    return BareResult(statistics.median(rounds), total, rounds, cpu / total * 1000)


# -- 2. API rate -----------------------------------------------------------------------
@dataclass
class LoadRun:
    rps: float
    ok: int  # 2xx
    other: int  # non-2xx answers, failed, errored and timed-out requests
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # server CPU per request
    detail: str = ""


@dataclass
class ApiResult:
    name: str
    runs: list[LoadRun] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> LoadRun | None:
        if not self.runs:
            return None
        return sorted(self.runs, key=lambda run: run.rps)[len(self.runs) // 2]

    @property
    def all_ok(self) -> bool:
        return bool(self.runs) and not self.error and all(run.other == 0 for run in self.runs)


def prepare_home(home: Path) -> str:
    """``ca init`` and a token; the token."""
    certsight(home, "ca", "init", "--base-url", "http://127.0.0.1:8080", "--key-type", "ec-p256")
    out = certsight(
        home, "token", "create", "--name", "bench", "--allow", NAME, "--rate-limit", RATE_LIMIT
    )
    return out.strip().splitlines()[-1].strip()


@contextmanager
def issuance_server(
    home: Path, *, tls: bool, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``certsight serve issuance`` on 127.0.0.1 until the block ends (SIGTERM); the
    process and its base URL, once GET /healthz answers."""
    port = free_port()
    command = [sys.executable, "-m", "certsight.cli", "serve", "issuance", "--port", str(port)]
    command += ["--home", str(home), "--workers", str(workers)]
    command += [] if tls else ["--plain-http"]
    log = home / f"server-{'tls' if tls else 'plain'}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(home / "pki" / "root-ca.pem")) if tls else None
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the issuance server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2, context=context):
                    break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base}/healthz did not answer") from None
                time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def h2load(
    url: str, body: Path, token: str, *, requests: int, connections: int, log: Path | None
) -> str:
    command = ["h2load", "--h1", "-n", str(requests), "-c", str(connections), "-t", "1"]
    command += ["-d", str(body), "-H", f"authorization: Bearer {token}"]
    command += ["-H", "content-type: application/json"]
    if log is not None:
        log.unlink(missing_ok=True)
        command += ["--log-file", str(log)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False, timeout=600)
    return done.stdout + done.stderr


def parse_h2load(out: str, log: Path | None) -> tuple[float, int, int, float, float]:
    """req/s, 2xx, everything else, p50 and p99 ms of the 2xx answers."""
    finished = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    counts = re.search(
        r"requests: (\d+) total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    if not finished or not codes or not counts:
        return 0.0, 0, 0, float("nan"), float("nan")
    ok = int(codes[1])
    other = int(codes[2]) + int(codes[3]) + int(codes[4])
    other += int(counts[2]) + int(counts[3]) + int(counts[4])
    total = int(counts[1])
    other = max(other, total - ok)  # not answered at all
    durations: list[float] = []
    if log is not None and log.exists():
        for row in log.read_text().splitlines():
            parts = row.split()
            if len(parts) >= 3 and parts[1].startswith("2"):
                durations.append(int(parts[2]) / 1000.0)
    durations.sort()
    p50 = durations[len(durations) // 2] if durations else float("nan")
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else p50
    return float(finished[1]), ok, other, p50, p99


def api_rate(
    name: str,
    home: Path,
    body: Path,
    token: str,
    *,
    tls: bool,
    requests: int,
    connections: int,
    repeats: int,
    profile: Path | None = None,
    workers: int = 1,
) -> ApiResult:
    result = ApiResult(name)
    try:
        with issuance_server(home, tls=tls, workers=workers) as (process, base):
            url = f"{base}/v1/certificates"
            warm = h2load(
                url, body, token, requests=WARMUP_REQUESTS, connections=connections, log=None
            )
            _rps, ok, other, _p50, _p99 = parse_h2load(warm, None)
            if other or not ok:
                result.error = f"warm-up: {ok} 2xx, {other} other: {warm[-600:]}"
                return result
            for index in range(repeats):
                log = home / f"h2load-{'tls' if tls else 'plain'}-{index}.log"
                cpu_before = cpu_seconds(process.pid)
                out = h2load(url, body, token, requests=requests, connections=connections, log=log)
                cpu = cpu_seconds(process.pid) - cpu_before
                rps, ok, other, p50, p99 = parse_h2load(out, log)
                run = LoadRun(rps, ok, other, p50, p99, cpu / max(1, ok + other) * 1000)
                if other or not ok:
                    run.detail = out[-600:]
                result.runs.append(run)
                print(
                    f"  {name}, run {index + 1}: {rps:,.0f} req/s, {ok} 2xx, {other} other, "
                    f"server CPU {run.server_cpu_ms:.2f} ms/request",
                    flush=True,
                )
            if profile is not None:
                sample_server(process.pid, url, body, token, requests, connections, profile)
    except RuntimeError as exc:
        result.error = str(exc)
    return result


# -- where the server's time goes (--profile) -------------------------------------------
def sample_server(
    pid: int, url: str, body: Path, token: str, requests: int, connections: int, raw: Path
) -> None:
    """py-spy on the server for one more load run: every thread, then the GIL holder."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("--profile: py-spy is not installed (pip install py-spy)", flush=True)
        return
    raw.mkdir(parents=True, exist_ok=True)
    for label, flags in (("all threads, wall clock", ["--threads"]), ("GIL holder", ["--gil"])):
        out = raw / f"{flags[0].strip('-')}.txt"
        sampler = subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(out), *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        h2load(url, body, token, requests=requests, connections=connections, log=None)
        sampler.send_signal(signal.SIGINT)
        try:
            sampler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()
        print(f"\n--profile, {label} (py-spy raw samples in {out}):")
        print(summarise_profile(out))


PROJECT = ("issuance/", "pki/", "responders/")
STARTUP = ("issuance/api/server.py",)  # under every event-loop sample: says nothing


def summarise_profile(raw: Path, top: int = 25) -> str:
    """Which thread held the samples (the event loop or the threadpool that runs the
    service), then the product's own frames by inclusive share, then every frame by
    self share (where the samples landed)."""
    if not raw.exists():
        return "(no samples)"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = []
        for frame in stack.split(";"):
            match = re.match(r"(.+?) \((.+?):(\d+)\)$", frame)
            if match:
                frames.append((match[1], match[2], match[3]))
        names = [name for name, _path, _line in frames]
        if "WorkerThread.run" in names:
            roles["threadpool (service)"] += samples
        elif "Runner.run" in names:
            roles["event loop (HTTP, FastAPI)"] += samples
        else:
            roles["other threads"] += samples
        seen = set()
        for name, path, _line in frames:
            key = f"{name} ({path})"
            if path.startswith(PROJECT) and not path.startswith(STARTUP) and key not in seen:
                seen.add(key)
                inclusive[key] += samples
        if frames:
            name, path, number = frames[-1]
            own[f"{name} ({path}:{number})"] += samples
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; " + ", ".join(f"{r} {n / total:.0%}" for r, n in roles.items())]
    lines.append("product frames, inclusive:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append("all frames, self:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


# -- 3. reference latencies ------------------------------------------------------------
@dataclass
class Reference:
    name: str
    first: float | None = None  # seconds
    times: list[float] = field(default_factory=list)
    note: str = ""


def timed_submits(submit: Callable[[int], object], runs: int, reference: Reference) -> None:
    """``runs`` + 1 issuances; the first (connections, account, CA description) apart."""
    for index in range(runs + 1):
        start = time.perf_counter()
        submit(index)
        elapsed = time.perf_counter() - start
        if index == 0:
            reference.first = elapsed
        else:
            reference.times.append(elapsed)


def order_for(csr: x509.CertificateSigningRequest, name: str) -> CertificateOrder:
    return CertificateOrder(
        request_id=secrets.token_hex(8),
        csr=csr,
        common_name=name,
        names=(name,),
        validity=timedelta(days=30),
        profile=PROFILE,
        ekus=("serverAuth", "clientAuth"),
        requester=REQUESTER,
        now=datetime.now(UTC),
    )


@contextmanager
def aws_environment(work: Path, endpoint: str) -> Iterator[None]:
    """The standard AWS settings pointed at moto and nowhere real, as tests/conftest.py
    does; restored afterwards."""
    values = {
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-config"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
    }
    removed = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")
    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pca_latency(work: Path, runs: int) -> Reference:
    """The aws-pca backend's submit() against moto's ACM PCA server (a thread of this
    process), a two-level PCA hierarchy with an EC P-256 issuing CA, as the tests set up."""
    reference = Reference("aws-pca backend, moto ACM PCA server")
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        reference.note = f"skipped: {exc}"
        return reference
    from issuance.backends import open_backend
    from issuance.backends.aws_pca import AwsPcaBackend
    from issuance.backends.base import BackendContext, Issued
    from issuance.backends.settings import AwsPcaBackendSettings
    from pki.layout import PkiLayout

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        with aws_environment(work, endpoint):
            client = boto3.client("acm-pca", region_name="us-east-1", endpoint_url=endpoint)
            root_template = "arn:aws:acm-pca:::template/RootCACertificate/V1"

            def create(common_name: str, key_algorithm: Any, ca_type: Any) -> str:
                return client.create_certificate_authority(
                    CertificateAuthorityConfiguration={
                        "KeyAlgorithm": key_algorithm,
                        "SigningAlgorithm": "SHA256WITHRSA",
                        "Subject": {"CommonName": common_name, "Organization": "certsight"},
                    },
                    CertificateAuthorityType=ca_type,
                )["CertificateAuthorityArn"]

            def sign_ca(by: str, ca_arn: str) -> str:
                csr = client.get_certificate_authority_csr(CertificateAuthorityArn=ca_arn)["Csr"]
                arn = client.issue_certificate(
                    CertificateAuthorityArn=by,
                    Csr=csr.encode(),
                    SigningAlgorithm="SHA256WITHRSA",
                    TemplateArn=root_template,
                    Validity={"Value": 5, "Type": "YEARS"},
                )["CertificateArn"]
                got = client.get_certificate(CertificateAuthorityArn=by, CertificateArn=arn)
                return got["Certificate"]

            root_arn = create("certsight bench root", "RSA_2048", "ROOT")
            root_pem = sign_ca(root_arn, root_arn)
            client.import_certificate_authority_certificate(
                CertificateAuthorityArn=root_arn, Certificate=root_pem.encode()
            )
            issuing_arn = create("certsight bench issuing CA", "EC_prime256v1", "SUBORDINATE")
            issuing_pem = sign_ca(root_arn, issuing_arn)
            client.import_certificate_authority_certificate(
                CertificateAuthorityArn=issuing_arn,
                Certificate=issuing_pem.encode(),
                CertificateChain=root_pem.encode(),
            )
            client.close()
            settings = AwsPcaBackendSettings(
                type="aws-pca", ca_arn=issuing_arn, endpoint_url=endpoint
            )
            context = BackendContext(
                layout=PkiLayout(work / "pki"),
                state_dir=work / "state",
                clock=lambda: datetime.now(UTC),
            )
            backend = open_backend("pca-bench", settings, context)
            assert isinstance(backend, AwsPcaBackend)
            csr = make_csr(NAME)
            try:

                def submit(_index: int) -> None:
                    result = backend.submit(order_for(csr, NAME))
                    if not isinstance(result, Issued):
                        raise RuntimeError(f"moto left the order pending: {result}")

                timed_submits(submit, runs, reference)
            finally:
                backend.close()
        reference.note = (
            "IssueCertificate then GetCertificate over HTTP to moto in this process; "
            "first: the CA described and its chain fetched"
        )
    except Exception as exc:  # noqa: BLE001 - a reference figure must not sink the benchmark
        reference.note = f"failed: {type(exc).__name__}: {exc}"
    finally:
        server.stop()
    return reference


def acme_latency(work: Path, runs: int) -> Reference:
    """The acme backend's submit() against Debian's pebble and pebble-challtestsrv, started
    as tests/acme_servers.py starts them (no validation sleep), http-01 through the
    backend's built-in responder; a new name per order, every authorisation validated."""
    reference = Reference("acme backend, pebble (http-01)")
    if shutil.which("pebble") is None or shutil.which("pebble-challtestsrv") is None:
        reference.note = (
            "skipped: pebble is not installed (Debian package `pebble`; `make acme-servers`)"
        )
        return reference
    from issuance.backends import open_backend
    from issuance.backends.acme_upstream import AcmeBackend
    from issuance.backends.base import BackendContext, Issued
    from issuance.backends.settings import AcmeBackendSettings
    from pki.layout import PkiLayout
    from tests.acme_servers import free_port as acme_port
    from tests.acme_servers import running_challtestsrv, running_pebble

    try:
        with (
            running_challtestsrv(work / "challtestsrv") as dns,
            running_pebble(work / "pebble", dns, http_port=acme_port()) as pebble,
        ):
            settings = AcmeBackendSettings(
                type="acme",
                directory=pebble.directory,
                ca_bundle=pebble.tls_ca,
                http_host="127.0.0.1",
                http_port=pebble.http_port,
                timeout_seconds=30.0,
            )
            context = BackendContext(
                layout=PkiLayout(work / "pki"),
                state_dir=work / "backends",
                clock=lambda: datetime.now(UTC),
            )
            backend = open_backend("pebble", settings, context)
            assert isinstance(backend, AcmeBackend)
            names = [
                f"acme-{index}-{secrets.token_hex(3)}.example.test" for index in range(runs + 1)
            ]
            csrs = [make_csr(name) for name in names]
            for name in names:
                dns.add_a(name)
            try:

                def submit(index: int) -> None:
                    result = backend.submit(order_for(csrs[index], names[index]))
                    if not isinstance(result, Issued):
                        raise RuntimeError(f"pebble left the order pending: {result}")

                timed_submits(submit, runs, reference)
            finally:
                backend.close()
        reference.note = (
            "new order, http-01 validated by pebble's VA, finalize, download; the acme "
            "client polls the authorisation and the order once a second, so times fall "
            "near whole seconds; first: the account registered too"
        )
    except Exception as exc:  # noqa: BLE001 - a reference figure must not sink the benchmark
        reference.note = f"failed: {type(exc).__name__}: {exc}"
    return reference


# -- report ----------------------------------------------------------------------------
def report(
    bare: BareResult,
    api: list[ApiResult],
    references: list[Reference],
    args: argparse.Namespace,
) -> tuple[str, bool]:
    command = " ".join(["python", "bench/issuance_bench.py", *sys.argv[1:]])
    rows = [
        "| measure | certificates/s | p50 ms | p99 ms | 2xx | other | CPU ms/certificate | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| bare: issue_certificate, 1 thread, in-process | {bare.rate:,.0f} | | | | | "
        f"{bare.cpu_ms:.2f} | {', '.join(f'{r:,.0f}' for r in bare.rounds)} "
        f"({bare.count:,} certificates) |",
    ]
    for result in api:
        median = result.median
        if median is None:
            rows.append(f"| {result.name} | - | | | | | | {result.error[:300]} |")
            continue
        spread = ", ".join(f"{run.rps:,.0f}" for run in sorted(result.runs, key=lambda r: r.rps))
        rows.append(
            f"| {result.name} | {median.rps:,.0f} | {median.p50_ms:.1f} | {median.p99_ms:.1f} | "
            f"{sum(r.ok for r in result.runs):,} | {sum(r.other for r in result.runs):,} | "
            f"{median.server_cpu_ms:.2f} (server) | {spread} |"
        )
    plain = api[0].median
    ratio = plain.rps / bare.rate if plain and bare.rate else 0.0
    passed = api[0].all_ok and ratio >= TARGET
    lines = [
        f"- API (plain HTTP) / bare: {ratio:.0%} (target >= {TARGET:.0%}): "
        f"**{'PASS' if passed else 'MISS'}**"
        + ("" if api[0].all_ok else " (not every request answered 2xx)"),
    ]
    for result in api[1:]:
        median = result.median
        if median is not None:
            lines.append(
                f"- {result.name} / bare: {median.rps / bare.rate:.0%}"
                + ("" if result.all_ok else " (not every request answered 2xx)")
            )
        else:
            lines.append(f"- {result.name}: not measured: {result.error[:300]}")
    ref_rows = [
        "| backend | median ms | first ms | runs ms | note |",
        "|---|---:|---:|---|---|",
    ]
    for ref in references:
        first = f"{ref.first * 1000:.0f}" if ref.first is not None else "-"
        median_text = f"{median_ms(ref.times):.0f}" if ref.times else "-"
        ref_rows.append(
            f"| {ref.name} | {median_text} | {first} | {runs_ms(ref.times) or '-'} | {ref.note} |"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"{SECTION}, {stamp}",
            "",
            f"- machine: {machine()}",
            f"- command: `{command}`",
            "- home: fresh temporary, `certsight ca init --key-type ec-p256` (file key), "
            "default `[issuance]` settings (profile tls-server -> internal backend), SQLite "
            f"store, events under RAW; one P-256 CSR for {NAME} reused by every request; a "
            f"token limited to {RATE_LIMIT}",
            f"- API: `certsight serve issuance` (one process, or `--workers 2`) on 127.0.0.1; "
            f"h2load --h1 "
            f"-c {args.connections} -t 1 -n {args.requests} POST /v1/certificates, after "
            f"{WARMUP_REQUESTS} warm-up requests, median of {args.repeats} runs; latencies "
            "of the median run; CPU = the server's user+system time per request",
            "- bare: `issue_certificate` as the internal backend calls it (build and sign the "
            "same leaf from the same CSR; the CSR's signature is checked by the service "
            f"before it), median of 3 rounds of up to {args.bare_seconds / 3:.1f} s",
            "",
            *rows,
            "",
            *lines,
            "",
            f"Reference latencies, one issuance at a time through the backend's submit(), "
            f"median of {args.latency_runs} after a first one (no target):",
            "",
            *ref_rows,
            "",
        ]
    )
    return text, passed


def write_section(section: str) -> None:
    """Newest first, as bench/results.py's ``record``, but replacing this benchmark's
    previous section rather than adding another."""
    old = RESULTS.read_text() if RESULTS.exists() else HEADER
    body = old[len(HEADER) :] if old.startswith(HEADER) else old
    kept: list[str] = []
    skipping = False
    for line in body.splitlines(keepends=True):
        if line.startswith("### "):
            skipping = line.startswith(SECTION)
        if not skipping:
            kept.append(line)
    RESULTS.write_text(HEADER + section.rstrip() + "\n\n" + "".join(kept).lstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per measured h2load run")
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per server")
    parser.add_argument("--bare-seconds", type=float, default=3.0)
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--no-tls", action="store_true", help="skip the API over TLS")
    parser.add_argument("--no-references", action="store_true", help="skip PCA and ACME")
    parser.add_argument("--profile", action="store_true", help="py-spy the plain server")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()

    ensure_h2load()
    with tempfile.TemporaryDirectory(prefix="certsight-issuance-bench-") as temp:
        work = Path(temp)
        home = work / "home"
        print(f"home {home}: ca init, token ...", flush=True)
        token = prepare_home(home)
        csr = make_csr(NAME)
        body = work / "body.json"
        pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        body.write_text(json.dumps({"csr": pem, "profile": PROFILE}))

        print("bare issue_certificate rate ...", flush=True)
        bare = bare_rate(home, csr, args.bare_seconds)
        print(f"  {bare.rate:,.0f} certificates/s", flush=True)

        load = {"requests": args.requests, "connections": args.connections}
        print("API, plain HTTP ...", flush=True)
        api = [
            api_rate(
                f"API, plain HTTP, {args.connections} connections",
                home,
                body,
                token,
                tls=False,
                repeats=args.repeats,
                profile=ROOT / "bench" / ".work" / "issuance-py-spy" if args.profile else None,
                **load,
            )
        ]
        print("API, plain HTTP, 2 workers ...", flush=True)
        api.append(
            api_rate(
                f"API, plain HTTP, 2 workers, {args.connections} connections",
                home,
                body,
                token,
                tls=False,
                repeats=args.repeats,
                workers=2,
                **load,
            )
        )
        if not args.no_tls:
            print("API, TLS ...", flush=True)
            api.append(
                api_rate(
                    f"API, TLS, {args.connections} connections",
                    home,
                    body,
                    token,
                    tls=True,
                    repeats=args.repeats,
                    **load,
                )
            )
        references: list[Reference] = []
        if not args.no_references:
            print("aws-pca against moto ...", flush=True)
            references.append(pca_latency(work / "pca", args.latency_runs))
            print("acme against pebble ...", flush=True)
            references.append(acme_latency(work / "acme", args.latency_runs))

    text, passed = report(bare, api, references, args)
    print(text)
    if not args.no_write:
        write_section(text)
    for result in api:
        for run in result.runs:
            if run.detail:
                print(f"{result.name}: a run with failures: {run.detail}", file=sys.stderr)
    if not all(result.all_ok for result in api):
        sys.exit("some API requests did not answer 2xx")
    print(f"API / bare {'meets' if passed else 'misses'} the {TARGET:.0%} goal")


if __name__ == "__main__":
    main()
