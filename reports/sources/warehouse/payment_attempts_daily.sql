-- Payment attempts per UTC day, card brand, outcome, match and dispute status (fct_payments).
select
    cast(attempted_on as date) as attempted_on,
    coalesce(card_brand, 'unknown') as card_brand,
    coalesce(charge_status, 'no charge') as charge_status,
    match_status,
    coalesce(dispute_status, 'none') as dispute_status,
    coalesce(dispute_reason, 'none') as dispute_reason,
    coalesce(failure_code, 'none') as failure_code,
    count(*) as attempts,
    sum(captured_amount) as captured_amount,
    sum(refunded_amount) as refunded_amount,
    sum(refund_count) as refunds,
    sum(disputed_amount) as disputed_amount,
    sum(dispute_lost_amount) as dispute_lost_amount,
    sum(processing_fee) as processing_fees
from marts.fct_payments
group by 1, 2, 3, 4, 5, 6, 7
