"""History loads: first loads and reloads from a day (`shop backfill`, the daily flow's
`backfill_start`), without the daily run's 30-minute wall, resumable, with progress.

Resumable because every step commits a bookmark. tap-stripe 3.3.0 reads each stream in windows of
`created` (`date_window_size` days) and writes a STATE after each window; the loader passes a
STATE on only once every row before it is committed (target-duckdb-batch commits at the first
STATE after `batch_size_rows` rows wait; target-snowflake after each batch it loads). Small
windows therefore turn a history into many checkpoints: a killed backfill is run again and starts
at the last window its loader committed, and re-reads at most a batch and a window. tap-postgres
already checkpoints after each batch file.

Parallel where the RAW files allow it: the jobs run side by side (a RAW file each locally), and
in production a job environments.yaml splits (jobs.history_parallel: el-stripe-prod into a job
per Stripe stream, each its own Snowflake table) runs as its parts; tap-stripe reads one stream
at a time and is CPU-bound, so its streams gain most. Locally Stripe's streams share
raw_stripe.duckdb, which takes one writer: they stay one job.

Progress comes from the job's log: rows committed per stream from the local loader's "Loaded N
records/rows … into" lines (target-snowflake logs none: there, the rows its METRIC record_count
says it received, every 60 s), and how far through the history the job is: for Stripe from the
`created[gte]` of the tap's requests, for PostgreSQL from the rows the source holds at or after
each table's bookmark, counted before the job starts. tap-stripe counts its records (METRIC
record_count) only when it ends, so its METRIC lines cannot show progress (records_read reads
them after).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from psycopg import sql

from pipeline import extract_load, meltano, shop_database
from pipeline.settings import Settings

# A stuck history load still ends. The seed-scale history at the ~3,000 rows/s tap-stripe
# manages is hours, not a day; a backfill stopped here resumes at its last checkpoint.
BACKFILL_TIMEOUT_S = 24 * 3600
# One day of Stripe history per window: ~17,000 charges at the seed's 500,000 orders a month, so
# the loader's 100,000-row batches commit every few days of history (re-read after a kill: at
# most a batch and a window). Meltano takes a plugin setting from <PLUGIN>_<SETTING>.
STRIPE_WINDOW_DAYS = 1
PROGRESS_EVERY_S = 30

_REQUEST = re.compile(r"Request to Stripe api\b.*?/v1/(\w+)\?\S*?created\[gte\]=(\d+)")
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
_STREAM_STARTED = re.compile(r"Started syncing stream (\w+)")
_LOADED = re.compile(r'Loaded (\d+) (?:records|rows of .*) into "\w+"\."(\w+)"')
_METRIC = re.compile(r"METRIC: (\{.*\})")


def history_settings(settings: Settings, since: date | None = None) -> Settings:
    """The settings a history load runs with: Stripe in one-day windows, and for streams without
    a bookmark the history from `since` (default: TAP_STRIPE_START_DATE). A stream with a
    bookmark resumes at it: RAW holds everything before it."""
    variables = {**settings.variables, "TAP_STRIPE_DATE_WINDOW_SIZE": str(STRIPE_WINDOW_DAYS)}
    if since is not None:
        variables["TAP_STRIPE_START_DATE"] = f"{since.isoformat()}T00:00:00Z"
    return replace(settings, variables=variables)


@dataclass
class StreamProgress:
    """One stream of a running job, as its log tells it."""

    committed: int = 0  # rows the loader says it committed in this run (the local loader)
    received: int = 0  # rows the loader's METRIC record_count counted (every 60 s; both loaders)
    span_start: int | None = None  # the first `created[gte]` this run asked for (Stripe)
    position: int | None = None  # the `created[gte]` of the window being read
    expected: int | None = None  # rows the run has to read (PostgreSQL), when known
    done: bool = False


@dataclass
class JobProgress:
    """What a job's log says it has done so far."""

    job: str
    log_file: Path
    streams: dict[str, StreamProgress]  # the job's tables
    started: float | None = None  # epoch of the log's first line; tap-stripe reads up to ~then
    _read: int = 0  # bytes of the log already read

    def update(self) -> None:
        with self.log_file.open("rb") as log:
            log.seek(self._read)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._read += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            if self.started is None and (match := _TIMESTAMP.match(line)):
                self.started = datetime.fromisoformat(match[1]).timestamp()
            if match := _STREAM_STARTED.search(line):
                for name, stream in self.streams.items():  # tap-stripe reads one at a time
                    if stream.span_start is not None and name != match[1]:
                        stream.done = True
            elif (match := _REQUEST.search(line)) and match[1] in self.streams:
                stream = self.streams[match[1]]
                if stream.span_start is None:
                    stream.span_start = int(match[2])
                stream.position = int(match[2])
            elif (match := _LOADED.search(line)) and match[2] in self.streams:
                self.streams[match[2]].committed += int(match[1])
            elif match := _METRIC.search(line):
                self._count_received(json.loads(match[1]))

    def _count_received(self, metric: dict) -> None:
        """A loader's (singer-sdk's) record count, tagged by stream (`public-orders`: orders)."""
        stream = metric.get("tags", {}).get("stream", "").split("-", 1)[-1]
        if metric.get("metric") == "record_count" and stream in self.streams:
            self.streams[stream].received += int(metric["value"])

    def rows(self) -> dict[str, int]:
        """Rows per stream so far: committed where the loader logs its commits, else received
        (target-snowflake logs no commits)."""
        logs_commits = any(stream.committed for stream in self.streams.values())
        return {
            name: stream.committed if logs_commits else stream.received
            for name, stream in self.streams.items()
        }

    def fraction(self, now: float) -> float | None:
        """How much of the history the tap has read, if known: rows so far against the rows
        to read (PostgreSQL), else the mean over the streams of how far their windows are."""
        expected = [stream.expected for stream in self.streams.values()]
        if all(rows is not None for rows in expected):
            total = sum(rows for rows in expected if rows is not None)
            return min(sum(self.rows().values()) / total, 1.0) if total else None
        spans = []
        for stream in self.streams.values():
            if stream.done:
                spans.append(1.0)
            elif stream.span_start is None or stream.position is None:
                spans.append(0.0)
            else:
                span = max((self.started or now) - stream.span_start, 1)
                spans.append(min((stream.position - stream.span_start) / span, 1.0))
        return sum(spans) / len(spans) if any(spans) else None

    def describe(self) -> str:
        now = time.time()
        elapsed = max(now - (self.started or now), 1e-3)
        logs_commits = any(stream.committed for stream in self.streams.values())
        rows = self.rows()
        total = sum(rows.values())
        per_stream = ", ".join(f"{name} {n:,}" for name, n in rows.items() if n)
        done = "committed" if logs_commits else "received by the loader"
        text = f"{self.job}: {total:,} rows {done} ({per_stream or 'none yet'}), "
        text += f"{total / elapsed:,.0f} rows/s, {elapsed:,.0f} s"
        fraction = self.fraction(now)
        if fraction:
            left = elapsed * (1 - fraction) / fraction
            text += f"; history read {fraction:.0%}, about {left:,.0f} s left"
        return text


