-- The current versions of the revenue history are what fct_daily_revenue says now: a snapshot
-- that missed a change (or kept a day the mart no longer has) would show a wrong past.
with

mart as (

    select * from {{ ref('fct_daily_revenue') }}

),

current_versions as (

    select * from {{ ref('fct_daily_revenue_history') }}
    where is_current

)

select
    coalesce(mart.revenue_date, current_versions.revenue_date) as revenue_date,
    mart.net_revenue_of_orders,
    current_versions.net_revenue_of_orders as net_revenue_of_orders_in_history
from mart
full outer join current_versions
    on mart.revenue_date = current_versions.revenue_date
where
    mart.revenue_date is null
    or current_versions.revenue_date is null
    or mart.orders <> current_versions.orders
    or mart.net_revenue <> current_versions.net_revenue
    or mart.net_revenue_of_orders <> current_versions.net_revenue_of_orders
