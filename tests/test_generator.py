"""The shop data generator and `simulate` against a real PostgreSQL.

One history (14 months x 2,000 orders, covering a Black Friday and the following winter) is
generated once for the module; the simulate tests come last because they move its clock.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from pipeline import catalog
from sandbox import marketing
from sandbox.config import LocalShop
from sandbox.generator import generate, shop_clock, simulate
from sandbox.postgres import connect

pytestmark = pytest.mark.integration

END = datetime(2026, 3, 1, tzinfo=UTC)
MONTHS = 14
ORDERS_PER_MONTH = 2_000
SEED = 42
BLACK_FRIDAY = date(2025, 11, 28)
CYBER_MONDAY = date(2025, 12, 1)

SHOP_TABLES = {t.name: t.primary_key[0] for t in catalog.tables_of("postgres")}  # table: key
SANDBOX_TABLES = {
    "stripe.customers": "id",
    "stripe.charges": "id",
    "stripe.refunds": "id",
    "stripe.disputes": "id",
    "stripe.balance_transactions": "id",
    "stripe.events": "id",
    "plan.orders": "order_id",
    "plan.clock": "clock",
}


def content_hash(settings: LocalShop) -> str:
    """Every row of every generated table, in key order, plus every marketing file."""
    digest = hashlib.sha256()
    for database, tables in (
        (settings.shop_db, SHOP_TABLES),
        (settings.sandbox_db, SANDBOX_TABLES),
    ):
        with connect(settings, database) as conn:
            for table, key in tables.items():
                row = conn.execute(
                    f"select md5(coalesce(string_agg(t::text, '|' order by {key}), '')) "
                    f"from {table} t"
                ).fetchone()
                digest.update(f"{table}:{row[0]}".encode())
    for path in sorted(settings.marketing_dir.rglob("*.csv")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def history(pg: LocalShop) -> dict[str, object]:
    """Generate seed 42, then seed 43, then seed 42 again (left in place for the tests)."""
    hashes = {}
    for run, seed in (("first", SEED), ("other_seed", SEED + 1), ("again", SEED)):
        counts = generate(pg, months=MONTHS, orders_per_month=ORDERS_PER_MONTH, seed=seed, end=END)
        hashes[run] = content_hash(pg)
    return {"hashes": hashes, "counts": counts}


@pytest.fixture
def shop(pg: LocalShop, history: dict[str, object]) -> Iterator[psycopg.Connection]:
    with connect(pg, pg.shop_db) as conn:
        yield conn


@pytest.fixture
def sandbox(pg: LocalShop, history: dict[str, object]) -> Iterator[psycopg.Connection]:
    with connect(pg, pg.sandbox_db) as conn:
        yield conn


def scalar(conn: psycopg.Connection, sql: str, params: object = None) -> object:
    return conn.execute(sql, params).fetchone()[0]


def orders_per_day(shop: psycopg.Connection) -> dict[date, int]:
    rows = shop.execute(
        "select (placed_at at time zone 'UTC')::date, count(*) from orders group by 1"
    ).fetchall()
    return dict(rows)


# --- determinism and scale -------------------------------------------------------------


def test_same_seed_gives_identical_data_and_another_seed_differs(history: dict) -> None:
    hashes = history["hashes"]
    assert hashes["first"] == hashes["again"]
    assert hashes["first"] != hashes["other_seed"]


def test_counts_match_the_requested_scale(history: dict, shop: psycopg.Connection) -> None:
    counts = history["counts"]
    # Abandoned checkouts older than 30 days are purged, so a little under months x rate.
    assert 0.96 * MONTHS * ORDERS_PER_MONTH <= counts["shop.orders"] <= MONTHS * ORDERS_PER_MONTH
    for table in SHOP_TABLES:
        assert counts[f"shop.{table}"] == scalar(shop, f"select count(*) from {table}")
    assert 1_000 <= counts["shop.products"] <= 2_000
    assert counts["shop.categories"] == 12


def test_generate_rejects_an_end_in_the_future(pg: LocalShop) -> None:
    with pytest.raises(ValueError, match="in the future"):
        generate(pg, months=1, orders_per_month=10, end=datetime.now(UTC) + timedelta(hours=1))


def test_nothing_is_timestamped_after_the_clock(
    pg: LocalShop, shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    assert shop_clock(pg) == END
    for table in SHOP_TABLES:
        latest = scalar(shop, f"select max(greatest(created_at, updated_at)) from {table}")
        assert latest <= END, table
    assert scalar(shop, "select max(changed_at) from order_status_history") <= END
    for table in SANDBOX_TABLES:
        if table.startswith("stripe."):
            assert scalar(sandbox, f"select max(created) from {table}") <= END.timestamp(), table
    for table in ("stripe.customers", "stripe.charges", "stripe.disputes"):
        assert scalar(sandbox, f"select max(updated) from {table}") <= END.timestamp(), table


# --- distributions ---------------------------------------------------------------------


def test_weekday_and_hour_of_day_patterns(shop: psycopg.Connection) -> None:
    by_weekday = dict(
        shop.execute("select extract(isodow from placed_at)::int, count(*) from orders group by 1")
    )
    assert by_weekday[1] > 1.2 * by_weekday[6]  # Monday busy, Saturday quiet
    by_hour = dict(
        shop.execute("select extract(hour from placed_at)::int, count(*) from orders group by 1")
    )
    evening = by_hour[19] + by_hour[20] + by_hour[21]
    night = by_hour[2] + by_hour[3] + by_hour[4]
    assert evening > 5 * night


def test_seasonality_and_holiday_peaks(shop: psycopg.Connection) -> None:
    daily = orders_per_day(shop)

    def mean(days: list[date]) -> float:
        return sum(daily.get(d, 0) for d in days) / len(days)

    def days_between(first: date, last: date) -> list[date]:
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    holiday_season = mean(days_between(date(2025, 11, 1), date(2025, 12, 31)))
    winter = mean(days_between(date(2026, 1, 1), date(2026, 2, 28)))
    assert holiday_season > 1.4 * winter

    other_november_fridays = [date(2025, 11, 7), date(2025, 11, 14), date(2025, 11, 21)]
    black_friday_lift = daily[BLACK_FRIDAY] / mean(other_november_fridays)
    assert 2.8 <= black_friday_lift <= 4.5
    other_mondays = [date(2025, 11, 10), date(2025, 11, 17), date(2025, 12, 8)]
    assert daily[CYBER_MONDAY] > 2 * mean(other_mondays)


def test_refund_and_dispute_rates(shop: psycopg.Connection, sandbox: psycopg.Connection) -> None:
    # Only orders old enough for their returns (and disputes) to have happened.
    def paid_orders_before(cutoff: datetime) -> set[int]:
        rows = shop.execute(
            "select distinct order_id from payments where status = 'succeeded' and created_at < %s",
            (cutoff,),
        )
        return {r[0] for r in rows}

    paid = paid_orders_before(END - timedelta(days=60))
    refunded = {
        r[0]
        for r in sandbox.execute(
            "select c.shop_order_id from stripe.refunds r join stripe.charges c on c.id = r.charge"
        )
    }
    refund_rate = len(paid & refunded) / len(paid)
    assert 0.02 <= refund_rate <= 0.05

    paid = paid_orders_before(END - timedelta(days=130))
    disputed = {
        r[0]
        for r in sandbox.execute(
            "select c.shop_order_id from stripe.disputes d join stripe.charges c on c.id = d.charge"
        )
    }
    dispute_rate = len(paid & disputed) / len(paid)
    assert 0.001 <= dispute_rate <= 0.005
    closed = dict(sandbox.execute("select status, count(*) from stripe.disputes group by 1"))
    assert closed.get("won", 0) > 0 and closed.get("lost", 0) > 0


def test_failed_payments_and_partial_refunds(
    shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    orders = scalar(shop, "select count(*) from orders")
    with_failure = scalar(
        shop, "select count(distinct order_id) from payments where status = 'failed'"
    )
    assert 0.05 <= with_failure / orders <= 0.15
    # Some orders are cancelled after every attempt failed, without any succeeded payment.
    unpaid_cancelled = scalar(
        shop,
        "select count(*) from orders o where status = 'cancelled' and not exists "
        "(select 1 from payments p where p.order_id = o.order_id and p.status = 'succeeded')",
    )
    assert unpaid_cancelled > 0
    partial = scalar(
        sandbox,
        "select count(*) from stripe.charges "
        "where amount_refunded > 0 and amount_refunded < amount",
    )
    assert partial > 0


def test_repeat_customers_cohorts_and_signups(shop: psycopg.Connection) -> None:
    ranked = shop.execute(
        """
        select placed_at < %s as early,
               avg((row_number > 1)::int) as returning_share
        from (select placed_at, row_number() over (partition by customer_id order by placed_at)
              from orders) o
        group by 1
        """,
        (END - timedelta(days=MONTHS * 30 - 60),),
    ).fetchall()
    share = {early: float(value) for early, value in ranked}
    assert share[True] < 0.35  # the young shop sells mostly to new customers
    assert share[False] > share[True] + 0.15
    orders_per_customer = Counter(
        n for (n,) in shop.execute("select count(*) from orders group by customer_id")
    )
    assert max(orders_per_customer) >= 8  # heavy repeaters exist
    assert orders_per_customer[1] > orders_per_customer[2] > orders_per_customer[3]
    without_orders = scalar(
        shop,
        "select count(*) from customers c where not exists "
        "(select 1 from orders o where o.customer_id = c.customer_id)",
    )
    assert without_orders / scalar(shop, "select count(*) from customers") > 0.15


def test_items_discounts_and_catalogue(shop: psycopg.Connection) -> None:
    lines = Counter(
        n for (n,) in shop.execute("select count(*) from order_items group by order_id")
    )
    total = sum(lines.values())
    mean_lines = sum(n * c for n, c in lines.items()) / total
    assert 1.6 <= mean_lines <= 2.2
    assert 0.45 <= lines[1] / total <= 0.6 and max(lines) >= 5
    discounted = scalar(shop, "select avg((discount_cents > 0)::int) from orders")
    assert 0.12 <= discounted <= 0.25
    margins = shop.execute(
        "select min(unit_cost_cents::float / price_cents), "
        "max(unit_cost_cents::float / price_cents) "
        "from products"
    ).fetchone()
    assert margins[0] >= 0.34 and margins[1] <= 0.71
    departments = scalar(shop, "select count(distinct department) from categories")
    assert 5 <= departments < 12
    # Zipf popularity: the top 10 % of products sell well over half of the units.
    units = [
        n
        for (n,) in shop.execute(
            "select sum(quantity) from order_items group by product_id order by 1 desc"
        )
    ]
    assert sum(units[: len(units) // 10]) > 0.5 * sum(units)


def test_marketing_exports_match_orders(pg: LocalShop, shop: psycopg.Connection) -> None:
    day = date(2025, 11, 28)
    with marketing.spend_path(pg.marketing_dir, day).open() as f:
        spend_rows = list(csv.DictReader(f))
    assert list(spend_rows[0]) == list(marketing.SPEND_HEADER)
    files = sorted((pg.marketing_dir / "campaign_performance").glob("*.csv"))
    assert len(files) == len(list((pg.marketing_dir / "marketing_spend").glob("*.csv")))
    assert files[-1].name == f"campaign_performance_{(END - timedelta(days=1)).date()}.csv"

    spend: Counter[str] = Counter()
    value: Counter[str] = Counter()
    conversions: Counter[str] = Counter()
    for path in files:
        with path.open() as f:
            for row in csv.DictReader(f):
                value[row["channel"]] += float(row["conversion_value"])
                conversions[row["campaign_id"]] += int(row["conversions"])
                assert int(row["impressions"]) >= int(row["clicks"]) >= int(row["conversions"])
    for path in (pg.marketing_dir / "marketing_spend").glob("*.csv"):
        with path.open() as f:
            for row in csv.DictReader(f):
                spend[row["channel"]] += float(row["spend"])
    for channel, channel_spend in spend.items():
        assert 1.5 <= value[channel] / channel_spend <= 6.5, channel  # ROAS by channel
    attributed = dict(
        shop.execute(
            "select utm_campaign, count(*) from orders where utm_campaign is not null group by 1"
        )
    )
    assert attributed == dict(conversions)
    assert scalar(shop, "select count(distinct utm_source) from orders") == len(marketing.CHANNELS)


# --- referential integrity and money ---------------------------------------------------


def assert_consistent(shop: psycopg.Connection, sandbox: psycopg.Connection) -> None:
    """The invariants that hold after generate and after every simulate."""
    # Order money adds up and matches its lines.
    bad_totals = scalar(
        shop,
        """
        select count(*) from orders o
        join (select order_id, sum(quantity * unit_price_cents) as subtotal,
                     sum(discount_cents) as discount
              from order_items group by order_id) i using (order_id)
        where o.subtotal_cents <> i.subtotal or o.discount_cents <> i.discount
           or o.total_cents <> o.subtotal_cents - o.discount_cents + o.shipping_cents + o.tax_cents
        """,
    )
    assert bad_totals == 0
    without_items = scalar(
        shop,
        "select count(*) from orders o where not exists "
        "(select 1 from order_items i where i.order_id = o.order_id)",
    )
    assert without_items == 0

    # Status equals the latest status-history row.
    mismatched = scalar(
        shop,
        """
        select count(*) from orders o
        join lateral (select status, changed_at from order_status_history h
                      where h.order_id = o.order_id
                      order by changed_at desc, order_status_id desc limit 1) latest on true
        where latest.status <> o.status or latest.changed_at <> o.updated_at
        """,
    )
    assert mismatched == 0

    # Every order that got paid has exactly one succeeded payment for its total.
    wrong_payment = scalar(
        shop,
        """
        select count(*) from orders o
        left join (select order_id, count(*) as n, max(amount_cents) as amount
                   from payments where status = 'succeeded' group by order_id) p using (order_id)
        where (o.status in ('paid', 'shipped', 'delivered', 'returned')
               and (p.n is distinct from 1 or p.amount <> o.total_cents))
           or (p.n is not null and (p.n <> 1 or p.amount <> o.total_cents))
        """,
    )
    assert wrong_payment == 0

    # payments <-> stripe.charges, one to one by id, amount, status and order.
    payments = {
        r[0]: r[1:]
        for r in shop.execute(
            "select provider_charge_id, amount_cents, status, order_id from payments"
        )
    }
    charges = {
        r[0]: r[1:]
        for r in sandbox.execute("select id, amount, status, shop_order_id from stripe.charges")
    }
    assert payments == charges

    # Refunds never exceed the charge; amount_refunded is their sum.
    refund_mismatch = scalar(
        sandbox,
        """
        select count(*) from stripe.charges c
        left join (select charge, sum(amount) as refunded from stripe.refunds group by charge) r
               on r.charge = c.id
        where c.amount_refunded <> coalesce(r.refunded, 0) or c.amount_refunded > c.amount
           or (c.status = 'failed'
               and (c.amount_refunded <> 0 or c.balance_transaction is not null))
        """,
    )
    assert refund_mismatch == 0

    # Balance transactions: net = amount - fee, and they mirror their sources.
    assert (
        scalar(
            sandbox, "select count(*) from stripe.balance_transactions where net <> amount - fee"
        )
        == 0
    )
    checks = {
        "charge": "select count(*) from stripe.charges c "
        "where c.status = 'succeeded' and not exists "
        "(select 1 from stripe.balance_transactions t where t.id = c.balance_transaction "
        "and t.source = c.id and t.type = 'charge' and t.amount = c.amount "
        "and t.fee = round(c.amount * 0.029) + 30)",
        "refund": "select count(*) from stripe.refunds r where not exists "
        "(select 1 from stripe.balance_transactions t where t.id = r.balance_transaction "
        "and t.source = r.id and t.type = 'refund' and t.amount = -r.amount and t.fee = 0)",
        "dispute": "select count(*) from stripe.disputes d where not exists "
        "(select 1 from stripe.balance_transactions t where t.id = d.balance_transaction "
        "and t.source = d.id and t.type = 'adjustment' and t.reporting_category = 'dispute' "
        "and t.amount = -d.amount and t.fee = 1500)",
        "reversal": "select count(*) from stripe.disputes d where (d.status = 'won') <> exists "
        "(select 1 from stripe.balance_transactions t where t.source = d.id "
        "and t.reporting_category = 'dispute_reversal' and t.amount = d.amount)",
        "disputed flag": "select count(*) from stripe.charges c "
        "where c.disputed <> exists (select 1 from stripe.disputes d where d.charge = c.id)",
    }
    for name, sql in checks.items():
        assert scalar(sandbox, sql) == 0, name
    txn_total = scalar(sandbox, "select count(*) from stripe.balance_transactions")
    sources = scalar(
        sandbox,
        "select (select count(*) from stripe.charges where status = 'succeeded') "
        "+ (select count(*) from stripe.refunds) + (select count(*) from stripe.disputes) "
        "+ (select count(*) from stripe.disputes where status = 'won')",
    )
    assert txn_total == sources

    # Stripe customers <-> shop customers, and every charge's customer checked out.
    linked = dict(
        shop.execute(
            "select stripe_customer_id, customer_id from customers "
            "where stripe_customer_id is not null"
        )
    )
    stripe_customers = dict(sandbox.execute("select id, shop_customer_id from stripe.customers"))
    assert linked == stripe_customers
    order_customer = dict(shop.execute("select order_id, customer_id from orders"))
    for customer, order_id in sandbox.execute("select customer, shop_order_id from stripe.charges"):
        if order_id in order_customer:  # purged abandoned orders keep their Stripe history
            assert stripe_customers[customer] == order_customer[order_id]

    # Events: one per charge attempt, refund, dispute step and Stripe customer.
    event_counts = dict(sandbox.execute("select type, count(*) from stripe.events group by 1"))
    charge_counts = dict(sandbox.execute("select status, count(*) from stripe.charges group by 1"))
    assert event_counts["charge.succeeded"] == charge_counts["succeeded"]
    assert event_counts["charge.failed"] == charge_counts["failed"]
    assert event_counts["charge.refunded"] == scalar(sandbox, "select count(*) from stripe.refunds")
    assert event_counts["customer.created"] == len(stripe_customers)
    assert event_counts["charge.dispute.created"] == scalar(
        sandbox, "select count(*) from stripe.disputes"
    )
    id_shapes = scalar(
        sandbox,
        "select count(*) from stripe.charges where id !~ '^ch_[0-9A-Za-z]{24}$' "
        "or payment_intent !~ '^pi_[0-9A-Za-z]{24}$' or customer !~ '^cus_[0-9A-Za-z]{24}$'",
    )
    assert id_shapes == 0


def test_referential_integrity_and_money(
    shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    assert_consistent(shop, sandbox)


# --- simulate (moves the clock: keep these last) ---------------------------------------


def snapshot(conn: psycopg.Connection, table: str, key: str, stamp: str) -> dict[object, tuple]:
    return {r[0]: r for r in conn.execute(f"select {key}, t::text, {stamp} from {table} t")}


def test_simulate_rejects_targets_outside_clock_and_now(pg: LocalShop, history: dict) -> None:
    future = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(ValueError, match="not after now") as error:
        simulate(pg, until=future)
    assert future.isoformat() in str(error.value) and END.isoformat() in str(error.value)
    with pytest.raises(ValueError, match="must be after the shop clock"):
        simulate(pg, until=END)
    with pytest.raises(ValueError, match="must be after the shop clock"):
        simulate(pg, until=END - timedelta(days=1))
    assert shop_clock(pg) == END


def test_simulate_advances_the_shop(
    pg: LocalShop, shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    before = {
        "orders": snapshot(shop, "orders", "order_id", "updated_at"),
        "customers": snapshot(shop, "customers", "customer_id", "updated_at"),
        "products": snapshot(shop, "products", "product_id", "updated_at"),
        "stripe.charges": snapshot(sandbox, "stripe.charges", "id", "updated"),
        "stripe.disputes": snapshot(sandbox, "stripe.disputes", "id", "updated"),
    }
    max_order_id = max(before["orders"])
    until = END + timedelta(days=3, hours=7)
    shop.commit()
    sandbox.commit()

    counts = simulate(pg, until=until)

    assert shop_clock(pg) == until
    for key in ("shop.orders.inserted", "shop.orders.updated", "shop.customers.inserted",
                "shop.payments.inserted", "stripe.charges.inserted", "stripe.events.inserted",
                "shop.products.updated", "shop.orders.deleted"):  # fmt: skip
        assert counts[key] > 0, key
    after = {
        "orders": snapshot(shop, "orders", "order_id", "updated_at"),
        "customers": snapshot(shop, "customers", "customer_id", "updated_at"),
        "products": snapshot(shop, "products", "product_id", "updated_at"),
        "stripe.charges": snapshot(sandbox, "stripe.charges", "id", "updated"),
        "stripe.disputes": snapshot(sandbox, "stripe.disputes", "id", "updated"),
    }
    for table in before:
        changed = 0
        for key, row in after[table].items():
            stamp = row[2] if isinstance(row[2], datetime) else datetime.fromtimestamp(row[2], UTC)
            old = before[table].get(key)
            if old is None or old[1] != row[1]:
                changed += 1
                assert END < stamp <= until, (table, key)  # every change moves it
            else:
                assert old[2] == row[2]
        # Disputes move too rarely to be sure of one in three days at this scale.
        assert changed > 0 or table == "stripe.disputes", table

    new_ids = sorted(set(after["orders"]) - set(before["orders"]))
    assert new_ids[0] == max_order_id + 1 and new_ids == list(range(new_ids[0], new_ids[-1] + 1))
    deleted = set(before["orders"]) - set(after["orders"])
    assert len(deleted) == counts["shop.orders.deleted"] > 0
    assert all(before["orders"][d][1].find(",pending,") > 0 for d in deleted)
    orphans = scalar(
        shop,
        "select count(*) from order_status_history h where h.order_id = any(%s)",
        (sorted(deleted),),
    )
    assert orphans == 0

    for day in (END.date() + timedelta(days=i) for i in range(4)):
        assert marketing.spend_path(pg.marketing_dir, day).exists(), day
        assert marketing.performance_path(pg.marketing_dir, day).exists(), day
    assert not marketing.spend_path(pg.marketing_dir, until.date() + timedelta(days=1)).exists()

    assert_consistent(shop, sandbox)


def test_simulate_in_small_steps_keeps_the_invariants(
    pg: LocalShop, shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    clock = shop_clock(pg)
    today = marketing.spend_path(pg.marketing_dir, clock.date())
    rows_before = today.read_text().count("\n")
    for hours in (2, 5, 17):
        clock += timedelta(hours=hours)
        simulate(pg, until=clock)
    assert shop_clock(pg) == clock
    assert today.read_text().count("\n") == rows_before  # rewritten in place, one row per campaign
    assert not list(pg.marketing_dir.rglob("*.tmp"))
    assert_consistent(shop, sandbox)


def test_a_checkout_outage_takes_no_orders_while_earlier_orders_go_on(
    pg: LocalShop, shop: psycopg.Connection, sandbox: psycopg.Connection
) -> None:
    """simulate(demand=0): no order and no sign-up in the window; payments, shipping and refunds
    planned for earlier orders still happen. With demand=10 (a sale) the shop takes about ten
    times the orders of the same hours the day before."""
    clock = shop_clock(pg)
    shop.commit()
    counts = simulate(pg, until=clock + timedelta(hours=6), demand=0)
    assert counts["shop.orders.inserted"] == counts["shop.customers.inserted"] == 0
    assert counts["shop.orders.updated"] > 0 and counts["shop.order_status_history.inserted"] > 0
    newest = scalar(shop, "select max(placed_at) from orders")
    assert newest <= clock
    counts = simulate(pg, until=clock + timedelta(hours=7))  # the checkout is back
    assert counts["shop.orders.inserted"] > 0
    sale = (clock + timedelta(hours=7), clock + timedelta(hours=13))
    counts = simulate(pg, until=sale[1], demand=10)
    day_before = scalar(
        shop,
        "select count(*) from orders where placed_at > %s and placed_at <= %s",
        [moment - timedelta(days=1) for moment in sale],
    )
    assert counts["shop.orders.inserted"] > 4 * day_before > 0
    assert_consistent(shop, sandbox)
