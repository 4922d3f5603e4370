-- Each resource monitor's modelled month against its quota (monitors.csv, from `shop
-- cost-model`), no row before the first estimate (see estimate.sql).
create or replace temp view monitors as
select
    cast(null as varchar) as monitor,
    cast(null as double) as modelled_credits,
    cast(null as double) as quota_credits,
    cast(null as double) as percent_of_quota,
    cast(null as double) as quota_needed_credits
where false;

create or replace temp view monitors as
select * from read_csv('sources/cost_model/monitors.csv', header = true);

select * from monitors
