-- Every list price of every product (dim_products, one row per version): prices as of any day
-- since the first dbt build.
select
    product_id,
    product_name,
    category_name,
    price,
    cast(valid_from as timestamp) as valid_from,
    cast(valid_to as timestamp) as valid_to
from marts.dim_products
