"""Every figure right whatever the source does: a paid order hard-deleted at the source (the
default INCREMENTAL replication, which cannot see deletes) leaves RAW and the marts on the next
run; and random inserts, updates, deletes and late commits at the source, with runs in between,
always end with marts equal to the same figures computed from the sources. (Deletes under change
data capture: tests/ingestion/test_cdc.py; on Snowflake: tests/prod/test_production_path.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import deletes, extract_load, reconcile, transform
from sandbox import generator, inspect, postgres, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration

JOB = "el-postgres"
REVENUE_MODELS = ["+fct_daily_revenue"]


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=100_000, seed=13, end=end)
    services.start_stripe_sandbox(shop_home)  # for the module: conftest stops it
    # _refresh loads the shop.
    extract_load.run_jobs(shop_home.platform(), ["el-stripe", "el-marketing"])
    _refresh(shop_home)
    yield shop_home


def _refresh(shop: LocalShop) -> dict[str, int]:
    """What the daily flow does after the shop changed, for the shop's tables and revenue: load,
    mark deletes, reconcile, build. Returns the keys marked deleted per table."""
    platform = shop.platform()
    extract_load.run_job(platform, JOB)
    marked = deletes.mark_deleted(platform, JOB)
    reconcile.reconcile(platform, [JOB])
    summary = transform.build(platform, select=REVENUE_MODELS)
    assert summary.ok, summary.describe()
    return marked


def _all_days(shop: LocalShop) -> tuple:
    with inspect.analytics(shop) as conn:
        return conn.execute(
            "select min(revenue_date), max(revenue_date) from marts.fct_daily_revenue"
        ).fetchone()


def _assert_marts_equal_the_sources(shop: LocalShop) -> None:
    first, last = _all_days(shop)
    assert inspect.mart_net_revenue(shop, first, last) == inspect.source_net_revenue(
        shop, first, last
    )
    with inspect.connect(shop, attach_postgres=True) as conn:
        orders = conn.execute(
            "select (select count(*) from shop.public.orders), "
            "(select count(*) from raw_postgres.postgres.orders where _sdc_deleted_at is null)"
        ).fetchone()
    assert orders[0] == orders[1]
    with inspect.analytics(shop) as marts:
        (in_marts,) = marts.execute("select count(*) from marts.fct_orders").fetchone()
    assert in_marts == orders[0]


def test_a_paid_order_deleted_at_the_source_leaves_the_marts(shop: LocalShop) -> None:
    with postgres.connect(shop, shop.shop_db, autocommit=True) as conn:
        order_id, day, total = conn.execute(
            "select order_id, (placed_at at time zone 'UTC')::date, total_cents from orders "
            "where order_id = (select max(order_id) from payments where status = 'succeeded')"
        ).fetchone()
    before = inspect.mart_net_revenue(shop, day, day)
    assert before == inspect.source_net_revenue(shop, day, day)
    with postgres.connect(shop, shop.shop_db, autocommit=True) as conn:
        conn.execute("delete from orders where order_id = %s", [order_id])  # cascades

    marked = _refresh(shop)

    after = inspect.mart_net_revenue(shop, day, day)
    print(f"\nnet revenue of {day}: {before} before the delete, {after} after the next run")
    assert after == inspect.source_net_revenue(shop, day, day) == before - Decimal(total) / 100
    assert marked["orders"] == 1 and marked["payments"] >= 1
    with inspect.analytics(shop) as marts:
        assert marts.execute(
            "select count(*) from marts.fct_orders where order_id = ?", [order_id]
        ).fetchone() == (0,)


CHANGES = st.sampled_from(["insert", "update", "delete", "late commit"])


@settings(
    # Each example is three pipeline runs (about a minute): one in the suite, more by hand with
    # SHOP_PIPELINE_EXAMPLES=20.
    max_examples=int(os.environ.get("SHOP_PIPELINE_EXAMPLES", "1")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=st.lists(st.lists(CHANGES, min_size=1, max_size=4), min_size=2, max_size=2))
def test_random_changes_at_the_source_end_with_marts_equal_to_the_sources(
    shop: LocalShop, runs: list[list[str]]
) -> None:
    """Each inner list is what happens at the source before one run; a late commit is a
    transaction begun before the run and committed after its extraction."""
    with ExitStack() as open_transactions:
        for changes in runs:
            for change in changes:
                _change(shop, change, open_transactions)
            _refresh(shop)
            open_transactions.close()  # the late commits land after the run read the tables
    _refresh(shop)  # the run after the last late commits
    _assert_marts_equal_the_sources(shop)


# A paid order no open transaction holds: a late commit keeps its row locked until after a run.
PAID_ORDER = (
    "(select orders.order_id from orders join payments using (order_id) "
    "where payments.status = 'succeeded' "
    "order by random() limit 1 for update of orders skip locked)"
)


def _change(shop: LocalShop, change: str, open_transactions: ExitStack) -> None:
    conn = psycopg.connect(shop.dsn(shop.shop_db))
    if change == "late commit":
        open_transactions.callback(lambda: (conn.commit(), conn.close()))
    else:
        open_transactions.callback(conn.close)
    # updated_at = now(): the writing transaction's start, as the shop stamps its rows.
    if change == "delete":
        conn.execute(f"delete from orders where order_id = {PAID_ORDER}")  # cascades
    elif change in ("update", "late commit"):
        conn.execute(  # a line added to the order: its subtotal and total move together
            "update orders set subtotal_cents = subtotal_cents + 100, "
            f"total_cents = total_cents + 100, updated_at = now() where order_id = {PAID_ORDER}"
        )
    else:  # a new paid order, like one the shop took
        conn.execute(
            f"""
            with template as (select * from orders where order_id = {PAID_ORDER}),
            new_order as (
                insert into orders
                select (select max(order_id) + 1 from orders), customer_id, 'paid', currency,
                    subtotal_cents, discount_cents, shipping_cents, tax_cents, total_cents,
                    shipping_country_code, utm_source, utm_campaign, now(), now(), now()
                from template
                returning order_id, total_cents
            )
            insert into payments (payment_id, order_id, provider_charge_id, status,
                amount_cents, created_at, updated_at)
            select (select max(payment_id) + 1 from payments), order_id,
                'ch_shop_' || order_id, 'succeeded', total_cents, now(), now()
            from new_order
            """
        )
    if change != "late commit":
        conn.commit()
