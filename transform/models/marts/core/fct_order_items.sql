{{
    config(
        materialized='incremental',
        unique_key='order_item_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        cluster_by=(['placed_on'] if target.type == 'snowflake' else none),
        post_hook=[
            "{{ delete_rows_deleted_at_source('order_item_id', 'order_items') }}",
            "{{ delete_rows_deleted_at_source('order_id', 'orders') }}"
        ]
    )
}}

-- Incremental: a line is rebuilt whenever its order changes (the line carries the order's state).
with

order_items as (

    select * from {{ ref('stg_postgres__order_items') }}

),

orders_lifecycle as (

    select * from {{ ref('int_orders_lifecycle') }}
    {% if is_incremental() %}
    -- an order's last_changed_at covers its lines' changes (int_order_items_summarized)
    where last_changed_at >= {{ incremental_cutoff() }}
    {% endif %}

),

joined as (

    select
        order_items.order_item_id,
        order_items.order_id,
        orders_lifecycle.customer_id,
        order_items.product_id,
        orders_lifecycle.order_status,
        order_items.quantity,
        order_items.unit_price,
        order_items.line_subtotal,
        order_items.discount_amount,
        order_items.line_subtotal - order_items.discount_amount as line_total,
        orders_lifecycle.is_paid as is_paid_order,
        orders_lifecycle.placed_at,
        orders_lifecycle.placed_on,
        greatest(order_items.updated_at, orders_lifecycle.last_changed_at) as last_changed_at
    from order_items
    inner join orders_lifecycle
        on order_items.order_id = orders_lifecycle.order_id

)

select * from joined
