{#- The version of the client software behind a User-Agent, in the same order as
    client_software (browsers embed other names): the product token's version, the major
    version only where that is what decides which algorithms and CAs a client accepts
    (Java, browsers). 'unknown' when the User-Agent names none. -#}
{% macro client_version(user_agent) -%}
coalesce(nullif(case
    when {{ user_agent }} is null or trim({{ user_agent }}) in ('', '-') then ''
    when {{ user_agent }} ilike '%certsight-agent%'
        then regexp_extract({{ user_agent }}, '(?i)certsight-agent/([0-9][0-9.]*)', 1)
    when {{ user_agent }} ilike '%CryptoAPI%'
        then regexp_extract({{ user_agent }}, '(?i)CryptoAPI/([0-9][0-9.]*)', 1)
    when {{ user_agent }} ilike 'Java/%'
        then regexp_extract({{ user_agent }}, '(?i)^Java/([0-9]+)', 1)
    when {{ user_agent }} ilike '%Java-http-client%' or {{ user_agent }} ilike 'Apache-HttpClient%'
        then regexp_extract({{ user_agent }}, '(?i)(?:Java-http-client|Apache-HttpClient)/([0-9]+)', 1)
    when {{ user_agent }} ilike 'Go-http-client%'
        then regexp_extract({{ user_agent }}, '(?i)Go-http-client/([0-9][0-9.]*)', 1)
    when {{ user_agent }} ilike 'Go %'
        then regexp_extract({{ user_agent }}, '^Go ([0-9][0-9.]*)', 1)
    when {{ user_agent }} ilike '%OpenSSL%'
        then regexp_extract({{ user_agent }}, '(?i)OpenSSL/([0-9]+\.[0-9]+)', 1)
    when {{ user_agent }} ilike 'Mozilla/%' and {{ user_agent }} ilike '%Edg/%'
        then 'Edge ' || regexp_extract({{ user_agent }}, 'Edg/([0-9]+)', 1)
    when {{ user_agent }} ilike 'Mozilla/%' and {{ user_agent }} ilike '%Firefox/%'
        then 'Firefox ' || regexp_extract({{ user_agent }}, 'Firefox/([0-9]+)', 1)
    when {{ user_agent }} ilike 'Mozilla/%' and {{ user_agent }} ilike '%Chrome/%'
        then 'Chrome ' || regexp_extract({{ user_agent }}, 'Chrome/([0-9]+)', 1)
    when {{ user_agent }} ilike 'Mozilla/%' and {{ user_agent }} ilike '%Safari/%'
        then 'Safari ' || regexp_extract({{ user_agent }}, 'Version/([0-9]+)', 1)
    else ''
end, ''), 'unknown')
{%- endmacro %}
