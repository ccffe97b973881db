{#- Validations of certificates after a moment of their own (revocation, expiry), plus a
    grace for clients mid-handshake at that moment: one row per certificate with the span,
    the requests on the days concerned, the clients and the busiest of them. -#}
{% macro validated_after(certificates, moment, grace_minutes) -%}
    with after as (
        select
            c.certificate_key,
            f.client_ip,
            sum(f.requests) as requests,
            min(greatest(f.first_seen, c.{{ moment }})) as first_seen,
            max(f.last_seen) as last_seen
        from {{ ref('fact_validation_daily') }} as f
        inner join {{ certificates }} as c using (certificate_key)
        where c.{{ moment }} is not null
          and f.last_seen > c.{{ moment }} + to_minutes({{ grace_minutes }})
        group by c.certificate_key, f.client_ip
    )

    select
        certificate_key,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        sum(requests) as requests,
        count(*) as clients,
        arg_max(client_ip, requests) as top_client,
        list(client_ip order by requests desc, client_ip)[1:10] as sample_clients
    from after
    group by certificate_key
{%- endmacro %}
