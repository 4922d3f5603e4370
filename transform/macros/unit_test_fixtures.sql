{#- Unit-test fixtures on Snowflake: dbt-snowflake casts a fixture's text to VARIANT with
    `cast('<text>' as variant)`, which makes a VARIANT *string*, not the array or object the text
    spells: `lateral flatten` over it yields no row, and a test of JSON unnesting fails only on a
    real account (DuckDB and fakesnow parse the text). Parse it, as target-snowflake loads such
    columns; every other type keeps dbt-snowflake's cast. -#}
{% macro snowflake__safe_cast(field, type) -%}
    {%- if type | upper in ('VARIANT', 'OBJECT', 'ARRAY') and field | lower != 'null' -%}
        try_parse_json({{ field }})
    {%- else -%}
        {{ dbt.snowflake__safe_cast(field, type) }}
    {%- endif -%}
{%- endmacro %}
