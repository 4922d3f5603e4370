with

source as (

    select * from {{ source('postgres', 'orders') }}

),

latest as (

    select * from source
    {{ keep_latest_version('order_id') }}

),

renamed as (

    select

        ----------  ids
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,

        ---------- strings
        status as order_status,
        upper(currency) as currency,
        shipping_country_code,
        -- attribution: the session's channel, and the campaign when the traffic was paid
        coalesce(utm_source, 'direct') as channel,
        utm_campaign as campaign_id,

        ---------- numerics
        {{ cents_to_dollars('subtotal_cents') }} as subtotal,
        {{ cents_to_dollars('discount_cents') }} as discount_amount,
        {{ cents_to_dollars('shipping_cents') }} as shipping_amount,
        {{ cents_to_dollars('tax_cents') }} as tax_amount,
        {{ cents_to_dollars('total_cents') }} as order_total,

        ---------- timestamps
        placed_at,
        cast(placed_at as date) as placed_on,
        created_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
