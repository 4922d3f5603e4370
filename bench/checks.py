"""Correctness before speed: a scenario reports a time only for a right answer."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from pipeline import reconcile, warehouse
from sandbox.config import Settings

CENT = Decimal("0.01")


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
    """Net revenue over every day of the marts equals the sources' to the cent (paid orders'
    totals from the shop minus succeeded refunds from the Stripe sandbox, as tests/transform
    computes it, without any dbt model). Returns the total."""
    with analytics(settings) as conn:
        first, last, mart_total = conn.execute(
            "select min(revenue_date), max(revenue_date), sum(net_revenue) "
            "from marts.fct_daily_revenue"
        ).fetchone()
    source = warehouse.connect(settings, attach_raw=False, attach_postgres=True)
    try:
        source.execute("set TimeZone = 'UTC'")
        (source_cents,) = source.execute(
            """
            select
                (select coalesce(sum(total_cents), 0) from shop.public.orders as orders
                 where cast(cast(orders.placed_at as timestamp) as date) between $first and $last
                   and exists (select 1 from shop.public.payments as payments
                               where payments.order_id = orders.order_id
                                 and payments.status = 'succeeded'))
                - (select coalesce(sum(amount), 0) from sandbox.stripe.refunds
                   where status = 'succeeded'
                     and cast(cast(to_timestamp(created) as timestamp) as date)
                         between $first and $last)
            """,
            {"first": first, "last": last},
        ).fetchone()
    finally:
        source.close()
    source_total = Decimal(int(source_cents)) * CENT
    if Decimal(mart_total) != source_total:
        raise BenchCheckError(
            f"net revenue {first}..{last}: marts.fct_daily_revenue {mart_total}, "
            f"sources {source_total} (difference {Decimal(mart_total) - source_total})"
        )
    return source_total
