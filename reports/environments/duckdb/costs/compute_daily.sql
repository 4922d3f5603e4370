-- What the pipeline spent, per UTC day and stage, from its run log (pipeline/run_log.py:
-- ops.pipeline_runs, one row per flow run, and ops.pipeline_stages, one row per stage of a run).
-- Locally the "cost" is time: credits are 0.
--
-- The DuckDB connector runs every statement before the last one first and ignores their errors:
-- the second view replaces the empty one only when the run log exists, so the page also builds
-- before the first orchestrated run (it then says there are no runs).
create or replace temp view stage_runs as
select
    cast(null as varchar) as stage,
    cast(null as varchar) as status,
    cast(null as timestamp) as started_at,
    cast(null as double) as seconds,
    cast(null as bigint) as rows_moved
where false;

create or replace temp view stage_runs as
select
    stages.stage,
    runs.status,
    runs.started_at,
    stages.seconds,
    stages.rows as rows_moved
from ops.pipeline_stages as stages
inner join ops.pipeline_runs as runs
    on stages.run_id = runs.run_id;

select
    cast(started_at as date) as usage_date,
    stage as component,
    count(*) as runs,
    sum(case when status = 'failed' then 1 else 0 end) as failed_runs,
    sum(seconds) as seconds,
    cast(0 as double) as credits,
    sum(rows_moved) as rows_moved
from stage_runs
where started_at >= current_date - interval 90 days
group by 1, 2
