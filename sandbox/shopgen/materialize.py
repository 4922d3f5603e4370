"""Turning planned lifecycles into rows: everything that happens in a window (lo, hi].

`generate` materialises (-inf, clock]; `simulate` materialises (clock, until] for the orders
still in the plan plus the orders placed in that window. Rows created in the window are
inserts; rows created earlier whose state changed in the window are updates carrying their
new state at `hi`. The same code serves both, which is what keeps them consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.marketing import CAMPAIGNS, CHANNELS
from sandbox.shopgen import ids
from sandbox.shopgen.demand import DAY
from sandbox.shopgen.orders import NEVER, Customers, Lifecycle, Orders
from sandbox.shopgen.reference import COUNTRIES, FIRST_NAMES, LAST_NAMES

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "returned")
STRIPE_FEE_PER_MILLE, STRIPE_FEE_FIXED_CENTS = 29, 30  # 2.9 % + 30¢
DISPUTE_FEE_CENTS = 1500
EVIDENCE_WINDOW = 7 * DAY
FAILURES = (  # (failure_code, failure_message, share)
    ("card_declined", "Your card was declined.", 0.70),
    ("expired_card", "Your card has expired.", 0.12),
    ("incorrect_cvc", "Your card's security code is incorrect.", 0.10),
    ("processing_error", "An error occurred while processing your card. Try again.", 0.08),
)
CARD_BRANDS = (("visa", 0.55), ("mastercard", 0.30), ("amex", 0.10), ("discover", 0.05))
DISPUTE_REASONS = (
    ("fraudulent", 0.40),
    ("product_not_received", 0.30),
    ("unrecognized", 0.12),
    ("product_unacceptable", 0.10),
    ("duplicate", 0.08),
)


@dataclass(frozen=True)
class Window:
    lo: int  # exclusive
    hi: int  # inclusive

    def contains(self, times: np.ndarray) -> np.ndarray:
        return (times > self.lo) & (times <= self.hi)

    def reached(self, times: np.ndarray) -> np.ndarray:
        return times <= self.hi


@dataclass
class Sequences:
    """Next values of the shop's serial ids, carried in plan.clock between runs."""

    order_id: int = 1
    customer_id: int = 1
    order_item_id: int = 1
    order_status_id: int = 1
    payment_id: int = 1


@dataclass
class KnownCustomers:
    """Customers already in the shop who pay in the window: are they linked to Stripe yet,
    and their profile (for creating the Stripe customer)."""

    customer_id: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    linked: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    email: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    name: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    country_code: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))


@dataclass
class Changes:
    inserts: dict[str, pa.Table] = field(default_factory=dict)
    updates: dict[str, pa.Table] = field(default_factory=dict)  # first column is the key
    deleted_order_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def timestamps(epoch_seconds: np.ndarray) -> pa.Array:
    """UTC timestamps without a zone: pyarrow writes zoned ones to CSV ~15x slower, and
    db.copy_rows loads in a UTC session."""
    return pa.array(epoch_seconds, pa.int64()).cast(pa.timestamp("s"))


def _codes(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), pa.array(index))


def _weighted(options: tuple[tuple[str, float], ...], u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum([w for _, w in options])
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(options) - 1)


def _latest_reached(window: Window, *times: np.ndarray) -> np.ndarray:
    stacked = np.stack(times)
    return np.where(window.reached(stacked), stacked, np.int64(-1)).max(axis=0)


def _country_codes(index: np.ndarray) -> pa.Array:
    return _codes(tuple(c.code for c in COUNTRIES), index)


def materialize(
    *,
    seed: int,
    window: Window,
    planned: Lifecycle,
    new: Lifecycle,
    new_orders: Orders,
    new_customers: Customers,
    known_customers: KnownCustomers,
    sequences: Sequences,
) -> Changes:
    """All rows created or changed in the window. `planned` holds orders placed before the
    window, `new` those placed in it (aligned with `new_orders`)."""
    everything = Lifecycle.concat([planned, new])
    is_new = np.concatenate(
        [np.zeros(len(planned.order_id), bool), np.ones(len(new.order_id), bool)]
    )
    changes = Changes()
    purged = window.contains(everything.purge_at) & ~is_new
    changes.deleted_order_ids = everything.order_id[purged]
    alive = ~window.reached(everything.purge_at)

    _orders(changes, window, everything, is_new, alive, new_orders, sequences)
    _status_history(changes, window, everything, alive, sequences)
    attempt_customers, attempt_times = _payments_and_charges(
        changes, seed, window, everything, is_new, sequences
    )
    _refunds(changes, seed, window, everything)
    _disputes(changes, seed, window, everything)
    _balance_transactions(changes, seed, window, everything)
    _customers(
        changes, seed, window, new_customers, known_customers, attempt_customers, attempt_times
    )
    return changes


