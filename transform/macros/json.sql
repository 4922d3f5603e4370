{#- Nested objects land as JSON text in DuckDB (target-duckdb) and as VARIANT in Snowflake
    (target-snowflake). These macros read them the same way on both. -#}

{#- The text at a dotted path, e.g. json_text('metadata', 'order_id'). -#}
{% macro json_text(column_name, path) -%}
    {{ return(adapter.dispatch('json_text')(column_name, path)) }}
{%- endmacro %}

{% macro default__json_text(column_name, path) -%}
    json_extract_string({{ column_name }}, '$.{{ path }}')
{%- endmacro %}

{% macro snowflake__json_text(column_name, path) -%}
    {{ column_name }}:{{ path }}::varchar
{%- endmacro %}

{#- A FROM-clause item with one row per element of a JSON array (the element is `<alias>.value`);
    use it after a comma, as a lateral join on the preceding relation. -#}
{% macro json_array_elements(array_expression, alias) -%}
    {{ return(adapter.dispatch('json_array_elements')(array_expression, alias)) }}
{%- endmacro %}

{% macro default__json_array_elements(array_expression, alias) -%}
    json_each({{ array_expression }}) as {{ alias }}
{%- endmacro %}

{% macro snowflake__json_array_elements(array_expression, alias) -%}
    lateral flatten(input => {{ array_expression }}) as {{ alias }}
{%- endmacro %}
