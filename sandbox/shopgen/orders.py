"""Drawing new customers and orders, and each order's whole lifecycle at once.

An order's future (payment attempts, shipping, delivery, cancellation, return, refund,
dispute, purge) is decided when the order is placed; what has happened by the shop's clock
is written to the shop, the rest waits in the plan (sandbox/sql/plan.sql) for `simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sandbox.marketing import CAMPAIGNS, CHANNELS
from sandbox.shopgen.catalogue import Catalogue
from sandbox.shopgen.demand import DAY, HOUR, sample_times
from sandbox.shopgen.reference import (
    COUNTRIES,
    DOMESTIC_SHIPPING_CENTS,
    FIRST_NAMES,
    FREE_SHIPPING_FROM_CENTS,
    HOME_COUNTRY,
    INTERNATIONAL_SHIPPING_CENTS,
    LAST_NAMES,
)

NEVER = np.int64(2**62)  # a planned time that never comes
MINUTE = 60
PURGE_PENDING_AFTER = 30 * DAY  # the shop deletes abandoned checkouts after 30 days

# Share of orders placed by new customers: high while the shop is young, then settling.
NEW_CUSTOMER_SHARE_FLOOR = 0.30
NEW_CUSTOMER_SHARE_DECAY_DAYS = 90
SIGNUPS_WITHOUT_ORDER_PER_NEW_BUYER = 0.35
ITEMS_PER_ORDER_P = np.array([0.52, 0.26, 0.12, 0.06, 0.025, 0.015])  # 1..6 lines
QUANTITY_P = np.array([0.85, 0.11, 0.04])  # 1..3 units
COUPON_SHARE = 0.18
COUPON_PERCENTS = np.array([10, 15, 20, 25])

ABANDONED_SHARE = 0.03  # checkout never paid, stays pending until purged
DECLINE_RATE = (0.09, 0.30, 0.35)  # failure probability of attempt 1, 2, 3
RETRY_RATE = (0.75, 0.50)  # probability of retrying after failed attempt 1, 2
CANCEL_AFTER_PAYMENT_RATE = 0.010
RETURN_RATE = 0.020
PARTIAL_REFUND_RATE = 0.006
DISPUTE_RATE = 0.003
DISPUTE_WON_RATE = 0.35


@dataclass
class Customers:
    """Customers who sign up in a window (with or without an order)."""

    customer_id: np.ndarray
    created_at: np.ndarray
    country: np.ndarray  # index into COUNTRIES
    first_name: np.ndarray  # index into FIRST_NAMES
    last_name: np.ndarray
    city: np.ndarray  # index into the country's cities
    channel: np.ndarray  # acquisition channel, index into CHANNELS
    marketing_opt_in: np.ndarray


@dataclass
class Orders:
    """Orders placed in a window with their lines; money in cents."""

    order_id: np.ndarray
    customer_id: np.ndarray
    placed_at: np.ndarray
    country: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # index into CAMPAIGNS, -1 for unpaid channels
    subtotal_cents: np.ndarray
    discount_cents: np.ndarray
    shipping_cents: np.ndarray
    tax_cents: np.ndarray
    total_cents: np.ndarray
    item_order: np.ndarray  # per line: index of its order in this batch
    item_product_id: np.ndarray
    item_quantity: np.ndarray
    item_unit_price_cents: np.ndarray
    item_discount_cents: np.ndarray


@dataclass
class Lifecycle:
    """Planned timeline per order (epoch seconds, NEVER where it does not happen)."""

    order_id: np.ndarray
    customer_id: np.ndarray
    country: np.ndarray
    total_cents: np.ndarray
    placed_at: np.ndarray
    attempt1_at: np.ndarray
    attempt2_at: np.ndarray
    attempt3_at: np.ndarray
    paid_at: np.ndarray
    cancelled_at: np.ndarray
    shipped_at: np.ndarray
    delivered_at: np.ndarray
    returned_at: np.ndarray
    refund_at: np.ndarray
    refund_cents: np.ndarray
    dispute_at: np.ndarray
    dispute_review_at: np.ndarray
    dispute_closed_at: np.ndarray
    dispute_won: np.ndarray
    purge_at: np.ndarray

    @property
    def attempts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.attempt1_at, self.attempt2_at, self.attempt3_at

    def last_event_at(self) -> np.ndarray:
        times = np.stack([getattr(self, f.name) for f in fields(self) if f.name.endswith("_at")])
        return np.where(times == NEVER, np.int64(-1), times).max(axis=0)

    @staticmethod
    def empty() -> Lifecycle:
        return Lifecycle(
            **{
                f.name: np.empty(0, bool if f.name == "dispute_won" else np.int64)
                for f in fields(Lifecycle)
            }
        )

    def select(self, mask: np.ndarray) -> Lifecycle:
        return Lifecycle(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Lifecycle]) -> Lifecycle:
        return Lifecycle(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(Lifecycle)
            }
        )


@dataclass(frozen=True)
class History:
    """What the shop already has, as seen by a new window of orders."""

    start: int  # when the shop's history began (drives the new-customer share)
    order_customers: np.ndarray  # customer of every earlier order, oldest first
    customer_country: np.ndarray  # country index by customer_id (dense, -1 where unknown)


def new_customer_share(placed_at: np.ndarray, history_start: int) -> np.ndarray:
    age_days = (placed_at - history_start) / DAY
    decay = np.exp(-age_days / NEW_CUSTOMER_SHARE_DECAY_DAYS)
    return NEW_CUSTOMER_SHARE_FLOOR + (0.95 - NEW_CUSTOMER_SHARE_FLOOR) * decay


def assign_customers(
    rng: np.random.Generator, placed_at: np.ndarray, history_start: int, earlier: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each order: is it a new customer's first order, and else which earlier order's
    customer places it. Picking a uniformly random earlier order is preferential attachment
    (frequent buyers get picked more), which yields realistic heavy repeaters. Returns
    (is_new, root) where root indexes the combined [earlier..., new...] orders and is
    always an earlier order or a new customer's first order."""
    n_earlier, n = len(earlier), len(placed_at)
    is_new = rng.random(n) < new_customer_share(placed_at, history_start)
    if n_earlier == 0 and n:
        is_new[0] = True
    position = n_earlier + np.arange(n)
    parent = (rng.random(n) * position).astype(np.int64)
    pointer = np.concatenate([np.arange(n_earlier), np.where(is_new, position, parent)])
    # Pointer jumping: every chain of "same customer as" links collapses in log2(n) rounds.
    while True:
        jumped = pointer[pointer]
        if np.array_equal(jumped, pointer):
            break
        pointer = jumped
    return is_new, pointer[n_earlier:]


