"""The steps of the platform's flows, as Prefect tasks over the pipeline glue.

Steps that talk to the outside world (sources, Stripe, the warehouse) retry with backoff;
every step has a timeout, its own or, in a worker thread (which Prefect cannot interrupt), its
process's and the flow's. Each step adds what it did to the run log.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.futures import as_completed
from prefect.states import State

from flows.alerts import send_alert
from pipeline import (
    backfill,
    deletes,
    extract_load,
    meltano,
    reconcile,
    reports,
    revenue_watch,
    source_changes,
    transform,
    warehouse,
)
from pipeline.exports import ExportValidationError
from pipeline.run_log import RunLog
from pipeline.schema_drift import SchemaDriftError
from pipeline.settings import Settings, snowflake_platform

RETRY_DELAYS_S = [10, 30, 90]


def _worth_retrying(task: object, task_run: object, state: State) -> bool:
    """Sources down or busy are worth a retry; bad input or a changed schema are not."""
    try:
        state.result()
    except (ExportValidationError, SchemaDriftError):
        return False
    except Exception:
        return True
    return True


# No task timeout: these run in worker threads, which Prefect cannot interrupt; the Meltano
# process itself is stopped at its timeout.
@task(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=_worth_retrying)
def extract_load_job(settings: Settings, job: str, history: bool = False) -> extract_load.JobRun:
    """One job; a history load (settings from backfill.history_settings) runs under its own
    wall and logs its progress. A retry resumes at the job's last checkpoint."""
    if history:
        progress = backfill.Progress(settings, [job], get_run_logger().info)
        return extract_load.run_job(settings, job, backfill.BACKFILL_TIMEOUT_S, progress)
    return extract_load.run_job(settings, job)


def load_sources(
    settings: Settings, run_log: RunLog, jobs: Sequence[str], history: bool = False
) -> list[str]:
    """Extract-load the jobs in parallel (`history`: as history loads, pipeline/backfill.py);
    as soon as a job's load ends, while the others still load, mark its source's deletes and
    reconcile what it loaded.

    One source failing (a bad export, a source down after its retries, a changed schema, RAW
    not matching it) holds back only that source: the others go on. Returns the jobs whose
    sources loaded and reconciled; the held-back sources and why are in `run_log.held_back`."""
    meltano.prepare(settings)
    started = datetime.now(UTC)
    loads = {extract_load_job.submit(settings, job, history): job for job in jobs}
    runs, checks = {}, {}
    for load in as_completed(list(loads)):
        job = loads[load]
        load.wait()  # its final state, not the API's view of it
        if load.state.is_completed():
            runs[job] = load.result()
            checks[job] = check_loaded_job.submit(settings, runs[job], started)
        else:
            run_log.hold_back(meltano.source_of(job), _reason(load.state))
    ran = [job for job in jobs if job in checks]  # in the jobs' order, as the run log lists them
    checked = []
    for job in ran:
        checks[job].wait()
        if not checks[job].state.is_completed():
            run_log.stage(job, runs[job].seconds)
            run_log.hold_back(meltano.source_of(job), _reason(checks[job].state))
            continue
        check = checks[job].result()
        checked.append(check)
        run_log.rows_loaded += sum(check.loaded.values())
        run_log.stage(job, runs[job].seconds, sum(check.loaded.values()), **check.loaded)
        if check.held_back is not None:
            run_log.hold_back(meltano.source_of(job), check.held_back)
    marked = {table: keys for check in checked for table, keys in check.marked.items()}
    deletes_seconds = _busy_seconds(check.deletes for check in checked)
    run_log.stage("mark deletes", deletes_seconds, sum(marked.values()), **marked)
    rows = {table: n for check in checked for table, n in check.source_rows.items()}
    run_log.stage("reconcile", _busy_seconds(check.reconcile for check in checked), **rows)
    reconciled = [check.job for check in checked if check.held_back is None]
    run_log.sources_loaded |= {meltano.source_of(job) for job in reconciled}
    return reconciled


def _reason(state: State) -> str:
    error = state.result(raise_on_failure=False)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(state.message)


Interval = tuple[float, float]  # time.monotonic() at its start and at its end


def _busy_seconds(intervals: Iterable[Interval]) -> float:
    """Seconds during which at least one of the steps ran: the jobs' steps may overlap, and
    begin when each job's load ends."""
    busy, until = 0.0, float("-inf")
    for start, end in sorted(intervals):
        busy += max(0.0, end - max(start, until))
        until = max(until, end)
    return busy


@dataclass(frozen=True)
class LoadedJobCheck:
    job: str
    loaded: dict[str, int]  # `<source>.<table>` -> rows the load inserted or updated
    marked: dict[str, int]  # `<source>.<table>` -> keys newly marked deleted
    deletes: Interval
    source_rows: dict[str, int]  # `<source>.<table>` -> the source's rows it compared
    reconcile: Interval
    held_back: str | None  # why RAW does not match the source, or None


# Retried once: the sources or the warehouse may be busy; marking deletes again and comparing
# again are harmless. No timeout: it runs in a worker thread, which Prefect cannot interrupt.
@task(retries=1, retry_delay_seconds=30)
def check_loaded_job(
    settings: Settings, run: extract_load.JobRun, loads_started: datetime
) -> LoadedJobCheck:
    """What a job loaded: its rows counted; rows deleted at the source since its last run marked
    deleted in RAW, so this run's models drop them (pipeline/deletes.py); then RAW reconciled
    with the source. A source that does not match is held back. One thread per source: locally a
    RAW file is attached once in a process."""
    source = meltano.source_of(run.ran)
    loaded = warehouse.rows_loaded_since(settings, [source], loads_started)
    started = time.monotonic()
    marked = deletes.mark_deleted(settings, run.ran)
    deletes_ended = time.monotonic()
    results = reconcile.reconcile_job(settings, run.ran)
    failures = [result for result in results if not result.ok]
    return LoadedJobCheck(
        job=run.job,
        loaded=loaded,
        marked={f"{source}.{table}": keys for table, keys in marked.items()},
        deletes=(started, deletes_ended),
        source_rows={r.source + "." + r.table: r.source_rows for r in results},
        reconcile=(deletes_ended, time.monotonic()),
        held_back=(
            f"ReconciliationError: {reconcile.ReconciliationError(failures)}" if failures else None
        ),
    )


