-- Customers per lifecycle segment and acquisition channel, as of the newest order in the
-- warehouse: prospect (no paid order yet), one_time and repeat (one, or two and more, paid
-- orders), lapsed (none in the last var lapsed_after_days days). No personal data: counts only,
-- so customer_segments_snapshot can keep what every run reported.
with

customers as (

    select * from {{ ref('customer_lifetime_value') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select max(placed_at) as last_order_at
    from orders

),

customers_segmented as (

    select
        customers.customer_id,
        customers.acquisition_channel,
        customers.lifetime_value,
        case
            when customers.lifetime_orders = 0 then 'prospect'
            when customers.most_recent_order_at
                < {{ dbt.dateadd('day', -var('lapsed_after_days'), 'as_of.last_order_at') }}
                then 'lapsed'
            when customers.lifetime_orders = 1 then 'one_time'
            else 'repeat'
        end as segment
    from customers
    cross join as_of

),

final as (

    select
        segment,
        acquisition_channel,
        count(*) as customers,
        {{ money_sum('lifetime_value') }} as lifetime_value
    from customers_segmented
    group by segment, acquisition_channel

)

select * from final
