"""The deterministic shop data generator: `generate` a history, `simulate` the days after it.

Each order's whole lifecycle is drawn when the order is placed (sandbox/shopgen/orders.py).
`generate` writes what has happened by its end (the shop's clock) to the shop database and
the Stripe sandbox's storage, and keeps the rest in the plan (sandbox/sql/plan.sql);
`simulate` moves the clock forward, applying planned events and new orders of the window.
Same seed and end give byte-identical data.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import psycopg
import pyarrow as pa

from pipeline import catalog
from sandbox import marketing
from sandbox.config import LocalShop
from sandbox.postgres import connect
from sandbox.shopgen import db
from sandbox.shopgen.catalogue import CATEGORIES, Catalogue, build_catalogue
from sandbox.shopgen.demand import DAY, hourly_intensity
from sandbox.shopgen.materialize import (
    Changes,
    KnownCustomers,
    Sequences,
    Window,
    materialize,
    timestamps,
)
from sandbox.shopgen.orders import History, Lifecycle, draw_lifecycle, draw_window
from sandbox.shopgen.reference import COUNTRIES

DAYS_PER_MONTH = 365.2425 / 12
PRICE_CHANGES_PER_DAY = 3
# Stream ids keep the generator's parts independent: changing one part's draws leaves the
# others' data unchanged.
STREAM_CATALOGUE, STREAM_HISTORY, STREAM_SIMULATE = 1, 2, 3

# The shop's tables as the platform declares them (the dbt sources), parents first.
SHOP_TABLES = tuple(f"shop.{table.name}" for table in catalog.tables_of("postgres"))
STRIPE_TABLES = (
    "stripe.customers",
    "stripe.charges",
    "stripe.refunds",
    "stripe.disputes",
    "stripe.balance_transactions",
    "stripe.events",
)


def generate(
    settings: LocalShop,
    *,
    months: float,
    orders_per_month: int,
    seed: int = 42,
    end: datetime | None = None,
) -> dict[str, int]:
    """(Re)create the shop, its Stripe account and marketing exports with `months` of history
    ending at `end` (default: start of today, UTC). Returns rows per table."""
    end = _start_of_today() if end is None else end
    if end.tzinfo is None:
        raise ValueError(f"end must be timezone-aware (UTC), got {end.isoformat()}")
    if end > datetime.now(UTC):
        raise ValueError(
            f"end {end.isoformat()} is in the future (now {datetime.now(UTC).isoformat()})"
        )
    if months <= 0 or orders_per_month < 0:
        raise ValueError(
            f"need months > 0 and orders_per_month >= 0, got {months} and {orders_per_month}"
        )
    hi = int(end.timestamp())
    lo = hi - int(months * DAYS_PER_MONTH * DAY)
    order_count = round(months * orders_per_month)
    _, demand = hourly_intensity(lo, hi)
    orders_per_demand_hour = order_count / demand.sum()

    catalogue = build_catalogue(np.random.default_rng([seed, STREAM_CATALOGUE]))
    rng = np.random.default_rng([seed, STREAM_HISTORY])
    empty_history = History(
        start=lo, order_customers=np.empty(0, np.int64), customer_country=np.empty(0, np.int64)
    )
    customers, orders = draw_window(
        rng,
        lo=lo,
        hi=hi,
        order_count=order_count,
        history=empty_history,
        catalogue=catalogue,
        price_cents=catalogue.price_cents,
        next_order_id=1,
        next_customer_id=1,
    )
    lifecycle = draw_lifecycle(rng, orders)
    sequences = Sequences(
        order_id=1 + len(orders.order_id), customer_id=1 + len(customers.customer_id)
    )
    changes = materialize(
        seed=seed,
        window=Window(lo, hi),
        planned=Lifecycle.empty(),
        new=lifecycle,
        new_orders=orders,
        new_customers=customers,
        known_customers=KnownCustomers(),
        sequences=sequences,
    )
    changes.inserts.update(_reference_tables(catalogue, lo, rng))
    plan = db.lifecycle_table(lifecycle.select(lifecycle.last_event_at() > hi))

    def load_shop() -> None:
        with connect(settings, settings.shop_db) as conn:
            db.recreate_shop_schema(conn)
            keys = db.drop_keys(conn, "public")
            for name in SHOP_TABLES:
                db.copy_rows(conn, name.removeprefix("shop."), changes.inserts[name])
            db.restore_keys(conn, keys)

    def load_sandbox() -> None:
        with connect(settings, settings.sandbox_db) as conn:
            db.recreate_sandbox_schemas(conn)
            keys = db.drop_keys(conn, "stripe") + db.drop_keys(conn, "plan")
            for name in STRIPE_TABLES:
                db.copy_rows(conn, name, changes.inserts[name])
            db.copy_rows(conn, "plan.orders", plan)
            db.restore_keys(conn, keys)
            _save_clock(conn, seed, lo, hi, orders_per_demand_hour, sequences, insert=True)

    _in_parallel(load_shop, load_sandbox)
    counts = {name: table.num_rows for name, table in sorted(changes.inserts.items())}
    counts["plan.orders"] = plan.num_rows
    # The exports of a previous history would otherwise be loaded beside the new one's.
    shutil.rmtree(settings.marketing_dir, ignore_errors=True)
    counts["marketing.marketing_spend"] = _write_marketing(settings, seed, lo + 1, hi)
    counts["marketing.campaign_performance"] = counts["marketing.marketing_spend"]
    return counts


def simulate(settings: LocalShop, *, until: datetime, demand: float = 1.0) -> dict[str, int]:
    """Advance the shop from its clock to `until`; returns inserted/updated/deleted counts.
    `demand` scales the new orders (and sign-ups) of the window: 0 is an outage of the shop's
    checkout, 10 a sale at ten times its usual rate. What was planned for earlier orders still
    happens."""
    with (
        connect(settings, settings.sandbox_db) as sandbox,
        connect(settings, settings.shop_db) as shop,
    ):
        state = _read_clock(sandbox)
        if state is None:
            raise ValueError("nothing generated yet: run generate before simulate")
        clock = datetime.fromtimestamp(state["clock"], UTC)
        now = datetime.now(UTC)
        if until.tzinfo is None:
            raise ValueError(f"until must be timezone-aware (UTC), got {until.isoformat()}")
        if not clock < until <= now:
            raise ValueError(
                f"simulate target {until.isoformat()} must be after the shop clock "
                f"{clock.isoformat()} and not after now {now.isoformat()}"
            )
        seed, lo, hi = state["seed"], state["clock"], int(until.timestamp())
        window = Window(lo, hi)
        rng = np.random.default_rng([seed, STREAM_SIMULATE, lo, hi])
        catalogue = build_catalogue(np.random.default_rng([seed, STREAM_CATALOGUE]))
        price_cents = _current_prices(shop, len(catalogue.product_id))
        _, hourly = hourly_intensity(lo, hi)
        order_count = int(rng.poisson(state["orders_per_demand_hour"] * demand * hourly.sum()))
        sequences = Sequences(**{k: state[f"next_{k}"] for k in Sequences.__dataclass_fields__})

        customers, orders = draw_window(
            rng,
            lo=lo,
            hi=hi,
            order_count=order_count,
            history=_history(shop, state["history_start"]),
            catalogue=catalogue,
            price_cents=price_cents,
            next_order_id=sequences.order_id,
            next_customer_id=sequences.customer_id,
        )
        sequences.order_id += len(orders.order_id)
        sequences.customer_id += len(customers.customer_id)
        new = draw_lifecycle(rng, orders)
        planned = db.read_plan(sandbox, after=lo)
        changes = materialize(
            seed=seed,
            window=window,
            planned=planned,
            new=new,
            new_orders=orders,
            new_customers=customers,
            known_customers=_known_payers(shop, window, planned, new),
            sequences=sequences,
        )
        changes.updates["shop.products"] = _price_changes(rng, window, catalogue, price_cents)

        counts = _apply_to_shop(shop, changes)
        counts |= _apply_to_sandbox(sandbox, changes, new, window)
        _save_clock(
            sandbox,
            seed,
            state["history_start"],
            hi,
            state["orders_per_demand_hour"],
            sequences,
            insert=False,
        )
        shop.commit()
        sandbox.commit()
    counts["marketing.marketing_spend.written"] = _write_marketing(settings, seed, lo + 1, hi)
    return counts


def shop_clock(settings: LocalShop) -> datetime | None:
    """The shop's clock, or None when nothing has been generated yet."""
    with connect(settings, settings.sandbox_db) as conn:
        state = _read_clock(conn)
    return None if state is None else datetime.fromtimestamp(state["clock"], UTC)