def draw_window(
    rng: np.random.Generator,
    *,
    lo: int,
    hi: int,
    order_count: int,
    history: History,
    catalogue: Catalogue,
    price_cents: np.ndarray,
    next_order_id: int,
    next_customer_id: int,
) -> tuple[Customers, Orders]:
    """New customers and orders placed in (lo, hi]."""
    placed_at = sample_times(rng, lo, hi, order_count)
    is_new, root = assign_customers(rng, placed_at, history.start, history.order_customers)

    buyers_created = np.maximum(
        placed_at[is_new] - rng.integers(MINUTE, 30 * MINUTE, is_new.sum()), lo + 1
    )
    signup_count = rng.poisson(SIGNUPS_WITHOUT_ORDER_PER_NEW_BUYER * is_new.sum())
    signups_created = sample_times(rng, lo, hi, signup_count)
    created_at = np.concatenate([buyers_created, signups_created])
    order_of_buyer = np.flatnonzero(is_new)
    # Customer ids follow signup time, like a serial column.
    by_time = np.argsort(created_at, kind="stable")
    customer_id = np.empty(len(created_at), np.int64)
    customer_id[by_time] = next_customer_id + np.arange(len(created_at))

    order_channel_new = _pick(rng, [c.share_new for c in CHANNELS], len(placed_at))
    order_channel_returning = _pick(rng, [c.share_returning for c in CHANNELS], len(placed_at))
    channel = np.where(is_new, order_channel_new, order_channel_returning)
    customer_channel = np.concatenate(
        [channel[is_new], _pick(rng, [c.share_new for c in CHANNELS], signup_count)]
    )
    country_share = [c.share for c in COUNTRIES]
    customer_country = _pick(rng, country_share, len(created_at))
    customers = Customers(
        customer_id=customer_id,
        created_at=created_at,
        country=customer_country,
        first_name=rng.integers(0, len(FIRST_NAMES), len(created_at)),
        last_name=rng.integers(0, len(LAST_NAMES), len(created_at)),
        city=(
            rng.random(len(created_at))
            * np.array([len(c.cities) for c in COUNTRIES])[customer_country]
        ).astype(np.int64),
        channel=customer_channel,
        marketing_opt_in=rng.random(len(created_at)) < 0.55,
    )

    # A new buyer's customer is the one created for that order; a repeat order inherits the
    # customer of the order its pointer chain ended at.
    customer_of_new_order = np.full(len(placed_at), -1, np.int64)
    customer_of_new_order[order_of_buyer] = customer_id[: len(order_of_buyer)]
    order_customer = np.concatenate([history.order_customers, customer_of_new_order])[root]
    country_by_customer = np.full(next_customer_id + len(customer_id), -1, np.int64)
    country_by_customer[: len(history.customer_country)] = history.customer_country
    country_by_customer[customer_id] = customer_country
    order_country = country_by_customer[order_customer]
    orders = _draw_orders(
        rng,
        order_id=next_order_id + np.arange(len(placed_at)),
        customer_id=order_customer,
        placed_at=placed_at,
        country=order_country,
        channel=channel,
        catalogue=catalogue,
        price_cents=price_cents,
    )
    return customers, orders


