"""Correctness before speed: a scenario reports a time only for a right answer."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from pipeline import reconcile
from sandbox import inspect
from sandbox.config import LocalShop


class BenchScenarioError(RuntimeError):
    """A scenario stopped: `stages` keeps what was timed before, for diagnosis only (the report
    shows them under the failure). A long run that fails late keeps its timings."""

    def __init__(self, message: str, stages: dict | None = None) -> None:
        super().__init__(message)
        self.stages = stages or {}


class BenchCheckError(BenchScenarioError):
    """The pipeline gave a wrong answer: the scenario fails."""


def analytics(settings: LocalShop) -> duckdb.DuckDBPyConnection:
    return inspect.analytics(settings)


def reconciled_rows(shop: LocalShop, jobs: list[str] | None = None) -> int:
    """Reconcile RAW with the sources (raises on any mismatch): the platform's reconciliation,
    and every Stripe object against the sandbox's storage. Returns the source rows checked."""
    settings = shop.platform()
    jobs = jobs or settings.daily_jobs
    try:
        results = reconcile.reconcile(settings, jobs)
    except reconcile.ReconciliationError as error:
        raise BenchCheckError(str(error)) from error
    if "el-stripe" in jobs:
        differences = {t: d for t, d in inspect.stripe_differences(shop).items() if any(d.values())}
        if differences:
            raise BenchCheckError(f"RAW's Stripe objects differ from the sandbox's: {differences}")
    return sum(result.source_rows for result in results)


def check_revenue(settings: LocalShop) -> Decimal:
    """Net revenue over every day of the marts equals the sources' to the cent. Returns it."""
    with analytics(settings) as conn:
        first, last, mart_total = conn.execute(
            "select min(revenue_date), max(revenue_date), sum(net_revenue) "
            "from marts.fct_daily_revenue"
        ).fetchone()
    source_total = inspect.source_net_revenue(settings, first, last)
    if Decimal(mart_total) != source_total:
        raise BenchCheckError(
            f"net revenue {first}..{last}: marts.fct_daily_revenue {mart_total}, "
            f"sources {source_total} (difference {Decimal(mart_total) - source_total})"
        )
    return source_total
