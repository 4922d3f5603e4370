-- Spend, reach and attributed results per day, channel and campaign. Ratios are per row: over
-- longer periods compute them from the summed counts (sum(spend) / sum(new_customers)).
with

spend as (

    select * from {{ ref('stg_marketing__spend') }}

),

performance as (

    select * from {{ ref('stg_marketing__campaign_performance') }}

),

attribution as (

    select * from {{ ref('int_orders_attributed_by_day_and_channel') }}

),

campaign_days as (

    select
        coalesce(spend.spend_date, performance.performance_date) as performance_date,
        coalesce(spend.channel, performance.channel) as channel,
        coalesce(spend.campaign_id, performance.campaign_id) as campaign_id,
        spend.campaign_name,
        coalesce(spend.spend, 0) as spend,
        coalesce(performance.impressions, 0) as impressions,
        coalesce(performance.clicks, 0) as clicks,
        coalesce(performance.platform_conversions, 0) as platform_conversions,
        coalesce(performance.platform_conversion_value, 0) as platform_conversion_value
    from spend
    full outer join performance
        on spend.spend_date = performance.performance_date
        and spend.campaign_id = performance.campaign_id

),

joined as (

    -- unpaid channels (organic, direct) have attribution but no campaign rows
    select
        coalesce(campaign_days.performance_date, attribution.attributed_on) as performance_date,
        coalesce(campaign_days.channel, attribution.channel) as channel,
        coalesce(campaign_days.campaign_id, attribution.campaign_id) as campaign_id,
        campaign_days.campaign_name,
        coalesce(campaign_days.spend, 0) as spend,
        coalesce(campaign_days.impressions, 0) as impressions,
        coalesce(campaign_days.clicks, 0) as clicks,
        coalesce(campaign_days.platform_conversions, 0) as platform_conversions,
        coalesce(campaign_days.platform_conversion_value, 0) as platform_conversion_value,
        coalesce(attribution.attributed_orders, 0) as attributed_orders,
        coalesce(attribution.new_customers, 0) as new_customers,
        coalesce(attribution.attributed_revenue, 0) as attributed_revenue,
        coalesce(attribution.new_customer_revenue, 0) as new_customer_revenue
    from campaign_days
    full outer join attribution
        on campaign_days.performance_date = attribution.attributed_on
        and campaign_days.campaign_id = attribution.campaign_id

),

final as (

    select
        {{ dbt.concat(["cast(performance_date as varchar)", "'|'", "channel", "'|'", "campaign_id"]) }}
            as marketing_performance_id,
        joined.*,
        case
            when new_customers > 0 then cast(spend / new_customers as decimal(18, 2))
        end as customer_acquisition_cost,
        case
            when spend > 0 then cast(attributed_revenue / spend as decimal(18, 4))
        end as return_on_ad_spend,
        case
            when impressions > 0 then cast(clicks * 1.0 / impressions as decimal(9, 6))
        end as click_through_rate
    from joined

)

select * from final
