"""daily_refresh: every source into RAW (in parallel), reconciled; dbt build; the report site."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow

from flows import tasks
from flows.alerts import alert_on_failure
from flows.run_guard import guarded_run
from pipeline.extract_load import JOBS
from pipeline.run_log import RunLog
from pipeline.warehouse import RAW_SOURCES
from sandbox.config import load_settings


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
    """The daily run. `backfill_start` makes dbt's incremental models reprocess every change
    since that day instead of the usual lookback window."""
    tasks.require_local(environment)
    settings = load_settings()
    with guarded_run(settings, "daily_refresh", environment, sla_seconds, wait_s=1800) as run_log:
        tasks.start_local_sources(settings)
        tasks.advance_local_shop(settings, run_log)
        tasks.check_exports(settings)
        tasks.extract_load_all(settings, run_log, JOBS)
        tasks.reconcile_raw(settings, run_log, RAW_SOURCES)
        lookback = (datetime.now(UTC).date() - backfill_start).days + 1 if backfill_start else None
        tasks.build_models(settings, run_log, lookback_days=lookback)
        if build_reports:
            run_log.write(settings, "running")  # the site shows this run's numbers
            tasks.build_report_site(settings, run_log)
    return run_log
