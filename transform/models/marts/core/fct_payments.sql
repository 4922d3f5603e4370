{{
    config(
        materialized='incremental',
        unique_key='charge_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_rows_deleted_at_source('payment_id', 'payments') }}"
    )
}}

-- One row per payment attempt: the shop's payment and Stripe's charge side by side.
-- Incremental: rows whose parts changed, and rows whose shop payment was deleted (Stripe keeps
-- the charge, which then stands alone; the post-hook drops rows left with neither).
with

payments as (

    select * from {{ ref('int_payments_matched_to_orders') }}

),

orders as (

    select * from {{ ref('stg_postgres__orders') }}

),

final as (

    select
        payments.charge_id,
        payments.payment_id,
        payments.order_id,
        orders.customer_id,
        payments.stripe_customer_id,
        payments.currency,
        payments.payment_status,
        payments.charge_status,
        payments.match_status,
        payments.card_brand,
        payments.failure_code,
        payments.shop_amount,
        payments.captured_amount,
        payments.refunded_amount,
        payments.refund_count,
        payments.processing_fee,
        payments.dispute_id,
        payments.dispute_status,
        payments.dispute_reason,
        payments.disputed_amount,
        payments.dispute_lost_amount,
        payments.captured_amount - payments.refunded_amount - payments.dispute_lost_amount
            - payments.processing_fee as net_settled_amount,
        payments.is_shop_succeeded,
        payments.is_stripe_succeeded,
        payments.attempted_at,
        cast(payments.attempted_at as date) as attempted_on,
        payments.last_refunded_at,
        payments.last_changed_at
    from payments
    left join orders
        on payments.order_id = orders.order_id

)

select * from final
{% if is_incremental() %}
where last_changed_at >= {{ incremental_cutoff() }}
    or charge_id in (
        select charge_id
        from {{ this }}
        where payment_id in {{ keys_deleted_at_source('payments', 'payment_id') }}
    )
{% endif %}
