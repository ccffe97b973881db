"""Management: key exposure (how long a private key stays in service, by profile) and
deployment lag (a renewal's issuance to its first validation), over ``fact_key_service``.

Certificates follow the rule for inventory: the zone filter selects *servers*.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import CA, DAYS, ZONE, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# Keys whose service ended in the period (their last validation), once their life was over
# (a successor issued, expired or revoked): a key still in use has no length yet.
_RETIRED_IN_PERIOD = f"""
    k.retired and k.service_days is not null and {DAYS.format(col="k.last_validated::date")}
    and {CA.format(col="k.issuer_key_sha1")} and {ZONE.format(col="s.zone")}
"""


def key_exposure(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Per profile, then all profiles together (``profile`` null, last): keys retired in
    the period, the mean and 90th percentile of their days in service, and the mean
    exposure after a theft at a random moment of a key's service (half its service)."""
    return frame(
        con,
        f"""
        select k.profile, count(*) as keys,
               round(avg(k.service_days), 1) as mean_service_days,
               round(quantile_cont(k.service_days, 0.9), 1) as p90_service_days,
               round(avg(k.service_days) / 2, 1) as mean_exposure_days
        from fact_key_service k left join dim_server s on s.server = k.server
        where {_RETIRED_IN_PERIOD}
        group by grouping sets ((k.profile), ())
        having count(*) > 0  -- no all-profiles row of nothing
        order by k.profile nulls last
        """,
        f.params(),
    )


def deployment_lag(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Per profile, then all together (``profile`` null, last): renewals issued in the
    period (while traffic was recorded), how many a client validated already, and the
    mean and 90th percentile of the hours from issuance to that first validation."""
    return frame(
        con,
        f"""
        select k.profile, count(*) as renewals,
               count(k.deployment_lag_hours) as deployed,
               count(*) - count(k.deployment_lag_hours) as not_validated_yet,
               round(avg(k.deployment_lag_hours), 1) as mean_lag_hours,
               round(quantile_cont(k.deployment_lag_hours, 0.9), 1) as p90_lag_hours
        from fact_key_service k left join dim_server s on s.server = k.server
        where k.lag_observable and {DAYS.format(col="k.issued_at::date")}
          and {CA.format(col="k.issuer_key_sha1")} and {ZONE.format(col="s.zone")}
        group by grouping sets ((k.profile), ())
        having count(*) > 0  -- no all-profiles row of nothing
        order by k.profile nulls last
        """,
        f.params(),
    )
