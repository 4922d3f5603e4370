with

source as (

    select * from {{ source('stripe', 'balance_transactions') }}

),

latest as (

    -- immutable in Stripe: duplicates come only from the tap's lookback re-reads
    select * from source
    {{ keep_latest_version('id', changed_at='created') }}

),

renamed as (

    select

        ----------  ids
        id as balance_transaction_id,
        -- the charge (ch_), refund (re_) or dispute (dp_) that moved the money
        source as source_object_id,

        ---------- strings
        type as transaction_type,
        status as transaction_status,
        upper(currency) as currency,

        ---------- numerics
        {{ cents_to_dollars('amount') }} as amount,
        {{ cents_to_dollars('fee') }} as fee,
        {{ cents_to_dollars('net') }} as net_amount,

        ---------- timestamps
        created as created_at

    from latest

)

select * from renamed
