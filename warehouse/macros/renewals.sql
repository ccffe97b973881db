{#- Helpers of the lifecycle detectors (renewal_not_deployed, expiry_outage_risk), which join
    what was issued with what clients validate. -#}

{#- Every certificate of a server with its successor: the next certificate of the server's
    renewal chain (fact_issuance.previous_certificate_key), null when none was issued. The
    successor is available from its notBefore, or from its issuance when that came later
    (a backdated notBefore is not a chance to deploy it). -#}
{% macro with_successor() -%}
    select
        o.certificate_key,
        o.issuer_key_sha1,
        o.serial,
        o.server,
        o.not_before,
        o.not_after,
        o.revoked_at,
        s.certificate_key as successor_key,
        s.serial as successor_serial,
        s.not_before as successor_not_before,
        s.issued_at as successor_issued_at,
        greatest(s.not_before, s.issued_at) as successor_available_at
    from {{ ref('fact_issuance') }} as o
    left join {{ ref('fact_issuance') }} as s on s.previous_certificate_key = o.certificate_key
    where o.server is not null
{%- endmacro %}

{#- Validations of the certificates that replace `renewals`' (each row: certificate_key,
    server, successor_not_before): the successor and every later certificate of the server,
    so a renewal skipped over (renewed twice, deployed once) still counts as deployed. One
    row per replaced certificate and daily fact row, as `f` plus the fact's columns. -#}
{% macro replacement_validations(renewals) -%}
    select r.certificate_key as replaced_key, f.*
    from {{ renewals }} as r
    inner join {{ ref('fact_issuance') }} as n
        on n.server = r.server
        and n.certificate_key <> r.certificate_key
        and n.not_before >= r.successor_not_before
    inner join {{ ref('fact_validation_daily') }} as f on f.certificate_key = n.certificate_key
{%- endmacro %}

{#- Requests of a fact_validation_daily row made after `moment`, for rows whose last request
    came after it. The daily grain keeps no finer record: a row of the moment's own day
    counts its share of active hours (hours_mask) from the moment's hour on, at least one
    request, as if its requests were spread evenly over those hours. -#}
{% macro requests_after(row, moment) -%}
    case
        when {{ row }}.first_seen > {{ moment }} then {{ row }}.requests
        else cast(greatest(1, round(
            {{ row }}.requests * bit_count({{ row }}.hours_mask >> hour({{ moment }}))
            / greatest(bit_count({{ row }}.hours_mask), 1)
        )) as bigint)
    end
{%- endmacro %}
