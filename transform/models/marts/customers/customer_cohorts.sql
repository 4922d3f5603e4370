-- Monthly acquisition cohorts (month of the first paid order): how many come back, and what
-- they are worth, month by month.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_paid

),

orders_with_cohort as (

    select
        customer_id,
        net_order_total,
        cast({{ dbt.date_trunc('month', 'placed_at') }} as date) as order_month,
        cast({{ dbt.date_trunc('month', 'min(placed_at) over (partition by customer_id)') }} as date)
            as cohort_month
    from orders

),

cohort_sizes as (

    select
        cohort_month,
        count(distinct customer_id) as cohort_size
    from orders_with_cohort
    group by cohort_month

),

activity as (

    select
        cohort_month,
        {{ dbt.datediff('cohort_month', 'order_month', 'month') }} as months_since_first_order,
        count(distinct customer_id) as active_customers,
        count(*) as orders,
        {{ money_sum('net_order_total') }} as net_revenue
    from orders_with_cohort
    group by cohort_month, {{ dbt.datediff('cohort_month', 'order_month', 'month') }}

),

activity_to_date as (

    select
        cohort_month,
        months_since_first_order,
        active_customers,
        orders,
        net_revenue,
        sum(net_revenue) over (
            partition by cohort_month
            order by months_since_first_order
            rows between unbounded preceding and current row
        ) as cumulative_net_revenue
    from activity

),

final as (

    select
        activity_to_date.cohort_month,
        activity_to_date.months_since_first_order,
        cohort_sizes.cohort_size,
        activity_to_date.active_customers,
        activity_to_date.orders,
        activity_to_date.net_revenue,
        cast(activity_to_date.active_customers * 1.0 / cohort_sizes.cohort_size as decimal(9, 4))
            as retention_rate,
        {{ money('activity_to_date.cumulative_net_revenue') }} as cumulative_net_revenue,
        cast(
            activity_to_date.cumulative_net_revenue / cohort_sizes.cohort_size as decimal(18, 2)
        ) as cumulative_value_per_customer
    from activity_to_date
    inner join cohort_sizes
        on activity_to_date.cohort_month = cohort_sizes.cohort_month

)

select * from final
