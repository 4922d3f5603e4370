with

source as (

    select * from {{ source('postgres', 'countries') }}

),

latest as (

    select * from source
    {{ keep_latest_version('country_code') }}

),

renamed as (

    select

        ----------  ids
        country_code,

        ---------- strings
        name as country_name,
        region,

        ---------- timestamps
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
