{#- Whether a certificate was issued by automation rather than by a person. Automated
    requesters identify themselves with a scheme prefix (acme:, agent:, api:, service:,
    cert-manager:); `certsight issue` run by a person records the login name. -#}
{% macro is_automated(requester) -%}
    coalesce(regexp_matches({{ requester }}, '^(acme|agent|api|service|cert-manager|automation)[:/]'), false)
{%- endmacro %}
