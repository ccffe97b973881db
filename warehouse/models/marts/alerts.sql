{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='alert_key',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}
-- One row per finding, under a key that is stable across builds: a finding is raised once
-- and then only updated (last_seen, count, evidence). Never rebuilt from scratch, so alerts
-- survive `certsight build --full-refresh`; `raised_at` is when a build first raised it, and
-- `status` turns to cleared when the detectors stop finding it.
with findings as (
    {% for detector in [
        'det_new_edge',
        'det_revoked_certificate_validated',
        'det_unknown_certificate',
        'det_unknown_issuer',
        'det_expired_certificate_validated',
        'det_fanout_spike',
        'det_volume_anomaly',
        'det_renewal_not_deployed',
        'det_expiry_outage_risk',
    ] -%}
    select
        alert_key, detector, severity, first_seen, last_seen, client_ip, server, serial,
        issuer, cast(count as bigint) as count, evidence
    from {{ ref(detector) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select
    f.*,
    'open' as status,
    {% if is_incremental() -%}
    coalesce(a.raised_at, cast(current_timestamp as timestamptz)) as raised_at
    {%- else -%}
    cast(current_timestamp as timestamptz) as raised_at
    {%- endif %}
from findings as f
{% if is_incremental() -%}
left join {{ this }} as a using (alert_key)

union all

-- a finding the detectors no longer make (its certificate reached the inventory late, say)
-- stays, marked cleared, with its evidence as it was
select
    a.alert_key, a.detector, a.severity, a.first_seen, a.last_seen, a.client_ip, a.server,
    a.serial, a.issuer, a.count, a.evidence, 'cleared' as status, a.raised_at
from {{ this }} as a
anti join findings as f using (alert_key)
{%- endif %}
