"""Alerts past the client-address limit, aged like the LAKE they came from.

``certsight lake retain`` replaces the LAKE's client addresses older than
``client_address_days`` with keyed pseudonyms. The marts follow on the next build, since
the changed days are rebuilt from the LAKE. The ``alerts`` table does not: it keeps every
finding, cleared ones with their evidence as it was, and is never rebuilt. So the build,
on its private copy after the models and before the swap, does for alerts what retention
did for the LAKE: an alert whose activity ended before the limit has its client address
and every address in its evidence replaced by the same pseudonyms.

And a finding raised again under its pseudonym is not news. Where an alert's key is made
from the client's address (``new_edge``: detector, client, server), the detectors find
the same old finding under a new key once its days are pseudonymised. Such a twin (same
detector, client, server, serial, issuer and first_seen as an aged alert) is dropped and
the aged alert, whose key the sinks have had, stays, open if the twin was: nothing is
delivered a second time.

The pseudonyms come in as functions (``dashboards/privacy.py``'s, handed in by certsight):
the warehouse imports nothing of the dashboards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from warehouse.alert_rows import has_alerts_table


@dataclass(frozen=True)
class AddressAging:
    before: datetime  # alerts whose last_seen is earlier are aged
    pseudonym: Callable[[str], str]  # a whole address -> its pseudonym
    in_text: Callable[[str], str]  # text -> every address in it replaced
    pattern: str  # a regular expression a whole pseudonym matches


def with_paired_days(
    scope: Mapping[str, tuple[date, ...]], before: date
) -> dict[str, tuple[date, ...]]:
    """The LAKE days to rebuild, widened for requests logged either side of midnight.

    A request that went through the CDN to the responder is one row of
    ``fact_validation_daily``, on the responder's day, with the address the CDN logged,
    which may be the next day's. When that next day's addresses age, the day before must
    be rebuilt too, or its row keeps the address it took across midnight."""
    days = set(scope.get("ocsp_requests", ()))
    widened = days | {day - timedelta(days=1) for day in days if day < before}
    if widened == days:
        return dict(scope)
    return {**scope, "ocsp_requests": tuple(sorted(widened))}


_RAW = "client_ip is not null and not regexp_full_match(client_ip, $pattern)"


def age_alerts(con: duckdb.DuckDBPyConnection, aging: AddressAging) -> int:
    """Age the alerts past ``aging.before``; returns how many changed (aged or merged)."""
    if not has_alerts_table(con):
        return 0
    with con.cursor() as cursor:  # its own functions and temporary table, gone with it
        cursor.create_function(
            "certsight_pseudonym", aging.pseudonym, ["VARCHAR"], "VARCHAR", side_effects=False
        )
        cursor.create_function(
            "certsight_addresses_out", aging.in_text, ["VARCHAR"], "VARCHAR", side_effects=False
        )
        parameters = {"before": aging.before, "pattern": aging.pattern}
        aged = _count(
            cursor,
            f"update alerts set"  # noqa: S608 - fixed text; values travel as parameters
            f" client_ip = case when {_RAW} then certsight_pseudonym(client_ip)"
            " else client_ip end,"
            " evidence = certsight_addresses_out(evidence)"
            f" where last_seen < $before and (({_RAW})"
            " or evidence is distinct from certsight_addresses_out(evidence))",
            parameters,
        )
        return aged + _merge_twins(cursor, parameters)


def _merge_twins(con: duckdb.DuckDBPyConnection, parameters: dict[str, object]) -> int:
    """Of the aged alerts that are the same finding under several keys, keep the one
    raised first (its key is the one sinks had), open if any of them is."""
    con.execute(
        "create or replace temp table alert_twins as"
        " select alert_key,"
        "  row_number() over finding as place,"
        "  count(*) over finding as twins,"
        "  bool_or(status = 'open') over finding as any_open"
        " from alerts"
        " where last_seen < $before and regexp_full_match(client_ip, $pattern)"
        " window finding as ("
        "  partition by detector, client_ip, server, serial, issuer, first_seen"
        "  order by raised_at, alert_key"
        "  rows between unbounded preceding and unbounded following)",
        parameters,
    )
    _count(
        con,
        "update alerts set status = 'open' where status <> 'open' and alert_key in"
        " (select alert_key from alert_twins where place = 1 and twins > 1 and any_open)",
        {},
    )
    return _count(
        con,
        "delete from alerts where alert_key in (select alert_key from alert_twins where place > 1)",
        {},
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, object]) -> int:
    found = con.execute(sql, parameters).fetchall()
    return int(found[0][0]) if found else 0
