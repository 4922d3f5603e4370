-- Orders against the money Stripe collected, per UTC day the order was placed and
-- reconciliation status (fct_payment_reconciliation).
select
    cast(placed_on as date) as placed_on,
    reconciliation_status,
    count(*) as orders,
    sum(case when is_paid then 1 else 0 end) as paid_orders,
    sum(order_revenue) as order_revenue,
    sum(shop_amount_paid) as shop_amount_paid,
    sum(stripe_amount_captured) as stripe_amount_captured,
    sum(stripe_amount_refunded) as stripe_amount_refunded,
    sum(dispute_lost_amount) as dispute_lost_amount,
    sum(processing_fees) as processing_fees,
    sum(net_settled_amount) as net_settled_amount,
    sum(uncollected_amount) as uncollected_amount,
    sum(unmatched_payments) as unmatched_payments
from marts.fct_payment_reconciliation
group by 1, 2