def _pick(rng: np.random.Generator, weights: list[float], count: int) -> np.ndarray:
    cdf = np.cumsum(weights) / np.sum(weights)
    return np.searchsorted(cdf, rng.random(count), side="right")


def _draw_orders(
    rng: np.random.Generator,
    *,
    order_id: np.ndarray,
    customer_id: np.ndarray,
    placed_at: np.ndarray,
    country: np.ndarray,
    channel: np.ndarray,
    catalogue: Catalogue,
    price_cents: np.ndarray,
) -> Orders:
    n = len(order_id)
    campaign = _campaign_of(rng, channel)
    lines = 1 + _pick(rng, list(ITEMS_PER_ORDER_P), n)
    item_order = np.repeat(np.arange(n), lines)
    product = catalogue.sample_products(rng, len(item_order))
    quantity = 1 + _pick(rng, list(QUANTITY_P), len(item_order))
    unit_price = price_cents[product]
    line_total = quantity * unit_price

    coupon_percent = np.where(
        rng.random(n) < COUPON_SHARE, COUPON_PERCENTS[rng.integers(0, len(COUPON_PERCENTS), n)], 0
    )
    item_discount = line_total * coupon_percent[item_order] // 100
    subtotal = np.bincount(item_order, line_total, n).astype(np.int64)
    discount = np.bincount(item_order, item_discount, n).astype(np.int64)
    goods = subtotal - discount
    home = next(i for i, c in enumerate(COUNTRIES) if c.code == HOME_COUNTRY)
    shipping = np.where(
        goods >= FREE_SHIPPING_FROM_CENTS,
        0,
        np.where(country == home, DOMESTIC_SHIPPING_CENTS, INTERNATIONAL_SHIPPING_CENTS),
    )
    tax_rate = np.array([c.tax_rate for c in COUNTRIES])[country]
    tax = np.round((goods + shipping) * tax_rate).astype(np.int64)
    return Orders(
        order_id=order_id,
        customer_id=customer_id,
        placed_at=placed_at,
        country=country,
        channel=channel,
        campaign=campaign,
        subtotal_cents=subtotal,
        discount_cents=discount,
        shipping_cents=shipping.astype(np.int64),
        tax_cents=tax,
        total_cents=goods + shipping + tax,
        item_order=item_order,
        item_product_id=catalogue.product_id[product],
        item_quantity=quantity,
        item_unit_price_cents=unit_price,
        item_discount_cents=item_discount.astype(np.int64),
    )


