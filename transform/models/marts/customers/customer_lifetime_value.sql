-- One row per customer (current attributes): what they have bought over their lifetime.
with

customers as (

    select * from {{ ref('dim_customers') }}
    where is_current

),

orders as (

    select * from {{ ref('fct_orders') }}
    where is_paid

),

customer_orders_summary as (

    select
        customer_id,
        count(*) as lifetime_orders,
        {{ money_sum('order_total') }} as lifetime_sales,
        {{ money_sum('refunded_amount') }} as lifetime_refunds,
        {{ money_sum('net_order_total') }} as lifetime_value,
        min(placed_at) as first_order_at,
        max(placed_at) as most_recent_order_at,
        max(case when is_first_order then channel end) as first_order_channel
    from orders
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        customers.country_code,
        customers.region,
        customers.acquisition_channel,
        customers.signed_up_at,
        customer_orders_summary.first_order_at,
        customer_orders_summary.most_recent_order_at,
        cast({{ dbt.date_trunc('month', 'customer_orders_summary.first_order_at') }} as date)
            as cohort_month,
        customer_orders_summary.first_order_channel,
        coalesce(customer_orders_summary.lifetime_orders, 0) as lifetime_orders,
        coalesce(customer_orders_summary.lifetime_sales, 0) as lifetime_sales,
        coalesce(customer_orders_summary.lifetime_refunds, 0) as lifetime_refunds,
        coalesce(customer_orders_summary.lifetime_value, 0) as lifetime_value,
        case
            when customer_orders_summary.lifetime_orders > 0
                then cast(
                    customer_orders_summary.lifetime_sales / customer_orders_summary.lifetime_orders
                    as decimal(18, 2)
                )
        end as average_order_value,
        coalesce(customer_orders_summary.lifetime_orders, 0) > 1 as is_repeat_customer
    from customers
    left join customer_orders_summary
        on customers.customer_id = customer_orders_summary.customer_id

)

select * from joined
