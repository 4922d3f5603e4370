-- Bytes stored per database and schema today: active, Time Travel and Fail-safe. Only the
-- production databases of terraform/platform.yaml: dev's carry the suffix _DEV.
select
    metrics.table_catalog as database_name,
    metrics.table_schema as schema_name,
    count(*) as tables,
    sum(coalesce(tables.row_count, 0)) as row_count,
    sum(metrics.active_bytes + metrics.time_travel_bytes + metrics.failsafe_bytes) as bytes
from snowflake.account_usage.table_storage_metrics as metrics
left join snowflake.account_usage.tables as tables
    on metrics.id = tables.table_id
    and tables.deleted is null
where
    not metrics.deleted
    and metrics.table_catalog in ('RAW', 'STAGING', 'ANALYTICS')
group by 1, 2
