with

source as (

    select * from {{ source('postgres', 'payments') }}

),

latest as (

    select * from source
    {{ keep_latest_version('payment_id') }}

),

renamed as (

    select

        ----------  ids
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        provider_charge_id,

        ---------- strings
        provider as payment_provider,
        status as payment_status,
        upper(currency) as currency,

        ---------- numerics
        {{ cents_to_dollars('amount_cents') }} as amount,

        ---------- booleans
        status = 'succeeded' as is_succeeded,

        ---------- timestamps
        created_at as attempted_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
