"""The network table (``--networks``): which zone, site and owner an address belongs to.

Validated here rather than in SQL so that a bad line is reported with its number and
reason before any model runs.
"""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from warehouse.addresses import network_range

COLUMNS = ("cidr", "zone", "site", "owner")


class NetworksError(ValueError):
    """The network table cannot be used; the message names the file, line and reason."""


@dataclass(frozen=True)
class Network:
    cidr: str
    zone: str
    site: str | None
    owner: str | None
    prefix_length: int
    range_start: str
    range_end: str


def read_networks(path: Path) -> list[Network]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return parse_networks(handle.read().splitlines(), str(path))
    except OSError as error:
        raise NetworksError(f"{path}: cannot read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise NetworksError(f"{path}: not UTF-8 text") from error


def parse_networks(lines: list[str], name: str = "networks") -> list[Network]:
    rows = csv.reader(lines)
    header = next(rows, None)
    if header is None:
        raise NetworksError(f"{name}: empty; expected a header {','.join(COLUMNS)}")
    fields = [h.strip().lower() for h in header]
    if fields[:2] != ["cidr", "zone"] or any(f not in COLUMNS for f in fields):
        raise NetworksError(
            f"{name}: line 1: header must be {','.join(COLUMNS)} (site and owner optional), "
            f"got {','.join(header)}"
        )
    networks: list[Network] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(fields):
            raise NetworksError(f"{name}: line {number}: {len(row)} fields, expected {len(fields)}")
        values = dict(zip(fields, (cell.strip() for cell in row), strict=False))
        networks.append(_network(values, f"{name}: line {number}"))
        cidr = networks[-1].cidr
        if cidr in seen:
            raise NetworksError(
                f"{name}: line {number}: {cidr} already defined on line {seen[cidr]}"
            )
        seen[cidr] = number
    return networks


def _network(values: dict[str, str], where: str) -> Network:
    text = values.get("cidr", "")
    zone = values.get("zone", "")
    if not zone:
        raise NetworksError(f"{where}: zone is empty")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise NetworksError(f"{where}: {text!r} is not a network in CIDR form ({error})") from error
    start, end = network_range(network)
    return Network(
        cidr=str(network),
        zone=zone,
        site=values.get("site") or None,
        owner=values.get("owner") or None,
        prefix_length=network.prefixlen + (96 if network.version == 4 else 0),
        range_start=start,
        range_end=end,
    )
