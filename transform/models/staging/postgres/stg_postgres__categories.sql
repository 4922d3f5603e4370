with

source as (

    select * from {{ source('postgres', 'categories') }}

),

latest as (

    select * from source
    {{ keep_latest_version('category_id') }}

),

renamed as (

    select

        ----------  ids
        cast(category_id as integer) as category_id,

        ---------- strings
        name as category_name,
        department,

        ---------- timestamps
        updated_at

    from latest
    where _sdc_deleted_at is null

)

select * from renamed
