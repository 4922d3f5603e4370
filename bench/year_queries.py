"""Scenario year-queries: every report page's source queries on a year of history, against the
same questions asked of the source PostgreSQL directly (as the seed's dashboards did).

The year reaches RAW by a faster route than Singer (at 500,000 orders a month the Singer path
would take hours): DuckDB copies the shop's tables, the Stripe sandbox's storage and the
marketing exports into RAW files with the layout the loader gave the month scenario's (its
Stripe objects reduced to the fields the models read). Then RAW is reconciled with the
sources key by key, `dbt build` runs, and net revenue is checked to the cent, before anything
is timed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.checks import BenchCheckError, analytics, check_revenue, reconciled_rows
from bench.measure import PeakMemory, Stages
from pipeline import catalog, reports, transform
from pipeline.run_log import RunLog
from sandbox import generator, inspect, services
from sandbox.config import LocalShop
from sandbox.postgres import connect

PAGES_DIR = reports.REPORTS_DIR / "pages"
SHOP_TABLES = [table.name for table in catalog.tables_of("postgres")]
MARKETING_TABLES = [table.name for table in catalog.tables_of("marketing")]
TS = "cast(to_timestamp({}) as timestamp)"  # Stripe's epoch seconds as RAW's UTC timestamps
STRIPE_RAW = {
    "customers": f"""
        select id, 'customer' as object, {TS.format("created")} as created, email, name,
               json_object('shop_customer_id', cast(shop_customer_id as varchar)) as metadata,
               {TS.format("updated")} as updated
        from sandbox.stripe.customers""",
    "charges": f"""
        with refunds as (
            select charge, to_json(list(json_object(
                'id', id, 'object', 'refund', 'amount', amount,
                'balance_transaction', balance_transaction, 'charge', charge,
                'created', strftime({TS.format("created")}, '%Y-%m-%dT%H:%M:%S.%fZ'),
                'currency', currency, 'reason', reason, 'status', status,
                'metadata', json_object('order_id', cast(shop_order_id as varchar))
            ) order by created desc)) as refunds
            from sandbox.stripe.refunds
            join (select id as charge_id, shop_order_id from sandbox.stripe.charges) as c
                on c.charge_id = refunds.charge
            group by charge
        )
        select id, 'charge' as object, {TS.format("created")} as created, amount,
               amount_captured, amount_refunded, amount_refunded > 0 as refunded, currency,
               customer, status, failure_code, failure_message, balance_transaction,
               payment_intent, disputed, status = 'succeeded' as paid, true as captured,
               json_object('order_id', cast(shop_order_id as varchar)) as metadata,
               json_object('type', 'card', 'card', json_object(
                   'brand', card_brand, 'country', card_country, 'last4', card_last4
               )) as payment_method_details,
               coalesce(refunds.refunds, '[]') as refunds, {TS.format("updated")} as updated
        from sandbox.stripe.charges left join refunds on refunds.charge = charges.id""",
    "disputes": f"""
        select id, 'dispute' as object, {TS.format("created")} as created, charge, amount,
               currency, reason, status, {TS.format("updated")} as updated
        from sandbox.stripe.disputes""",
    "balance_transactions": f"""
        select id, 'balance_transaction' as object, {TS.format("created")} as created, amount,
               fee, net, currency, type, source, status, available_on,
               {TS.format("created")} as updated
        from sandbox.stripe.balance_transactions""",
}


def _marketing_raw(settings: LocalShop, table: str) -> str:
    return f"""
        select * exclude (filename), filename as _sdc_filename, '{table}' as _sdc_stream,
               now()::timestamp as _sdc_last_modified
        from read_csv('{settings.marketing_dir}/{table}/*.csv', header = true,
                      all_varchar = true, filename = true)"""


def load_raw_by_duckdb(settings: LocalShop, layout_from: LocalShop) -> int:
    """Copy the three sources into this home's RAW files, in the RAW layout of `layout_from`
    (a home the loader filled); returns the rows copied."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    conn = inspect.connect(settings, attach_raw=False, attach_postgres=True)
    conn.execute("set TimeZone = 'UTC'")
    copies = {
        "postgres": {table: f"select * from shop.public.{table}" for table in SHOP_TABLES},
        "stripe": STRIPE_RAW,
        "marketing": {table: _marketing_raw(settings, table) for table in MARKETING_TABLES},
    }
    rows = 0
    try:
        for source, tables in copies.items():
            conn.execute(f"attach '{inspect.raw_file(layout_from, source)}' as layout (read_only)")
            conn.execute(f"attach '{inspect.raw_file(settings, source)}' as raw")
            conn.execute(f"create schema raw.{source}")
            for table, query in tables.items():
                target = f"raw.{source}.{table}"
                conn.execute(f"create table {target} as from layout.{source}.{table} limit 0")
                conn.execute(
                    f"insert into {target} by name select *, now()::timestamp as "
                    f"_sdc_extracted_at, now()::timestamp as _sdc_batched_at from ({query})"
                )
                rows += conn.execute(f"select count(*) from {target}").fetchone()[0]
            conn.execute("detach raw")
            conn.execute("detach layout")
    finally:
        conn.close()
    return rows


@dataclass(frozen=True)
class Question:
    """A report source query and the same question asked of the shop's PostgreSQL: both give
    rows of equal values (money in cents) through `page_answer` (DuckDB over the page's rows,
    as `page`) and `source_sql`."""

    source: str
    page_answer: str
    source_sql: str