def _order_state(window: Window, lc: Lifecycle) -> tuple[np.ndarray, np.ndarray]:
    """Status index and time of the last status change reached by `hi`."""
    times = np.stack(
        [lc.placed_at, lc.paid_at, lc.shipped_at, lc.delivered_at, lc.cancelled_at, lc.returned_at]
    )
    reached = np.where(window.reached(times), times, np.int64(-1))
    return reached.argmax(axis=0), reached.max(axis=0)


def _orders(
    changes: Changes,
    window: Window,
    lc: Lifecycle,
    is_new: np.ndarray,
    alive: np.ndarray,
    new_orders: Orders,
    sequences: Sequences,
) -> None:
    status, updated_at = _order_state(window, lc)
    inserted = is_new & alive
    keep = inserted[is_new]  # orders placed and purged within the window never show up
    o = new_orders
    campaign_ids = (*(c.campaign_id for c in CAMPAIGNS), None)
    changes.inserts["shop.orders"] = pa.table(
        {
            "order_id": o.order_id[keep],
            "customer_id": o.customer_id[keep],
            "status": _codes(STATUSES, status[inserted]),
            "currency": pa.array(["USD"] * int(keep.sum()), pa.string()),
            "subtotal_cents": o.subtotal_cents[keep],
            "discount_cents": o.discount_cents[keep],
            "shipping_cents": o.shipping_cents[keep],
            "tax_cents": o.tax_cents[keep],
            "total_cents": o.total_cents[keep],
            "shipping_country_code": _country_codes(o.country[keep]),
            "utm_source": _codes(tuple(c.name for c in CHANNELS), o.channel[keep]),
            "utm_campaign": _codes(
                campaign_ids, np.where(o.campaign < 0, len(CAMPAIGNS), o.campaign)[keep]
            ),
            "placed_at": timestamps(o.placed_at[keep]),
            "created_at": timestamps(o.placed_at[keep]),
            "updated_at": timestamps(updated_at[inserted]),
        }
    )
    changed = ~is_new & alive & window.contains(updated_at)
    changes.updates["shop.orders"] = pa.table(
        {
            "order_id": lc.order_id[changed],
            "status": _codes(STATUSES, status[changed]),
            "updated_at": timestamps(updated_at[changed]),
        }
    )

    item_kept = keep[o.item_order]
    item_count = int(item_kept.sum())
    item_created = o.placed_at[o.item_order[item_kept]]
    changes.inserts["shop.order_items"] = pa.table(
        {
            "order_item_id": sequences.order_item_id + np.arange(item_count),
            "order_id": o.order_id[o.item_order[item_kept]],
            "product_id": o.item_product_id[item_kept],
            "quantity": o.item_quantity[item_kept],
            "unit_price_cents": o.item_unit_price_cents[item_kept],
            "discount_cents": o.item_discount_cents[item_kept],
            "created_at": timestamps(item_created),
            "updated_at": timestamps(item_created),
        }
    )
    sequences.order_item_id += item_count


