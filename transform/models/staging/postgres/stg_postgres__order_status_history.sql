with

source as (

    select * from {{ source('postgres', 'order_status_history') }}

),

latest as (

    select * from source
    {{ keep_latest_version('order_status_id') }}

),

renamed as (

    select

        ----------  ids
        cast(order_status_id as bigint) as order_status_id,
        cast(order_id as bigint) as order_id,

        ---------- strings
        status as order_status,

        ---------- timestamps
        changed_at,
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
