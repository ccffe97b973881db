"""What every page and report asks first: how far the data reaches and how fresh it
is, and the choices the filters offer (zones, CAs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


def data_window(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """First and last day of validation traffic and when the warehouse was built, so
    every page and report can say how fresh it is."""
    row = con.execute(
        """
        select min(dt), max(dt), max(last_seen), max(built_at)
        from fact_validation_daily
        """
    ).fetchone()
    first, last, newest, built = row if row else (None, None, None, None)
    return {"first_day": first, "last_day": last, "newest_event": newest, "built_at": built}


def zone_options(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select distinct zone from dim_client where zone is not null "
        "union select distinct zone from dim_server where zone is not null order by 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def ca_options(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``{issuer_key_sha1: common name}`` of every CA that issued a server certificate."""
    rows = con.execute(
        """
        select issuer_key_sha1, coalesce(common_name, subject, issuer_key_sha1)
        from dim_issuer where certificates_issued > 0 order by 2
        """
    ).fetchall()
    return {str(k): str(n) for k, n in rows}
