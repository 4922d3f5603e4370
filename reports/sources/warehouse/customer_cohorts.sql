-- Monthly acquisition cohorts by months since the first paid order (customer_cohorts).
select
    cast(cohort_month as date) as cohort_month,
    months_since_first_order,
    cohort_size,
    active_customers,
    orders,
    net_revenue,
    retention_rate,
    cumulative_net_revenue,
    cumulative_value_per_customer
from marts.customer_cohorts
