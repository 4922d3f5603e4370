"""The run log: what each pipeline run did, kept in the warehouse (OPS) for the operations page.

Locally `ops` is a schema of analytics.duckdb; on Snowflake ANALYTICS.OPS (terraform/platform.yaml),
written by the role the flows run as.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline import warehouse
from pipeline.settings import Settings

RUNS_DDL = """
create table if not exists {runs} (
    run_id         varchar not null primary key,
    flow           varchar not null,
    environment    varchar not null,
    started_at     timestamp not null,   -- UTC
    finished_at    timestamp not null,   -- UTC; while running: when it was last recorded
    status         varchar not null,     -- running | completed | failed | skipped
    seconds        double not null,
    rows_loaded    bigint not null,
    models_built   integer not null,
    tests_passed   integer not null,
    tests_failed   integer not null,
    error          varchar
)"""
# Sources a run could not load, and the models left at their last good state because of it:
# what the report pages say about data that is held back (since when, why).
HELD_BACK_DDL = """
create table if not exists {held_back} (
    source           varchar not null,
    model            varchar not null,   -- a model or snapshot built from the source
    held_back_since  timestamp not null, -- UTC: the first run that could not load the source
    reason           varchar not null,
    run_id           varchar not null    -- the latest run that held it back
)"""
STAGES_DDL = """
create table if not exists {stages} (
    run_id     varchar not null,
    stage      varchar not null,
    seconds    double not null,
    rows       bigint,                   -- rows moved by the stage, where it moves rows
    detail     varchar                   -- JSON: rows per table, test counts, ...
)"""


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
    sources_loaded: set[str] = field(default_factory=set)
    held_back: dict[str, str] = field(default_factory=dict)  # source -> why
    held_back_models: dict[str, list[str]] = field(default_factory=dict)

    def hold_back(self, source: str, reason: str) -> None:
        self.held_back[source] = reason

    def stage(self, name: str, seconds: float, rows: int | None = None, **detail: object) -> None:
        self.stages.append((name, seconds, rows, detail))

    def write(
        self,
        settings: Settings,
        status: str,
        error: str | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        """Record this run (again) in the warehouse's run log; finished now unless told."""
        finished_at = finished_at or datetime.now(UTC)
        with warehouse.connect(settings, write_ops=True) as ops:
            runs, stages = ops.ops_relation("pipeline_runs"), ops.ops_relation("pipeline_stages")
            ops.execute(RUNS_DDL.format(runs=runs))
            ops.execute(STAGES_DDL.format(stages=stages))
            ops.execute(f"delete from {runs} where run_id = ?", [self.run_id])
            ops.execute(
                f"insert into {runs} values ({', '.join('?' * 12)})",
                [
                    self.run_id, self.flow, self.environment,
                    self.started_at.replace(tzinfo=None), finished_at.replace(tzinfo=None),
                    status, (finished_at - self.started_at).total_seconds(), self.rows_loaded,
                    self.models_built, self.tests_passed, self.tests_failed, error,
                ],
            )  # fmt: skip
            ops.execute(f"delete from {stages} where run_id = ?", [self.run_id])
            for name, seconds, rows, detail in self.stages:
                ops.execute(
                    f"insert into {stages} values (?, ?, ?, ?, ?)",
                    [self.run_id, name, seconds, rows, json.dumps(detail, default=str)],
                )
            self._write_held_back(ops)

    def _write_held_back(self, ops: warehouse.Warehouse) -> None:
        held_back = ops.ops_relation("held_back")
        ops.execute(HELD_BACK_DDL.format(held_back=held_back))
        for source in self.sources_loaded:
            ops.execute(f"delete from {held_back} where source = ?", [source])
        for source, reason in self.held_back.items():
            (since,) = ops.query(
                f"select min(held_back_since) from {held_back} where source = ?", [source]
            )[0]
            ops.execute(f"delete from {held_back} where source = ?", [source])
            for model in self.held_back_models.get(source) or ["(all)"]:
                ops.execute(
                    f"insert into {held_back} values (?, ?, ?, ?, ?)",
                    [source, model, since or self.started_at.replace(tzinfo=None),
                     reason[:2000], self.run_id],
                )  # fmt: skip
