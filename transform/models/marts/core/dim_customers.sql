{{ config(post_hook="{{ set_pii_tags() }}") }}

-- Customers as they were over time (SCD type 2, from customers_snapshot): one row per version.
-- The current state is `where is_current`; "as of" a time t is
-- `where valid_from <= t and (valid_to > t or valid_to is null)`.
with

customers_snapshot as (

    select * from {{ ref('customers_snapshot') }}

),

countries as (

    select * from {{ ref('stg_postgres__countries') }}

),

versions as (

    select
        customers_snapshot.dbt_scd_id as customer_version_id,
        customers_snapshot.customer_id,
        customers_snapshot.stripe_customer_id,
        customers_snapshot.email,
        customers_snapshot.first_name,
        customers_snapshot.last_name,
        customers_snapshot.city,
        customers_snapshot.postal_code,
        customers_snapshot.country_code,
        countries.country_name,
        countries.region,
        customers_snapshot.acquisition_channel,
        customers_snapshot.is_marketing_opt_in,
        customers_snapshot.created_at as signed_up_at,
        customers_snapshot.dbt_valid_from as valid_from,
        customers_snapshot.dbt_valid_to as valid_to,
        customers_snapshot.dbt_valid_to is null as is_current
    from customers_snapshot
    left join countries
        on customers_snapshot.country_code = countries.country_code

)

select * from versions
