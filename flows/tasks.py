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

from pipeline import extract_load, reconcile, reports, services, transform, warehouse
from pipeline.exports import ExportValidationError, validate_exports
from pipeline.run_log import RunLog
from pipeline.schema_drift import SchemaDriftError
from sandbox import generator, postgres
from sandbox.config import DEMO_MONTHS, DEMO_ORDERS_PER_MONTH, Settings

RETRY_DELAYS_S = [10, 30, 90]


def require_local(environment: str) -> None:
    if environment != "dev":
        raise NotImplementedError(
            f"environment {environment!r}: the flows run the embedded default ('dev') only so far"
        )


@task(timeout_seconds=120)
def start_local_sources(settings: Settings) -> None:
    """The embedded default: the shop's PostgreSQL and the Stripe sandbox."""
    postgres.start(settings)
    services.start_stripe_sandbox(settings)


@task(timeout_seconds=600)
def advance_local_shop(settings: Settings, run_log: RunLog) -> dict[str, int]:
    """The embedded default: the shop lives on up to now (its history is generated once)."""
    started = time.monotonic()
    if generator.shop_clock(settings) is None:
        generator.generate(settings, months=DEMO_MONTHS, orders_per_month=DEMO_ORDERS_PER_MONTH)
    changes = generator.simulate(settings, until=datetime.now(UTC))
    run_log.stage("simulate shop", time.monotonic() - started, **changes)
    return changes


@task(timeout_seconds=60)
def check_exports(settings: Settings) -> dict[str, int]:
    return validate_exports(settings.marketing_dir)


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
def extract_load_job(settings: Settings, job: str) -> float:
    return extract_load.run_job(settings, job).seconds


def extract_load_all(settings: Settings, run_log: RunLog, jobs: Sequence[str]) -> None:
    """Run the jobs in parallel (one RAW file each) and log the rows each table received."""
    extract_load.prepare(settings)
    started = datetime.now(UTC)
    futures = {job: extract_load_job.submit(settings, job) for job in jobs}
    seconds = {job: future.result() for job, future in futures.items()}
    loaded = warehouse.rows_loaded_since(settings, started)
    run_log.rows_loaded += sum(loaded.values())
    for job, job_seconds in seconds.items():
        schema = extract_load.RAW_SCHEMA_OF_JOB[job]
        rows = {table: n for table, n in loaded.items() if table.startswith(f"{schema}.")}
        run_log.stage(job, job_seconds, sum(rows.values()), **rows)


@task(timeout_seconds=600)
def reconcile_raw(
    settings: Settings,
    run_log: RunLog,
    sources: tuple[str, ...],
    tables: tuple[str, ...] | None = None,
) -> None:
    started = time.monotonic()
    results = reconcile.reconcile(settings, sources, tables)
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
