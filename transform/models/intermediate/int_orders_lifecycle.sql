-- One row per order with its whole lifecycle: lines, payment attempts, statuses, refunds, and
-- its place in the customer's history of paid orders.
-- A table, not a view like the rest of this layer: fct_orders, fct_order_items, the attribution,
-- marketing and the tests all read it, and as a view each of them computed the whole history
-- again.
{{ config(materialized='table') }}

with

orders as (

    select * from {{ ref('stg_postgres__orders') }}

),

order_items_summary as (

    select * from {{ ref('int_order_items_summarized') }}

),

status_milestones as (

    select * from {{ ref('int_order_status_history_pivoted') }}

),

payments as (

    select * from {{ ref('int_payments_matched_to_orders') }}

),

order_payments_summary as (

    select
        order_id,
        count(payment_id) as payment_attempts,
        cast(sum(case when is_shop_succeeded then 0 else 1 end) as bigint) as failed_payment_attempts,
        min(case when is_shop_succeeded then attempted_at end) as paid_at,
        {{ money_sum('case when is_shop_succeeded then shop_amount else 0 end') }} as amount_paid,
        {{ money_sum('refunded_amount') }} as refunded_amount,
        {{ money_sum('dispute_lost_amount') }} as dispute_lost_amount,
        max(case when dispute_id is not null then 1 else 0 end) = 1 as is_disputed,
        max(last_changed_at) as last_changed_at
    from payments
    where order_id is not null
    group by order_id

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_status,
        orders.channel,
        orders.campaign_id,
        orders.shipping_country_code,
        orders.currency,

        orders.subtotal,
        orders.discount_amount,
        orders.shipping_amount,
        orders.tax_amount,
        orders.order_total,
        coalesce(order_payments_summary.amount_paid, 0) as amount_paid,
        coalesce(order_payments_summary.refunded_amount, 0) as refunded_amount,
        coalesce(order_payments_summary.dispute_lost_amount, 0) as dispute_lost_amount,
        orders.order_total - coalesce(order_payments_summary.refunded_amount, 0) as net_order_total,

        coalesce(order_items_summary.line_count, 0) as line_count,
        coalesce(order_items_summary.unit_count, 0) as unit_count,
        coalesce(order_payments_summary.payment_attempts, 0) as payment_attempts,
        coalesce(order_payments_summary.failed_payment_attempts, 0) as failed_payment_attempts,

        order_payments_summary.paid_at is not null as is_paid,
        -- what the shop's own status says, checked against the payments in reconciliation
        (
            status_milestones.status_paid_at is not null
            or orders.order_status in ('paid', 'shipped', 'delivered', 'returned')
        ) as has_paid_status,
        coalesce(order_payments_summary.is_disputed, false) as is_disputed,
        coalesce(order_payments_summary.refunded_amount, 0) > 0 as is_refunded,

        orders.placed_at,
        orders.placed_on,
        order_payments_summary.paid_at,
        status_milestones.shipped_at,
        status_milestones.delivered_at,
        status_milestones.cancelled_at,
        status_milestones.returned_at,

        greatest(
            orders.updated_at,
            coalesce(order_items_summary.last_changed_at, orders.updated_at),
            coalesce(status_milestones.last_changed_at, orders.updated_at),
            coalesce(order_payments_summary.last_changed_at, orders.updated_at)
        ) as last_changed_at

    from orders
    left join order_items_summary
        on orders.order_id = order_items_summary.order_id
    left join status_milestones
        on orders.order_id = status_milestones.order_id
    left join order_payments_summary
        on orders.order_id = order_payments_summary.order_id

),

paid_order_sequence as (

    -- n-th paid order of the customer; unpaid orders have none
    select
        order_id,
        row_number() over (
            partition by customer_id order by placed_at, order_id
        ) as customer_order_number
    from joined
    where is_paid

),

final as (

    select
        joined.*,
        paid_order_sequence.customer_order_number,
        coalesce(paid_order_sequence.customer_order_number = 1, false) as is_first_order
    from joined
    left join paid_order_sequence
        on joined.order_id = paid_order_sequence.order_id

)

select * from final
