-- Order revenue against the money Stripe collected, per order, and every payment or charge
-- that does not line up. `reconciliation_status` names the first problem found.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

payments_per_order as (

    select
        order_id,
        count(*) as payment_rows,
        {{ money_sum('case when is_shop_succeeded then shop_amount else 0 end') }}
            as shop_amount_paid,
        {{ money_sum('captured_amount') }} as stripe_amount_captured,
        {{ money_sum('refunded_amount') }} as stripe_amount_refunded,
        {{ money_sum('dispute_lost_amount') }} as dispute_lost_amount,
        {{ money_sum('processing_fee') }} as processing_fees,
        {{ money_sum('net_settled_amount') }} as net_settled_amount,
        cast(sum(case when match_status != 'matched' then 1 else 0 end) as bigint)
            as unmatched_payments,
        max(case when match_status = 'missing_in_stripe' then 1 else 0 end) = 1
            as has_payment_missing_in_stripe,
        max(case when match_status = 'missing_in_shop' then 1 else 0 end) = 1
            as has_charge_missing_in_shop
    from payments
    where order_id is not null
    group by order_id

),

reconciled as (

    select
        coalesce(orders.order_id, payments_per_order.order_id) as order_id,
        orders.customer_id,
        orders.order_status,
        orders.placed_on,
        coalesce(orders.is_paid, false) as is_paid,
        coalesce(orders.has_paid_status, false) as has_paid_status,
        case when orders.is_paid then orders.order_total else 0 end as order_revenue,
        coalesce(payments_per_order.shop_amount_paid, 0) as shop_amount_paid,
        coalesce(payments_per_order.stripe_amount_captured, 0) as stripe_amount_captured,
        coalesce(payments_per_order.stripe_amount_refunded, 0) as stripe_amount_refunded,
        coalesce(payments_per_order.dispute_lost_amount, 0) as dispute_lost_amount,
        coalesce(payments_per_order.processing_fees, 0) as processing_fees,
        coalesce(payments_per_order.net_settled_amount, 0) as net_settled_amount,
        cast(
            case when orders.is_paid then orders.order_total else 0 end
            - coalesce(payments_per_order.stripe_amount_captured, 0) as decimal(18, 2)
        ) as uncollected_amount,
        coalesce(payments_per_order.unmatched_payments, 0) as unmatched_payments,
        case
            when orders.order_id is null then 'charge_for_unknown_order'
            when orders.has_paid_status and not orders.is_paid then 'paid_without_payment'
            when payments_per_order.has_payment_missing_in_stripe then 'payment_missing_in_stripe'
            when payments_per_order.has_charge_missing_in_shop then 'charge_missing_in_shop'
            when payments_per_order.unmatched_payments > 0 then 'payment_mismatch'
            when orders.is_paid and orders.order_total != payments_per_order.stripe_amount_captured
                then 'amount_mismatch'
            when not orders.is_paid and coalesce(payments_per_order.stripe_amount_captured, 0) > 0
                then 'collected_for_unpaid_order'
            when orders.is_paid then 'matched'
            else 'not_paid'
        end as reconciliation_status
    from orders
    full outer join payments_per_order
        on orders.order_id = payments_per_order.order_id

)

select * from reconciled
