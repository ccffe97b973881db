{#- The columns together identify a row (dbt_utils' test, without the package: nothing may
    be downloaded at build time). -#}
{% test unique_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
