-- Stripe sends refunds only inside their charge (expanded `refunds`): one row per element.
with

charges as (

    select * from {{ source('stripe', 'charges') }}
    {{ keep_latest_version('id', changed_at='coalesce(updated, created)') }}

),

refunds as (

    select
        charges.id as charge_id,
        refund.value as refund
    from charges,
        {{ json_array_elements('charges.refunds', 'refund') }}

),

renamed as (

    select

        ----------  ids
        {{ json_text('refund', 'id') }} as refund_id,
        charge_id,
        cast({{ json_text('refund', 'metadata.order_id') }} as bigint) as order_id,
        {{ json_text('refund', 'balance_transaction') }} as balance_transaction_id,

        ---------- strings
        {{ json_text('refund', 'status') }} as refund_status,
        {{ json_text('refund', 'reason') }} as refund_reason,
        upper({{ json_text('refund', 'currency') }}) as currency,

        ---------- numerics
        {{ cents_to_dollars('cast(' ~ json_text('refund', 'amount') ~ ' as bigint)') }} as amount,

        ---------- timestamps
        cast({{ json_text('refund', 'created') }} as timestamp) as created_at

    from refunds

)

select * from renamed
