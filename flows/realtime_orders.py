"""realtime_orders: the frequent micro-batch that keeps the real-time page near the shop.

It moves only new and changed orders (with their items, payments, status history and
customers) under a bookmark of its own, rebuilds only the models the page reads, and the site.
"""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.alerts import alert_on_failure
from flows.run_guard import guarded_run
from pipeline.run_log import RunLog
from sandbox.config import load_settings

REALTIME_JOB = "el-orders-realtime"
REALTIME_TABLES = ("customers", "orders", "order_items", "order_status_history", "payments")
REALTIME_MODELS = ["+fct_orders"]


@flow(
    name="realtime_orders",
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
    timeout_seconds=1800,
)
def realtime_orders(
    environment: str = "dev", sla_seconds: float = 600, build_reports: bool = True
) -> RunLog:
    tasks.require_local(environment)
    settings = load_settings()
    # Waits for a running daily_refresh rather than skipping: the page must catch up.
    with guarded_run(settings, "realtime_orders", environment, sla_seconds, wait_s=900) as run_log:
        tasks.start_local_sources(settings)
        tasks.advance_local_shop(settings, run_log)
        tasks.extract_load_all(settings, run_log, [REALTIME_JOB])
        tasks.reconcile_raw(settings, run_log, ("postgres",), REALTIME_TABLES)
        tasks.build_models(settings, run_log, select=REALTIME_MODELS)
        if build_reports:
            run_log.write(settings, "running")
            tasks.build_report_site(settings, run_log)
    return run_log
