with

source as (

    select * from {{ source('postgres', 'order_items') }}

),

latest as (

    select * from source
    {{ keep_latest_version('order_item_id') }}

),

renamed as (

    select

        ----------  ids
        cast(order_item_id as bigint) as order_item_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as integer) as product_id,

        ---------- numerics
        cast(quantity as integer) as quantity,
        {{ cents_to_dollars('unit_price_cents') }} as unit_price,
        {{ cents_to_dollars('unit_price_cents * quantity') }} as line_subtotal,
        {{ cents_to_dollars('discount_cents') }} as discount_amount,

        ---------- timestamps
        created_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
