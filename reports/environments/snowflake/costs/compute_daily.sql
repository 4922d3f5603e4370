-- Credits per UTC day and production warehouse over the last 90 days (ACCOUNT_USAGE lags by up
-- to 3 hours; the service user's sessions run in UTC). WAREHOUSE_METERING_HISTORY has one row per
-- warehouse and hour it ran: hours, not pipeline runs, so runs, time and rows are left to the run
-- log. Only the production warehouses of terraform/platform.yaml: dev's carry the suffix _DEV.
select
    cast(start_time as date) as usage_date,
    warehouse_name as component,
    cast(null as number) as runs,
    cast(null as number) as failed_runs,
    cast(null as number) as seconds,
    sum(credits_used) as credits,
    cast(null as number) as rows_moved
from snowflake.account_usage.warehouse_metering_history
where
    start_time >= dateadd(day, -90, current_date())
    and warehouse_name in ('LOADING_WH', 'TRANSFORMING_WH', 'REPORTING_WH', 'REALTIME_WH')
group by 1, 2
