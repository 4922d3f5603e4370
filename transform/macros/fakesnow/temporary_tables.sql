{#- fakesnow only: DuckDB keeps temporary tables in its own `temp` catalog and rejects
    `create temporary table DB.SCHEMA.X`, which dbt-snowflake issues for incremental and snapshot
    staging tables. There they become transient tables; on Snowflake nothing changes. -#}
{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
    {%- if is_fakesnow() -%}
        {{ dbt.snowflake__create_table_transient_sql(relation, compiled_code) }}
    {%- else -%}
        {{ dbt.snowflake__create_table_temporary_sql(relation, compiled_code) }}
    {%- endif -%}
{%- endmacro %}