@task(retries=1, retry_delay_seconds=30, timeout_seconds=600)
def check_source_freshness(settings: Settings, run_log: RunLog) -> None:
    """`dbt source freshness` on the sources this run loaded. A table behind its limits (the shop
    stopped writing it, or its changes stopped reaching RAW) is alerted once per run, naming its
    newest change; the run goes on, since the figures built from it are still right as of then."""
    started = time.monotonic()
    results = transform.source_freshness(settings, sorted(run_log.sources_loaded))
    late = [result for result in results if result.late]
    run_log.stage("source freshness", time.monotonic() - started,
                  **{result.table: result.status for result in results})  # fmt: skip
    if late:
        send_alert(
            f"Source freshness: {len(late)} source table(s) behind their limits",
            {result.table: result.describe() for result in late},
        )


@task(retries=1, retry_delay_seconds=30, timeout_seconds=3600)
def build_models(
    settings: Settings,
    run_log: RunLog,
    select: list[str] | None = None,
    exclude: Sequence[str] = (),
    lookback_days: int | None = None,
) -> transform.BuildSummary:
    """dbt build, without what depends on a held-back source (dbt's graph: `source:<name>+`):
    those models keep their last good state, and the run log says since when and why."""
    held_back = sorted(run_log.held_back)
    summary = transform.build(
        settings,
        select=select,
        exclude=[*exclude, *(f"source:{source}+" for source in held_back)],
        lookback_days=lookback_days,
    )
    run_log.held_back_models = transform.downstream_models(settings, held_back)
    run_log.models_built = summary.models_ok + summary.snapshots_ok
    run_log.tests_passed = summary.tests_passed
    run_log.tests_failed = summary.tests_failed
    run_log.stage("dbt build", summary.seconds, summary=summary.describe())
    if not summary.ok:
        raise transform.TransformError(summary.describe())
    return summary


@task(retries=1, retry_delay_seconds=30, timeout_seconds=600)
def build_docs(settings: Settings, run_log: RunLog) -> None:
    """The dbt docs (lineage from every page back to RAW), beside the site (`shop serve`)."""
    started = time.monotonic()
    page = transform.build_docs(settings)
    run_log.stage("dbt docs", time.monotonic() - started, page=str(page))


@task(retries=1, retry_delay_seconds=10, timeout_seconds=300)
def watch_revenue(settings: Settings, run_log: RunLog, read_up_to: datetime) -> None:
    """Orders and paid revenue of the last window against their normal band: one alert when the
    shop is far below (checkout or payments down) or far above (a promotion, fraud), one when it
    recovers."""
    started = time.monotonic()
    assessment, alert = revenue_watch.watch(settings, read_up_to)
    if alert is not None:
        send_alert(alert.text, alert.fields)
    verdict = assessment.describe() if assessment else "no band yet (too little history)"
    run_log.stage("revenue watch", time.monotonic() - started, verdict=verdict,
                  alert=alert.text if alert else None)  # fmt: skip


@task(retries=1, retry_delay_seconds=10, timeout_seconds=1200)
def build_report_site(
    settings: Settings, run_log: RunLog, pages: Sequence[str] = ()
) -> reports.ReportBuild:
    """The site's data refreshed in place when only data changed (only `pages`' when given);
    built again when its pages, queries or the project did (or it was never built here)."""
    try:
        build = reports.refresh_site_data(settings, site_dir=settings.site_dir, pages=pages)
    except reports.FullBuildNeeded:
        build = reports.build_site(settings, output_dir=settings.site_dir)
    run_log.stage(
        "report build", build.seconds, summary=build.describe(), data_only=build.data_only
    )
    return build


@task(retries=2, retry_delay_seconds=RETRY_DELAYS_S[:2], timeout_seconds=60)
def source_newest_change(settings: Settings, jobs: Sequence[str]) -> str | None:
    """The newest change at the source of the jobs' tables (PostgreSQL, no warehouse)."""
    return source_changes.newest_change(settings, jobs)


def record_skipped_runs(settings: Settings, flow: str, skipped: Sequence[str]) -> None:
    """Put the runs skipped since the last completed one into the run log (while this run has
    the warehouse open anyway)."""
    for at in skipped:
        started = datetime.fromisoformat(at)
        RunLog(run_id=f"{flow} skipped {at}", flow=flow, environment=settings.environment,
               started_at=started).write(
            settings, "skipped", "nothing new at the source", finished_at=started
        )  # fmt: skip


@task(retries=2, retry_delay_seconds=RETRY_DELAYS_S[:2], timeout_seconds=120)
def suspend_warehouse(settings: Settings, flow: str) -> None:
    """Suspend the flow's warehouse when the workload asks for it (terraform/platform.yaml):
    the run bills its own seconds, not an idle minute more."""
    workload = snowflake_platform()["workloads"][flow]
    if workload["suspend_after_run"]:
        for name in {workload["load"], workload["transform"], workload["report"]}:
            warehouse.suspend(settings, name)
