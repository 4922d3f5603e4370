-- Last-touch attribution: a paid order belongs to the channel and campaign of the session that
-- placed it (utm_source, utm_campaign), on the day it was placed.
with

orders as (

    select * from {{ ref('int_orders_lifecycle') }}
    where is_paid

),

attributed as (

    select
        placed_on as attributed_on,
        channel,
        coalesce(campaign_id, 'none') as campaign_id,
        count(*) as attributed_orders,
        cast(sum(case when is_first_order then 1 else 0 end) as bigint) as new_customers,
        {{ money_sum('order_total') }} as attributed_revenue,
        {{ money_sum('case when is_first_order then order_total else 0 end') }}
            as new_customer_revenue
    from orders
    group by placed_on, channel, coalesce(campaign_id, 'none')

)

select * from attributed