def _start_of_today() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _in_parallel(*tasks: Callable[[], None]) -> None:
    """Run loaders side by side: each PostgreSQL backend parses its COPY on its own core."""
    errors: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        try:
            task()
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _reference_tables(
    catalogue: Catalogue, history_start: int, rng: np.random.Generator
) -> dict[str, pa.Table]:
    """Countries, categories and products, all in place before the history starts."""
    reference_time = timestamps(np.full(1, history_start - 400 * DAY))[0]
    product_count = len(catalogue.product_id)
    product_created = history_start - rng.integers(30 * DAY, 720 * DAY, product_count)
    return {
        "shop.countries": pa.table(
            {
                "country_code": [c.code for c in COUNTRIES],
                "name": [c.name for c in COUNTRIES],
                "region": [c.region for c in COUNTRIES],
                "created_at": pa.array([reference_time] * len(COUNTRIES)),
                "updated_at": pa.array([reference_time] * len(COUNTRIES)),
            }
        ),
        "shop.categories": pa.table(
            {
                "category_id": np.arange(1, len(CATEGORIES) + 1),
                "name": [c[0] for c in CATEGORIES],
                "department": [c[1] for c in CATEGORIES],
                "created_at": pa.array([reference_time] * len(CATEGORIES)),
                "updated_at": pa.array([reference_time] * len(CATEGORIES)),
            }
        ),
        "shop.products": pa.table(
            {
                "product_id": catalogue.product_id,
                "sku": catalogue.sku,
                "name": catalogue.name,
                "category_id": catalogue.category_id,
                "price_cents": catalogue.price_cents,
                "unit_cost_cents": catalogue.unit_cost_cents,
                "currency": pa.array(["USD"] * product_count),
                "is_active": np.ones(product_count, bool),
                "created_at": timestamps(product_created),
                "updated_at": timestamps(product_created),
            }
        ),
    }


