{#- fakesnow only: its MERGE translation cannot bind the unqualified column names of dbt's
    `insert (...) values (...)`, and it needs no BEGIN/COMMIT around the merge. The same merge
    with qualified values; on Snowflake dbt-snowflake's own macro runs. -#}
{% macro snowflake__snapshot_merge_sql(target, source, insert_cols) -%}
    {%- if not is_fakesnow() -%}
        {{ return(dbt.snowflake__snapshot_merge_sql(target, source, insert_cols)) }}
    {%- endif -%}
    {%- set columns = get_snapshot_table_column_names() -%}
    merge into {{ target.render() }} as DBT_INTERNAL_DEST
    using {{ source }} as DBT_INTERNAL_SOURCE
    on DBT_INTERNAL_SOURCE.{{ columns.dbt_scd_id }} = DBT_INTERNAL_DEST.{{ columns.dbt_scd_id }}
    when matched
        and DBT_INTERNAL_DEST.{{ columns.dbt_valid_to }} is null
        and DBT_INTERNAL_SOURCE.dbt_change_type in ('update', 'delete')
        then update set {{ columns.dbt_valid_to }} = DBT_INTERNAL_SOURCE.{{ columns.dbt_valid_to }}
    when not matched
        and DBT_INTERNAL_SOURCE.dbt_change_type = 'insert'
        then insert ({{ insert_cols | join(', ') }})
        values (
            {%- for column in insert_cols -%}
                DBT_INTERNAL_SOURCE.{{ column }}{{ ', ' if not loop.last }}
            {%- endfor -%}
        )
{%- endmacro %}
