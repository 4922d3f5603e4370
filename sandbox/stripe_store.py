"""Reading the Stripe sandbox's tables (schema `stripe`): keyset-paged lists and batched lookups.

Lists are newest first by (created, id) and page by keyset on the (created desc, id desc)
indexes — never OFFSET — so a page costs the same at row 500,000 as at row 1. Related objects
(refunds of charges, balance transactions of disputes, the objects behind events) are loaded
with one query per page, not one per object.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import psycopg

from sandbox import stripe_render as render
from sandbox.stripe_render import Row, StripeObject

# Stripe keeps events for 30 days; the tap relies on that horizon (see DESIGN.md §6).
EVENT_RETENTION_S = 30 * 24 * 3600

CREATED_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
CreatedOperator = Literal["eq", "gt", "gte", "lt", "lte"]


@dataclass(frozen=True)
class Resource:
    path: str  # the list endpoint is /v1/<path>
    object_name: str  # Stripe's "object" value, used in "No such <object_name>" errors
    table: str
    # Columns of a parent row some shapes need (a refund's payment_intent, a dispute's card).
    joined_columns: str = ""
    joins: str = ""
    filters: Mapping[str, str] = field(default_factory=dict)  # query parameter → column
    expandable: frozenset[str] = frozenset()  # as on a single object: "refunds", not "data.refunds"
    retention_s: int | None = None

    @property
    def select(self) -> str:
        return f"select o.*{self.joined_columns} from {self.table} o {self.joins}"


_CHARGE_JOIN = "join stripe.charges c on c.id = o.charge"

RESOURCES: dict[str, Resource] = {
    resource.path: resource
    for resource in (
        Resource(
            "customers",
            "customer",
            "stripe.customers",
            filters={"email": "email"},
            expandable=frozenset({"sources", "subscriptions", "tax_ids"}),
        ),
        Resource(
            "charges",
            "charge",
            "stripe.charges",
            filters={"customer": "customer", "payment_intent": "payment_intent"},
            expandable=frozenset({"refunds"}),
        ),
        Resource(
            "refunds",
            "refund",
            "stripe.refunds",
            ", c.payment_intent, c.shop_order_id",
            _CHARGE_JOIN,
            filters={"charge": "charge"},
        ),
        Resource(
            "disputes",
            "dispute",
            "stripe.disputes",
            ", c.payment_intent, c.card_brand",
            _CHARGE_JOIN,
            filters={"charge": "charge"},
        ),
        Resource(
            "balance_transactions",
            "balance_transaction",
            "stripe.balance_transactions",
            filters={"type": "type", "source": "source"},
        ),
        Resource("events", "event", "stripe.events", retention_s=EVENT_RETENTION_S),
    )
}

# events.object_type → the resource that renders data.object
EVENT_OBJECT_RESOURCES = {
    "charge": RESOURCES["charges"],
    "dispute": RESOURCES["disputes"],
    "customer": RESOURCES["customers"],
    "refund": RESOURCES["refunds"],
}


@dataclass(frozen=True)
class ListQuery:
    limit: int = 10
    created: tuple[tuple[CreatedOperator, int], ...] = ()
    equals: tuple[tuple[str, str], ...] = ()  # (column, value)
    event_type_patterns: tuple[str, ...] = ()  # LIKE patterns, see event_type_pattern()
    starting_after: str | None = None
    ending_before: str | None = None


class UnknownCursor(LookupError):
    """starting_after / ending_before names an object that does not exist."""


def event_type_pattern(event_type: str) -> str:
    """Stripe's `type` filter, where `*` matches any suffix (charge.* matches charge.dispute.x)."""
    escaped = event_type.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _check_cursor_exists(conn: psycopg.Connection, resource: Resource, object_id: str) -> None:
    found = conn.execute(f"select 1 from {resource.table} where id = %s", (object_id,))
    if found.fetchone() is None:
        raise UnknownCursor(object_id)


