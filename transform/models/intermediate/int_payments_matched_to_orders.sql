-- Every payment attempt the shop recorded, matched to the Stripe charge it names, with the
-- refunds, disputes and fees Stripe holds for it. A full outer join: a charge the shop does not
-- know, or a payment Stripe does not know, stays visible as unmatched.
with

payments as (

    select * from {{ ref('stg_postgres__payments') }}

),

charges as (

    select * from {{ ref('stg_stripe__charges') }}

),

refunds as (

    select * from {{ ref('stg_stripe__refunds') }}

),

disputes as (

    select * from {{ ref('stg_stripe__disputes') }}

),

balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}

),

refunds_per_charge as (

    select
        charge_id,
        count(*) as refund_count,
        {{ money_sum('amount') }} as refunded_amount,
        max(created_at) as last_refunded_at
    from refunds
    where refund_status = 'succeeded'
    group by charge_id

),

disputes_per_charge as (

    -- the newest dispute speaks for the charge (Stripe allows one at a time)
    select
        charge_id,
        dispute_id,
        dispute_status,
        dispute_reason,
        amount as disputed_amount,
        is_lost as is_dispute_lost,
        updated_at
    from disputes
    qualify row_number() over (partition by charge_id order by created_at desc, dispute_id asc) = 1

),

matched as (

    select
        coalesce(payments.provider_charge_id, charges.charge_id) as charge_id,
        payments.payment_id,
        coalesce(payments.order_id, charges.order_id) as order_id,
        charges.order_id as stripe_order_id,
        charges.stripe_customer_id,
        coalesce(payments.currency, charges.currency) as currency,
        payments.payment_status,
        charges.charge_status,
        charges.card_brand,
        charges.failure_code,
        payments.amount as shop_amount,
        case when charges.is_succeeded then charges.amount_captured else 0 end as captured_amount,
        coalesce(refunds_per_charge.refunded_amount, 0) as refunded_amount,
        coalesce(refunds_per_charge.refund_count, 0) as refund_count,
        coalesce(balance_transactions.fee, 0) as processing_fee,
        disputes_per_charge.dispute_id,
        disputes_per_charge.dispute_status,
        disputes_per_charge.dispute_reason,
        coalesce(disputes_per_charge.disputed_amount, 0) as disputed_amount,
        case
            when disputes_per_charge.is_dispute_lost then disputes_per_charge.disputed_amount
            else 0
        end as dispute_lost_amount,
        coalesce(payments.is_succeeded, false) as is_shop_succeeded,
        coalesce(charges.is_succeeded, false) as is_stripe_succeeded,
        case
            when charges.charge_id is null then 'missing_in_stripe'
            when payments.payment_id is null then 'missing_in_shop'
            when payments.order_id != charges.order_id then 'order_mismatch'
            when payments.payment_status != charges.charge_status then 'status_mismatch'
            when payments.amount != charges.amount then 'amount_mismatch'
            else 'matched'
        end as match_status,
        coalesce(payments.attempted_at, charges.created_at) as attempted_at,
        refunds_per_charge.last_refunded_at,
        -- the newest change to anything this row is made of drives incremental rebuilds
        greatest(
            coalesce(payments.updated_at, charges.updated_at),
            coalesce(charges.updated_at, payments.updated_at),
            coalesce(refunds_per_charge.last_refunded_at, payments.updated_at, charges.updated_at),
            coalesce(disputes_per_charge.updated_at, payments.updated_at, charges.updated_at)
        ) as last_changed_at
    from payments
    full outer join charges
        on payments.provider_charge_id = charges.charge_id
    left join refunds_per_charge
        on coalesce(payments.provider_charge_id, charges.charge_id) = refunds_per_charge.charge_id
    left join disputes_per_charge
        on coalesce(payments.provider_charge_id, charges.charge_id) = disputes_per_charge.charge_id
    left join balance_transactions
        on charges.balance_transaction_id = balance_transactions.balance_transaction_id

)

select * from matched
