"""Scenarios month, day and realtime-lag: the platform's own steps on a shop of the bench's own.

month: one month of history at the chosen scale, the daily pipeline from scratch (the steps
of flows/daily_refresh.py, each timed: extract-load in parallel as the history load a first
load is (pipeline/backfill.py, docs/runbook.md), reconcile, dbt build, report site). day:
`simulate` one day, then one daily_refresh run. realtime-lag: one run of the realtime_orders
flow, and how far the page's newest order is behind the shop's.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import yaml
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from bench.checks import (
    BenchCheckError,
    BenchScenarioError,
    analytics,
    check_revenue,
    reconciled_rows,
)
from bench.measure import PeakMemory, Stages
from pipeline import backfill, extract_load, meltano, transform, warehouse
from pipeline.cost_model import PREFECT_YAML
from pipeline.run_log import RunLog
from sandbox import generator, inspect, services
from sandbox.config import LocalShop, free_port
from sandbox.scheduler import prefect_server


def _cron_minutes(field: str) -> list[int]:
    """The minutes of a cron minute field: `*`, `*/n`, `a-b`, `a`, and lists of them."""
    minutes: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        first, _, last = span.partition("-")
        low, high = (0, 59) if span == "*" else (int(first), int(last or first))
        minutes.update(range(low, high + 1, int(step or 1)))
    return sorted(minutes)


def busiest_interval_s(flow: str = "realtime_orders") -> int:
    """The shortest time between two runs of the flow's production schedules (prefect.yaml): in
    its busiest hours a page can be that much older than its run's lag."""
    gaps = []
    for deployment in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]:
        if (
            deployment["entrypoint"].endswith(f":{flow}")
            and deployment.get("parameters", {}).get("environment") == "prod"
        ):
            for schedule in deployment.get("schedules", []):
                minutes = _cron_minutes(schedule["cron"].split()[0])
                gaps += [b - a for a, b in itertools.pairwise(minutes)]
                gaps.append(60 - minutes[-1] + minutes[0])
    return min(gaps) * 60


def run_pipeline(
    settings: LocalShop, stages: Stages, build_reports: bool, history_since: date | None = None
) -> None:
    """The daily flow's steps after the shop has changed (`history_since`: the extract-loads as
    the history load from that day); raises on a wrong result."""
    try:
        _run_steps(settings, stages, build_reports, history_since)
    except BenchScenarioError as error:
        raise type(error)(str(error), stages.stages) from error
    except Exception as error:
        raise BenchScenarioError(f"{type(error).__name__}: {error}", stages.stages) from error


def _run_steps(
    settings: LocalShop, stages: Stages, build_reports: bool, history_since: date | None
) -> None:
    services.start_stripe_sandbox(settings)
    started = datetime.now(UTC)
    platform = settings.platform()
    if history_since is None:
        runs = extract_load.run_jobs(platform)
    else:
        report = lambda line: print(f"  {line}", file=sys.stderr, flush=True)  # noqa: E731
        runs = backfill.run_jobs(platform, platform.daily_jobs, report, history_since)
    sources = {job: meltano.source_of(run.ran) for job, run in runs.items()}
    loaded = warehouse.rows_loaded_since(platform, list(sources.values()), started)
    for job, run in runs.items():
        rows = sum(n for table, n in loaded.items() if table.startswith(f"{sources[job]}."))
        stages.record(job, run.seconds, rows=rows)
    with stages.time("reconcile") as facts:
        facts["rows"] = reconciled_rows(settings)
    summary = transform.build(settings.platform())
    if not summary.ok:
        raise BenchCheckError(summary.describe())
    stages.record(
        "dbt", summary.seconds, models=summary.models_ok + summary.snapshots_ok,
        tests=summary.tests_passed,
    )  # fmt: skip
    check_revenue(settings)
    if build_reports:
        from flows.tasks import build_report_site  # Prefect reads its settings at import

        # The pages read the run log (ops.*), which the daily flow writes before its build.
        run_log = RunLog(run_id=f"bench-{started:%Y%m%dT%H%M%S}", flow="daily_refresh",
                         environment=platform.environment, started_at=started)  # fmt: skip
        run_log.write(platform, "running")
        # As the flow publishes: the data alone when the pages did not change, else a build.
        build = build_report_site.fn(platform, run_log)
        stages.record(
            "reports", build.seconds, pages=len(build.pages),
            sources_seconds=round(build.sources_seconds, 2),
            build_seconds=round(build.build_seconds, 2), data_only=build.data_only,
        )  # fmt: skip


def month(
    settings: LocalShop, orders_per_month: int, build_reports: bool, end: datetime
) -> dict[str, object]:
    started = time.perf_counter()
    stages = Stages()
    with PeakMemory() as memory:
        with stages.time("generate") as facts:
            rows = generator.generate(
                settings, months=1, orders_per_month=orders_per_month, end=end
            )
            facts["rows"] = sum(rows.values())
            facts["orders"] = rows["shop.orders"]
        first_day = (end - timedelta(days=31)).date()  # the month's history, a day to spare
        run_pipeline(settings, stages, build_reports, history_since=first_day)
    return {
        "ok": True,
        "total_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": memory.peak_mb,
        "stages": stages.stages,
    }


def rewind_stripe_bookmarks(settings: LocalShop, to: datetime) -> None:
    """tap-stripe bookmarks at the real clock, not at the newest object it read: move its
    bookmarks back to the shop's clock, as if the previous run had happened then. Without it a
    simulated day (which ends before the real now) would be behind the bookmark and skipped."""
    state = meltano.read_state(settings.platform(), "el-stripe")
    epoch = int(to.timestamp())
    for bookmark in state.get("bookmarks", {}).values():
        for key, value in bookmark.items():
            if isinstance(value, int) and value > epoch:
                bookmark[key] = epoch
    meltano.write_state(settings.platform(), "el-stripe", state)