PAID = "exists (select 1 from payments p where p.order_id = o.order_id and p.status = 'succeeded')"
QUESTIONS = (
    Question(
        "daily_revenue",
        """select revenue_date, orders, cast(gross_revenue * 100 as bigint),
                  cast(discounts * 100 as bigint)
           from page where orders > 0""",
        f"""select (o.placed_at at time zone 'UTC')::date, count(*),
                   sum(o.subtotal_cents + o.shipping_cents + o.tax_cents), sum(o.discount_cents)
            from orders o where {PAID} group by 1""",
    ),
    Question(
        "product_sales_monthly",
        "select sales_month, product_id, units, cast(revenue * 100 as bigint) from page",
        f"""select date_trunc('month', o.placed_at at time zone 'UTC')::date, i.product_id,
                   sum(i.quantity), sum(i.unit_price_cents * i.quantity - i.discount_cents)
            from order_items i join orders o on o.order_id = i.order_id
            where {PAID} group by 1, 2""",
    ),
    Question(
        "recent_orders_hourly",
        "select order_hour, channel, orders, cast(order_value * 100 as bigint) from page",
        """select date_trunc('hour', placed_at at time zone 'UTC'), coalesce(utm_source, 'direct'),
                  count(*), sum(total_cents)
           from orders
           where placed_at >= (select max(placed_at) from orders) - interval '48 hours'
           group by 1, 2""",
    ),
    Question(
        "freshness",
        "select last_order_at, orders_in_warehouse from page",
        "select max(placed_at) at time zone 'UTC', count(*) from orders",
    ),
)


def _pages_of(source: str) -> str:
    pages = [
        p.stem for p in sorted(PAGES_DIR.glob("*.md")) if f"warehouse.{source}" in p.read_text()
    ]
    return ", ".join(pages) or "-"


def _timed(run: callable, runs: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def _normalised(rows: list[tuple]) -> list[tuple]:
    def value(v: object) -> object:
        if isinstance(v, datetime):
            return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() else v
        return v

    return sorted(tuple(value(v) for v in row) for row in rows)


def time_queries(settings: LocalShop, runs: int) -> list[dict[str, object]]:
    """Each source query of the site against the marts (as Evidence runs them: the whole
    result fetched), and where a Question exists the same question against PostgreSQL."""
    questions = {question.source: question for question in QUESTIONS}
    results = []
    with analytics(settings) as marts, connect(settings, settings.shop_db) as shop:
        marts.execute("set TimeZone = 'UTC'")
        shop.execute("set TimeZone = 'UTC'")
        for path in reports.source_queries("warehouse", "duckdb").values():
            sql = path.read_text()
            times, page = _timed(lambda sql=sql: marts.execute(sql).fetch_arrow_table(), runs)
            entry: dict[str, object] = {
                "page": _pages_of(path.stem),
                "name": path.stem,
                "rows": page.num_rows,
                "warehouse_ms_median": round(statistics.median(times), 1),
                "warehouse_ms_max": round(max(times), 1),
            }
            question = questions.get(path.stem)
            if question is not None:
                source_times, source_rows = _timed(
                    lambda q=question: shop.execute(q.source_sql).fetchall(), runs
                )
                marts.register("page", page)
                page_rows = marts.execute(question.page_answer).fetchall()
                marts.unregister("page")
                if _normalised(page_rows) != _normalised(source_rows):
                    differing = set(_normalised(page_rows)) ^ set(_normalised(source_rows))
                    raise BenchCheckError(
                        f"{path.name}: the marts and PostgreSQL answer differently "
                        f"({len(page_rows)} vs {len(source_rows)} rows; e.g. "
                        f"{sorted(differing, key=str)[:3]})"
                    )
                source_median = statistics.median(source_times)
                entry |= {
                    "source_ms_median": round(source_median, 1),
                    "source_ms_max": round(max(source_times), 1),
                    "ratio": round(source_median / statistics.median(times), 1),
                    "same_result": f"yes ({len(page_rows)} rows)",
                }
            results.append(entry)
    return results


def measure(
    settings: LocalShop, layout_from: LocalShop, months: int, orders_per_month: int, runs: int
) -> dict[str, object]:
    started = time.perf_counter()
    stages = Stages()
    with PeakMemory() as memory:
        with stages.time("generate") as facts:
            end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
            rows = generator.generate(
                settings, months=months, orders_per_month=orders_per_month, end=end
            )
            facts["rows"] = sum(rows.values())
            facts["orders"] = rows["shop.orders"]
        with stages.time("raw-by-duckdb") as facts:
            facts["rows"] = load_raw_by_duckdb(settings, layout_from)
        services.start_stripe_sandbox(settings)  # the platform reconciles Stripe via its API
        try:
            with stages.time("reconcile") as facts:
                facts["rows"] = reconciled_rows(settings)
        finally:
            services.stop_stripe_sandbox(settings)
        summary = transform.build(settings.platform())
        if not summary.ok:
            raise BenchCheckError(summary.describe())
        # The run log the site's operations queries read, as a flow run leaves it.
        run = RunLog(run_id="bench-year-queries", flow="daily_refresh", environment="dev")
        run.stage("dbt build", summary.seconds, summary=summary.describe())
        run.write(settings.platform(), "completed")
        stages.record("dbt", summary.seconds, models=summary.models_ok + summary.snapshots_ok)
        check_revenue(settings)
        queries = time_queries(settings, runs)
    return {
        "ok": True,
        "method": (
            f"{months} months x {orders_per_month:,} orders a month; RAW loaded by DuckDB "
            "(postgres extension, read_csv) in the loader's layout, not through Singer; "
            f"reconciled, dbt build, revenue checked; {runs} runs per "
            "query, the first one cold. 'ratio' = source median / warehouse median."
        ),
        "queries": queries,
        "total_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": memory.peak_mb,
        "stages": stages.stages,
    }
