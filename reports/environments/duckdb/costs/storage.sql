-- What the local warehouse stores: rows per schema of analytics.duckdb, and the file's size.
with

tables as (

    select database_name, schema_name, count(*) as tables, sum(estimated_size) as row_count
    from duckdb_tables()
    where not temporary
    group by 1, 2

),

files as (

    select database_name, used_blocks * block_size as bytes
    from pragma_database_size()

)

select
    tables.database_name,
    tables.schema_name,
    tables.tables,
    tables.row_count,
    -- DuckDB reports the size per file, not per schema: the file's bytes on its first schema.
    case
        when tables.schema_name = min(tables.schema_name) over (partition by tables.database_name)
            then files.bytes
        else 0
    end as bytes
from tables
inner join files
    on tables.database_name = files.database_name
