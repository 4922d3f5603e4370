"""The run log: what each pipeline run did, kept in the warehouse for the operations page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from sandbox.config import Settings

RUNS_DDL = """
create schema if not exists ops;
create table if not exists ops.pipeline_runs (
    run_id         varchar primary key,
    flow           varchar not null,
    environment    varchar not null,
    started_at     timestamp not null,   -- UTC
    finished_at    timestamp not null,
    status         varchar not null,     -- running | completed | failed
    seconds        double not null,
    rows_loaded    bigint not null,
    models_built   integer not null,
    tests_passed   integer not null,
    tests_failed   integer not null,
    error          varchar
);
create table if not exists ops.pipeline_stages (
    run_id     varchar not null,
    stage      varchar not null,
    seconds    double not null,
    rows       bigint,                   -- rows moved by the stage, where it moves rows
    detail     varchar                   -- JSON: rows per table, test counts, ...
);
"""


@dataclass
class RunLog:
    run_id: str
    flow: str
    environment: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stages: list[tuple[str, float, int | None, dict]] = field(default_factory=list)
    rows_loaded: int = 0
    models_built: int = 0
    tests_passed: int = 0
    tests_failed: int = 0

    def stage(self, name: str, seconds: float, rows: int | None = None, **detail: object) -> None:
        self.stages.append((name, seconds, rows, detail))

    def write(self, settings: Settings, status: str, error: str | None = None) -> None:
        """Append this run to the log in the ANALYTICS database file."""
        finished_at = datetime.now(UTC)
        path = settings.warehouse_dir / "analytics.duckdb"
        with duckdb.connect(str(path)) as conn:
            conn.execute(RUNS_DDL)
            conn.execute(
                f"insert or replace into ops.pipeline_runs values ({', '.join('?' * 12)})",
                [
                    self.run_id, self.flow, self.environment,
                    self.started_at.replace(tzinfo=None), finished_at.replace(tzinfo=None),
                    status, (finished_at - self.started_at).total_seconds(), self.rows_loaded,
                    self.models_built, self.tests_passed, self.tests_failed, error,
                ],
            )  # fmt: skip
            conn.execute("delete from ops.pipeline_stages where run_id = ?", [self.run_id])
            conn.executemany(
                "insert into ops.pipeline_stages values (?, ?, ?, ?, ?)",
                [
                    [self.run_id, name, seconds, rows, json.dumps(detail, default=str)]
                    for name, seconds, rows, detail in self.stages
                ],
            )
