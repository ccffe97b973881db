"""The simulation's small pure parts, each against a slow but obvious reference."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from asn1crypto import ocsp as asn1_ocsp

from simulator.caching import WindowCache
from simulator.catalogue import Catalogue, Kind, der_lengths, request_der
from simulator.config import HOUR_US, ConfigError, from_us, iso, make_config, to_us
from simulator.network import EXTERNAL, NETWORKS, allocate_zone, locate, networks_csv
from simulator.pki import build_hierarchy
from simulator.rhythm import HOUR_SHARE, is_weekend
from simulator.sampling import GuidedSampler
from simulator.sorting import first_of_each, order
from simulator.text import clock_times, fixed_width, iso_times, millis, token_matrix
from tests.simulator.conftest import END, small_config


def test_guided_sampler_draws_what_a_binary_search_draws() -> None:
    rng = np.random.default_rng(1)
    weights = rng.lognormal(0, 2, 50_000)
    weights[100:400] = 0.0  # habits nobody draws
    sampler = GuidedSampler(weights)
    uniforms = rng.random(200_000)
    expected = np.searchsorted(sampler.cumulative, uniforms * sampler.total, side="right")
    assert np.array_equal(sampler.draw(uniforms), expected)
    assert not np.isin(np.arange(100, 400), sampler.draw(uniforms)).any()


def test_packed_order_is_a_stable_argsort() -> None:
    keys = np.random.default_rng(2).integers(0, 1_000, 20_000)
    assert np.array_equal(order(keys, 10), np.argsort(keys, kind="stable"))
    _, first = np.unique(keys, return_index=True)
    assert np.array_equal(np.sort(first_of_each(keys, 10)), np.sort(first))


def test_a_cache_window_is_fetched_once_across_hours() -> None:
    cache = WindowCache(keys=4, window_us=5 * HOUR_US, start_us=0)
    first = cache.misses(np.array([1, 1, 2]), np.array([10, 20, 30]))
    assert first.tolist() == [True, False, True]
    later = cache.misses(np.array([1, 2]), np.array([HOUR_US, 5 * HOUR_US + 1]))
    assert later.tolist() == [False, True]  # key 2 entered a new window


def test_text_columns_match_python_formatting() -> None:
    moments = np.array([to_us(END) + 3_723_000_042, to_us(END) + 86_399_999_999])
    expected = [from_us(int(m)).strftime("%H:%M:%S") for m in moments]
    assert clock_times(moments, fraction=False).to_pylist() == expected
    assert iso_times(moments[:1]).to_pylist() == [iso(int(moments[0]))]
    assert millis(np.array([1_891, 60, 12_000_007])).to_pylist() == ["1.891", "0.060", "12000.007"]
    ids = fixed_width(token_matrix(np.random.default_rng(3), 5, 54, b"==")).to_pylist()
    assert all(len(i) == 56 and i.endswith("==") and "+" not in i and "/" not in i for i in ids)


def test_request_sizes_are_the_encoded_sizes() -> None:
    catalogue = Catalogue()
    hierarchy = build_hierarchy(1, END)
    for serial in (1, 127, 128, 2**64, 2**127 - 1, 2**120):
        for algorithm in (0, 1):
            catalogue.add(algorithm, hierarchy.issuing[0], serial, -1, Kind.INVENTORY, True)
    encoded = [len(request_der(catalogue, e)) for e in range(len(catalogue))]
    assert der_lengths(catalogue).tolist() == encoded
    parsed = asn1_ocsp.OCSPRequest.load(request_der(catalogue, 1))
    cert_id = parsed["tbs_request"]["request_list"][0]["req_cert"]
    assert cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    assert cert_id["issuer_key_hash"].native.hex() == hierarchy.issuing[0].key_sha256


def test_networks_nest_and_every_allocated_address_is_listed() -> None:
    text = networks_csv()
    assert text.splitlines()[0] == "cidr,zone,site,owner"
    parsed = [ipaddress.IPv4Network(n.cidr) for n in NETWORKS]
    nested = [(a, b) for a in parsed for b in parsed if a != b and a.subnet_of(b)]
    assert len(nested) >= 5  # the longest prefix has to win
    assert locate("10.20.5.9") is not None and locate("10.20.5.9").zone == "pci"  # type: ignore[union-attr]
    assert locate("10.20.6.9").zone == "datacenter"  # type: ignore[union-attr]
    rng = np.random.default_rng(4)
    taken: set[int] = set()
    for zone in ("pci", "datacenter", "workstations", "dmz", "ot"):
        addresses, _ = allocate_zone(rng, zone, 300, taken)
        for value in addresses.tolist():
            found = locate(str(ipaddress.IPv4Address(value)))
            assert found is not None and found.zone == zone
    external, _ = allocate_zone(rng, "external", 20, taken)
    assert all(locate(str(ipaddress.IPv4Address(v))) is None for v in external.tolist())
    assert {n.zone for n in EXTERNAL} == {"external"}


def test_rhythms_and_weekends() -> None:
    assert np.allclose(HOUR_SHARE.sum(axis=1), 1.0)
    assert is_weekend(to_us(datetime(2026, 11, 28, tzinfo=UTC)))  # a Saturday
    assert not is_weekend(to_us(datetime(2026, 11, 30, tzinfo=UTC)))


def test_config_frames_the_window() -> None:
    config = small_config()
    assert config.start == END - timedelta(days=9)
    assert config.hours == 9 * 24
    assert list(config.incident_days) == [4, 5, 6, 7]  # not day 8, the last one
    partial = small_config(end=END + timedelta(hours=14, minutes=30))
    assert partial.end == END + timedelta(hours=14)  # whole hours
    assert partial.simulated_days == 10
    assert list(partial.incident_days) == [4, 5, 6, 7, 8]  # day 9 is partial


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": 5, "learning_days": 4}, "learning period"),
        ({"requests": 10}, "--requests"),
        ({"days": 0}, "--days"),
    ],
)
def test_config_refuses_what_cannot_be_simulated(changes: dict[str, int], message: str) -> None:
    options = {
        "seed": 1,
        "end": END,
        "days": 9,
        "requests": 30_000,
        "clients": None,
        "servers": None,
        "learning_days": 4,
        "incidents": 2,
        **changes,
    }
    with pytest.raises(ConfigError, match=message):
        make_config(**options)  # type: ignore[arg-type]
