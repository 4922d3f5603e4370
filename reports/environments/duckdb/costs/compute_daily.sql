-- What the pipeline spent, per UTC day and stage, from its run log ops.pipeline_runs
-- (one row per stage run: run_id, flow_name, stage, status, started_at, finished_at, rows_moved),
-- written by the orchestration. Locally the "cost" is time: credits are 0.
--
-- The DuckDB connector runs every statement before the last one first and ignores their errors:
-- the second view replaces the empty one only when the run log exists, so the page also builds
-- before the first orchestrated run (it then says there are no runs).
create or replace temp view pipeline_runs as
select
    cast(null as varchar) as stage,
    cast(null as varchar) as status,
    cast(null as timestamp) as started_at,
    cast(null as timestamp) as finished_at,
    cast(null as bigint) as rows_moved
where false;

create or replace temp view pipeline_runs as
select stage, status, started_at, finished_at, rows_moved
from ops.pipeline_runs;

select
    cast(started_at as date) as usage_date,
    stage as component,
    count(*) as runs,
    sum(case when status = 'completed' then 0 else 1 end) as failed_runs,
    sum(epoch(finished_at) - epoch(started_at)) as seconds,
    cast(0 as double) as credits,
    sum(rows_moved) as rows_moved
from pipeline_runs
where started_at >= current_date - interval 90 days
group by 1, 2
