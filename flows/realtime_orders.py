"""realtime_orders: the frequent micro-batch that keeps the real-time page near the shop.

It moves only new and changed orders (with their items, payments, status history and
customers: what its Meltano job selects) under a bookmark of its own, rebuilds only the models
the page reads, watches the shop's revenue against its normal band (an alert when checkout or
payments stop), and refreshes the site.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from flows import tasks
from flows.alerts import alert_on_failure
from flows.run_guard import guarded_run
from pipeline import settings as platform
from pipeline.run_log import RunLog

# The page's model and what it reads, and the normal band of orders the revenue watch compares
# the last window with.
REALTIME_MODELS = ["+fct_orders", "expected_order_bands"]


@flow(
    name="realtime_orders",
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
    timeout_seconds=1800,
)
def realtime_orders(
    environment: str = "dev", sla_seconds: float = 600, build_reports: bool = True
) -> RunLog:
    settings = platform.load(environment)
    # Waits for a running daily_refresh rather than skipping: the page must catch up.
    with guarded_run(settings, "realtime_orders", sla_seconds, wait_s=900) as run_log:
        read_up_to = datetime.now(UTC)
        loaded = tasks.load_sources(settings, run_log, settings.realtime_jobs)
        tasks.build_models(settings, run_log, select=REALTIME_MODELS)
        if loaded:  # a window of orders held back is not the shop's
            tasks.watch_revenue(settings, run_log, read_up_to)
        if build_reports:
            run_log.write(settings, "running")
            tasks.build_report_site(settings, run_log)
    return run_log
