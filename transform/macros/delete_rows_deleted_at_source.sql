{#- An incremental fact re-reads only changed rows, so it never sees a row vanish. A row deleted
    at the source arrives in RAW with _sdc_deleted_at set (log-based replication); this post-hook
    removes such rows from the fact. On a full refresh it finds nothing to delete. -#}
{% macro delete_rows_deleted_at_source(column_name, source_table, source_column=none) -%}
    delete from {{ this }}
    where {{ column_name }} in (
        select {{ source_column or column_name }}
        from {{ source('postgres', source_table) }}
        where _sdc_deleted_at is not null
    )
{%- endmacro %}
