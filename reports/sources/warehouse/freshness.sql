-- How fresh the marts are: the newest order placed and the newest change the pipeline saw (UTC).
select
    cast(max(placed_at) as timestamp) as last_order_at,
    cast(max(last_changed_at) as timestamp) as last_change_at,
    count(*) as orders_in_warehouse
from marts.fct_orders
