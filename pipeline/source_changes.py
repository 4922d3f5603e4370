"""Has the shop changed since the real-time flow last loaded it? Asked of the source (PostgreSQL),
not of the warehouse: a run with nothing to do resumes no warehouse and costs nothing.

The answer is the newest updated_at of the tables the real-time job loads (each indexed on it,
the job's own replication key), compared with the one the last completed run read before it
loaded. The comparison is kept in a small file of this runner's home; a runner without it (a
new worker) runs, so a missing or stale file never skips a change. Runs skipped since the last
completed one are kept there too, and the next run that opens the warehouse records them in the
run log, so a skip never pays for its own log line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from psycopg import sql

from pipeline import anomaly, meltano, shop_database
from pipeline.settings import Settings


@dataclass
class SourceMark:
    """What the last completed run read: the source's newest change, and the revenue watch's
    window at that time; and when runs were skipped since."""

    newest_change: str | None = None
    watch_window_end: str | None = None
    skipped: list[str] = field(default_factory=list)  # ISO UTC times of skipped runs


def mark_file(settings: Settings, flow: str) -> Path:
    return settings.home / "source_marks" / f"{flow}.json"


def read_mark(settings: Settings, flow: str) -> SourceMark:
    path = mark_file(settings, flow)
    return SourceMark(**json.loads(path.read_text())) if path.exists() else SourceMark()


def write_mark(settings: Settings, flow: str, mark: SourceMark) -> None:
    path = mark_file(settings, flow)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(mark.__dict__))
    path.with_suffix(".tmp").replace(path)


def newest_change(settings: Settings, jobs: Sequence[str]) -> str | None:
    """The newest updated_at of the jobs' tables at the source, ISO, or None when all are empty
    (one index lookup per table)."""
    tables = sorted({table for job in jobs for table in meltano.job_tables(job)})
    newest = sql.SQL("select greatest({})").format(
        sql.SQL(", ").join(
            sql.SQL("(select max(updated_at) from {})").format(sql.Identifier(table))
            for table in tables
        )
    )
    with shop_database.connect(settings.postgres) as conn:
        row = conn.execute(newest).fetchone()
    return row[0].isoformat() if row and row[0] is not None else None


def watch_window_end(now: datetime) -> str:
    """The end of the window the revenue watch would judge now (pipeline/anomaly.py)."""
    return anomaly.last_window(now).end.isoformat()


def nothing_new(mark: SourceMark, newest: str | None, now: datetime) -> bool:
    """Skip: the source has not changed since the last completed run read it, and no window has
    closed since then that the revenue watch has not judged (a silent source in a new window may
    be an outage: that run must happen)."""
    return (
        mark.newest_change is not None
        and newest == mark.newest_change
        and watch_window_end(now) == mark.watch_window_end
    )
