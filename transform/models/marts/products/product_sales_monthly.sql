-- Paid order lines per month and product, with margin at the product's current unit cost
-- (dim_products is_current) and units on returned orders. The products page reads it whole:
-- aggregated here, once per build, rather than over every order line at each page query.
with

items as (

    select * from {{ ref('fct_order_items') }}
    where is_paid_order

),

products as (

    select * from {{ ref('dim_products') }}
    where is_current

)

select
    cast(date_trunc('month', items.placed_on) as date) as sales_month,
    items.product_id,
    products.product_name,
    products.category_name,
    products.department,
    cast(sum(items.quantity) as bigint) as units,
    {{ money_sum('items.line_total') }} as revenue,
    {{ money_sum('items.quantity * products.unit_cost') }} as cost_of_goods,
    {{ money_sum('items.line_total - items.quantity * products.unit_cost') }} as margin,
    cast(sum(case when items.order_status = 'returned' then items.quantity else 0 end) as bigint)
        as returned_units,
    {{ money_sum("case when items.order_status = 'returned' then items.line_total else 0 end") }}
        as returned_revenue
from items
left join products
    on items.product_id = products.product_id
group by 1, 2, 3, 4, 5
