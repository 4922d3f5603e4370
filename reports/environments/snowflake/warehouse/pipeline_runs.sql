-- The orchestration's run log (pipeline/run_log.py: ANALYTICS.OPS.PIPELINE_RUNS), to name the run
-- that reported each figure of the history page.
select run_id, flow, status, started_at, finished_at
from ops.pipeline_runs
