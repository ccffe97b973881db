{#- Layers are schemas named exactly as configured (staging, intermediate, detectors), and
    marts live in the default schema, so analysts write `select * from dim_client`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none or custom_schema_name == 'main' -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
