-- Customers with a paid order by the day of their latest one and by how many they placed
-- (1, 2, 3 or more), per acquisition channel: how long since customers last bought (churn).
select
    cast(most_recent_order_at as date) as last_order_date,
    acquisition_channel,
    case when lifetime_orders >= 3 then 3 else lifetime_orders end as orders_bucket,
    count(*) as customers,
    sum(lifetime_value) as lifetime_value
from marts.customer_lifetime_value
where lifetime_orders > 0
group by 1, 2, 3
