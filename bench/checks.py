"""Correctness before speed: a scenario reports a time only for a right answer."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from pipeline import reconcile, warehouse
from sandbox.config import Settings


class BenchCheckError(RuntimeError):
    """The pipeline gave a wrong answer: the scenario fails. `stages` keeps what was timed
    before the check, for diagnosis only (the report shows them under the failure)."""

    def __init__(self, message: str, stages: dict | None = None) -> None:
        super().__init__(message)
        self.stages = stages or {}


def analytics(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_dir / "analytics.duckdb"), read_only=True)


def reconciled_rows(settings: Settings, sources: tuple[str, ...] = warehouse.RAW_SOURCES) -> int:
    """Reconcile RAW with the sources key by key (raises on any mismatch); source rows checked."""
    try:
        results = reconcile.reconcile(settings, sources)
    except reconcile.ReconciliationError as error:
        raise BenchCheckError(str(error)) from error
    return sum(result.source_rows for result in results)


def check_revenue(settings: Settings) -> Decimal:
    """Net revenue over every day of the marts equals the sources' to the cent. Returns it."""
    with analytics(settings) as conn:
        first, last, mart_total = conn.execute(
            "select min(revenue_date), max(revenue_date), sum(net_revenue) "
            "from marts.fct_daily_revenue"
        ).fetchone()
    source_total = reconcile.source_net_revenue(settings, first, last)
    if Decimal(mart_total) != source_total:
        raise BenchCheckError(
            f"net revenue {first}..{last}: marts.fct_daily_revenue {mart_total}, "
            f"sources {source_total} (difference {Decimal(mart_total) - source_total})"
        )
    return source_total
