with

source as (

    select * from {{ source('stripe', 'charges') }}

),

latest as (

    -- `updated` moves when an event (refund, dispute) changes the charge
    select * from source
    {{ keep_latest_version('id', changed_at='coalesce(updated, created)') }}

),

renamed as (

    select

        ----------  ids
        id as charge_id,
        cast({{ json_text('metadata', 'order_id') }} as bigint) as order_id,
        customer as stripe_customer_id,
        payment_intent as payment_intent_id,
        balance_transaction as balance_transaction_id,

        ---------- strings
        status as charge_status,
        upper(currency) as currency,
        failure_code,
        {{ json_text('payment_method_details', 'card.brand') }} as card_brand,
        {{ json_text('payment_method_details', 'card.country') }} as card_country,

        ---------- numerics
        {{ cents_to_dollars('amount') }} as amount,
        {{ cents_to_dollars('amount_captured') }} as amount_captured,
        {{ cents_to_dollars('amount_refunded') }} as amount_refunded,

        ---------- booleans
        status = 'succeeded' as is_succeeded,
        -- Not `disputed`: no Stripe event refreshes it when a dispute opens (see disputes).

        ---------- timestamps
        created as created_at,
        coalesce(updated, created) as updated_at

    from latest

)

select * from renamed