def _campaign_of(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """A campaign of the order's channel, uniformly; -1 where the channel has none."""
    campaign = np.full(len(channel), -1, np.int64)
    u = rng.random(len(channel))
    for index, spec in enumerate(CHANNELS):
        ids = [i for i, c in enumerate(CAMPAIGNS) if c.channel == spec.name]
        if ids:
            mask = channel == index
            campaign[mask] = np.array(ids)[(u[mask] * len(ids)).astype(np.int64)]
    return campaign


def draw_lifecycle(rng: np.random.Generator, orders: Orders) -> Lifecycle:
    """Everything that will happen to each order, decided now."""
    n = len(orders.order_id)
    placed = orders.placed_at
    u = rng.random((10, n))
    never = np.full(n, NEVER)

    abandoned = u[0] < ABANDONED_SHARE
    attempt1 = np.where(abandoned, NEVER, placed + rng.integers(20, 300, n))
    failed1 = ~abandoned & (u[1] < DECLINE_RATE[0])
    retried1 = failed1 & (u[2] < RETRY_RATE[0])
    attempt2 = np.where(retried1, attempt1 + rng.integers(MINUTE, HOUR, n), NEVER)
    failed2 = retried1 & (u[3] < DECLINE_RATE[1])
    retried2 = failed2 & (u[4] < RETRY_RATE[1])
    attempt3 = np.where(retried2, attempt2 + rng.integers(MINUTE, 2 * HOUR, n), NEVER)
    failed3 = retried2 & (u[5] < DECLINE_RATE[2])
    gave_up = (failed1 & ~retried1) | (failed2 & ~retried2) | failed3
    paid = ~abandoned & ~gave_up
    paid_at = np.select([~failed1, ~failed2, ~failed3], [attempt1, attempt2, attempt3], NEVER)
    paid_at = np.where(paid, paid_at, NEVER)
    last_attempt = np.where(
        attempt3 != NEVER, attempt3, np.where(attempt2 != NEVER, attempt2, attempt1)
    )

    cancelled_after_payment = paid & (u[6] < CANCEL_AFTER_PAYMENT_RATE)
    cancelled_at = np.select(
        [gave_up, cancelled_after_payment],
        [
            last_attempt + rng.integers(HOUR, 48 * HOUR, n),
            paid_at + rng.integers(10 * MINUTE, 18 * HOUR, n),
        ],
        NEVER,
    )
    shipped = paid & ~cancelled_after_payment
    handling = np.clip(np.exp(np.log(20 * HOUR) + 0.6 * rng.standard_normal(n)), 2 * HOUR, 5 * DAY)
    shipped_at = np.where(shipped, paid_at + handling.astype(np.int64), NEVER)
    domestic = orders.country == next(i for i, c in enumerate(COUNTRIES) if c.code == HOME_COUNTRY)
    transit = np.where(
        domestic, rng.integers(36 * HOUR, 5 * DAY, n), rng.integers(4 * DAY, 10 * DAY, n)
    )
    delivered_at = np.where(shipped, shipped_at + transit, NEVER)

    returned = shipped & (u[7] < RETURN_RATE)
    returned_at = np.where(returned, delivered_at + rng.integers(3 * DAY, 28 * DAY, n), NEVER)
    partially_refunded = shipped & ~returned & (u[8] < PARTIAL_REFUND_RATE)
    refund_at = np.select(
        [cancelled_after_payment, returned, partially_refunded],
        [
            cancelled_at + rng.integers(30, 600, n),
            returned_at + rng.integers(MINUTE, HOUR, n),
            delivered_at + rng.integers(DAY, 14 * DAY, n),
        ],
        NEVER,
    )
    partial_cents = np.maximum(np.round(orders.total_cents * rng.uniform(0.1, 0.5, n)), 1)
    refund_cents = np.select(
        [cancelled_after_payment | returned, partially_refunded],
        [orders.total_cents, partial_cents.astype(np.int64)],
        0,
    )

    disputed = shipped & ~returned & ~partially_refunded & (u[9] < DISPUTE_RATE)
    dispute_at = np.where(disputed, paid_at + rng.integers(7 * DAY, 60 * DAY, n), NEVER)
    dispute_review_at = np.where(disputed, dispute_at + rng.integers(2 * DAY, 9 * DAY, n), NEVER)
    dispute_closed_at = np.where(
        disputed, dispute_review_at + rng.integers(14 * DAY, 60 * DAY, n), NEVER
    )
    dispute_won = disputed & (rng.random(n) < DISPUTE_WON_RATE)

    return Lifecycle(
        order_id=orders.order_id,
        customer_id=orders.customer_id,
        country=orders.country,
        total_cents=orders.total_cents,
        placed_at=placed,
        attempt1_at=attempt1,
        attempt2_at=attempt2,
        attempt3_at=attempt3,
        paid_at=paid_at,
        cancelled_at=cancelled_at,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        returned_at=returned_at,
        refund_at=refund_at,
        refund_cents=refund_cents,
        dispute_at=dispute_at,
        dispute_review_at=dispute_review_at,
        dispute_closed_at=dispute_closed_at,
        dispute_won=dispute_won,
        purge_at=np.where(abandoned, placed + PURGE_PENDING_AFTER, never),
    )
