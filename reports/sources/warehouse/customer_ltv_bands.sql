-- Customers with a paid order per cohort month, acquisition channel and lifetime-value band
-- ($25 wide; $1,000 and more together): the LTV distribution, at a grain that stays small.
select
    cast(cohort_month as date) as cohort_month,
    acquisition_channel,
    case when lifetime_value >= 1000 then 1000 else floor(lifetime_value / 25) * 25 end as ltv_band,
    count(*) as customers,
    sum(case when is_repeat_customer then 1 else 0 end) as repeat_customers,
    sum(lifetime_orders) as lifetime_orders,
    sum(lifetime_value) as lifetime_value
from marts.customer_lifetime_value
where lifetime_orders > 0
group by 1, 2, 3
