-- Credits per UTC day and warehouse over the last 90 days (ACCOUNT_USAGE lags by up to 3 hours).
select
    cast(start_time as date) as usage_date,
    warehouse_name as component,
    count(*) as runs,
    0 as failed_runs,
    sum(datediff(second, start_time, end_time)) as seconds,
    sum(credits_used) as credits,
    cast(null as number) as rows_moved
from snowflake.account_usage.warehouse_metering_history
where start_time >= dateadd(day, -90, current_date())
group by 1, 2
