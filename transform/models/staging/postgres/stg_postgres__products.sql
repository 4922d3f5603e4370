with

source as (

    select * from {{ source('postgres', 'products') }}

),

latest as (

    select * from source
    {{ keep_latest_version('product_id') }}

),

renamed as (

    select

        ----------  ids
        cast(product_id as integer) as product_id,
        cast(category_id as integer) as category_id,
        sku,

        ---------- strings
        name as product_name,
        upper(currency) as currency,

        ---------- numerics
        {{ cents_to_dollars('price_cents') }} as price,
        {{ cents_to_dollars('unit_cost_cents') }} as unit_cost,

        ---------- booleans
        is_active,

        ---------- timestamps
        created_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
