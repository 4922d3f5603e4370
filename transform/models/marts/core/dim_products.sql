-- Products as they were over time (SCD type 2, from products_snapshot): one row per version,
-- so an order line can be read with the price list of its day.
with

products_snapshot as (

    select * from {{ ref('products_snapshot') }}

),

categories as (

    select * from {{ ref('stg_postgres__categories') }}

),

versions as (

    select
        products_snapshot.dbt_scd_id as product_version_id,
        products_snapshot.product_id,
        products_snapshot.sku,
        products_snapshot.product_name,
        products_snapshot.category_id,
        categories.category_name,
        categories.department,
        products_snapshot.currency,
        products_snapshot.price,
        products_snapshot.unit_cost,
        products_snapshot.price - products_snapshot.unit_cost as unit_margin,
        products_snapshot.is_active,
        products_snapshot.created_at,
        products_snapshot.dbt_valid_from as valid_from,
        products_snapshot.dbt_valid_to as valid_to,
        products_snapshot.dbt_valid_to is null as is_current
    from products_snapshot
    left join categories
        on products_snapshot.category_id = categories.category_id

)

select * from versions
