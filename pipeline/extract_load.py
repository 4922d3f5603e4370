"""Run the environment's Meltano extract-load jobs, in parallel (one RAW file each locally).

Before a job runs, what would make it load something wrong stops it, clearly: a column whose
type changed at the source (pipeline/schema_drift.py), a marketing export that breaks its
contract (pipeline/exports.py). While change data capture is on, the PostgreSQL job runs as the
CDC job, and the slot is advanced after the load (pipeline/cdc.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline import cdc, meltano, schema_drift, stripe_api
from pipeline.errors import PlatformError
from pipeline.exports import validate_exports
from pipeline.settings import Settings


class ExtractLoadError(PlatformError):
    pass


# Called every few seconds while a job runs, with the job and its log file (pipeline/backfill.py).
Progress = Callable[[str, Path], None]


@dataclass(frozen=True)
class JobRun:
    job: str  # the job asked for
    ran: str  # the Meltano job that ran (the CDC job in place of the one it replaces)
    seconds: float
    log_file: Path


def run_job(
    settings: Settings,
    job: str,
    timeout_s: float = meltano.JOB_TIMEOUT_S,
    progress: Progress | None = None,
    progress_every_s: float = 30,
) -> JobRun:
    meltano.prepare(settings)
    ran = cdc.job_for(settings, job)
    source = meltano.source_of(ran)
    if source == "postgres":
        schema_drift.check(settings)  # a changed column type stops the run, clearly
    if source == "marketing":
        # One bad export file holds back the whole marketing load (see pipeline/exports.py).
        validate_exports(settings.exports_url)
    if source == "stripe":
        _start_events_at_first_read(settings, ran)
    if job in settings.realtime_jobs:
        _start_from_daily_bookmarks(settings, job)
    log_file = settings.log_dir / f"{job}.log"
    started = time.monotonic()
    # Meltano refuses a job it records as running; a run whose process was killed stays
    # recorded so until it goes stale (minutes later). Meltano dies with the process that
    # started it (pipeline/processes.py), so when none of this home runs the job, the record
    # is stale.
    force = [] if _meltano_running(settings, ran) else ["--force"]
    meltano.run(
        settings,
        ["run", *force, ran],
        log_file,
        timeout_s,
        tick=(lambda: progress(job, log_file)) if progress else None,
        tick_every_s=progress_every_s,
    )
    if ran == settings.cdc_job:
        cdc.advance(settings)  # release the WAL of what is now in RAW
    return JobRun(job=job, ran=ran, seconds=time.monotonic() - started, log_file=log_file)


def _start_from_daily_bookmarks(settings: Settings, job: str) -> None:
    """A real-time job without bookmarks starts where the daily job's are: RAW already holds
    everything before them, so its first run does not read the shop's history again."""
    if meltano.read_state(settings, job):
        return
    daily = meltano.read_state(settings, settings.realtime_starts_from)
    tables = set(meltano.job_tables(job))
    bookmarks = {
        stream: bookmark
        for stream, bookmark in daily.get("bookmarks", {}).items()
        if stream.split("-", 1)[-1] in tables
    }
    if bookmarks:
        meltano.write_state(settings, job, {**daily, "bookmarks": bookmarks})


def _start_events_at_first_read(settings: Settings, job: str) -> None:
    """tap-stripe follows each stream's created windows with the last 30 days of its events (the
    updates), on a stream's first read too, when the windows are about to read every object as
    it is then or later: up to half of a first read's time. A stream read for the first time
    starts its events at this load's start instead, on Stripe's clock (its newest event now, so
    no event after it is missed whatever this worker's clock says); a stream read before keeps
    its own bookmark. (balance_transactions has no events: its bookmark goes unused.)"""
    state = meltano.read_state(settings, job)
    bookmarks = dict(state.get("bookmarks", {}))
    first_read = [
        stream
        for stream in meltano.job_tables(job)
        if stream not in bookmarks and f"{stream}_events" not in bookmarks
    ]
    if not first_read:
        return
    newest = stripe_api.newest_event_created(settings.stripe)
    if newest is not None:
        start = {"updates_created": newest}
        bookmarks.update({f"{stream}_events": start for stream in first_read})
        meltano.write_state(settings, job, {**state, "bookmarks": bookmarks})


def _meltano_running(settings: Settings, job: str) -> bool:
    """Whether a `meltano run <job>` of this home is alive."""
    home = f"SHOP_HOME={settings.home}".encode()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            if (
                argv[-1:] == [job.encode()]
                and b"run" in argv
                and any(arg.endswith(b"/meltano") for arg in argv)
                and home in (entry / "environ").read_bytes().split(b"\0")
            ):
                return True
        except OSError:  # not a process, or gone
            continue
    return False


def run_jobs(
    settings: Settings,
    jobs: Iterable[str] | None = None,
    timeout_s: float = meltano.JOB_TIMEOUT_S,
    progress: Progress | None = None,
    progress_every_s: float = 30,
) -> Mapping[str, JobRun]:
    """Run the jobs (default: the daily ones) in parallel; every job runs to its end even when
    another fails."""
    meltano.prepare(settings)
    jobs = list(jobs or settings.daily_jobs)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            job: pool.submit(run_job, settings, job, timeout_s, progress, progress_every_s)
            for job in jobs
        }
    failures = [f.exception() for f in futures.values() if f.exception() is not None]
    if failures:
        raise ExtractLoadError("\n\n".join(str(failure) for failure in failures))
    return {job: future.result() for job, future in futures.items()}
