-- fct_daily_revenue is incremental; its totals must still equal what it is built from: paid
-- orders' totals minus succeeded refunds, to the cent. (Compared within half a cent rather than
-- exactly because fakesnow sums decimals as doubles; Snowflake and DuckDB sum them exactly.)
with

daily_revenue as (

    select sum(net_revenue) as net_revenue from {{ ref('fct_daily_revenue') }}

),

paid_orders as (

    select sum(order_total) as order_totals from {{ ref('fct_orders') }}
    where is_paid

),

refunds as (

    select sum(amount) as refunds from {{ ref('stg_stripe__refunds') }}
    where refund_status = 'succeeded'

)

select
    daily_revenue.net_revenue,
    paid_orders.order_totals,
    refunds.refunds
from daily_revenue
cross join paid_orders
cross join refunds
where abs(
    daily_revenue.net_revenue
    - (coalesce(paid_orders.order_totals, 0) - coalesce(refunds.refunds, 0))
) >= 0.005
