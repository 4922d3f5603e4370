-- Customers per segment and acquisition channel as each run counted them
-- (customer_segments_history): one row per segment, channel and run that changed the count.
select
    segment,
    acquisition_channel,
    customers,
    lifetime_value,
    cast(valid_from as timestamp) as valid_from,
    cast(valid_to as timestamp) as valid_to
from marts.customer_segments_history
