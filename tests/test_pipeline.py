"""The real Meltano pipeline against the real local PostgreSQL, Stripe sandbox and CSV exports:
a full load that reconciles exactly, then an incremental run that moves exactly what changed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import catalog, extract_load, meltano, reconcile, stripe_api, warehouse
from pipeline.exports import validate_exports
from sandbox import generator, inspect, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POSTGRES_TABLES = [table.name for table in catalog.tables_of("postgres")]
SOURCES = ("postgres", "stripe", "marketing")


@dataclass(frozen=True)
class FirstLoad:
    shop: LocalShop
    results: list[reconcile.TableReconciliation]
    stripe_newest_event_at_start: int | None


@pytest.fixture(scope="module")
def first_load(shop_home: LocalShop) -> Iterator[FirstLoad]:
    shop = shop_home
    # tap-stripe bookmarks at its own clock, as Stripe never back-dates an object: the shop's
    # history must reach the real "now" before the first extraction, and the changes of the
    # incremental run happen after it. A day and an hour: the marketing exports of two days.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop, months=0.035, orders_per_month=200_000, seed=7, end=end)
    services.start_stripe_sandbox(shop)  # for the module: conftest stops it
    newest_event = stripe_api.newest_event_created(shop.platform().stripe)
    extract_load.run_jobs(shop.platform())
    yield FirstLoad(shop, reconcile.reconcile(shop.platform()), newest_event)


def source_scalar(shop: LocalShop, sql: str) -> int:
    conn = inspect.connect(shop, attach_raw=False, attach_postgres=True)
    row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_full_load_reconciles_every_table(first_load: FirstLoad) -> None:
    by_table = {f"{r.source}.{r.table}": r for r in first_load.results}
    declared = {f"{t.source}.{t.name}" for t in catalog.source_tables()}
    assert declared | {"stripe.charges = postgres.payments"} == set(by_table)
    for name, result in by_table.items():
        assert result.ok, result.describe()
        assert result.raw_rows == result.source_rows, name
    assert by_table["postgres.orders"].source_rows > 5_000
    assert by_table["stripe.charges"].source_rows > 0
    assert by_table["marketing.marketing_spend"].source_rows > 0
    # Beyond the platform's window of Stripe days: RAW holds the sandbox's every object.
    for table, differences in inspect.stripe_differences(first_load.shop).items():
        assert set(differences.values()) == {0}, (table, differences)
    # A first read takes every object as it is: it does not replay the last 30 days' events
    # too, only those of its start's second (the tap reads events at or after its bookmark).
    log_file = first_load.shop.platform().log_dir / "el-stripe.log"
    for stream in inspect.STRIPE_OBJECT_TYPES:
        at_start = inspect.stripe_events_since(
            first_load.shop, first_load.stripe_newest_event_at_start, stream
        )
        assert inspect.stripe_objects_read(log_file, stream)[1] <= at_start, stream


def test_incremental_run_moves_exactly_what_changed(first_load: FirstLoad) -> None:
    shop = first_load.shop
    settings = shop.platform()
    # What a correct incremental run must read again: every row changed after the previous
    # run's bookmark, plus the rows at the bookmark itself (the tap compares with >=), and from
    # when transactions open at the previous run's start began (`pending_since`: they may
    # commit rows behind the bookmark; meltano/plugins/tap-postgres-launcher).
    pending_since = meltano.read_state(settings, "el-postgres")["pending_since"]
    pending_since_us = (datetime.fromisoformat(pending_since) - EPOCH) // timedelta(microseconds=1)
    previous_max = {
        table: min(
            source_scalar(shop, f"select epoch_us(max(updated_at)) from shop.public.{table}"),
            pending_since_us,
        )
        for table in POSTGRES_TABLES
    }
    # The shop lives on until an order and a charge came, in a sale: at 04:00 UTC, its quietest
    # hour, it takes about one order a minute, twenty in a sale.
    changes: Counter[str] = Counter()
    deadline = time.monotonic() + 600
    while not (changes["shop.orders.inserted"] and changes["stripe.charges.inserted"]):
        assert time.monotonic() < deadline, f"no new order and charge in 10 minutes: {changes}"
        time.sleep(2)
        changes.update(generator.simulate(shop, until=datetime.now(UTC), demand=20))

    second_run_started = datetime.now(UTC)
    extract_load.run_jobs(settings)
    results = {f"{r.source}.{r.table}": r for r in reconcile.reconcile(settings)}

    loaded_now = warehouse.rows_loaded_since(settings, SOURCES, second_run_started)
    for table in POSTGRES_TABLES:
        expected = source_scalar(
            shop,
            f"select count(*) from shop.public.{table} "
            f"where epoch_us(updated_at) >= {previous_max[table]}",
        )
        loaded = loaded_now[f"postgres.{table}"]
        assert loaded == expected, f"{table}: loaded {loaded} rows, {expected} changed"
    total_orders = results["postgres.orders"].source_rows
    assert 0 < loaded_now["postgres.orders"] < total_orders

    # Hard deletes stay in RAW under INCREMENTAL replication, and are reported as such.
    assert results["postgres.orders"].deleted_at_source == changes.get("shop.orders.deleted", 0)
    # Only the new or rewritten export files were read again.
    new_spend_rows = loaded_now["marketing.marketing_spend"]
    assert 0 < new_spend_rows < results["marketing.marketing_spend"].source_rows
    assert 0 < loaded_now["stripe.charges"] < results["stripe.charges = postgres.payments"].raw_rows
    for table, differences in inspect.stripe_differences(shop).items():
        assert set(differences.values()) == {0}, (table, differences)


def test_wrong_stripe_key_fails_with_a_clear_error(first_load: FirstLoad) -> None:
    shop = first_load.shop
    wrong_key = replace(shop, stripe_api_key="sk_test_not_the_key")
    with pytest.raises(extract_load.ExtractLoadError) as error:
        extract_load.run_jobs(wrong_key.platform(), ["el-stripe"])
    reconcile.reconcile(shop.platform(), ["el-stripe"])  # what was loaded is intact
    assert "meltano run el-stripe failed" in str(error.value)
    assert "Invalid API Key" in str(error.value)


def test_unreachable_postgres_fails_with_a_clear_error(first_load: FirstLoad) -> None:
    shop = first_load.shop
    unreachable = replace(shop, pg_port=1)
    with pytest.raises(extract_load.ExtractLoadError) as error:
        extract_load.run_jobs(unreachable.platform(), ["el-postgres"])
    # The schema-drift check before the load is the first to meet the closed port.
    assert "cannot reach PostgreSQL at 127.0.0.1:1 (database shop)" in str(error.value)
    assert "refused" in str(error.value)
    reconcile.reconcile(shop.platform(), ["el-postgres"])


def test_generated_exports_satisfy_the_contract(first_load: FirstLoad) -> None:
    files = validate_exports(first_load.shop.platform().exports_url)
    assert files["marketing_spend"] >= 2
