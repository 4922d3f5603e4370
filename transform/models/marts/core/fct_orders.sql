{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        cluster_by=(['placed_on'] if target.type == 'snowflake' else none),
        post_hook="{{ delete_rows_deleted_at_source('order_id', 'orders') }}"
    )
}}

-- Incremental: an order changes when it, its lines, statuses, payments, refunds or disputes
-- change, or when it is deleted at the source. All orders of its customer are rebuilt with it,
-- so that the n-th-order numbering stays right.
with

orders_lifecycle as (

    select * from {{ ref('int_orders_lifecycle') }}

),

{% if is_incremental() %}
changed_customers as (

    select customer_id
    from orders_lifecycle
    where last_changed_at >= {{ incremental_cutoff() }}

    union

    select customer_id
    from {{ this }}
    where order_id in {{ keys_deleted_at_source('orders', 'order_id') }}

),
{% endif %}

final as (

    select
        order_id,
        customer_id,
        order_status,
        channel,
        campaign_id,
        shipping_country_code,
        currency,
        subtotal,
        discount_amount,
        shipping_amount,
        tax_amount,
        order_total,
        amount_paid,
        refunded_amount,
        dispute_lost_amount,
        net_order_total,
        line_count,
        unit_count,
        payment_attempts,
        failed_payment_attempts,
        customer_order_number,
        is_first_order,
        is_paid,
        has_paid_status,
        is_refunded,
        is_disputed,
        placed_at,
        placed_on,
        paid_at,
        shipped_at,
        delivered_at,
        cancelled_at,
        returned_at,
        last_changed_at
    from orders_lifecycle
    {% if is_incremental() %}
    where customer_id in (select customer_id from changed_customers)
    {% endif %}

)

select * from final
