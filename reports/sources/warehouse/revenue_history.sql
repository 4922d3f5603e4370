-- What the runs reported for each day (fct_daily_revenue_history): one row per day and run that
-- changed its figures, so the history page can show any day's figures as they stood at any run.
select
    cast(revenue_date as date) as revenue_date,
    orders,
    gross_revenue - discounts as sales,
    refunds,
    net_revenue,
    refunds_of_orders,
    dispute_losses_of_orders,
    net_revenue_of_orders,
    cast(valid_from as timestamp) as valid_from,
    cast(valid_to as timestamp) as valid_to
from marts.fct_daily_revenue_history