def _save_clock(
    conn: psycopg.Connection,
    seed: int,
    history_start: int,
    clock: int,
    orders_per_demand_hour: float,
    sequences: Sequences,
    *,
    insert: bool,
) -> None:
    values = {
        "seed": seed,
        "history_start": datetime.fromtimestamp(history_start, UTC),
        "clock": datetime.fromtimestamp(clock, UTC),
        "orders_per_demand_hour": orders_per_demand_hour,
        **{f"next_{k}": getattr(sequences, k) for k in Sequences.__dataclass_fields__},
    }
    if insert:
        columns = ", ".join(values)
        placeholders = ", ".join(f"%({k})s" for k in values)
        conn.execute(f"insert into plan.clock ({columns}) values ({placeholders})", values)
    else:
        assignments = ", ".join(f"{k} = %({k})s" for k in values)
        conn.execute(f"update plan.clock set {assignments}", values)


def _read_clock(conn: psycopg.Connection) -> dict[str, object] | None:
    if conn.execute("select to_regclass('plan.clock')").fetchone()[0] is None:
        return None
    cursor = conn.execute("select * from plan.clock")
    row = cursor.fetchone()
    if row is None:
        return None
    state = dict(zip([c.name for c in cursor.description], row, strict=True))
    state["clock"] = int(state["clock"].timestamp())
    state["history_start"] = int(state["history_start"].timestamp())
    return state


def _current_prices(shop: psycopg.Connection, product_count: int) -> np.ndarray:
    rows = shop.execute(
        "select product_id, price_cents from products order by product_id"
    ).fetchall()
    prices = np.zeros(product_count, np.int64)
    for product_id, price in rows:
        prices[product_id - 1] = price
    return prices


def _history(shop: psycopg.Connection, history_start: int) -> History:
    order_customers = np.array(
        [r[0] for r in shop.execute("select customer_id from orders order by order_id")], np.int64
    )
    country_index = {c.code: i for i, c in enumerate(COUNTRIES)}
    rows = shop.execute("select customer_id, country_code from customers").fetchall()
    customer_country = np.full(max((r[0] for r in rows), default=0) + 1, -1, np.int64)
    for customer_id, code in rows:
        customer_country[customer_id] = country_index[code]
    return History(
        start=history_start, order_customers=order_customers, customer_country=customer_country
    )


