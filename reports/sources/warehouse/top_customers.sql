-- The 50 most valuable customers (by id: names and emails stay out of the report site).
select
    customer_id,
    country_code,
    region,
    acquisition_channel,
    cast(first_order_at as date) as first_order_date,
    cast(most_recent_order_at as date) as last_order_date,
    lifetime_orders,
    lifetime_sales,
    lifetime_refunds,
    lifetime_value,
    average_order_value
from marts.customer_lifetime_value
order by lifetime_value desc, customer_id
limit 50
