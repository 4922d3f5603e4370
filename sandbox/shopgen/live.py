"""The shop's application writing while the platform extracts: steady short transactions, and
long ones that commit late.

Like the shop's application, every write stamps `updated_at` with `now()`, which PostgreSQL
fixes at the start of the transaction: a transaction that began before an extraction and
commits after it leaves rows whose `updated_at` is older than the bookmark that extraction
took.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg

from sandbox.config import LocalShop
from sandbox.postgres import connect

ITEM_IDS_PER_ORDER = 100  # an order never has more items than this


@dataclass(frozen=True)
class LongTransaction:
    started_at: datetime  # its now(): the updated_at of every row it writes
    order_ids: tuple[int, ...]  # the orders it changed or placed, with their items
    written: Counter[str]


class LiveShop:
    """Writes to the shop as its application does. Orders taken by `long_transaction` are
    never touched by `steady_writes`, so the two never wait for each other's row locks."""

    def __init__(self, settings: LocalShop, seed: int = 0) -> None:
        self.settings = settings
        self._random = random.Random(seed)
        with connect(settings, settings.shop_db) as conn:
            self._free_orders = [
                row[0] for row in conn.execute("select order_id from orders order by order_id")
            ]
            next_order, next_item = conn.execute(
                "select (select max(order_id) from orders) + 1, "
                "(select max(order_item_id) from order_items) + 1"
            ).fetchone()
        self._next_order = itertools.count(next_order)
        self._next_item_block = itertools.count(next_item, ITEM_IDS_PER_ORDER)
        self._lock = threading.Lock()

    def _take_orders(self, count: int) -> list[int]:
        """Orders for a long transaction, from now on left alone by the steady writes."""
        with self._lock:
            taken = self._random.sample(self._free_orders, count)
            self._free_orders = sorted(set(self._free_orders) - set(taken))
            return taken

    def _any_free_order(self) -> int:
        with self._lock:
            return self._random.choice(self._free_orders)

    def _change_orders(self, conn: psycopg.Connection, order_ids: list[int]) -> Counter[str]:
        """Raise the shipping of the orders by a cent and re-save their items."""
        orders = conn.execute(
            "update orders set shipping_cents = shipping_cents + 1, "
            "total_cents = total_cents + 1, updated_at = now() where order_id = any(%s)",
            [order_ids],
        ).rowcount
        items = conn.execute(
            "update order_items set updated_at = now() where order_id = any(%s)", [order_ids]
        ).rowcount
        return Counter({"orders.updated": orders, "order_items.updated": items})

    def _place_order(self, conn: psycopg.Connection) -> tuple[int, Counter[str]]:
        """A new order: a copy of an existing one (customer, amounts, items), placed now."""
        template = self._any_free_order()
        with self._lock:
            order_id, first_item = next(self._next_order), next(self._next_item_block)
        conn.execute(
            "insert into orders (order_id, customer_id, status, currency, subtotal_cents, "
            "discount_cents, shipping_cents, tax_cents, total_cents, shipping_country_code, "
            "utm_source, utm_campaign, placed_at, created_at, updated_at) "
            "select %s, customer_id, 'pending', currency, subtotal_cents, discount_cents, "
            "shipping_cents, tax_cents, total_cents, shipping_country_code, utm_source, "
            "utm_campaign, now(), now(), now() from orders where order_id = %s",
            [order_id, template],
        )
        items = conn.execute(
            "insert into order_items (order_item_id, order_id, product_id, quantity, "
            "unit_price_cents, discount_cents, created_at, updated_at) "
            "select %s + row_number() over (order by order_item_id) - 1, %s, product_id, "
            "quantity, unit_price_cents, discount_cents, now(), now() "
            "from order_items where order_id = %s",
            [first_item, order_id, template],
        ).rowcount
        return order_id, Counter({"orders.inserted": 1, "order_items.inserted": items})

    @contextmanager
    def long_transaction(self, orders: int) -> Iterator[LongTransaction]:
        """Change `orders` orders and place a new one in one transaction, opened on entry and
        committed on exit."""
        with connect(self.settings, self.settings.shop_db) as conn:
            (started_at,) = conn.execute("select now()").fetchone()
            changed = self._take_orders(orders)
            written = self._change_orders(conn, changed)
            placed, placed_rows = self._place_order(conn)
            yield LongTransaction(started_at, (*changed, placed), written + placed_rows)
            conn.commit()

    @contextmanager
    def steady_writes(self, interval_s: float = 0.2) -> Iterator[Counter[str]]:
        """Short transactions (change an order, place one) in a thread of their own until
        exit; yields the rows written, counted as they commit."""
        written: Counter[str] = Counter()
        stop = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with connect(self.settings, self.settings.shop_db) as conn:
                    while not stop.wait(interval_s):
                        with conn.transaction():
                            if self._random.random() < 0.5:
                                changed = self._change_orders(conn, [self._any_free_order()])
                            else:
                                _, changed = self._place_order(conn)
                        written.update(changed)
            except BaseException as error:  # re-raised in the caller's thread
                errors.append(error)

        thread = threading.Thread(target=write, name="shop-steady-writes")
        thread.start()
        try:
            yield written
        finally:
            stop.set()
            thread.join()
        if errors:
            raise errors[0]
