with

source as (

    select * from {{ source('stripe', 'disputes') }}

),

latest as (

    select * from source
    {{ keep_latest_version('id', changed_at='coalesce(updated, created)') }}

),

renamed as (

    select

        ----------  ids
        id as dispute_id,
        charge as charge_id,

        ---------- strings
        reason as dispute_reason,
        status as dispute_status,
        upper(currency) as currency,

        ---------- numerics
        {{ cents_to_dollars('amount') }} as amount,

        ---------- booleans
        -- a lost dispute keeps the money withdrawn; won ones are reinstated
        status = 'lost' as is_lost,
        status in ('won', 'lost') as is_closed,

        ---------- timestamps
        created as created_at,
        coalesce(updated, created) as updated_at

    from latest

)

select * from renamed
