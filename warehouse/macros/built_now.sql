{#- The days an incremental model upstream (re)built in this dbt invocation: its rows carry
    `built_at`, the invocation's start. Downstream incremental models rebuild exactly those
    days, whatever made them change (new LAKE files, late inventory). -#}
{% macro built_now() -%}
    cast('{{ run_started_at.isoformat() }}' as timestamptz)
{%- endmacro %}

{% macro days_built_now(relation) -%}
    (select distinct dt from {{ relation }} where built_at = {{ built_now() }})
{%- endmacro %}
