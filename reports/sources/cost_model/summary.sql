-- The estimate's totals next to the seed's estimate and Terraform's budgets (summary.csv, from
-- `shop cost-model`), no row before the first estimate (see estimate.sql).
create or replace temp view summary as
select
    cast(null as varchar) as environment,
    cast(null as varchar) as bench_scale,
    cast(null as double) as compute_credits_per_month,
    cast(null as double) as compute_usd_per_month,
    cast(null as double) as cloud_services_usd_per_month,
    cast(null as double) as storage_usd_per_month,
    cast(null as double) as usd_per_month,
    cast(null as double) as usd_per_month_at_half_the_time,
    cast(null as double) as usd_per_month_at_twice_the_time,
    cast(null as double) as seed_estimate_usd,
    cast(null as double) as budget_usd,
    cast(null as double) as account_monitor_quota_credits,
    cast(null as double) as usd_per_credit,
    cast(null as double) as history_load_usd_per_month_of_history
where false;

create or replace temp view summary as
select * from read_csv('sources/cost_model/summary.csv', header = true);

select * from summary
