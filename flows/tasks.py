"""The steps of the platform's flows, as Prefect tasks over the pipeline glue.

Steps that talk to the outside world (sources, Stripe, the warehouse) retry with backoff;
every step has a timeout. Each step adds what it did to the run log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.states import State

from pipeline import deletes, extract_load, meltano, reconcile, reports, transform, warehouse
from pipeline.exports import ExportValidationError, validate_exports
from pipeline.run_log import RunLog
from pipeline.schema_drift import SchemaDriftError
from pipeline.settings import Settings

RETRY_DELAYS_S = [10, 30, 90]


@task(timeout_seconds=60)
def check_exports(settings: Settings) -> dict[str, int]:
    return validate_exports(settings.exports_url)


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
def extract_load_job(settings: Settings, job: str) -> extract_load.JobRun:
    return extract_load.run_job(settings, job)


def extract_load_all(settings: Settings, run_log: RunLog, jobs: Sequence[str]) -> list[str]:
    """Run the jobs in parallel and log the rows each table received; return the Meltano jobs
    that ran."""
    meltano.prepare(settings)
    started = datetime.now(UTC)
    futures = [extract_load_job.submit(settings, job) for job in jobs]
    runs = [future.result() for future in futures]
    sources = [meltano.source_of(run.ran) for run in runs]
    loaded = warehouse.rows_loaded_since(settings, sources, started)
    run_log.rows_loaded += sum(loaded.values())
    for run, source in zip(runs, sources, strict=True):
        rows = {table: n for table, n in loaded.items() if table.startswith(f"{source}.")}
        run_log.stage(run.job, run.seconds, sum(rows.values()), **rows)
    return [run.ran for run in runs]


@task(retries=1, retry_delay_seconds=30, timeout_seconds=900)
def mark_deletes(settings: Settings, run_log: RunLog, jobs: Sequence[str]) -> None:
    """Rows deleted at the source since the last run: marked deleted in RAW, so this run's
    models drop them (pipeline/deletes.py)."""
    started = time.monotonic()
    marked = {
        f"{meltano.source_of(job)}.{table}": keys
        for job in jobs
        for table, keys in deletes.mark_deleted(settings, job).items()
    }
    run_log.stage("mark deletes", time.monotonic() - started, sum(marked.values()), **marked)


@task(timeout_seconds=900)
def reconcile_raw(
    settings: Settings, run_log: RunLog, jobs: Sequence[str], tables: Sequence[str] | None = None
) -> None:
    started = time.monotonic()
    results = reconcile.reconcile(settings, jobs, tables)
    run_log.stage(
        "reconcile",
        time.monotonic() - started,
        **{r.source + "." + r.table: r.source_rows for r in results},
    )


@task(retries=1, retry_delay_seconds=30, timeout_seconds=3600)
def build_models(
    settings: Settings,
    run_log: RunLog,
    select: list[str] | None = None,
    lookback_days: int | None = None,
) -> transform.BuildSummary:
    summary = transform.build(settings, select=select, lookback_days=lookback_days)
    run_log.models_built = summary.models_ok + summary.snapshots_ok
    run_log.tests_passed = summary.tests_passed
    run_log.tests_failed = summary.tests_failed
    run_log.stage("dbt build", summary.seconds, summary=summary.describe())
    if not summary.ok:
        raise transform.TransformError(summary.describe())
    return summary


@task(retries=1, retry_delay_seconds=10, timeout_seconds=1200)
def build_report_site(settings: Settings, run_log: RunLog) -> reports.ReportBuild:
    build = reports.build_site(settings)
    run_log.stage("report build", build.seconds, summary=build.describe())
    return build
