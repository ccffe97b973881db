"""ACME orders completed per second against certsight's ACME server, beside the issuance
API's POST /v1/certificates rate on the same server, in the same run.

One command: ``python bench/acme_bench.py`` (also run by ``make bench``). In one run:

1. a fresh temporary home (``certsight ca init --key-type ec-p256``), ``[acme]`` pointed
   at pebble-challtestsrv on 127.0.0.1 as its resolver (every bench name has an A record
   127.0.0.1) and at a challenge HTTP server this process runs on loopback as its
   ``http01_port``; ``certsight serve issuance --plain-http`` as a child process;
2. the issuance API's rate on that server: h2load POSTing one CSR to /v1/certificates
   over ``--accounts`` keep-alive connections (as bench/issuance_bench.py does);
3. the ACME rate: ``--accounts`` EAB accounts, one thread each, every one driving whole
   orders one after another with a bundled client (josepy JWS over httpx keep-alive):
   newOrder, the authorization, the http-01 challenge (answered by the loopback
   server), polling the order every ``POLL_SECONDS`` until ready, finalize, download.
   A new name, key and CSR per order, so every order is validated. A fixed number of
   orders per run, median of ``--repeats`` runs; each run is also capped in
   time. The client's own CPU is measured and reported;
4. where an order's time goes: the client's time per phase, and (unless
   ``--no-profile``) py-spy sampling the server during one more run, grouped into
   nonces, JWS, validation, issuance (policy, signing, store) and ACME state.

The client polls faster than the server's ``Retry-After: 2``: a client that honours it
waits about two seconds per order, whatever the server's speed. The section it writes to
bench/RESULTS.md replaces the one a previous run wrote (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import base64
import json
import linecache
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from acme import jws as acme_jws  # noqa: E402
from acme import messages  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from josepy.jwa import ES256  # noqa: E402
from josepy.jwk import JWKEC  # noqa: E402

from bench.issuance_bench import NAME as API_NAME  # noqa: E402
from bench.issuance_bench import (  # noqa: E402
    PROFILE,
    certsight,
    cpu_seconds,
    h2load,
    issuance_server,
    make_csr,
    parse_h2load,
    prepare_home,
)
from bench.ocsp_bench import ensure_h2load  # noqa: E402
from bench.results import HEADER, RESULTS, machine  # noqa: E402
from issuance.acme.eab import b64url  # noqa: E402
from tests.acme_servers import ChallTestSrv, running_challtestsrv  # noqa: E402
from tests.issuance.acme.support import ChallengeServer  # noqa: E402

SECTION = "### ACME order rate"
ZONE = "acme.bench.example.test"
RATE_LIMIT = "1000000/minute"
POLL_SECONDS = 0.05  # the client's authorization/order poll interval
RUN_SECONDS = 60.0  # a bound per run, whatever --orders says
API_WARMUP = 200
RAW_PROFILE = ROOT / "bench" / ".work" / "acme-py-spy.txt"  # kept for a closer look
PHASES = ("newOrder", "authorization", "challenge", "validation wait", "finalize", "download")


# -- the load client ---------------------------------------------------------------------
class AcmeProblem(RuntimeError):
    pass


@dataclass
class OrderTiming:
    seconds: float
    phases: dict[str, float]
    requests: int
    polls: int
    bad_nonces: int


class LoadAccount:
    """One ACME account over one keep-alive connection: JWS signed with josepy, the
    next nonce taken from the previous response's Replay-Nonce (one newNonce per
    account, not per request)."""

    def __init__(self, directory: dict[str, Any], eab: dict[str, str], base: str) -> None:
        self.directory = directory
        self.http = httpx.Client(base_url=base, timeout=30, trust_env=False)
        self.key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self.thumbprint = b64url(self.key.thumbprint())
        self.kid: str | None = None
        self.nonce = str(self.http.head(directory["newNonce"]).headers["Replay-Nonce"])
        self.requests = 0
        self.bad_nonces = 0
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=self.key.public_key(),
            kid=eab["kid"],
            hmac_key=eab["hmac_key"],
            directory=directory,  # type: ignore[arg-type]  # only ["newAccount"] is read
        )
        created = self.post(
            directory["newAccount"],
            {"termsOfServiceAgreed": True, "externalAccountBinding": binding},
            use_kid=False,
        )
        self.kid = created.headers["Location"]

    def post(
        self, url: str, payload: dict[str, Any] | None, *, use_kid: bool = True
    ) -> httpx.Response:
        """A signed POST (``payload`` None: POST-as-GET); one retry on badNonce, as RFC
        8555 6.5 asks clients to."""
        data = b"" if payload is None else json.dumps(payload).encode()
        for _attempt in range(3):
            signed = acme_jws.JWS.sign(
                data,
                key=self.key,
                alg=ES256,
                nonce=base64.urlsafe_b64decode(self.nonce + "=" * (-len(self.nonce) % 4)),
                url=url,
                kid=self.kid if use_kid else None,
            )
            answer = self.http.post(
                url,
                content=signed.json_dumps().encode(),
                headers={"Content-Type": "application/jose+json"},
            )
            self.requests += 1
            self.nonce = answer.headers.get("Replay-Nonce", self.nonce)
            if answer.status_code < 400:
                return answer
            problem = answer.json() if "json" in answer.headers.get("content-type", "") else {}
            if problem.get("type") == "urn:ietf:params:acme:error:badNonce":
                self.bad_nonces += 1
                continue
            raise AcmeProblem(f"{url}: {answer.status_code} {answer.text[:300]}")
        raise AcmeProblem(f"{url}: three bad nonces in a row")

    def order(self, name: str, challenges: ChallengeServer) -> OrderTiming:
        phases: dict[str, float] = {}
        requests, bad = self.requests, self.bad_nonces
        start = mark = time.perf_counter()

        def phase(label: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases[label] = phases.get(label, 0.0) + now - mark
            mark = now

        made = self.post(
            self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
        )
        order = made.json()
        order_url = made.headers["Location"]
        phase("newOrder")
        authz_url = order["authorizations"][0]
        authz = self.post(authz_url, None).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        challenges.answers[challenge["token"]] = f"{challenge['token']}.{self.thumbprint}"
        phase("authorization")
        self.post(challenge["url"], {})
        phase("challenge")
        # The order, not the authorization, says when to finalize (RFC 8555 7.4): this
        # server marks the authorization valid a moment before it moves the order to
        # ready, so finalizing on "authorization valid" can meet orderNotReady.
        polls = 0
        while True:
            time.sleep(POLL_SECONDS)
            polls += 1
            status = self.post(order_url, None).json()["status"]
            if status == "ready":
                break
            if status != "pending":
                raise AcmeProblem(f"{name}: the order is {status}")
        phase("validation wait")
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        der = csr.public_bytes(serialization.Encoding.DER)
        done = self.post(order["finalize"], {"csr": b64url(der)}).json()
        while done["status"] == "processing":
            time.sleep(POLL_SECONDS)
            polls += 1
            done = self.post(order_url, None).json()
        if done["status"] != "valid":
            raise AcmeProblem(f"{name}: the order is {done['status']}: {done.get('error')}")
        phase("finalize")
        chain = self.post(done["certificate"], None).text
        if chain.count("BEGIN CERTIFICATE") < 2:
            raise AcmeProblem(f"{name}: the download is not a chain")
        challenges.answers.pop(challenge["token"], None)
        phase("download")
        return OrderTiming(
            time.perf_counter() - start,
            phases,
            self.requests - requests,
            polls,
            self.bad_nonces - bad,
        )

    def close(self) -> None:
        self.http.close()


# -- one measured run --------------------------------------------------------------------
@dataclass
class AcmeRun:
    rate: float  # orders completed per second
    orders: list[OrderTiming]
    failures: list[str]
    seconds: float
    client_cpu_ms: float  # this process (client threads and challenge server) per order
    server_cpu_ms: float  # the issuance server per order


def acme_run(
    accounts: list[LoadAccount],
    names: list[str],
    challenges: ChallengeServer,
    server_pid: int,
) -> AcmeRun:
    """Every account works through its share of ``names`` in its own thread."""
    timings: list[OrderTiming] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + RUN_SECONDS

    def work(account: LoadAccount, share: list[str]) -> None:
        for name in share:
            if time.monotonic() > deadline:
                return
            try:
                timing = account.order(name, challenges)
            except (AcmeProblem, httpx.HTTPError, KeyError, ValueError) as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                timings.append(timing)

    threads = [
        threading.Thread(target=work, args=(account, names[index :: len(accounts)]))
        for index, account in enumerate(accounts)
    ]
    server_before, cpu_before = cpu_seconds(server_pid), time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    client = time.process_time() - cpu_before
    server = cpu_seconds(server_pid) - server_before
    count = max(1, len(timings))
    return AcmeRun(
        len(timings) / elapsed,
        timings,
        failures,
        elapsed,
        client / count * 1000,
        server / count * 1000,
    )


# -- the API on the same server ------------------------------------------------------------
@dataclass
class ApiRun:
    rate: float
    ok: int
    other: int
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    detail: str = ""


def api_runs(
    work: Path, url: str, token: str, pid: int, *, requests: int, connections: int, repeats: int
) -> list[ApiRun]:
    body = work / "body.json"
    pem = make_csr(API_NAME).public_bytes(serialization.Encoding.PEM).decode("ascii")
    body.write_text(json.dumps({"csr": pem, "profile": PROFILE}))
    h2load(url, body, token, requests=API_WARMUP, connections=connections, log=None)
    runs = []
    for index in range(repeats):
        log = work / f"h2load-{index}.log"
        before = cpu_seconds(pid)
        out = h2load(url, body, token, requests=requests, connections=connections, log=log)
        cpu = cpu_seconds(pid) - before
        rate, ok, other, p50, p99 = parse_h2load(out, log)
        run = ApiRun(rate, ok, other, p50, p99, cpu / max(1, ok + other) * 1000)
        if other or not ok:
            run.detail = out[-600:]
        runs.append(run)
        print(f"  API run {index + 1}: {rate:,.0f} certificates/s, {ok} 2xx, {other} other")
    return runs


# -- where the server's time goes ------------------------------------------------------
# py-spy's idle detection does not work on every kernel (it did not here), so waiting
# threads are told apart by their innermost frame. Busy samples go to the first group
# whose mark is in the stack; "SQLite" counts samples whose innermost frame is in a
# store module (a query, a commit, or waiting for the store's lock), whatever the group.
IDLE = (
    "Condition.wait",
    "Event.wait",
    "Queue.get",
    "_worker (concurrent/futures/thread.py:81)",
    "Runner.run (asyncio/runners.py",
    "select (selectors.py",
    "sleep",
)
CATEGORIES = (
    ("http-01 validation (DNS, fetch)", ("issuance/acme/validation.py",)),
    ("nonces (SQLite insert and delete)", ("add_nonce", "take_nonce")),
    ("issuance (policy, signing, certificate store, events)", ("issuance/service.py",)),
    ("JWS parse and verify", ("issuance/acme/jws.py",)),
    ("ACME accounts, orders, authorizations", ("issuance/acme/",)),
)
OTHER = "HTTP (uvicorn, FastAPI)"
STORES = ("issuance/acme/store.py", "issuance/statedb.py", "pki/store/")


@dataclass
class Profile:
    samples: int  # busy samples
    idle: int
    shares: dict[str, float]  # group -> share of busy samples
    sqlite: float  # share of busy samples inside a store module
    lock: float  # of those, waiting for the store's lock
    signing: float  # share of busy samples under issue_certificate


def profile_server(pid: int, out: Path, run: Callable[[], object]) -> Profile:
    """py-spy sampling every thread of the server during ``run()``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed (it is in the dev dependencies)")
    sampler = subprocess.Popen(
        [spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # py-spy attaches
        run()
    finally:
        sampler.send_signal(signal.SIGINT)
        try:
            sampler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()
    return summarise(out.read_text() if out.exists() else "")


def summarise(raw: str) -> Profile:
    shares: Counter[str] = Counter()
    busy = idle = sqlite = locked = signing = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        leaf = stack.rsplit(";", 1)[-1]
        if not stack.strip() or any(mark in leaf for mark in IDLE):
            idle += samples
            continue
        busy += samples
        category = next(
            (label for label, marks in CATEGORIES if any(mark in stack for mark in marks)),
            OTHER,
        )
        shares[category] += samples
        if any(store in leaf for store in STORES):
            sqlite += samples
            locked += samples if _waits_for_lock(leaf) else 0
        signing += samples if "issue_certificate" in stack else 0
    if not busy:
        raise RuntimeError("py-spy took no samples of a busy thread")
    labels = [label for label, _ in CATEGORIES] + [OTHER]
    return Profile(
        busy,
        idle,
        {label: shares[label] / busy for label in labels},
        sqlite / busy,
        locked / busy,
        signing / busy,
    )


def _waits_for_lock(frame: str) -> bool:
    """Whether a store frame's line is ``with self._lock:`` (waiting for the one
    connection's lock, not inside SQLite)."""
    match = re.search(r"\((.+?):(\d+)\)$", frame)
    if match is None:
        return False
    source = linecache.getline(str(ROOT / match[1]), int(match[2])).strip()
    return source.startswith("with self._lock")


# -- setup -------------------------------------------------------------------------------
SETTINGS = """
[acme]
resolvers = ["127.0.0.1:{dns_port}"]
http01_port = {http_port}
validation_timeout_seconds = 5
validation_attempts = 2
"""


def register(
    base: str, home: Path, count: int, label: str
) -> tuple[dict[str, Any], list[LoadAccount]]:
    with httpx.Client(trust_env=False, timeout=30) as http:
        directory: dict[str, Any] = http.get(f"{base}/acme/directory").json()
    accounts = []
    for index in range(count):
        made = certsight(
            home,
            "acme",
            "eab",
            "create",
            "--name",
            f"bench-{label}-{index}",
            "--allow",
            f"**.{ZONE}",
            "--rate-limit",
            RATE_LIMIT,
            "--format",
            "json",
        )
        accounts.append(LoadAccount(directory, json.loads(made), base))
    return directory, accounts


def new_names(dns: ChallTestSrv, count: int, label: str) -> list[str]:
    """Fresh names, each with an A record 127.0.0.1 (added before the clock starts)."""
    names = [f"o{index}-{secrets.token_hex(3)}.{label}.{ZONE}" for index in range(count)]
    for name in names:
        dns.add_a(name)
    return names


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- report ------------------------------------------------------------------------------
@dataclass
class Outcome:
    acme: list[AcmeRun] = field(default_factory=list)
    api: list[ApiRun] = field(default_factory=list)
    profile: Profile | None = None
    profile_error: str = ""


def median_by_rate(runs: list[Any]) -> Any:
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2] if runs else None


def report(outcome: Outcome, args: argparse.Namespace) -> str:
    command = " ".join(["python", "bench/acme_bench.py", *sys.argv[1:]])
    acme = median_by_rate(outcome.acme)
    api = median_by_rate(outcome.api)
    timings = [timing for run in outcome.acme for timing in run.orders]
    failures = [failure for run in outcome.acme for failure in run.failures]
    latencies = [timing.seconds for timing in timings]
    rows = [
        "| measure | per second | p50 ms | p99 ms | completed | failed | "
        "server CPU ms/each | client CPU ms/each | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    if acme is not None:
        rows.append(
            f"| ACME orders, {args.accounts} accounts | {acme.rate:,.1f} | "
            f"{percentile(latencies, 0.5) * 1000:.0f} | {percentile(latencies, 0.99) * 1000:.0f} | "
            f"{len(timings)} | {len(failures)} | {acme.server_cpu_ms:.1f} | "
            f"{acme.client_cpu_ms:.1f} | "
            + ", ".join(f"{run.rate:,.1f}" for run in sorted(outcome.acme, key=lambda r: r.rate))
            + " |"
        )
    if api is not None:
        rows.append(
            f"| API POST /v1/certificates, {args.accounts} connections | {api.rate:,.0f} | "
            f"{api.p50_ms:.1f} | {api.p99_ms:.1f} | {sum(r.ok for r in outcome.api)} | "
            f"{sum(r.other for r in outcome.api)} | {api.server_cpu_ms:.2f} | (h2load) | "
            + ", ".join(f"{run.rate:,.0f}" for run in sorted(outcome.api, key=lambda r: r.rate))
            + " |"
        )
    lines: list[str] = []
    if acme is not None and api is not None and api.rate:
        lines.append(
            f"- ACME orders/s over API certificates/s: **{acme.rate / api.rate:.1%}** "
            f"(an order is {statistics.mean(t.requests for t in timings):.1f} signed requests "
            f"on average, {statistics.mean(t.polls for t in timings):.1f} of them polls, "
            f"plus one http-01 fetch and one DNS lookup by the server)"
            if timings
            else "- no ACME order completed"
        )
        lines.append(
            f"- the load client's CPU: {acme.client_cpu_ms:.1f} ms per order against the "
            f"server's {acme.server_cpu_ms:.1f} ms "
            f"({acme.client_cpu_ms / max(acme.server_cpu_ms, 1e-9):.0%} of it; the client, "
            "the challenge server and the bench share this process)"
        )
    total = sum(t.seconds for t in timings)
    if timings:
        split = ", ".join(
            f"{label} {sum(t.phases.get(label, 0.0) for t in timings) / total:.0%} "
            f"({statistics.median(t.phases.get(label, 0.0) for t in timings) * 1000:.0f} ms)"
            for label in PHASES
        )
        lines.append(f"- an order's time by phase, as the client sees it (median ms): {split}")
        bad = sum(t.bad_nonces for t in timings)
        lines.append(
            f"- nonces: one newNonce per account, then each response's Replay-Nonce; "
            f"{bad} badNonce retries in {sum(t.requests for t in timings)} requests"
        )
    if outcome.profile is not None:
        found = outcome.profile
        text = ", ".join(f"{label} {share:.0%}" for label, share in found.shares.items())
        lines.append(
            f"- the server during one more run of {args.profile_orders} orders (py-spy on "
            f"every thread, {found.samples} busy samples; {found.idle} idle ones left out), "
            f"by first matching group: {text}; in a store module (SQLite query, commit or "
            f"its lock): {found.sqlite:.0%}, of which waiting for the lock of the store's one "
            f"connection: {found.lock:.0%}; under issue_certificate (signing): "
            f"{found.signing:.0%}"
        )
        if timings:
            phase_share = {
                label: sum(t.phases.get(label, 0.0) for t in timings) / total for label in PHASES
            }
            longest = max(phase_share, key=lambda label: phase_share[label])
            lines.append(
                f"- where an order's time goes: the client waits longest in {longest} "
                f"({phase_share[longest]:.0%}: the server's validation runs in a thread pool "
                "beside the requests); on the server's busy samples: SQLite "
                f"{found.sqlite:.0%} ({found.lock:.0%} waiting for the lock of the ACME "
                "state's one connection), of which nonce round trips (an insert and a delete "
                f"per request) {found.shares['nonces (SQLite insert and delete)']:.0%}; JWS "
                f"checks {found.shares['JWS parse and verify']:.0%}; signing "
                f"{found.signing:.0%}"
            )
    elif outcome.profile_error:
        lines.append(f"- no profile: {outcome.profile_error}")
    if failures:
        lines.append(f"- failures (first 3): {'; '.join(failures[:3])[:600]}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"{SECTION}, {stamp}",
            "",
            f"- machine: {machine()}",
            f"- command: `{command}`",
            "- server: fresh temporary home (`certsight ca init --key-type ec-p256`, file key, "
            "SQLite store and state), `certsight serve issuance --plain-http` (one process) "
            "on 127.0.0.1; `[acme]` resolvers: pebble-challtestsrv on 127.0.0.1 (A "
            "127.0.0.1 per name), `http01_port`: this process's loopback challenge server",
            f"- ACME: {args.accounts} EAB accounts, one thread each, {args.orders} orders per "
            f"run (at most {RUN_SECONDS:.0f} s), median of {args.repeats} runs after "
            f"{args.accounts * 2} warm-up orders; latencies over every measured order; a new "
            "name, key and CSR per order; josepy JWS (ES256) over httpx keep-alive; polls "
            f"every {POLL_SECONDS * 1000:.0f} ms (not the server's Retry-After of 2 s)",
            f"- API: h2load --h1 -c {args.accounts} -n {args.api_requests} POST "
            f"/v1/certificates (one P-256 CSR, profile {PROFILE}), after {API_WARMUP} "
            f"warm-up requests, median of {args.repeats} runs, on the same server process",
            "",
            *rows,
            "",
            *lines,
            "",
        ]
    )


def write_section(section: str) -> None:
    """Newest first, replacing this benchmark's previous section."""
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


# -- main --------------------------------------------------------------------------------
def measure(work: Path, args: argparse.Namespace) -> Outcome:
    home = work / "home"
    print(f"home {home}: ca init, token ...", flush=True)
    token = prepare_home(home)
    challenges = ChallengeServer()
    outcome = Outcome()
    try:
        with running_challtestsrv(work / "dns") as dns:
            settings = home / "certsight.toml"
            old = settings.read_text() if settings.exists() else ""
            settings.write_text(
                old + SETTINGS.format(dns_port=dns.dns_port, http_port=challenges.port)
            )
            with issuance_server(home, tls=False) as (process, base):
                print("API rate on the server ...", flush=True)
                outcome.api = api_runs(
                    work,
                    f"{base}/v1/certificates",
                    token,
                    process.pid,
                    requests=args.api_requests,
                    connections=args.accounts,
                    repeats=args.repeats,
                )
                _directory, accounts = register(base, home, args.accounts, "load")
                try:
                    warm = new_names(dns, args.accounts * 2, "warm")
                    acme_run(accounts, warm, challenges, process.pid)
                    for index in range(args.repeats):
                        names = new_names(dns, args.orders, f"r{index}")
                        run = acme_run(accounts, names, challenges, process.pid)
                        outcome.acme.append(run)
                        print(
                            f"  ACME run {index + 1}: {run.rate:,.1f} orders/s, "
                            f"{len(run.orders)} done, {len(run.failures)} failed, "
                            f"server CPU {run.server_cpu_ms:.1f} ms/order, "
                            f"client CPU {run.client_cpu_ms:.1f} ms/order",
                            flush=True,
                        )
                    if args.profile:
                        names = new_names(dns, args.profile_orders, "profile")
                        try:
                            outcome.profile = profile_server(
                                process.pid,
                                RAW_PROFILE,
                                lambda: acme_run(accounts, names, challenges, process.pid),
                            )
                        except (RuntimeError, OSError) as exc:
                            outcome.profile_error = str(exc)
                finally:
                    for account in accounts:
                        account.close()
    finally:
        challenges.stop()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=4, help="concurrent ACME accounts")
    parser.add_argument("--orders", type=int, default=80, help="orders per measured run")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs of each")
    parser.add_argument("--api-requests", type=int, default=1000, help="per h2load run")
    parser.add_argument("--profile-orders", type=int, default=60)
    parser.add_argument(
        "--no-profile", dest="profile", action="store_false", help="skip the py-spy run"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    if args.accounts < 1 or args.orders < 1 or args.repeats < 1:
        parser.error("--accounts, --orders and --repeats must be at least 1")
    if shutil.which("pebble-challtestsrv") is None:
        sys.exit("pebble-challtestsrv is not installed (Debian package pebble; make acme-servers)")
    ensure_h2load()
    with tempfile.TemporaryDirectory(prefix="certsight-acme-bench-") as temp:
        outcome = measure(Path(temp), args)
    text = report(outcome, args)
    print(text)
    if not args.no_write:
        write_section(text)
    failed = sum(len(run.failures) for run in outcome.acme)
    if not outcome.acme or failed or any(run.other for run in outcome.api):
        sys.exit(f"{failed} ACME orders failed or some API requests did not answer 2xx")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