class Progress:
    """Reports each job's progress through `report` (print, a logger)."""

    def __init__(
        self, settings: Settings, jobs: Iterable[str], report: Callable[[str], None]
    ) -> None:
        self.report = report
        self.jobs: dict[str, JobProgress] = {}
        # Counted before the jobs start: a bookmark they commit must not shrink what is left.
        self.rows_to_read = {
            job: rows_to_read(settings, job) for job in jobs if meltano.source_of(job) == "postgres"
        }

    def __call__(self, job: str, log_file: Path) -> None:
        if job not in self.jobs:
            streams = {table: StreamProgress() for table in meltano.job_tables(job)}
            for table, rows in self.rows_to_read.get(job, {}).items():
                streams[table].expected = rows
            self.jobs[job] = JobProgress(job, log_file, streams)
        self.jobs[job].update()
        self.report(self.jobs[job].describe())


def run_jobs(
    settings: Settings,
    jobs: Iterable[str],
    report: Callable[[str], None],
    since: date | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> Mapping[str, extract_load.JobRun]:
    """Load the jobs' history in parallel (one RAW file each locally), reporting progress. A job
    that environments.yaml splits (jobs.history_parallel) runs as its parts, in parallel; once
    all of them finished, the job starts from their bookmarks."""
    history = history_settings(settings, since)
    parts = {job: settings.history_parallel.get(job, [job]) for job in jobs}
    split = {job: its_parts for job, its_parts in parts.items() if its_parts != [job]}
    for job, its_parts in split.items():
        start_parts(history, job, its_parts)
    all_parts = [part for its_parts in parts.values() for part in its_parts]
    runs = extract_load.run_jobs(
        history,
        all_parts,
        timeout_s=BACKFILL_TIMEOUT_S,
        progress=Progress(history, all_parts, report),
        progress_every_s=progress_every_s,
    )
    for job, its_parts in split.items():
        end_parts(history, job, its_parts)
    return runs


def rows_to_read(settings: Settings, job: str) -> dict[str, int]:
    """Rows of each of a PostgreSQL job's tables its run will read: those at or after the
    table's bookmark (the tap compares updated_at with >=), all of them without one. A table
    bookmarked by something other than updated_at (a CDC job's log position) is left out."""
    bookmarks = meltano.read_state(settings, job).get("bookmarks", {})
    counts = {}
    with shop_database.connect(settings.postgres) as conn:
        for table in meltano.job_tables(job):
            bookmark = bookmarks.get(f"public-{table}")
            if bookmark is None:
                query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
                row = conn.execute(query).fetchone()
            elif "replication_key_value" in bookmark:
                query = sql.SQL("select count(*) from {} where updated_at >= %s").format(
                    sql.Identifier(table)
                )
                row = conn.execute(query, [bookmark["replication_key_value"]]).fetchone()
            else:
                continue
            counts[table] = int(row[0]) if row else 0
    return counts


def _owned_by(part: str, bookmarks: Mapping[str, object]) -> dict[str, object]:
    """The bookmarks of a part's streams (tap-stripe keeps `charges` and `charges_events`)."""
    tables = set(meltano.job_tables(part))
    return {key: value for key, value in bookmarks.items() if key.removesuffix("_events") in tables}


def start_parts(settings: Settings, job: str, parts: list[str]) -> None:
    """A part without bookmarks of its own (a killed run's parts keep theirs) starts at the
    job's: RAW holds everything before them."""
    bookmarks = meltano.read_state(settings, job).get("bookmarks", {})
    for part in parts:
        owned = _owned_by(part, bookmarks)
        if owned and not meltano.read_state(settings, part):
            meltano.write_state(settings, part, {"bookmarks": owned})


def end_parts(settings: Settings, job: str, parts: list[str]) -> None:
    """The job takes its parts' bookmarks, and the parts forget theirs: the next history load
    starts them at the job's again, which daily runs have moved on."""
    state = meltano.read_state(settings, job)
    bookmarks = dict(state.get("bookmarks", {}))
    for part in parts:
        bookmarks.update(_owned_by(part, meltano.read_state(settings, part).get("bookmarks", {})))
    meltano.write_state(settings, job, {**state, "bookmarks": bookmarks})
    for part in parts:
        meltano.clear_state(settings, part)


def records_read(log_file: Path) -> dict[str, int]:
    """Records per stream a singer-python tap (tap-stripe) says it read: its METRIC record_count,
    tagged by endpoint (the loader's are tagged by stream), written when it ends."""
    counts: dict[str, int] = {}
    for line in log_file.read_text(errors="replace").splitlines():
        if match := _METRIC.search(line):
            metric = json.loads(match[1])
            endpoint = metric.get("tags", {}).get("endpoint")
            if metric.get("metric") == "record_count" and endpoint:
                counts[endpoint] = counts.get(endpoint, 0) + int(metric["value"])
    return counts
