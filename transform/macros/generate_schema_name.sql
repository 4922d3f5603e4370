{#- Custom schemas are used as they are (staging, marts, ...), not prefixed with the target's
    schema: the layout is fixed by terraform/platform.yaml, and every environment has its own
    databases (Snowflake) or files (DuckDB). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
