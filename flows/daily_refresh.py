"""daily_refresh: every source into RAW (in parallel), reconciled and checked for freshness; dbt
build; the report site; the dbt docs."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow

from flows import tasks
from flows.alerts import alert_on_failure
from flows.run_guard import guarded_run
from pipeline import backfill
from pipeline import settings as platform
from pipeline.run_log import RunLog


@flow(
    name="daily_refresh",
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
    timeout_seconds=3 * 3600,
)
def daily_refresh(
    environment: str = "dev",
    backfill_start: date | None = None,
    sla_seconds: float = 3600,
    build_reports: bool = True,
) -> RunLog:
    """The daily run in `environment` (environments.yaml). A source that cannot be loaded holds
    back only what is built from it; the run then ends failed, naming it. `backfill_start` makes
    the extract-loads history loads (pipeline/backfill.py: no 30-minute wall, Stripe from that
    day where it has no bookmark yet, checkpointed in one-day windows, progress in the log) and
    dbt's incremental models reprocess every change since that day instead of the usual
    lookback. A history longer than this flow's wall is `shop backfill`'s; stopped by the wall,
    the next run resumes at its checkpoints."""
    settings = platform.on_workload(platform.load(environment), "daily_refresh")
    with guarded_run(settings, "daily_refresh", sla_seconds, wait_s=1800) as run_log:
        history = backfill_start is not None
        load_settings = backfill.history_settings(settings, backfill_start) if history else settings
        tasks.load_sources(load_settings, run_log, settings.daily_jobs, history)
        tasks.check_source_freshness(settings, run_log)
        lookback = (datetime.now(UTC).date() - backfill_start).days + 1 if backfill_start else None
        tasks.build_models(settings, run_log, lookback_days=lookback)
        if build_reports:
            run_log.write(settings, "running")  # the site shows this run's numbers
            tasks.build_report_site(settings, run_log)
        # After the site: the shop's readers get the new figures first, the engineers' docs next.
        tasks.build_docs(settings, run_log)
    return run_log
