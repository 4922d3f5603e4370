-- Revenue per UTC day. Sales count on the day a paid order was placed; refunds on the day they
-- were issued (cash view). Beside it, the day's orders net of what became of them since (their
-- refunds and lost disputes, whenever they came): the figure that late refunds restate. A table
-- rebuilt on every run from the incremental facts: a deleted order can change any past day, and
-- the rebuild reads one narrow column set of fct_orders.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_paid

),

refunds as (

    select * from {{ ref('stg_stripe__refunds') }}
    where refund_status = 'succeeded'

),

sales_per_day as (

    select
        placed_on as revenue_date,
        count(*) as orders,
        {{ money_sum('subtotal + shipping_amount + tax_amount') }} as gross_revenue,
        {{ money_sum('discount_amount') }} as discounts,
        {{ money_sum('shipping_amount') }} as shipping,
        {{ money_sum('tax_amount') }} as tax,
        count(distinct case when is_first_order then customer_id end) as new_customers,
        count(distinct case when not is_first_order then customer_id end) as returning_customers,
        {{ money_sum('case when is_first_order then order_total else 0 end') }}
            as new_customer_sales,
        {{ money_sum('case when not is_first_order then order_total else 0 end') }}
            as returning_customer_sales,
        {{ money_sum('refunded_amount') }} as refunds_of_orders,
        {{ money_sum('dispute_lost_amount') }} as dispute_losses_of_orders
    from orders
    group by placed_on

),

refunds_per_day as (

    select
        cast(created_at as date) as revenue_date,
        count(*) as refund_count,
        {{ money_sum('amount') }} as refunds
    from refunds
    group by cast(created_at as date)

),

days as (

    select revenue_date from sales_per_day
    union
    select revenue_date from refunds_per_day

),

final as (

    select
        days.revenue_date,
        coalesce(sales_per_day.orders, 0) as orders,
        coalesce(sales_per_day.gross_revenue, 0) as gross_revenue,
        coalesce(sales_per_day.discounts, 0) as discounts,
        coalesce(refunds_per_day.refunds, 0) as refunds,
        coalesce(sales_per_day.gross_revenue, 0)
            - coalesce(sales_per_day.discounts, 0)
            - coalesce(refunds_per_day.refunds, 0) as net_revenue,
        case
            when sales_per_day.orders > 0
                then cast(
                    (sales_per_day.gross_revenue - sales_per_day.discounts) / sales_per_day.orders
                    as decimal(18, 2)
                )
        end as average_order_value,
        coalesce(sales_per_day.shipping, 0) as shipping,
        coalesce(sales_per_day.tax, 0) as tax,
        coalesce(refunds_per_day.refund_count, 0) as refund_count,
        coalesce(sales_per_day.new_customers, 0) as new_customers,
        coalesce(sales_per_day.returning_customers, 0) as returning_customers,
        coalesce(sales_per_day.new_customer_sales, 0) as new_customer_sales,
        coalesce(sales_per_day.returning_customer_sales, 0) as returning_customer_sales,
        coalesce(sales_per_day.refunds_of_orders, 0) as refunds_of_orders,
        coalesce(sales_per_day.dispute_losses_of_orders, 0) as dispute_losses_of_orders,
        coalesce(sales_per_day.gross_revenue, 0)
            - coalesce(sales_per_day.discounts, 0)
            - coalesce(sales_per_day.refunds_of_orders, 0)
            - coalesce(sales_per_day.dispute_losses_of_orders, 0) as net_revenue_of_orders
    from days
    left join sales_per_day
        on days.revenue_date = sales_per_day.revenue_date
    left join refunds_per_day
        on days.revenue_date = refunds_per_day.revenue_date

)

select * from final
