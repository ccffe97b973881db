"""OCSP responder benchmark: certsight against OpenSSL's responder and a bare ceiling.

One command (``make bench`` or ``python bench/ocsp_bench.py``) measures, in the
same run, with the same certificate and the same load generator (h2load,
HTTP/1.1, 16 connections):

* certsight answering from its pre-signed cache (requests without a nonce);
* certsight signing live (requests with a nonce, never cached);
* ``openssl ocsp -multi 2`` serving the same certificate (the peer);
* a bare uvicorn app returning the same bytes (the ceiling);
* pyca/cryptography's own OCSP build-and-sign rate in one thread;
* the Lambda handler's cold start (import + first response) in fresh processes.

Everything runs inside a private network namespace (``unshare -n``) when the
machine allows it, so every server, OpenSSL's included (it cannot bind to
loopback only), is reachable from nowhere else. Results are appended to
bench/RESULTS.md with the machine and the command.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
INSIDE = "CERTSIGHT_BENCH_NAMESPACE"
sys.path.insert(0, str(ROOT))

from bench.results import machine, record  # noqa: E402


@dataclass
class LoadResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    failed: int
    note: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wait_ocsp(url: str, body: bytes, timeout: float = 30.0) -> None:
    """Readiness by a real OCSP POST: a bare connect-and-close would make OpenSSL's
    responder spin forever (the very flaw the issue warns about)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            url, data=body, headers={"content-type": "application/ocsp-request"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer an OCSP request within {timeout} s")


def ensure_h2load() -> str:
    found = shutil.which("h2load")
    if found:
        return found
    print("h2load missing: installing Debian's nghttp2-client", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nghttp2-client"], check=False, capture_output=True
    )
    found = shutil.which("h2load")
    if not found:
        sys.exit("h2load is needed (Debian package nghttp2-client); install it and rerun")
    return found


def _finished_rps(out: str) -> float:
    for line in out.splitlines():
        if line.strip().startswith("finished in"):
            return float(line.split(",")[1].split()[0])
    return 0.0


REPEATS = 3


def h2load(
    name: str, url: str, body: Path, *, seconds: int, connections: int, repeats: int = REPEATS
) -> LoadResult:
    """The median of ``repeats`` runs by throughput: how 16 keep-alive connections land on
    the workers varies from run to run, and one run can be 20% off either way."""
    runs = sorted(
        (
            _h2load_once(name, url, body, seconds=seconds, connections=connections)
            for _ in range(max(1, repeats))
        ),
        key=lambda result: result.rps,
    )
    median = runs[len(runs) // 2]
    spread = ", ".join(f"{run.rps:,.0f}" for run in runs)
    median.note = (median.note + f" runs: {spread}").strip()
    return median


def _h2load_once(name: str, url: str, body: Path, *, seconds: int, connections: int) -> LoadResult:
    log = WORK / f"{name}.h2load.log"
    log.unlink(missing_ok=True)
    common = [
        "--h1",
        "-c",
        str(connections),
        "-t",
        "1",
        "-d",
        str(body),
        "-H",
        "content-type: application/ocsp-request",
    ]
    # A fixed request count, sized by a calibration run: h2load's duration mode (-D) opens
    # connections it then closes unused, which sends `openssl ocsp` into its endless spin.
    calibration = subprocess.run(
        ["h2load", *common, "-n", "4000", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    estimate = _finished_rps(calibration.stdout) or 1000.0
    total = max(4000, int(estimate * seconds))
    done = subprocess.run(
        ["h2load", *common, "-n", str(total), "--log-file", str(log), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds * 10 + 120,
    )
    out = done.stdout
    rps = _finished_rps(out)
    ok = failed = 0
    for raw_line in out.splitlines():
        line = raw_line.strip()
        if line.startswith("requests:"):
            parts = line.replace(",", "").split()
            failed = int(parts[parts.index("failed") - 1])
        if line.startswith("status codes:"):
            ok = int(line.split(":")[1].split()[0])
    durations = []
    if log.exists():
        for row in log.read_text().splitlines():
            fields = row.split()
            if len(fields) >= 3 and fields[1] == "200":
                durations.append(int(fields[2]) / 1000.0)
    durations.sort()
    if not durations:
        return LoadResult(
            name, rps, 0.0, 0.0, ok, failed, note="no successful requests: " + out[-300:]
        )
    p50 = durations[len(durations) // 2]
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    return LoadResult(name, rps, p50, p99, ok, failed)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- set-up ------------------------------------------------------------------------
def prepare() -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from certsight.settings import Home
    from issuance.hierarchy import init_ca
    from issuance.operations import issue_to_files, register_ca_material
    from pki.keys import KeyType
    from pki.store.sqlite import SqliteStore

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    home = Home(WORK / "home")
    now = datetime.now(UTC)
    init_ca(home.pki, base_url="http://127.0.0.1:8080", key_type=KeyType.ec_p256, now=now)
    store = SqliteStore(home.pki.store)
    register_ca_material(layout=home.pki, store=store, raw_dir=home.raw, now=now)
    files = issue_to_files(
        layout=home.pki,
        store=store,
        raw_dir=home.raw,
        clock=lambda: datetime.now(UTC),
        common_name="bench.example.test",
        sans=["bench.example.test"],
        days=30,
        out_dir=home.certs,
    )
    leaf = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    issuer = x509.load_pem_x509_certificate(home.pki.issuing_cert.read_bytes())
    der = serialization.Encoding.DER
    plain = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    nonce = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA1())
        .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
        .build()
    )
    paths = {
        "home": home.root,
        "cert": files.certificate,
        "pki": home.pki.root,
        "plain": WORK / "plain.der",
        "nonce": WORK / "nonce.der",
        "index": WORK / "index.txt",
        "response": WORK / "response.der",
        "headers": WORK / "headers.json",
    }
    paths["plain"].write_bytes(plain.public_bytes(der))
    paths["nonce"].write_bytes(nonce.public_bytes(der))
    not_after = leaf.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    paths["index"].write_text(
        f"V\t{not_after}\t\t{leaf.serial_number:X}\tunknown\t/CN=bench.example.test\n"
    )
    (WORK / "index.txt.attr").write_text("unique_subject = no\n")
    return paths


def cryptography_sign_rate(paths: dict[str, Path], seconds: float = 3.0) -> float:
    """pyca/cryptography building and signing the same response, one thread: the bar for
    live signing per worker."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    pki = paths["pki"]
    leaf = x509.load_pem_x509_certificate(paths["cert"].read_bytes())
    issuer = x509.load_pem_x509_certificate((pki / "issuing-ca.pem").read_bytes())
    signer = x509.load_pem_x509_certificate((pki / "ocsp-signer.pem").read_bytes())
    key = serialization.load_pem_private_key((pki / "ocsp-signer.key").read_bytes(), None)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        now = datetime.now(UTC)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=leaf,
                issuer=issuer,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now,
                next_update=now + timedelta(hours=1),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
            .certificates([signer])
        )
        builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
        count += 1
    return count / (time.perf_counter() - start)


def lambda_cold_start(paths: dict[str, Path], runs: int = 5) -> list[float]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/ocsp",
        "rawQueryString": "",
        "headers": {"content-type": "application/ocsp-request"},
        "requestContext": {
            "http": {"method": "POST", "path": "/ocsp", "sourceIp": "192.0.2.1"},
            "requestId": "bench",
        },
        "body": base64.b64encode(paths["plain"].read_bytes()).decode(),
        "isBase64Encoded": True,
    }
    script = (
        "import time, json, sys\n"
        "t0 = time.perf_counter()\n"
        "import responders.lambda_handler as h\n"
        "r = h.handler(json.loads(sys.argv[1]), None)\n"
        "assert r['statusCode'] == 200, r\n"
        "print('COLD', (time.perf_counter() - t0) * 1000)\n"
    )
    env = {
        **os.environ,
        "CERTSIGHT_PKI_DIR": str(paths["pki"]),
        "CERTSIGHT_STORE": str(paths["pki"] / "certificates.sqlite"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(event)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in done.stdout.splitlines() if x.startswith("COLD"))
        times.append(float(line.split()[1]))
    return times


# -- scenarios ---------------------------------------------------------------------
def run_certsight(
    paths: dict[str, Path],
    body: str,
    name: str,
    *,
    workers: int,
    seconds: int,
    connections: int,
    repeats: int,
) -> LoadResult:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "certsight.cli",
            "serve",
            "--home",
            str(paths["home"]),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        time.sleep(1.0)  # every worker up
        return h2load(
            name,
            f"http://127.0.0.1:{port}/ocsp",
            paths[body],
            seconds=seconds,
            connections=connections,
            repeats=repeats,
        )
    finally:
        stop(process)


def run_bare(
    paths: dict[str, Path], *, workers: int, seconds: int, connections: int, repeats: int
) -> LoadResult:
    port = free_port()
    capture_reply(paths)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_RESPONSE_FILE": str(paths["response"]),
        "BENCH_HEADERS_FILE": str(paths["headers"]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ocsp(f"http://127.0.0.1:{port}/ocsp", paths["plain"].read_bytes())
        time.sleep(1.0)
        return h2load(
            "bare-uvicorn",
            f"http://127.0.0.1:{port}/ocsp",
            paths["plain"],
            seconds=seconds,
            connections=connections,
            repeats=repeats,
        )
    finally:
        stop(process)


def capture_reply(paths: dict[str, Path]) -> None:
    """The exact reply certsight gives to the benchmark request (status, headers, body), so
    the ceiling serves byte-identical responses: only certsight's own work differs."""
    from responders.web.exchange import HttpRequest
    from responders.web.runtime import RuntimeConfig, build_runtime

    runtime = build_runtime(
        RuntimeConfig(
            pki_dir=str(paths["pki"]),
            raw_dir=None,
            store_uri=str(paths["pki"] / "certificates.sqlite"),
        ),
        adapter="http",
    )
    request = HttpRequest("POST", "/ocsp", {}, paths["plain"].read_bytes(), "127.0.0.1")
    reply = runtime.service.handle(request).reply
    paths["response"].write_bytes(reply.body)
    headers = [[name.decode(), value.decode()] for name, value in reply.headers]
    paths["headers"].write_text(json.dumps(headers))


def run_openssl(
    paths: dict[str, Path], *, seconds: int, connections: int, repeats: int, isolated: bool
) -> LoadResult:
    if not isolated:
        return LoadResult(
            "openssl-ocsp-multi2",
            0,
            0,
            0,
            0,
            0,
            note="skipped: `openssl ocsp` binds every interface and no private "
            "network namespace was available",
        )
    port = free_port()
    pki = paths["pki"]
    process = subprocess.Popen(
        [
            "openssl",
            "ocsp",
            "-index",
            str(paths["index"]),
            "-port",
            str(port),
            "-rsigner",
            str(pki / "ocsp-signer.pem"),
            "-rkey",
            str(pki / "ocsp-signer.key"),
            "-CA",
            str(pki / "issuing-ca.pem"),
            "-multi",
            "2",
            "-nmin",
            "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=WORK,
    )
    try:
        wait_ocsp(f"http://127.0.0.1:{port}/", paths["plain"].read_bytes())
        return h2load(
            "openssl-ocsp-multi2",
            f"http://127.0.0.1:{port}/",
            paths["plain"],
            seconds=seconds,
            connections=connections,
            repeats=repeats,
        )
    finally:
        process.kill()
        process.wait()


# -- report ------------------------------------------------------------------------
def report(
    results: dict[str, LoadResult],
    crypto_rate: float,
    cold: list[float],
    args: argparse.Namespace,
    isolated: bool,
) -> str:
    cached, live = results["cached"], results["live"]
    peer, bare, live1 = results["openssl"], results["bare"], results["live1"]
    per_worker = live.rps / args.workers
    cold_median = statistics.median(cold)
    rows = [
        "| scenario | req/s | p50 ms | p99 ms | ok | failed | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in (cached, live, live1, peer, bare):
        rows.append(
            f"| {result.name} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.ok:,} | {result.failed:,} | {result.note} |"
        )
    rows.append(f"| cryptography build+sign, 1 thread | {crypto_rate:,.0f} | | | | | in-process |")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    peer_ratio = cached.rps / peer.rps if peer.rps else float("nan")
    bare_ratio = cached.rps / bare.rps if bare.rps else float("nan")
    live_ratio = per_worker / crypto_rate if crypto_rate else float("nan")
    live1_ratio = live1.rps / crypto_rate if crypto_rate else float("nan")
    targets = [
        f"- cached vs OpenSSL responder: {peer_ratio:.2f}x (target >= 2x): "
        f"{verdict(peer_ratio >= 2) if peer.rps else 'no peer measured'}",
        f"- cached vs bare uvicorn ceiling: {bare_ratio:.0%} (target >= 70%): "
        f"{verdict(bare_ratio >= 0.7)}",
        f"- live signing per worker: {per_worker:,.0f}/s with {args.workers} workers = "
        f"{live_ratio:.0%} of cryptography's {crypto_rate:,.0f}/s, {live1.rps:,.0f}/s = "
        f"{live1_ratio:.0%} with one worker (target >= 70%): {verdict(live_ratio >= 0.7)} "
        f"with {args.workers} workers, {verdict(live1_ratio >= 0.7)} with one",
        f"- Lambda cold start (import + first response), median of {len(cold)}: "
        f"{cold_median:.0f} ms (runs: {', '.join(f'{c:.0f}' for c in cold)}; target < 300 ms): "
        f"{verdict(cold_median < 300)}",
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"### OCSP responder, {stamp}",
            "",
            f"- machine: {machine()}",
            f"- command: `{' '.join(['python', 'bench/ocsp_bench.py', *sys.argv[1:]])}` "
            f"(h2load --h1 -c {args.connections} -t 1, about {args.seconds} s per run, median of "
            f"{args.repeats} runs per scenario "
            "after a calibration run; "
            f"certsight and the ceiling with {args.workers} uvicorn workers; "
            f"{'inside a private network namespace' if isolated else 'on the host loopback'})",
            "- same certificate (EC P-256 hierarchy) and request for every server; live = request "
            "with a 16-octet nonce, so every answer is signed",
            "",
            *rows,
            "",
            *targets,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs per scenario")
    parser.add_argument(
        "--no-namespace",
        action="store_true",
        help="run on the host loopback (skips the OpenSSL peer)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()

    ensure_h2load()
    isolated = os.environ.get(INSIDE) == "1"
    if not isolated and not args.no_namespace and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            command = " ".join([sys.executable, *sys.argv])
            os.execvpe(
                "unshare",
                ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {command}"],
                {**os.environ, INSIDE: "1"},
            )
        print("no private network namespace here: the OpenSSL peer is skipped", flush=True)

    paths = prepare()
    print("measuring cryptography's build-and-sign rate ...", flush=True)
    crypto_rate = cryptography_sign_rate(paths)
    load = {"seconds": args.seconds, "connections": args.connections, "repeats": args.repeats}
    results = {}
    print("certsight, cached ...", flush=True)
    results["cached"] = run_certsight(
        paths, "plain", f"certsight cached ({args.workers} workers)", workers=args.workers, **load
    )
    print("certsight, live signing ...", flush=True)
    results["live"] = run_certsight(
        paths, "nonce", f"certsight live ({args.workers} workers)", workers=args.workers, **load
    )
    print("certsight, live signing, one worker ...", flush=True)
    results["live1"] = run_certsight(paths, "nonce", "certsight live (1 worker)", workers=1, **load)
    print("openssl ocsp -multi 2 ...", flush=True)
    results["openssl"] = run_openssl(paths, isolated=isolated, **load)
    print("bare uvicorn ceiling ...", flush=True)
    results["bare"] = run_bare(paths, workers=args.workers, **load)
    print("Lambda cold starts ...", flush=True)
    cold = lambda_cold_start(paths)
    text = report(results, crypto_rate, cold, args, isolated)
    print(text)
    if not args.no_write:
        record(text)


if __name__ == "__main__":
    main()
