-- Payment attempts per UTC day, card brand, outcome, match and dispute status: what the
-- payments page filters and sums, aggregated once per build instead of at each page query.
with

payments as (

    select * from {{ ref('fct_payments') }}

)

select
    attempted_on,
    coalesce(card_brand, 'unknown') as card_brand,
    coalesce(charge_status, 'no charge') as charge_status,
    match_status,
    coalesce(dispute_status, 'none') as dispute_status,
    coalesce(dispute_reason, 'none') as dispute_reason,
    coalesce(failure_code, 'none') as failure_code,
    count(*) as attempts,
    {{ money_sum('captured_amount') }} as captured_amount,
    {{ money_sum('refunded_amount') }} as refunded_amount,
    cast(sum(refund_count) as bigint) as refunds,
    {{ money_sum('disputed_amount') }} as disputed_amount,
    {{ money_sum('dispute_lost_amount') }} as dispute_lost_amount,
    {{ money_sum('processing_fee') }} as processing_fees
from payments
group by 1, 2, 3, 4, 5, 6, 7
