{#- Incremental builds touch only the LAKE days that changed since the last build.
    `certsight build` lists the partitions, compares them with what the warehouse has seen
    (reference.lake_partitions) and writes the changed days per table into
    reference.build_scope. They are read at run time, not passed as vars, so that dbt's
    partial parsing survives from one build to the next. The days become a constant list
    in the SQL, which lets DuckDB prune Hive partitions before reading any file. -#}

{% macro scope_days(table, pad_days=0) -%}
    {%- set days = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select cast(dt as varchar) from reference.build_scope where table_name = '"
            ~ table ~ "' order by dt") -%}
        {%- for row in found.rows -%}{%- do days.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {%- set out = [] -%}
    {%- for day in days -%}
        {%- set d = modules.datetime.date.fromisoformat(day) -%}
        {%- for offset in range(-pad_days, pad_days + 1) -%}
            {%- set iso = (d + modules.datetime.timedelta(days=offset)).isoformat() -%}
            {%- if iso not in out -%}{%- do out.append(iso) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(out | sort) }}
{%- endmacro %}

{% macro in_days(days, column='dt') -%}
    {%- if days | length == 0 -%} false
    {%- else -%} {{ column }} in ({% for d in days %}date '{{ d }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#- The filter of an incremental model's input: every day on a full build, the changed days
    (widened by pad_days on both sides) otherwise. -#}
{% macro scope_filter(table, pad_days=0, column='dt') -%}
    {%- if is_incremental() -%}
        {{ in_days(scope_days(table, pad_days), column) }}
    {%- else -%} true
    {%- endif -%}
{%- endmacro %}
