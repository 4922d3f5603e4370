-- Orders of the last 48 hours before the newest order, per hour and channel (near real time).
select
    date_trunc('hour', cast(placed_at as timestamp)) as order_hour,
    channel,
    count(*) as orders,
    sum(case when is_paid then 1 else 0 end) as paid_orders,
    sum(case when is_paid then order_total else 0 end) as paid_revenue,
    sum(order_total) as order_value
from marts.fct_orders
where placed_at >= (select max(placed_at) from marts.fct_orders) - interval '48 hours'
group by 1, 2
