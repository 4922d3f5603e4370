-- Spend and attributed results per UTC day, channel and campaign (fct_marketing_performance).
select
    cast(performance_date as date) as performance_date,
    channel,
    campaign_id,
    coalesce(campaign_name, campaign_id) as campaign_name,
    spend,
    impressions,
    clicks,
    platform_conversions,
    platform_conversion_value,
    attributed_orders,
    new_customers,
    attributed_revenue,
    new_customer_revenue
from marts.fct_marketing_performance
