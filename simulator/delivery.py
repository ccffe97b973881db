"""How each request travelled and what it got back: CDN or straight to the responder,
cache hit or miss, the responder's answer, sizes, latencies and request ids.

CloudFront caches a GET's answer per edge and URL until the answer's nextUpdate, so
the first request for a URL at an edge in a freshness window is a miss (it reaches
the responder, which logs it with the CDN's request id) and later ones are hits;
POSTs and answers marked no-store (``unauthorized``) always reach the responder. The
responder answers from its cache of pre-signed responses except for the first
request of a CertID in a window and for nonce requests (RFC 8954: signed fresh).
CRLs are cached until the hourly rebuild; published files come from the CDN (their
misses go to S3, which logs nothing here). Caches carry over from hour to hour
(caching.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.artifacts import Downloads
from simulator.caching import WindowCache
from simulator.catalogue import CatalogueArrays, Kind
from simulator.config import DAY_US, HOUR_US, SimulationConfig
from simulator.inventory import Certificates
from simulator.network import EDGES
from simulator.population import Clients
from simulator.rhythm import Rhythm, is_weekend
from simulator.software import FAMILIES, FAMILY, Method
from simulator.text import token_matrix
from simulator.traffic import Requests

DELIVERY_STREAM = 1_002
CF_ID_LENGTH = 54  # plus "==": CloudFront's 56-character x-edge-request-id
RESPONSE_STATUSES = ("successful", "unauthorized")
CERT_STATUSES = ("good", "revoked", "unknown")  # -1: none given
GOOD, REVOKED, UNKNOWN = 0, 1, 2
OCSP_HEADERS = 436  # bytes CloudFront adds to an OCSP answer (cache headers and all)
CRL_HEADERS = 384
FILE_HEADERS = 402
WEEKEND_CRL_SHARE = 0.3  # office machines switched on at weekends
# The responder signs answers valid for six hours and refreshes them after five (1/6
# before nextUpdate); CloudFront keeps an answer until its nextUpdate.
OCSP_WINDOW_US = 5 * HOUR_US
_NONCE_SHARE = np.array([f.nonce_share for f in FAMILIES])
_STYLE = np.array([f.style for f in FAMILIES], np.int8)


@dataclass
class UserAgents:
    """Every User-Agent of the simulation, index 0 meaning none was sent."""

    values: list[str | None]
    family_base: np.ndarray  # int32: first index of each family's strings
    agent_base: int  # first certsight-agent version

    @classmethod
    def build(cls, agent_strings: list[str]) -> UserAgents:
        values: list[str | None] = [None]
        bases = []
        for family in FAMILIES:
            bases.append(len(values))
            values += list(family.agents)
        agent_base = len(values)
        values += agent_strings
        return cls(values, np.array(bases, np.int32), agent_base)

    def of(
        self, clients: Clients, downloads: Downloads, client: np.ndarray, moment: np.ndarray
    ) -> np.ndarray:
        family = clients.family[client]
        index = self.family_base[family] + clients.agent[client]
        agents = family == FAMILY["agent"]
        if agents.any():
            index[agents] = self.agent_base + downloads.version_at(client[agents], moment[agents])
        # Families without a User-Agent point at a None entry; use 0 for "none sent".
        return np.where(self.absent[index], 0, index).astype(np.int32)

    @property
    def absent(self) -> np.ndarray:
        return np.array([v is None for v in self.values])


@dataclass(frozen=True)
class Ids:
    """Random request ids for the rows that have one, as bytes: row ``i``'s id is
    ``matrix[position[i]]`` (drawn only where needed: ids are most of the random bytes)."""

    matrix: np.ndarray  # (rows with an id, width) uint8
    position: np.ndarray  # int64 per row, -1 for rows without an id

    @classmethod
    def draw(cls, rng: np.random.Generator, wanted: np.ndarray, length: int, suffix: bytes) -> Ids:
        position = np.where(wanted, np.cumsum(wanted) - 1, -1)
        return cls(token_matrix(rng, int(wanted.sum()), length, suffix), position)

    def of(self, rows: np.ndarray) -> np.ndarray:
        """The ids of ``rows`` (rows without one get an arbitrary id: mask them)."""
        if not len(self.matrix):
            return np.zeros((len(rows), self.matrix.shape[1]), np.uint8)
        picked: np.ndarray = self.matrix[np.maximum(self.position[rows], 0)]
        return picked


@dataclass
class OcspHour:
    requests: Requests
    user_agent: np.ndarray  # int32 into UserAgents.values
    method: np.ndarray  # int8, Method
    style: np.ndarray  # int8, Style (GETs)
    nonce: np.ndarray  # bool
    via_cdn: np.ndarray  # bool
    cdn_hit: np.ndarray  # bool
    at_origin: np.ndarray  # bool: the responder saw (and logged) it
    edge: np.ndarray  # int8 into EDGES
    response_status: np.ndarray  # int8 into RESPONSE_STATUSES
    cert_status: np.ndarray  # int8 into CERT_STATUSES, -1 none
    origin_cache_hit: np.ndarray  # bool
    origin_latency_us: np.ndarray  # int64
    cdn_taken_ms: np.ndarray  # int64
    request_bytes: np.ndarray  # int64, POST bodies (0 for GET)
    response_bytes: np.ndarray  # int64, body
    cf_id: Ids  # CloudFront's request id, where via_cdn
    request_id: Ids  # the responder's, where at_origin
    port: np.ndarray  # int32, the viewer's port

    def __len__(self) -> int:
        return len(self.requests)


@dataclass
class CrlHour:
    moment: np.ndarray
    client: np.ndarray
    crl: np.ndarray  # int8 into Crls
    user_agent: np.ndarray
    via_cdn: np.ndarray
    cdn_hit: np.ndarray
    at_origin: np.ndarray
    edge: np.ndarray
    crl_number: np.ndarray
    response_bytes: np.ndarray
    origin_latency_us: np.ndarray
    cdn_taken_ms: np.ndarray
    cf_id: Ids
    request_id: Ids
    port: np.ndarray

    def __len__(self) -> int:
        return len(self.moment)


@dataclass
class DownloadHour:
    moment: np.ndarray
    client: np.ndarray
    artifact: np.ndarray
    user_agent: np.ndarray
    cdn_hit: np.ndarray
    edge: np.ndarray
    cdn_taken_ms: np.ndarray
    cf_id: Ids
    port: np.ndarray

    def __len__(self) -> int:
        return len(self.moment)


@dataclass
class Crls:
    """The CRLs the responder publishes: each issuing CA's, then the root's."""

    slugs: list[str]
    issuer_key_sha1: list[str]
    revoked_us: list[np.ndarray]  # sorted revocation moments per CRL
    base_bytes: np.ndarray
    entry_bytes: np.ndarray

    def number(self, crl: np.ndarray, moment: np.ndarray, start_us: int) -> np.ndarray:
        """CRL numbers rise with every hourly rebuild and every revocation."""
        numbers: np.ndarray = 1_000 + (moment - start_us) // HOUR_US + self.entries(crl, moment)
        return numbers

    def entries(self, crl: np.ndarray, moment: np.ndarray) -> np.ndarray:
        count = np.zeros(len(crl), np.int64)
        for index, times in enumerate(self.revoked_us):
            mine = crl == index
            count[mine] = np.searchsorted(times, moment[mine], side="right")
        return count

    def size(self, crl: np.ndarray, moment: np.ndarray) -> np.ndarray:
        sizes: np.ndarray = self.base_bytes[crl] + self.entry_bytes[crl] * self.entries(crl, moment)
        return sizes


@dataclass(frozen=True)
class Caches:
    """What the CDN and the responder have cached, carried from hour to hour."""

    cdn_ocsp: WindowCache  # per CertID, GET encoding and edge
    origin_ocsp: WindowCache  # pre-signed responses, per CertID
    cdn_crl: WindowCache  # per CRL and edge, until the hourly rebuild
    cdn_files: WindowCache  # per file and edge

    @classmethod
    def empty(cls, entries: int, crls: int, files: int, start_us: int) -> Caches:
        edges = len(EDGES)
        return cls(
            cdn_ocsp=WindowCache(entries * 2 * edges, OCSP_WINDOW_US, start_us),
            origin_ocsp=WindowCache(entries, OCSP_WINDOW_US, start_us),
            cdn_crl=WindowCache(crls * edges, HOUR_US, start_us),
            cdn_files=WindowCache(files * edges, DAY_US, start_us),
        )


@dataclass(frozen=True)
class Delivery:
    config: SimulationConfig
    clients: Clients
    certificates: Certificates
    catalogue: CatalogueArrays
    request_sizes: np.ndarray  # DER length per catalogue entry
    user_agents: UserAgents
    downloads: Downloads
    crls: Crls
    crl_fetchers_by_hour: list[np.ndarray]  # per hour of day
    caches: Caches
    entry_phase: np.ndarray  # int64: when within a window each CertID's answer is re-signed

    def rng(self, hour: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, DELIVERY_STREAM, hour])

    def ocsp(self, requests: Requests, rng: np.random.Generator) -> OcspHour:
        clients, n = self.clients, len(requests)
        client = requests.client
        method = clients.method[client]
        family = clients.family[client]
        nonce = (method == Method.POST) & (rng.random(n) < _NONCE_SHARE[family])
        style = _STYLE[family]
        via_cdn = clients.via_cdn[client]
        edge = clients.edge[client]
        kind = self.catalogue.kind[requests.entry]
        unauthorized = kind == Kind.UNKNOWN_ISSUER
        revoked = np.zeros(n, bool)
        known = requests.cert >= 0
        revoked[known] = (
            requests.moment[known] >= self.certificates.revoked_us[requests.cert[known]]
        )
        cert_status = np.where(
            unauthorized,
            -1,
            np.where(kind == Kind.UNKNOWN_SERIAL, UNKNOWN, np.where(revoked, REVOKED, GOOD)),
        ).astype(np.int8)
        cacheable = (method == Method.GET) & ~unauthorized
        phase = self.entry_phase[requests.entry]
        cdn = np.flatnonzero(via_cdn & cacheable)
        cdn_hit = np.zeros(n, bool)
        cdn_hit[cdn] = ~self.caches.cdn_ocsp.misses(
            (requests.entry[cdn] * 2 + style[cdn]) * len(EDGES) + edge[cdn],
            requests.moment[cdn],
            phase[cdn],
        )
        at_origin = ~cdn_hit
        signed = np.flatnonzero(at_origin & ~nonce & ~unauthorized)
        origin_cache_hit = np.zeros(n, bool)
        origin_cache_hit[signed] = ~self.caches.origin_ocsp.misses(
            requests.entry[signed], requests.moment[signed], phase[signed]
        )
        # Latencies: log-normal at the responder (a cached answer, or a signature),
        # plus the network to the edge for a CDN miss; a CDN hit takes a few ms.
        spread = rng.standard_normal(n)
        origin_latency = np.where(
            origin_cache_hit, 120 + np.exp(5.5 + 0.5 * spread), 1_400 + np.exp(7.2 + 0.4 * spread)
        ).astype(np.int64)
        wait = rng.exponential(1.0, n)
        taken = np.where(
            cdn_hit,
            1 + (1.3 * wait).astype(np.int64),
            origin_latency // 1_000 + 16 + (16 * wait).astype(np.int64),
        )
        # A signed answer echoes the CertID (longer for SHA-256) and, when revoked, the
        # revocation time and reason; unauthorized is the bare five-byte status.
        sha256 = self.catalogue.hash_index[requests.entry].astype(np.int64)
        body = np.where(unauthorized, 5, 786 + 24 * sha256 + 17 * revoked).astype(np.int64)
        request_bytes = np.where(
            method == Method.POST, self.request_sizes[requests.entry] + 37 * nonce, 0
        ).astype(np.int64)
        return OcspHour(
            requests=requests,
            user_agent=self.user_agents.of(clients, self.downloads, client, requests.moment),
            method=method,
            style=style,
            nonce=nonce,
            via_cdn=via_cdn,
            cdn_hit=cdn_hit,
            at_origin=at_origin,
            edge=edge,
            response_status=unauthorized.astype(np.int8),
            cert_status=cert_status,
            origin_cache_hit=origin_cache_hit,
            origin_latency_us=origin_latency,
            cdn_taken_ms=taken,
            request_bytes=request_bytes,
            response_bytes=body,
            cf_id=Ids.draw(rng, via_cdn, CF_ID_LENGTH, b"=="),
            request_id=Ids.draw(rng, at_origin, 15, b"="),
            port=rng.integers(1_024, 65_536, n, dtype=np.int32),
        )

    def crl(self, hour: int, rng: np.random.Generator) -> CrlHour:
        config, clients = self.config, self.clients
        start = config.start_us + hour * HOUR_US
        day = (start - config.start_us) // DAY_US
        day_start = config.start_us + day * DAY_US
        fetchers = self.crl_fetchers_by_hour[(start % DAY_US) // HOUR_US]
        fetchers = fetchers[clients.start_day[fetchers] <= day]
        if is_weekend(day_start):
            office = clients.rhythm[fetchers] == Rhythm.BUSINESS
            fetchers = fetchers[~office | (rng.random(len(fetchers)) < WEEKEND_CRL_SHARE)]
        count = len(self.crls.slugs)
        client = np.repeat(fetchers, count).astype(np.int32)
        crl = np.tile(np.arange(count, dtype=np.int8), len(fetchers))
        offset = np.arange(len(client)) % count * 700_000 + rng.integers(0, 600_000, len(client))
        moment = np.minimum(
            day_start + clients.phase_s[client].astype(np.int64) * 1_000_000 + offset,
            start + HOUR_US - 1,
        )
        keep = moment < config.end_us
        order = np.flatnonzero(keep)[np.argsort(moment[keep], kind="stable")]
        client, crl, moment = client[order], crl[order], moment[order]
        n = len(client)
        via_cdn = clients.via_cdn[client]
        edge = clients.edge[client]
        cdn = np.flatnonzero(via_cdn)
        cdn_hit = np.zeros(n, bool)
        cdn_hit[cdn] = ~self.caches.cdn_crl.misses(
            crl[cdn].astype(np.int64) * len(EDGES) + edge[cdn], moment[cdn]
        )
        latency = (200 + rng.lognormal(6.0, 0.5, n)).astype(np.int64)
        return CrlHour(
            moment=moment,
            client=client,
            crl=crl,
            user_agent=self.user_agents.of(clients, self.downloads, client, moment),
            via_cdn=via_cdn,
            cdn_hit=cdn_hit,
            at_origin=~cdn_hit,
            edge=edge,
            crl_number=self.crls.number(crl, moment, config.start_us),
            response_bytes=self.crls.size(crl, moment),
            origin_latency_us=latency,
            cdn_taken_ms=np.where(
                cdn_hit, 1 + rng.geometric(0.4, n), latency // 1_000 + 18 + rng.geometric(0.05, n)
            ),
            cf_id=Ids.draw(rng, via_cdn, CF_ID_LENGTH, b"=="),
            request_id=Ids.draw(rng, ~cdn_hit, 15, b"="),
            port=rng.integers(1_024, 65_536, n).astype(np.int32),
        )

    def files(self, hour: int, rng: np.random.Generator) -> DownloadHour:
        start = self.config.start_us + hour * HOUR_US
        planned = self.downloads
        low, high = np.searchsorted(planned.moment, [start, start + HOUR_US])
        moment = planned.moment[low:high]
        client = planned.client[low:high]
        artifact = planned.artifact[low:high]
        n = len(moment)
        edge = self.clients.edge[client]
        hit = ~self.caches.cdn_files.misses(artifact.astype(np.int64) * len(EDGES) + edge, moment)
        sizes = np.array([a.size for a in planned.artifacts], np.int64)[artifact]
        return DownloadHour(
            moment=moment,
            client=client,
            artifact=artifact,
            user_agent=self.user_agents.of(self.clients, planned, client, moment),
            cdn_hit=hit,
            edge=edge,
            cdn_taken_ms=sizes // 40_000 + 3 + rng.geometric(0.2, n) + np.where(hit, 0, 60),
            cf_id=Ids.draw(rng, np.ones(n, bool), CF_ID_LENGTH, b"=="),
            port=rng.integers(1_024, 65_536, n).astype(np.int32),
        )