def _known_payers(
    shop: psycopg.Connection, window: Window, planned: Lifecycle, new: Lifecycle
) -> KnownCustomers:
    """Shop customers who attempt a payment in the window, with their Stripe link state."""
    payers = set()
    for lc in (planned, new):
        for at in lc.attempts:
            payers.update(lc.customer_id[window.contains(at)].tolist())
    rows = shop.execute(
        "select customer_id, email, first_name || ' ' || last_name, country_code, "
        "stripe_customer_id is not null from customers "
        "where customer_id = any(%s) order by customer_id",
        (sorted(payers),),
    ).fetchall()
    return KnownCustomers(
        customer_id=np.array([r[0] for r in rows], np.int64),
        linked=np.array([r[4] for r in rows], bool),
        email=pa.array([r[1] for r in rows], pa.string()),
        name=pa.array([r[2] for r in rows], pa.string()),
        country_code=pa.array([r[3] for r in rows], pa.string()),
    )


def _price_changes(
    rng: np.random.Generator, window: Window, catalogue: Catalogue, price_cents: np.ndarray
) -> pa.Table:
    """A few products get a new shelf price (a sale or a supplier increase)."""
    days = (window.hi - window.lo) / DAY
    count = int(rng.poisson(PRICE_CHANGES_PER_DAY * days))
    index = np.unique(rng.choice(len(catalogue.product_id), size=count, replace=True))
    factor = rng.uniform(0.85, 1.15, len(index))
    new_price = np.maximum(np.round(price_cents[index] * factor / 50) * 50 - 1, 299).astype(
        np.int64
    )
    changed_at = rng.integers(window.lo + 1, window.hi + 1, len(index))
    return pa.table(
        {
            "product_id": catalogue.product_id[index],
            "price_cents": new_price,
            "updated_at": timestamps(changed_at),
        }
    )


def _apply_to_shop(shop: psycopg.Connection, changes: Changes) -> dict[str, int]:
    counts: dict[str, int] = {}
    deleted = shop.execute(
        "delete from orders where order_id = any(%s)", (changes.deleted_order_ids.tolist(),)
    ).rowcount
    counts["shop.orders.deleted"] = deleted
    for name in SHOP_TABLES[3:]:
        counts[f"{name}.inserted"] = db.copy_rows(
            shop, name.removeprefix("shop."), changes.inserts[name]
        )
    for name in ("shop.customers", "shop.orders", "shop.products"):
        counts[f"{name}.updated"] = db.update_rows(
            shop, name.removeprefix("shop."), changes.updates[name]
        )
    return counts


def _apply_to_sandbox(
    sandbox: psycopg.Connection, changes: Changes, new: Lifecycle, window: Window
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in STRIPE_TABLES:
        counts[f"{name}.inserted"] = db.copy_rows(sandbox, name, changes.inserts[name])
    for name in ("stripe.charges", "stripe.disputes"):
        counts[f"{name}.updated"] = db.update_rows(sandbox, name, changes.updates[name])
    counts["plan.orders.deleted"] = sandbox.execute(
        "delete from plan.orders where last_event_at <= %s", (window.hi,)
    ).rowcount
    counts["plan.orders.inserted"] = db.copy_rows(
        sandbox, "plan.orders", db.lifecycle_table(new.select(new.last_event_at() > window.hi))
    )
    return counts


def _write_marketing(settings: LocalShop, seed: int, first: int, last: int) -> int:
    """Write the marketing exports of every day with orders in the epoch seconds [first, last]
    (a window ending at midnight does not start the next day's file)."""
    first_day = _utc_date(first)
    last_day = _utc_date(last - 1)
    with connect(settings, settings.shop_db) as shop:
        conversions = marketing.daily_conversions(shop, first_day, last_day)
    return marketing.write_exports(settings.marketing_dir, seed, first_day, last_day, conversions)


def _utc_date(epoch_seconds: int) -> date:
    return datetime.fromtimestamp(epoch_seconds, UTC).date()
