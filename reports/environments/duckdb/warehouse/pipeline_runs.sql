-- The orchestration's run log (pipeline/run_log.py: ops.pipeline_runs in analytics.duckdb), to
-- name the run that reported each figure of the history page.
--
-- The DuckDB connector runs every statement before the last one first and ignores their errors:
-- the second view replaces the empty one only when the run log exists, so the site also builds
-- from a warehouse that dbt alone has built (the page then names no run).
create or replace temp view runs as
select
    cast(null as varchar) as run_id,
    cast(null as varchar) as flow,
    cast(null as varchar) as status,
    cast(null as timestamp) as started_at,
    cast(null as timestamp) as finished_at
where false;

create or replace temp view runs as
select run_id, flow, status, started_at, finished_at
from ops.pipeline_runs;

select run_id, flow, status, started_at, finished_at
from runs
