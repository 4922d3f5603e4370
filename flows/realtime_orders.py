"""realtime_orders: the frequent micro-batch that keeps the real-time page near the shop.

It moves only new and changed orders (with their items, payments, status history and
customers: what its Meltano job selects) under a bookmark of its own, rebuilds only the models
the page reads, watches the shop's revenue against its normal band (an alert when checkout or
payments stop), and refreshes its page of the site. In production every step runs on one warehouse
(terraform/platform.yaml, workloads), suspended when the run is done: a run pays one resume.
A run that finds nothing new at the source (and no new window for the watch) stops before
touching the warehouse.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import tasks
from flows.alerts import alert_on_failure
from flows.run_guard import guarded_run
from pipeline import settings as platform
from pipeline import source_changes
from pipeline.run_log import RunLog

FLOW = "realtime_orders"
# The page's model and what it reads, and the normal band of orders the revenue watch compares
# the last window with.
REALTIME_MODELS = ["+fct_orders", "expected_order_bands"]
# The page the run keeps near the shop: its data alone is refreshed (the other pages' marts are
# the daily run's).
REALTIME_PAGES = ["/real-time"]
# Not the tests of the staging and intermediate models: a test of a view computes the view over
# the whole history again (at the seed's scale, 18 of this build's 28 s, growing with the
# history). The daily build runs them; this one runs the tests of the marts the page reads.
LEFT_TO_THE_DAILY_BUILD = [
    "resource_type:test,path:models/staging",
    "resource_type:test,path:models/intermediate",
]


@flow(
    name=FLOW,
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
    timeout_seconds=1800,
)
def realtime_orders(
    environment: str = "dev", sla_seconds: float = 600, build_reports: bool = True
) -> RunLog:
    settings = platform.on_workload(platform.load(environment), FLOW)
    mark = source_changes.read_mark(settings, FLOW)
    newest = tasks.source_newest_change(settings, settings.realtime_jobs)
    if source_changes.nothing_new(mark, newest, datetime.now(UTC)):
        mark.skipped.append(datetime.now(UTC).isoformat())
        source_changes.write_mark(settings, FLOW, mark)
        get_run_logger().info(
            "nothing new at the source since %s: skipped, no warehouse resumed (the next run "
            "records it in the run log)",
            mark.newest_change,
        )
        return RunLog(run_id=str(flow_run.id), flow=FLOW, environment=settings.environment)
    try:
        # Waits for a running daily_refresh rather than skipping: the page must catch up.
        with guarded_run(settings, FLOW, sla_seconds, wait_s=900) as run_log:
            tasks.record_skipped_runs(settings, FLOW, mark.skipped)
            read_up_to = datetime.now(UTC)
            loaded = tasks.load_sources(settings, run_log, settings.realtime_jobs)
            tasks.build_models(
                settings, run_log, select=REALTIME_MODELS, exclude=LEFT_TO_THE_DAILY_BUILD
            )
            if loaded:  # a window of orders held back is not the shop's
                tasks.watch_revenue(settings, run_log, read_up_to)
            if build_reports:
                run_log.write(settings, "running")
                tasks.build_report_site(settings, run_log, REALTIME_PAGES)
        source_changes.write_mark(
            settings,
            FLOW,
            source_changes.SourceMark(newest, source_changes.watch_window_end(read_up_to)),
        )
    finally:
        tasks.suspend_warehouse(settings, FLOW)
    return run_log
