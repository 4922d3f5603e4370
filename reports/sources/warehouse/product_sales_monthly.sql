-- Paid order lines per month and product (the mart product_sales_monthly).
select * from marts.product_sales_monthly
