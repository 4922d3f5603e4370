-- Revenue per UTC day (fct_daily_revenue): sales on the day a paid order was placed, refunds on
-- the day they were issued. One row a day, so every page-level total is a sum over these rows.
select
    cast(revenue_date as date) as revenue_date,
    orders,
    gross_revenue,
    discounts,
    refunds,
    net_revenue,
    shipping,
    tax,
    refund_count,
    new_customers,
    returning_customers,
    new_customer_sales,
    returning_customer_sales
from marts.fct_daily_revenue