def _status_history(
    changes: Changes, window: Window, lc: Lifecycle, alive: np.ndarray, sequences: Sequences
) -> None:
    stage_times = (
        lc.placed_at,
        lc.paid_at,
        lc.shipped_at,
        lc.delivered_at,
        lc.cancelled_at,
        lc.returned_at,
    )
    order_ids, stages, times = [], [], []
    for stage, at in enumerate(stage_times):
        mask = window.contains(at) & alive
        order_ids.append(lc.order_id[mask])
        stages.append(np.full(int(mask.sum()), stage))
        times.append(at[mask])
    order_id, stage, changed_at = (np.concatenate(x) for x in (order_ids, stages, times))
    order = np.lexsort((stage, order_id, changed_at))  # serial ids follow time
    order_id, stage, changed_at = order_id[order], stage[order], changed_at[order]
    stamp = timestamps(changed_at)
    changes.inserts["shop.order_status_history"] = pa.table(
        {
            "order_status_id": sequences.order_status_id + np.arange(len(order_id)),
            "order_id": order_id,
            "status": _codes(STATUSES, stage),
            "changed_at": stamp,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    sequences.order_status_id += len(order_id)


def _success_slot(lc: Lifecycle) -> np.ndarray:
    return np.select([lc.paid_at == lc.attempt1_at, lc.paid_at == lc.attempt2_at], [0, 1], 2)


def _charge_ids(seed: int, order_id: np.ndarray, slot: np.ndarray) -> pa.Array:
    return ids.stripe_ids(seed, "ch", order_id * 4 + slot)


def _txn_ids(seed: int, order_id: np.ndarray, slot: int) -> pa.Array:
    return ids.stripe_ids(seed, "txn", order_id * ids.KEY_STRIDE + slot)


def _events(
    seed: int,
    key: np.ndarray,
    kind: str,
    created: np.ndarray,
    event_type: pa.Array | str,
    object_type: str,
    object_id: pa.Array,
) -> pa.Table:
    count = len(key)
    if isinstance(event_type, str):
        event_type = pa.array([event_type] * count, pa.string())
    return pa.table(
        {
            "id": ids.stripe_ids(seed, "evt", key, kind=kind),
            "created": pa.array(created, pa.int64()),
            "type": event_type,
            "object_type": pa.array([object_type] * count, pa.string()),
            "object_id": object_id,
        }
    )


def _add_events(changes: Changes, table: pa.Table) -> None:
    existing = changes.inserts.get("stripe.events")
    changes.inserts["stripe.events"] = (
        table if existing is None else pa.concat_tables([existing, table])
    )


def _payments_and_charges(
    changes: Changes,
    seed: int,
    window: Window,
    lc: Lifecycle,
    is_new: np.ndarray,
    sequences: Sequences,
) -> tuple[np.ndarray, np.ndarray]:
    """Payments and their Stripe charges (one per attempt, same id and amount); returns the
    customer and time of every attempt in the window (for linking Stripe customers)."""
    rows, slots = [], []
    for slot, at in enumerate(lc.attempts):
        rows.append(np.flatnonzero(window.contains(at)))
        slots.append(np.full(len(rows[-1]), slot))
    row, slot = np.concatenate(rows), np.concatenate(slots)
    created = np.stack(lc.attempts)[slot, row]
    order = np.lexsort((slot, lc.order_id[row], created))
    row, slot, created = row[order], slot[order], created[order]
    order_id = lc.order_id[row]
    succeeded = created == lc.paid_at[row]
    amount = lc.total_cents[row]
    charge_id = _charge_ids(seed, order_id, slot)
    status = _codes(("failed", "succeeded"), succeeded.astype(np.int64))
    changes.inserts["shop.payments"] = pa.table(
        {
            "payment_id": sequences.payment_id + np.arange(len(row)),
            "order_id": order_id,
            "provider": pa.array(["stripe"] * len(row), pa.string()),
            "provider_charge_id": charge_id,
            "status": status,
            "amount_cents": amount,
            "currency": pa.array(["USD"] * len(row), pa.string()),
            "created_at": timestamps(created),
            "updated_at": timestamps(created),
        }
    )
    sequences.payment_id += len(row)

    failure = _weighted(
        tuple((code, share) for code, _, share in FAILURES),
        ids.uniform(seed, "failure", order_id * 4 + slot),
    )
    brand = _weighted(CARD_BRANDS, ids.uniform(seed, "brand", order_id))
    last4 = (ids.uniform(seed, "last4", order_id) * 10_000).astype(np.int64)
    refunded = np.where(window.reached(lc.refund_at[row]) & succeeded, lc.refund_cents[row], 0)
    disputed = window.reached(lc.dispute_at[row]) & succeeded
    updated = np.where(
        succeeded, _latest_reached(window, created, lc.refund_at[row], lc.dispute_at[row]), created
    )
    no_failure = pa.nulls(len(row), pa.string())
    changes.inserts["stripe.charges"] = pa.table(
        {
            "id": charge_id,
            "created": created,
            "amount": amount,
            "amount_captured": np.where(succeeded, amount, 0),
            "amount_refunded": refunded,
            "currency": pa.array(["usd"] * len(row), pa.string()),
            "customer": ids.stripe_ids(seed, "cus", lc.customer_id[row]),
            "status": status,
            "failure_code": pc.if_else(
                pa.array(succeeded), no_failure, _codes(tuple(f[0] for f in FAILURES), failure)
            ),
            "failure_message": pc.if_else(
                pa.array(succeeded), no_failure, _codes(tuple(f[1] for f in FAILURES), failure)
            ),
            "balance_transaction": pc.if_else(
                pa.array(succeeded), _txn_ids(seed, order_id, ids.SLOT_CHARGE_TXN), no_failure
            ),
            "payment_intent": ids.stripe_ids(seed, "pi", order_id),
            "disputed": disputed,
            "shop_order_id": order_id,
            "card_brand": _codes(tuple(b for b, _ in CARD_BRANDS), brand),
            "card_last4": pc.utf8_lpad(pa.array(last4).cast(pa.string()), 4, "0"),
            "card_country": _country_codes(lc.country[row]),
            "updated": updated,
        }
    )
    event_type = _codes(("charge.failed", "charge.succeeded"), succeeded.astype(np.int64))
    _add_events(
        changes,
        _events(
            seed,
            order_id * ids.KEY_STRIDE + ids.SLOT_ATTEMPT_EVT + slot,
            "evt_order",
            created,
            event_type,
            "charge",
            charge_id,
        ),
    )

    # Charges paid before the window that were refunded or disputed in it.
    changed = (
        window.reached(lc.paid_at)
        & ~window.contains(lc.paid_at)
        & (window.contains(lc.refund_at) | window.contains(lc.dispute_at))
    )
    changes.updates["stripe.charges"] = pa.table(
        {
            "id": _charge_ids(seed, lc.order_id[changed], _success_slot(lc.select(changed))),
            "amount_refunded": np.where(
                window.reached(lc.refund_at[changed]), lc.refund_cents[changed], 0
            ),
            "disputed": window.reached(lc.dispute_at[changed]),
            "updated": _latest_reached(
                window, lc.paid_at[changed], lc.refund_at[changed], lc.dispute_at[changed]
            ),
        }
    )
    return lc.customer_id[row], created


def _refunds(changes: Changes, seed: int, window: Window, lc: Lifecycle) -> None:
    mask = window.contains(lc.refund_at)
    r = lc.select(mask)
    refund_id = ids.stripe_ids(seed, "re", r.order_id)
    count = len(r.order_id)
    changes.inserts["stripe.refunds"] = pa.table(
        {
            "id": refund_id,
            "created": r.refund_at,
            "charge": _charge_ids(seed, r.order_id, _success_slot(r)),
            "amount": r.refund_cents,
            "currency": pa.array(["usd"] * count, pa.string()),
            "reason": pa.array(["requested_by_customer"] * count, pa.string()),
            "status": pa.array(["succeeded"] * count, pa.string()),
            "balance_transaction": _txn_ids(seed, r.order_id, ids.SLOT_REFUND_TXN),
            "updated": r.refund_at,
        }
    )
    _add_events(
        changes,
        _events(
            seed,
            r.order_id * ids.KEY_STRIDE + ids.SLOT_REFUNDED_EVT,
            "evt_order",
            r.refund_at,
            "charge.refunded",
            "charge",
            _charge_ids(seed, r.order_id, _success_slot(r)),
        ),
    )


def _dispute_state(window: Window, d: Lifecycle) -> tuple[pa.Array, np.ndarray]:
    closed = window.reached(d.dispute_closed_at)
    status = np.select(
        [closed & d.dispute_won, closed, window.reached(d.dispute_review_at)], [2, 3, 1], 0
    )
    updated = _latest_reached(window, d.dispute_at, d.dispute_review_at, d.dispute_closed_at)
    return _codes(("needs_response", "under_review", "won", "lost"), status), updated


def _disputes(changes: Changes, seed: int, window: Window, lc: Lifecycle) -> None:
    d = lc.select(window.contains(lc.dispute_at))
    count = len(d.order_id)
    status, updated = _dispute_state(window, d)
    reason = _weighted(DISPUTE_REASONS, ids.uniform(seed, "dispute_reason", d.order_id))
    dispute_id = ids.stripe_ids(seed, "dp", d.order_id)
    changes.inserts["stripe.disputes"] = pa.table(
        {
            "id": dispute_id,
            "created": d.dispute_at,
            "charge": _charge_ids(seed, d.order_id, _success_slot(d)),
            "amount": d.total_cents,
            "currency": pa.array(["usd"] * count, pa.string()),
            "reason": _codes(tuple(r for r, _ in DISPUTE_REASONS), reason),
            "status": status,
            "evidence_due_by": d.dispute_at + EVIDENCE_WINDOW,
            "balance_transaction": _txn_ids(seed, d.order_id, ids.SLOT_DISPUTE_TXN),
            "updated": updated,
        }
    )
    progressed = (
        window.reached(lc.dispute_at)
        & ~window.contains(lc.dispute_at)
        & (window.contains(lc.dispute_review_at) | window.contains(lc.dispute_closed_at))
    )
    p = lc.select(progressed)
    status, updated = _dispute_state(window, p)
    changes.updates["stripe.disputes"] = pa.table(
        {"id": ids.stripe_ids(seed, "dp", p.order_id), "status": status, "updated": updated}
    )
    for slot, at, event_type in (
        (ids.SLOT_DISPUTE_CREATED_EVT, lc.dispute_at, "charge.dispute.created"),
        (ids.SLOT_DISPUTE_UPDATED_EVT, lc.dispute_review_at, "charge.dispute.updated"),
        (ids.SLOT_DISPUTE_CLOSED_EVT, lc.dispute_closed_at, "charge.dispute.closed"),
    ):
        mask = window.contains(at)
        order_id = lc.order_id[mask]
        _add_events(
            changes,
            _events(
                seed,
                order_id * ids.KEY_STRIDE + slot,
                "evt_order",
                at[mask],
                event_type,
                "dispute",
                ids.stripe_ids(seed, "dp", order_id),
            ),
        )


def _balance_transactions(changes: Changes, seed: int, window: Window, lc: Lifecycle) -> None:
    parts = []
    charge = lc.select(window.contains(lc.paid_at))
    charge_fee = (
        (charge.total_cents * STRIPE_FEE_PER_MILLE + 500) // 1000  # half up, in integers
        + STRIPE_FEE_FIXED_CENTS
    )
    parts.append(
        (
            charge,
            ids.SLOT_CHARGE_TXN,
            charge.paid_at,
            charge.total_cents,
            charge_fee,
            "charge",
            "charge",
            _charge_ids(seed, charge.order_id, _success_slot(charge)),
        )
    )
    refund = lc.select(window.contains(lc.refund_at))
    parts.append(
        (
            refund,
            ids.SLOT_REFUND_TXN,
            refund.refund_at,
            -refund.refund_cents,
            0,
            "refund",
            "refund",
            ids.stripe_ids(seed, "re", refund.order_id),
        )
    )
    dispute = lc.select(window.contains(lc.dispute_at))
    parts.append(
        (
            dispute,
            ids.SLOT_DISPUTE_TXN,
            dispute.dispute_at,
            -dispute.total_cents,
            DISPUTE_FEE_CENTS,
            "adjustment",
            "dispute",
            ids.stripe_ids(seed, "dp", dispute.order_id),
        )
    )
    won = lc.select(window.contains(lc.dispute_closed_at) & lc.dispute_won)
    parts.append(
        (
            won,
            ids.SLOT_REVERSAL_TXN,
            won.dispute_closed_at,
            won.total_cents,
            -DISPUTE_FEE_CENTS,
            "adjustment",
            "dispute_reversal",
            ids.stripe_ids(seed, "dp", won.order_id),
        )
    )
    tables = []
    for part, slot, created, amount, fee, txn_type, category, source in parts:
        count = len(part.order_id)
        fee = np.broadcast_to(np.asarray(fee, np.int64), (count,))
        available_on = (created // DAY + 3) * DAY  # funds settle two days after midnight
        tables.append(
            pa.table(
                {
                    "id": _txn_ids(seed, part.order_id, slot),
                    "created": pa.array(created, pa.int64()),
                    "amount": pa.array(amount, pa.int64()),
                    "fee": pa.array(fee, pa.int64()),
                    "net": pa.array(amount - fee, pa.int64()),
                    "currency": pa.array(["usd"] * count, pa.string()),
                    "type": pa.array([txn_type] * count, pa.string()),
                    "reporting_category": pa.array([category] * count, pa.string()),
                    "source": source,
                    "available_on": pa.array(available_on, pa.int64()),
                    "status": _codes(
                        ("pending", "available"), (available_on <= window.hi).astype(np.int64)
                    ),
                }
            )
        )
    changes.inserts["stripe.balance_transactions"] = pa.concat_tables(tables)


def _customers(
    changes: Changes,
    seed: int,
    window: Window,
    new: Customers,
    known: KnownCustomers,
    attempt_customers: np.ndarray,
    attempt_times: np.ndarray,
) -> None:
    """New customers, and the Stripe customer created at each customer's first checkout."""
    # First attempt in the window per customer (attempts are sorted by time).
    payer, first = np.unique(attempt_customers, return_index=True)
    payer_since = attempt_times[first]
    already_linked = known.customer_id[known.linked]
    payer_mask = ~np.isin(payer, already_linked)
    payer, payer_since = payer[payer_mask], payer_since[payer_mask]

    position = np.searchsorted(payer, new.customer_id)
    position = np.minimum(position, max(len(payer) - 1, 0))
    new_linked = (
        (payer[position] == new.customer_id) if len(payer) else np.zeros(len(new.customer_id), bool)
    )
    new_link_at = np.where(new_linked, payer_since[position] if len(payer) else 0, NEVER)
    order = np.argsort(new.customer_id)
    n = new.customer_id[order]
    first_name = _codes(FIRST_NAMES, new.first_name[order])
    last_name = _codes(LAST_NAMES, new.last_name[order])
    email = pc.binary_join_element_wise(
        pc.utf8_lower(first_name),
        ".",
        pc.utf8_lower(last_name),
        pa.array(n).cast(pa.string()),
        "@example.com",
        "",
    )
    cities = [city for country in COUNTRIES for city in country.cities]
    city_offset = np.cumsum([0] + [len(c.cities) for c in COUNTRIES])[:-1]
    postal = (10_000 + ids.uniform(seed, "postal", n) * 89_999).astype(np.int64)
    linked = new_linked[order]
    stripe_customer = pc.if_else(
        pa.array(linked), ids.stripe_ids(seed, "cus", n), pa.nulls(len(n), pa.string())
    )
    created_at = new.created_at[order]
    link_at = new_link_at[order]
    changes.inserts["shop.customers"] = pa.table(
        {
            "customer_id": n,
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "country_code": _country_codes(new.country[order]),
            "city": _codes(tuple(cities), city_offset[new.country[order]] + new.city[order]),
            "postal_code": pa.array(postal).cast(pa.string()),
            "acquisition_channel": _codes(tuple(c.name for c in CHANNELS), new.channel[order]),
            "marketing_opt_in": new.marketing_opt_in[order],
            "stripe_customer_id": stripe_customer,
            "created_at": timestamps(created_at),
            "updated_at": timestamps(np.where(linked, np.maximum(link_at, created_at), created_at)),
        }
    )

    # Customers who signed up before the window and pay for the first time in it.
    is_known = np.isin(known.customer_id, payer)
    known_ids = known.customer_id[is_known]
    known_link_at = payer_since[np.searchsorted(payer, known_ids)]
    changes.updates["shop.customers"] = pa.table(
        {
            "customer_id": known_ids,
            "stripe_customer_id": ids.stripe_ids(seed, "cus", known_ids),
            "updated_at": timestamps(known_link_at),
        }
    )

    mask = pa.array(is_known)
    stripe_ids_all = np.concatenate([n[linked], known_ids])
    created_all = np.concatenate([np.maximum(link_at[linked], created_at[linked]), known_link_at])
    names = pc.binary_join_element_wise(first_name, last_name, " ")
    stripe_customers = pa.table(
        {
            "id": ids.stripe_ids(seed, "cus", stripe_ids_all),
            "created": created_all,
            "email": pa.concat_arrays([email.filter(pa.array(linked)), known.email.filter(mask)]),
            "name": pa.concat_arrays([names.filter(pa.array(linked)), known.name.filter(mask)]),
            "country": pa.concat_arrays(
                [_country_codes(new.country[order][linked]), known.country_code.filter(mask)]
            ),
            "shop_customer_id": stripe_ids_all,
            "updated": created_all,
        }
    )
    changes.inserts["stripe.customers"] = stripe_customers
    _add_events(
        changes,
        _events(
            seed,
            stripe_ids_all,
            "evt_customer",
            created_all,
            "customer.created",
            "customer",
            stripe_customers.column("id").combine_chunks(),
        ),
    )