def day(settings: LocalShop, month_result: dict, build_reports: bool) -> dict[str, object]:
    """The shop's last day, then one daily_refresh run as its deployment runs it (on a standing
    Prefect server): its stages are the run log's. The checks run after the flow, untimed."""
    from flows.daily_refresh import daily_refresh

    clock = generator.shop_clock(settings)
    assert clock is not None
    started = time.perf_counter()
    stages = Stages()
    with PeakMemory() as memory:
        with stages.time("generate") as facts:
            changes = generator.simulate(settings, until=clock + timedelta(days=1))
            facts["rows"] = sum(changes.values())
            facts["orders"] = changes.get("shop.orders.inserted", 0)
        rewind_stripe_bookmarks(settings, clock)
        services.start_stripe_sandbox(settings)
        with standing_prefect_server(settings):
            flow_started, flow_started_at = time.perf_counter(), time.time()
            run_log = daily_refresh(environment="dev", build_reports=build_reports)
            flow_seconds = time.perf_counter() - flow_started
    total = time.perf_counter() - started
    # The refresh swaps the new site in with one rename, which sets the folder's ctime.
    site_dir = settings.platform().site_dir
    published = site_dir.stat().st_ctime - flow_started_at if build_reports else None
    for name, seconds, rows, _detail in run_log.stages:
        stages.record(name, seconds, rows=rows)
    try:
        reconciled_rows(settings)
        check_revenue(settings)
    except BenchCheckError as error:
        raise BenchCheckError(str(error), stages.stages) from error
    month_stages = month_result["stages"]
    return {
        "ok": True,
        "total_seconds": round(total, 2),
        "flow_seconds": round(flow_seconds, 2),
        "site_published_after_seconds": None if published is None else round(published, 2),
        "peak_rss_mb": memory.peak_mb,
        "stages": stages.stages,
        "ratio_to_month": {
            name: round(stage["seconds"] / month_stages[name]["seconds"], 4)
            for name, stage in stages.stages.items()
            if month_stages.get(name, {}).get("seconds")
        },
    }


@contextmanager
def standing_prefect_server(settings: LocalShop) -> Iterator[None]:
    """A Prefect server for the block, as a deployment's runs have one: not the temporary server
    a flow without one starts (~9 s of its own here)."""
    server_env = {
        **os.environ,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": settings.prefect_database_url(),
    }
    with (
        prefect_server(free_port(), server_env, settings.log_dir / "prefect-server.log") as api,
        temporary_settings({PREFECT_API_URL: api}),
    ):
        try:
            yield
        finally:
            APILogWorker.drain_all(timeout=5)  # the runs' logs reach the server before it stops


def _newest_shop_order(settings: LocalShop) -> datetime:
    conn = inspect.connect(settings, attach_raw=False, attach_postgres=True)
    try:
        (newest,) = conn.execute("select max(placed_at) from shop.public.orders").fetchone()
    finally:
        conn.close()
    return newest.astimezone(UTC)


def realtime_lag(settings: LocalShop, build_reports: bool) -> dict[str, object]:
    """One realtime_orders run after the daily pipeline, as its schedule would do it (its first
    run starts at the daily job's bookmarks, pipeline/extract_load.py), on a standing Prefect
    server."""
    from flows.realtime_orders import realtime_orders

    (realtime_job,) = settings.platform().realtime_jobs
    with standing_prefect_server(settings):
        started = time.perf_counter()
        with PeakMemory() as memory:
            generator.simulate(settings, until=datetime.now(UTC))  # the shop lives on to now
            run_log = realtime_orders(environment="dev", build_reports=build_reports)
        published = datetime.now(UTC)
        total = time.perf_counter() - started
    shop_newest = _newest_shop_order(settings)
    with analytics(settings) as conn:
        mart_newest, orders_in_mart = conn.execute(
            "select max(placed_at), count(*) from marts.fct_orders"
        ).fetchone()
    mart_newest = (
        mart_newest.astimezone(UTC) if mart_newest.tzinfo else mart_newest.replace(tzinfo=UTC)
    )
    if mart_newest != shop_newest:
        raise BenchCheckError(
            f"after realtime_orders the mart's newest order is {mart_newest.isoformat()}, "
            f"the shop's {shop_newest.isoformat()}"
        )
    reconciled_rows(settings, [realtime_job])
    stages = Stages()
    for name, seconds, rows, _detail in run_log.stages:
        stages.record(name, seconds, rows=rows)
    # The shop lived up to its clock just before the run, which published everything up to it:
    # the page is that far behind the shop when it appears (the newest order may be older: a
    # quiet hour).
    shop_clock = generator.shop_clock(settings)
    assert shop_clock is not None
    lag = (published - shop_clock).total_seconds()
    return {
        "ok": True,
        "lag_seconds": round(lag, 1),
        "worst_case_lag_seconds": round(lag + busiest_interval_s(), 1),
        "schedule_interval_seconds": busiest_interval_s(),
        "shop_clock": shop_clock.isoformat(),
        "published_at": published.isoformat(),
        "shop_newest_order": shop_newest.isoformat(),
        "mart_newest_order": mart_newest.isoformat(),
        "orders_in_mart": orders_in_mart,
        "total_seconds": round(total, 2),
        "peak_rss_mb": memory.peak_mb,
        "stages": stages.stages,
    }
