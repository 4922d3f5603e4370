with

order_items as (

    select * from {{ ref('stg_postgres__order_items') }}

),

summarized as (

    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as unit_count,
        count(distinct product_id) as distinct_product_count,
        max(updated_at) as last_changed_at
    from order_items
    group by order_id

)

select * from summarized
