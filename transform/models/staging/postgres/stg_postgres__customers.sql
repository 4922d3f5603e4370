with

source as (

    select * from {{ source('postgres', 'customers') }}

),

latest as (

    select * from source
    {{ keep_latest_version('customer_id') }}

),

renamed as (

    select

        ----------  ids
        cast(customer_id as bigint) as customer_id,
        stripe_customer_id,

        ---------- strings
        {{ pii('lower(email)', 'EMAIL') }} as email,
        {{ pii('first_name', 'NAME') }} as first_name,
        {{ pii('last_name', 'NAME') }} as last_name,
        country_code,
        city,
        postal_code,
        acquisition_channel,

        ---------- booleans
        marketing_opt_in as is_marketing_opt_in,

        ---------- timestamps
        created_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
