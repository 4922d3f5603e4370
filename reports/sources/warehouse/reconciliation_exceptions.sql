-- The newest 200 orders whose shop and Stripe records do not line up (not matched, not unpaid).
select
    order_id,
    customer_id,
    order_status,
    cast(placed_on as date) as placed_on,
    reconciliation_status,
    order_revenue,
    stripe_amount_captured,
    uncollected_amount,
    unmatched_payments
from marts.fct_payment_reconciliation
where reconciliation_status not in ('matched', 'not_paid')
order by placed_on desc, order_id
limit 200
