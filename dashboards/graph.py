"""A server's reliance graph in Graphviz DOT: the server, the zones its clients sit in,
and the busiest clients of each zone. Drawn by Streamlit's bundled Graphviz, offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CLIENTS_PER_ZONE = 6


NEWLINE = "\\n"  # DOT's line break inside a label


def _clean(text: str) -> str:
    """Names come from logs and the network table: a backslash or quote in them is
    dropped rather than trusted to escape correctly."""
    return text.replace("\\", "").replace('"', "")


def _quote(text: str) -> str:
    return f'"{_clean(text)}"'


def reliance_graph(server: str, clients: pd.DataFrame) -> str:
    """Zones as boxes weighted by their clients; within a zone its busiest clients, and
    a count of the rest, so a server with thousands of clients stays readable."""
    lines = [
        "digraph reliance {",
        "rankdir=LR; node [fontname=Helvetica fontsize=10]; edge [color=gray50];",
        f"{_quote('server:' + server)} [label={_quote(server)} shape=doubleoctagon "
        "style=filled fillcolor=lightcoral];",
    ]
    for zone, part in clients.groupby("client_zone", sort=True):
        zone_id = _quote(f"zone:{zone}")
        lines.append(
            f"{zone_id} [label={_quote(f'{zone} ({len(part)} clients)')} shape=box "
            "style=filled fillcolor=lightblue];"
        )
        lines.append(f"{zone_id} -> {_quote('server:' + server)} [penwidth=2];")
        busiest = part.nlargest(CLIENTS_PER_ZONE, "requests")
        for client, requests in zip(busiest["client_ip"], busiest["requests"], strict=True):
            node = _quote(f"client:{client}")
            label = f'"{_clean(str(client))}{NEWLINE}{int(requests):,} req"'
            lines.append(f"{node} [label={label}];")
            lines.append(f"{node} -> {zone_id};")
        rest = len(part) - len(busiest)
        if rest > 0:
            more = _quote(f"more:{zone}")
            lines.append(f"{more} [label={_quote(f'+{rest} more')} shape=plaintext];")
            lines.append(f"{more} -> {zone_id} [style=dashed];")
    lines.append("}")
    return "\n".join(lines)
