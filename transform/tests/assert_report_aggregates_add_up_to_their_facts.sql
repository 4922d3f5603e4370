-- The pages' aggregates hold every fact they summarise, no more: product_sales_monthly's
-- units and revenue are fct_order_items' paid lines', payment_attempts_daily's attempts and
-- money are fct_payments'. Returns a row per aggregate whose totals differ, in cents (the
-- fakesnow emulator sums decimals as doubles).
with

product_sales as (

    select
        'product_sales_monthly' as aggregate_model,
        sum(units) as item_count,
        sum(revenue) as amount
    from {{ ref('product_sales_monthly') }}

),

paid_order_lines as (

    select
        'product_sales_monthly' as aggregate_model,
        sum(quantity) as item_count,
        sum(line_total) as amount
    from {{ ref('fct_order_items') }}
    where is_paid_order

),

attempts as (

    select
        'payment_attempts_daily' as aggregate_model,
        sum(attempts) as item_count,
        sum(captured_amount) + sum(refunded_amount) + sum(processing_fees) as amount
    from {{ ref('payment_attempts_daily') }}

),

payments as (

    select
        'payment_attempts_daily' as aggregate_model,
        count(*) as item_count,
        sum(captured_amount) + sum(refunded_amount) + sum(processing_fee) as amount
    from {{ ref('fct_payments') }}

),

aggregated as (

    select * from product_sales
    union all
    select * from attempts

),

facts as (

    select * from paid_order_lines
    union all
    select * from payments

)

select
    facts.aggregate_model,
    facts.item_count as fact_count,
    aggregated.item_count as aggregate_count,
    facts.amount as fact_amount,
    aggregated.amount as aggregate_amount
from facts
left join aggregated
    on facts.aggregate_model = aggregated.aggregate_model
where
    aggregated.aggregate_model is null
    or coalesce(facts.item_count, 0) <> coalesce(aggregated.item_count, 0)
    or round(coalesce(facts.amount, 0), 2) <> round(coalesce(aggregated.amount, 0), 2)
