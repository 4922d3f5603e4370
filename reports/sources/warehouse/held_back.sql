-- Sources the latest runs could not load (a bad export, a source down, a changed schema, RAW not
-- matching it): since when, why, and the marts left at their last good state because of it. The
-- flows keep it in the run log (ops.held_back, pipeline/run_log.py); empty when all is well.
select
    source,
    cast(held_back_since as timestamp) as held_back_since,
    reason,
    model
from ops.held_back
where left(model, 4) not in ('stg_', 'int_')  -- the marts, not staging
