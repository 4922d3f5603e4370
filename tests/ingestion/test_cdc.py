"""Change data capture (LOG_BASED, wal2json): `shop cdc enable` creates the slot, el-postgres
then captures inserts, updates and hard deletes; a deleted order reaches RAW as a row with
`_sdc_deleted_at` and leaves the marts; the slot is confirmed only up to what RAW holds;
`shop cdc disable` drops the slot and INCREMENTAL takes over again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from pipeline import cdc, extract_load, meltano, reconcile, transform
from sandbox import generator, inspect, postgres, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    # tap-stripe bookmarks at its own clock: the history reaches now before the first load.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=400_000, seed=5, end=end)
    cdc.enable(shop_home.platform())
    services.start_stripe_sandbox(shop_home)
    try:
        # el-postgres runs as el-postgres-cdc: a full read, then the WAL
        extract_load.run_jobs(shop_home.platform())
        yield shop_home
    finally:
        services.stop_stripe_sandbox(shop_home)


def _raw(settings: LocalShop, sql: str, params: list | None = None) -> list[tuple]:
    conn = inspect.connect(settings)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def _in_marts(settings: LocalShop, order_id: int) -> int:
    conn = duckdb.connect(str(settings.warehouse_dir / "analytics.duckdb"), read_only=True)
    try:
        return conn.execute(
            "select count(*) from marts.fct_orders where order_id = ?", [order_id]
        ).fetchone()[0]
    finally:
        conn.close()


def test_the_slot_is_the_projects_and_its_wal_is_bounded(shop: LocalShop) -> None:
    slot = cdc.status(shop.platform())
    assert slot is not None and slot["plugin"] == "wal2json" and slot["database"] == shop.shop_db
    with postgres.connect(shop, shop.shop_db) as conn:
        keep = conn.execute("show max_slot_wal_keep_size").fetchone()[0]
    assert keep == "2GB"
    # The bootstrap run read every table once and left a WAL bookmark on every stream.
    assert slot["committed_lsn"] is not None
    for result in reconcile.reconcile(shop.platform(), [shop.platform().cdc_job]):
        assert result.ok and result.raw_rows == result.source_rows, result.describe()


def test_a_hard_delete_reaches_raw_and_leaves_the_marts(shop: LocalShop) -> None:
    settings = shop
    built = transform.build(settings.platform(), select=["+fct_daily_revenue"])
    assert built.ok, built.describe()
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        order_id, day = conn.execute(
            "select order_id, (placed_at at time zone 'UTC')::date from orders where order_id = "
            "(select min(order_id) from payments where status = 'succeeded')"
        ).fetchone()
    revenue_before = inspect.mart_net_revenue(settings, day, day)
    assert revenue_before == inspect.source_net_revenue(settings, day, day)
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        items = conn.execute(
            "select count(*) from order_items where order_id = %s", [order_id]
        ).fetchone()[0]
        neighbour = conn.execute(
            "select min(order_id) from orders where order_id > %s", [order_id]
        ).fetchone()[0]
        conn.execute("delete from orders where order_id = %s", [order_id])  # cascades
        conn.execute(
            "update customers set city = 'Ingestion City', updated_at = now() "
            "where customer_id = (select min(customer_id) from customers)"
        )
    extract_load.run_jobs(settings.platform(), ["el-postgres"])

    deleted = _raw(
        settings,
        "select order_id, _sdc_deleted_at, _sdc_lsn from raw_postgres.postgres.orders "
        "where order_id = ?",
        [order_id],
    )
    print("\nRAW row of the deleted order:", deleted)
    assert len(deleted) == 1 and deleted[0][1] is not None and deleted[0][2] is not None
    deleted_items = _raw(
        settings,
        "select count(*) from raw_postgres.postgres.order_items where _sdc_deleted_at is not null",
    )
    assert deleted_items[0][0] == items  # the cascade is captured too
    updated = _raw(
        settings, "select count(*) from raw_postgres.postgres.customers where city = ?",
        ["Ingestion City"],
    )  # fmt: skip
    assert updated[0][0] == 1

    results = {
        r.table: r for r in reconcile.reconcile(settings.platform(), [settings.platform().cdc_job])
    }
    for result in results.values():
        assert result.ok, result.describe()
        assert result.deleted_at_source == 0, result.describe()  # none left behind
    assert results["orders"].deleted_in_raw == 1

    built = transform.build(settings.platform(), select=["+fct_daily_revenue"])
    assert built.ok, built.describe()
    assert _in_marts(settings, order_id) == 0
    assert _in_marts(settings, neighbour) == 1
    # The day's revenue lost the order, and equals the sources' to the cent.
    revenue_after = inspect.mart_net_revenue(settings, day, day)
    print(f"net revenue of {day}: {revenue_before} before, {revenue_after} after the delete")
    assert revenue_after == inspect.source_net_revenue(settings, day, day) < revenue_before


def test_the_slot_is_confirmed_up_to_what_raw_holds(shop: LocalShop) -> None:
    status = cdc.status(shop.platform())
    assert status is not None and not status["active"]
    committed = status["committed_lsn"]
    assert committed is not None
    high, low = (int(part, 16) for part in str(status["confirmed_flush_lsn"]).split("/"))
    assert (high << 32) + low == committed


def test_disable_drops_the_slot_and_incremental_takes_over(shop: LocalShop) -> None:
    settings = shop
    cdc.disable(settings.platform())
    assert cdc.status(settings.platform()) is None
    assert meltano.read_state(settings.platform(), settings.platform().cdc_job) == {}
    assert cdc.job_for(settings.platform(), "el-postgres") == "el-postgres"
