-- What the runs reported for each customer segment (from customer_segments_snapshot): one row
-- per version, valid from the run that counted it until a later run counted otherwise.
with

customer_segments_snapshot as (

    select * from {{ ref('customer_segments_snapshot') }}

),

versions as (

    select
        segment,
        acquisition_channel,
        customers,
        lifetime_value,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        dbt_valid_to is null as is_current
    from customer_segments_snapshot

)

select * from versions
