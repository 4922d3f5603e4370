-- What the estimate assumes, and why (assumptions.csv, from `shop cost-model`), no row before
-- the first estimate (see estimate.sql).
create or replace temp view assumptions as
select
    cast(null as varchar) as assumption,
    cast(null as varchar) as value,
    cast(null as varchar) as why
where false;

create or replace temp view assumptions as
select * from read_csv('sources/cost_model/assumptions.csv', header = true);

select * from assumptions
