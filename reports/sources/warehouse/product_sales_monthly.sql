-- Paid order lines per month and product, with margin at the product's current unit cost
-- (dim_products is_current) and units on returned orders.
with

items as (

    select * from marts.fct_order_items
    where is_paid_order

),

products as (

    select * from marts.dim_products
    where is_current

)

select
    cast(date_trunc('month', items.placed_on) as date) as sales_month,
    items.product_id,
    products.product_name,
    products.category_name,
    products.department,
    sum(items.quantity) as units,
    sum(items.line_total) as revenue,
    sum(items.quantity * products.unit_cost) as cost,
    sum(items.line_total - items.quantity * products.unit_cost) as margin,
    sum(case when items.order_status = 'returned' then items.quantity else 0 end) as returned_units,
    sum(case when items.order_status = 'returned' then items.line_total else 0 end) as returned_revenue
from items
left join products
    on items.product_id = products.product_id
group by 1, 2, 3, 4, 5
