{#- fakesnow only: its `describe table` cannot see tables of another database, which unit-test
    fixtures ask for (their inputs live in RAW and STAGING). The emulator's information_schema
    can; on Snowflake dbt-snowflake's own macro runs. -#}
{% macro snowflake__get_columns_in_relation(relation) -%}
    {%- if not is_fakesnow() -%}
        {{ return(dbt.snowflake__get_columns_in_relation(relation)) }}
    {%- endif -%}
    {%- set sql -%}
        select
            column_name,
            case
                when data_type = 'NUMBER'
                    then 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')'
                else data_type
            end as data_type
        from {{ relation.database }}.information_schema.columns
        where upper(table_schema) = upper('{{ relation.schema }}')
            and upper(table_name) = upper('{{ relation.identifier }}')
        order by ordinal_position
    {%- endset -%}
    {%- set columns = [] -%}
    {%- for row in run_query(sql) -%}
        {%- do columns.append(api.Column.from_description(row[0], row[1])) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
