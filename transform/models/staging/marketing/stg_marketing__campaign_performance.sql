with

source as (

    select * from {{ source('marketing', 'campaign_performance') }}

),

latest as (

    select * from source
    {{ keep_latest_version('date, campaign_id', changed_at='_sdc_last_modified') }}

),

renamed as (

    select

        ----------  ids
        campaign_id,

        ---------- strings
        channel,

        ---------- numerics
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(conversions as bigint) as platform_conversions,
        cast(round(conversion_value, 2) as decimal(18, 2)) as platform_conversion_value,

        ---------- dates
        cast(date as date) as performance_date

    from latest

)

select * from renamed