def list_rows(
    conn: psycopg.Connection, resource: Resource, query: ListQuery
) -> tuple[list[Row], bool]:
    """One page of rows, newest first, and whether more exist beyond it in paging direction."""
    conditions: list[str] = []
    params: list[object] = []
    for operator, value in query.created:
        conditions.append(f"o.created {CREATED_OPERATORS[operator]} %s")
        params.append(value)
    for column, value in query.equals:
        conditions.append(f"o.{column} = %s")
        params.append(value)
    if query.event_type_patterns:
        conditions.append("o.type like any(%s)")
        params.append(list(query.event_type_patterns))
    if resource.retention_s is not None:
        conditions.append("o.created >= %s")
        params.append(int(time.time()) - resource.retention_s)
    backwards = query.ending_before is not None
    cursor_id = query.ending_before if backwards else query.starting_after
    if cursor_id is not None:
        # A row comparison the (created desc, id desc) index answers directly.
        position = f"(select created from {resource.table} where id = %s)"
        conditions.append(f"(o.created, o.id) {'>' if backwards else '<'} ({position}, %s)")
        params += [cursor_id, cursor_id]
    direction = "asc" if backwards else "desc"
    where = " and ".join(conditions) or "true"
    sql = (
        f"{resource.select} where {where} order by o.created {direction}, o.id {direction} limit %s"
    )
    rows = conn.execute(sql, [*params, query.limit + 1]).fetchall()
    if not rows and cursor_id is not None:
        _check_cursor_exists(conn, resource, cursor_id)  # an unknown cursor also gives no rows
    has_more = len(rows) > query.limit
    page = rows[: query.limit]
    if backwards:
        page.reverse()  # ending_before pages are still newest first, as in Stripe
    return page, has_more


def get_rows(conn: psycopg.Connection, resource: Resource, ids: Iterable[str]) -> list[Row]:
    return conn.execute(f"{resource.select} where o.id = any(%s)", (list(ids),)).fetchall()


def _group_by(rows: Iterable[Row], key: str) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return groups


def _render_charges(
    conn: psycopg.Connection, rows: list[Row], expand: frozenset[str]
) -> list[StripeObject]:
    if "refunds" not in expand:
        return [render.render_charge(row) for row in rows]
    refunds = conn.execute(
        f"{RESOURCES['refunds'].select} where o.charge = any(%s) "
        "order by o.created desc, o.id desc",
        ([row["id"] for row in rows],),
    ).fetchall()
    refunds_by_charge = _group_by(refunds, "charge")
    return [
        render.render_charge(
            row, [render.render_refund(refund) for refund in refunds_by_charge.get(row["id"], [])]
        )
        for row in rows
    ]


def _render_disputes(
    conn: psycopg.Connection, rows: list[Row], _expand: frozenset[str]
) -> list[StripeObject]:
    # Looked up by primary key from disputes.balance_transaction. Stripe also lists the
    # reinstatement of a won dispute here, but finding it (source = dispute id) needs an index
    # on balance_transactions (source) that stripe.sql lacks: a scan per page is 100+ ms.
    transactions = get_rows(
        conn,
        RESOURCES["balance_transactions"],
        {row["balance_transaction"] for row in rows if row["balance_transaction"]},
    )
    rendered = {t["id"]: render.render_balance_transaction(t) for t in transactions}
    now = int(time.time())
    return [
        render.render_dispute(
            row,
            [rendered[row["balance_transaction"]]]
            if row["balance_transaction"] in rendered
            else [],
            now,
        )
        for row in rows
    ]


def _render_events(
    conn: psycopg.Connection, rows: list[Row], _expand: frozenset[str]
) -> list[StripeObject]:
    objects: dict[tuple[str, str], StripeObject] = {}
    for object_type, events in _group_by(rows, "object_type").items():
        resource = EVENT_OBJECT_RESOURCES[object_type]
        object_rows = get_rows(conn, resource, {event["object_id"] for event in events})
        # Event payloads carry charges with their refunds: a charge.refunded update is useless
        # to a loader without them (refunds are not expandable on events).
        rendered = render_rows(conn, resource, object_rows, frozenset({"refunds"}))
        objects.update(((object_type, obj["id"]), obj) for obj in rendered)
    return [
        render.render_event(
            row,
            objects.get(
                (row["object_type"], row["object_id"]),
                # The object is gone from storage: say so rather than invent its fields.
                {"id": row["object_id"], "object": row["object_type"], "deleted": True},
            ),
        )
        for row in rows
    ]


def _render_each(
    render_one: Callable[[Row], StripeObject],
) -> Callable[[psycopg.Connection, list[Row], frozenset[str]], list[StripeObject]]:
    return lambda _conn, rows, _expand: [render_one(row) for row in rows]


_PAGE_RENDERERS: dict[
    str, Callable[[psycopg.Connection, list[Row], frozenset[str]], list[StripeObject]]
] = {
    "customers": lambda _conn, rows, expand: [render.render_customer(r, expand) for r in rows],
    "charges": _render_charges,
    "refunds": _render_each(render.render_refund),
    "disputes": _render_disputes,
    "balance_transactions": _render_each(render.render_balance_transaction),
    "events": _render_events,
}


def render_rows(
    conn: psycopg.Connection, resource: Resource, rows: list[Row], expand: frozenset[str]
) -> list[StripeObject]:
    """Stripe objects for rows of one resource, in the same order; `expand` as on one object."""
    if not rows:
        return []
    return _PAGE_RENDERERS[resource.path](conn, rows, expand)
