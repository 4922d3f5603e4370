-- What the runs reported for each day (from daily_revenue_snapshot): one row per version of a
-- day's figures, valid from the run that computed them until a later run computed others. As
-- reported at time t: `where valid_from <= t and (valid_to > t or valid_to is null)`; the current
-- versions are fct_daily_revenue itself.
with

daily_revenue_snapshot as (

    select * from {{ ref('daily_revenue_snapshot') }}

),

versions as (

    select
        revenue_date,
        orders,
        gross_revenue,
        discounts,
        refunds,
        net_revenue,
        refund_count,
        new_customers,
        returning_customers,
        refunds_of_orders,
        dispute_losses_of_orders,
        net_revenue_of_orders,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        dbt_valid_to is null as is_current
    from daily_revenue_snapshot

)

select * from versions
