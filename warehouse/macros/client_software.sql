{#- The client family behind a User-Agent. Order matters: browsers embed other names. -#}
{% macro client_software(user_agent) -%}
case
    when {{ user_agent }} is null or trim({{ user_agent }}) in ('', '-') then 'unknown'
    when {{ user_agent }} ilike '%certsight-agent%' then 'certsight agent'
    when {{ user_agent }} ilike '%Microsoft-CryptoAPI%' or {{ user_agent }} ilike '%CryptoAPI%' then 'Windows CryptoAPI'
    when {{ user_agent }} ilike 'Java/%' or {{ user_agent }} ilike '%Java-http-client%' or {{ user_agent }} ilike 'Apache-HttpClient%' then 'Java'
    when {{ user_agent }} ilike 'Go-http-client%' or {{ user_agent }} ilike 'Go %' then 'Go'
    when {{ user_agent }} ilike '%OpenSSL%' or {{ user_agent }} ilike 'ocsp%' then 'OpenSSL'
    when {{ user_agent }} ilike 'Mozilla/%' and (
        {{ user_agent }} ilike '%Firefox/%' or {{ user_agent }} ilike '%Chrome/%'
        or {{ user_agent }} ilike '%Safari/%' or {{ user_agent }} ilike '%Edg/%'
    ) then 'browser'
    else 'unknown'
end
{%- endmacro %}
