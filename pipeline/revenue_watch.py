"""The real-time run's watch on the shop's revenue: the last window judged against its normal
band (pipeline/anomaly.py), the incident kept between runs in the warehouse's OPS, and the alert
to send when one opens or is resolved."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline import anomaly, warehouse
from pipeline.settings import Settings

STATE_DDL = """
create table if not exists {state} (
    watch       varchar not null,   -- what is watched: revenue
    state       varchar not null,   -- JSON: the open incident (anomaly.Incident.as_dict)
    updated_at  timestamp not null  -- UTC
)"""
WATCH = "revenue"


class _Qmark:
    """The warehouse as anomaly's reads expect a connection: execute(sql, params).fetchone()."""

    def __init__(self, warehouse: warehouse.Warehouse) -> None:
        self.warehouse, self.rows = warehouse, []

    def execute(self, query: str, parameters: Sequence[Any]) -> _Qmark:
        self.rows = self.warehouse.query(query, parameters)
        return self

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None


def watch(
    settings: Settings, read_up_to: datetime
) -> tuple[anomaly.Assessment | None, anomaly.Alert | None]:
    """Judge the last complete window before `read_up_to` (when the run began reading the shop:
    a later window may not be whole in the marts yet). None while the model has no band yet."""
    window = anomaly.last_window(read_up_to.astimezone(UTC).replace(tzinfo=None))
    with warehouse.connect(settings, write_ops=True) as ops:
        conn = _Qmark(ops)
        band = anomaly.read_band(conn, window)
        if band is None:
            return None, None
        assessment = anomaly.assess(window, anomaly.read_figures(conn, window), band)
        state = ops.ops_relation("watch_state")
        ops.execute(STATE_DDL.format(state=state))
        rows = ops.query(f"select state from {state} where watch = ?", [WATCH])
        previous = json.loads(rows[0][0]) if rows else None
        incident, alert = anomaly.follow(
            anomaly.Incident.from_dict(previous) if previous else None, assessment
        )
        ops.execute(f"delete from {state} where watch = ?", [WATCH])
        if incident is not None:
            ops.execute(
                f"insert into {state} values (?, ?, ?)",
                [WATCH, json.dumps(incident.as_dict()), datetime.now(UTC).replace(tzinfo=None)],
            )
    return assessment, alert
