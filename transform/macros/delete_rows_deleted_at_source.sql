{#- Keys of the rows RAW marks deleted at the source (_sdc_deleted_at, set by log-based
    replication), as a subquery for `in (...)`. Deleted rows may carry nothing but their key. -#}
{% macro keys_deleted_at_source(source_table, key_column) -%}
    (
        select {{ key_column }}
        from {{ source('postgres', source_table) }}
        where _sdc_deleted_at is not null
    )
{%- endmacro %}

{#- An incremental fact re-reads only changed rows, so it never sees a row vanish: this post-hook
    removes the rows whose source row was deleted. On a full refresh it finds nothing to delete. -#}
{% macro delete_rows_deleted_at_source(column_name, source_table, source_column=none) -%}
    delete from {{ this }}
    where {{ column_name }} in {{ keys_deleted_at_source(source_table, source_column or column_name) }}
{%- endmacro %}
