with

source as (

    select * from {{ source('stripe', 'customers') }}

),

latest as (

    select * from source
    {{ keep_latest_version('id', changed_at='coalesce(updated, created)') }}

),

renamed as (

    select

        ----------  ids
        id as stripe_customer_id,
        cast({{ json_text('metadata', 'shop_customer_id') }} as bigint) as customer_id,

        ---------- strings
        {{ pii('lower(email)', 'EMAIL') }} as email,

        ---------- timestamps
        created as created_at,
        coalesce(updated, created) as updated_at

    from latest

)

select * from renamed
