-- Every order the shop considers paid has a matching Stripe payment, or appears in the payments
-- reconciliation with the problem named. Fails on paid orders that slip through unflagged.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_paid or has_paid_status

),

reconciliation as (

    select * from {{ ref('fct_payment_reconciliation') }}

)

select orders.order_id
from orders
left join reconciliation
    on orders.order_id = reconciliation.order_id
where reconciliation.order_id is null
    or reconciliation.reconciliation_status = 'not_paid'
