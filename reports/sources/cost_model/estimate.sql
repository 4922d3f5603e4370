-- Credits and dollars a month per workload and warehouse (estimate.csv, from `shop cost-model`).
-- The DuckDB connector runs the statements before the last one first and ignores their errors:
-- the second view replaces the empty one only when the CSV exists (paths are relative to
-- reports/, where `npm run sources` runs), so the page also builds before the first estimate.
create or replace temp view estimate as
select
    cast(null as varchar) as workload,
    cast(null as varchar) as warehouse,
    cast(null as varchar) as size,
    cast(null as double) as credits_per_hour,
    cast(null as double) as runs_per_month,
    cast(null as double) as active_seconds_per_run,
    cast(null as double) as billed_seconds_per_run,
    cast(null as double) as credits_per_month,
    cast(null as double) as usd_per_month,
    cast(null as double) as monitor_quota_credits
where false;

create or replace temp view estimate as
select * from read_csv('sources/cost_model/estimate.csv', header = true);

select * from estimate
