with

source as (

    select * from {{ source('marketing', 'marketing_spend') }}

),

latest as (

    -- a day's export can be rewritten (late corrections): the newest file version wins
    select * from source
    {{ keep_latest_version('date, campaign_id', changed_at='_sdc_last_modified') }}

),

renamed as (

    select

        ----------  ids
        campaign_id,

        ---------- strings
        channel,
        campaign_name,
        upper(currency) as currency,

        ---------- numerics
        -- the export writes dollars with two decimals; the loader reads them as floats
        cast(round(spend, 2) as decimal(18, 2)) as spend,

        ---------- dates
        cast(date as date) as spend_date

    from latest

)

select * from renamed
