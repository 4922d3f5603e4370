-- When each order first reached each status: the lifecycle as columns.
with

status_history as (

    select * from {{ ref('stg_postgres__order_status_history') }}

),

pivoted as (

    select
        order_id,
        min(case when order_status = 'paid' then changed_at end) as status_paid_at,
        min(case when order_status = 'shipped' then changed_at end) as shipped_at,
        min(case when order_status = 'delivered' then changed_at end) as delivered_at,
        min(case when order_status = 'cancelled' then changed_at end) as cancelled_at,
        min(case when order_status = 'returned' then changed_at end) as returned_at,
        count(*) as status_changes,
        max(updated_at) as last_changed_at
    from status_history
    group by order_id

)

select * from pivoted
