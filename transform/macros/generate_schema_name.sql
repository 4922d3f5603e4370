{#- Custom schemas are used as they are (staging, marts, ...), not prefixed with the target's
    schema: the layout is fixed by terraform/platform.yaml, and every environment has its own
    databases (Snowflake) or files (DuckDB). CI builds a pull request's models into schemas of
    its own by setting DBT_SCHEMA_PREFIX (e.g. PR_42_, giving PR_42_MARTS); unset elsewhere. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ env_var('DBT_SCHEMA_PREFIX', '') ~ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
