"""The Stripe sandbox server against its own small, deterministic data in a real PostgreSQL.

Pagination, created filters, expansion, event type filters, Stripe's errors and rate limit, the
shapes against tap-stripe 3.3.0's own JSON schemas, and the real tap through the launcher.
Timestamps are relative to the real clock because Stripe (and so the tap) only reads events of
the last 30 days.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sandbox import postgres, stripe_api
from sandbox.config import REPO_ROOT, LocalShop

pytestmark = pytest.mark.integration

DAY = 86_400
Row = dict[str, Any]
Tables = dict[str, list[Row]]

# ---------------------------------------------------------------------------------------------
# Fixture data: 60 customers, 300 charges over ~20 days (three per created second, so ties are
# broken by id), refunds (full and partial), disputes (open, won, lost), their balance
# transactions and the events a shop's Stripe account would have.
# ---------------------------------------------------------------------------------------------


def _charge_refunds(index: int, charge: Row) -> list[Row]:
    if charge["status"] != "succeeded":
        return []
    if index % 7 == 0:
        amounts = [charge["amount"]]
    elif index % 13 == 0:
        amounts = [charge["amount"] // 4, charge["amount"] // 4]
    else:
        return []
    return [
        {
            "id": f"re_T{index:05d}{k}",
            "created": charge["created"] + 2 * DAY + k * 3600,
            "charge": charge["id"],
            "amount": amount,
            "currency": charge["currency"],
            "reason": "requested_by_customer",
            "status": "succeeded",
            "balance_transaction": f"txn_re_T{index:05d}{k}",
            "updated": charge["created"] + 2 * DAY + k * 3600,
        }
        for k, amount in enumerate(amounts)
    ]


def _charge_dispute(index: int, charge: Row) -> Row | None:
    if charge["status"] != "succeeded" or index % 37 != 5:
        return None
    created = charge["created"] + 3 * DAY
    status = ("needs_response", "won", "lost")[index % 3]
    return {
        "id": f"dp_T{index:05d}",
        "created": created,
        "charge": charge["id"],
        "amount": charge["amount"],
        "currency": charge["currency"],
        "reason": "fraudulent" if index % 2 else "product_not_received",
        "status": status,
        "evidence_due_by": created + 7 * DAY,
        "balance_transaction": f"txn_dp_T{index:05d}",
        "updated": created + (DAY if status != "needs_response" else 0),
    }


def _transaction(
    txn_id: str,
    created: int,
    amount: int,
    fee: int,
    kind: str,
    category: str,
    source: str,
    now: int,
) -> Row:
    return {
        "id": txn_id,
        "created": created,
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "usd",
        "type": kind,
        "reporting_category": category,
        "source": source,
        "available_on": created + 2 * DAY,
        "status": "available" if created + 2 * DAY < now else "pending",
    }


def build_tables(now: int, n_customers: int = 60, n_charges: int = 300) -> Tables:
    start = now - 25 * DAY
    customers = [
        {
            "id": f"cus_T{i:05d}",
            "created": start + i * (20 * DAY // n_customers),
            "email": f"customer{i}@example.com",
            "name": f"Customer {i}",
            "country": ("US", "DE", "FR", "GB")[i % 4],
            "shop_customer_id": 1000 + i,
            "updated": start + i * (20 * DAY // n_customers) + (2 * DAY if i % 5 == 0 else 0),
        }
        for i in range(n_customers)
    ]
    charges, refunds, disputes, transactions = [], [], [], []
    for i in range(n_charges):
        failed = i % 10 == 9
        created = start + DAY + (i // 3) * (17_000 * 300 // n_charges)
        amount = 1000 + (i * 7919) % 20_000
        charge = {
            "id": f"ch_T{i:05d}",
            "created": created,
            "amount": amount,
            "amount_captured": 0 if failed else amount,
            "amount_refunded": 0,
            "currency": "usd",
            "customer": customers[i % n_customers]["id"],
            "status": "failed" if failed else "succeeded",
            "failure_code": "card_declined" if failed else None,
            "failure_message": "Your card was declined." if failed else None,
            "balance_transaction": None if failed else f"txn_ch_T{i:05d}",
            "payment_intent": f"pi_T{i:05d}",
            "disputed": False,
            "shop_order_id": 50_000 + i,
            "card_brand": ("visa", "mastercard", "amex")[i % 3],
            "card_last4": f"{(i * 37) % 10_000:04d}",
            "card_country": "US",
            "updated": created,
        }
        charges.append(charge)
        if not failed:
            fee = 30 + amount * 29 // 1000
            transactions.append(
                _transaction(charge["balance_transaction"], created, amount, fee, "charge",
                             "charge", charge["id"], now)
            )  # fmt: skip
        for refund in _charge_refunds(i, charge):
            refunds.append(refund)
            charge["amount_refunded"] += refund["amount"]
            charge["updated"] = max(charge["updated"], refund["created"])
            transactions.append(
                _transaction(refund["balance_transaction"], refund["created"], -refund["amount"],
                             0, "refund", "refund", refund["id"], now)
            )  # fmt: skip
        if dispute := _charge_dispute(i, charge):
            disputes.append(dispute)
            charge["disputed"] = True
            charge["updated"] = max(charge["updated"], dispute["created"])
            transactions.append(
                _transaction(dispute["balance_transaction"], dispute["created"],
                             -dispute["amount"], 1500, "adjustment", "dispute", dispute["id"], now)
            )  # fmt: skip
            if dispute["status"] == "won":
                transactions.append(
                    _transaction(f"txn_dpr_T{i:05d}", dispute["updated"], dispute["amount"],
                                 -1500, "adjustment", "dispute_reversal", dispute["id"], now)
                )  # fmt: skip
    tables = {
        "customers": customers,
        "charges": charges,
        "refunds": refunds,
        "disputes": disputes,
        "balance_transactions": transactions,
    }
    tables["events"] = build_events(tables)
    return tables


def build_events(tables: Tables) -> list[Row]:
    changes: list[tuple[int, str, str, str]] = []  # (created, type, object_type, object_id)
    for customer in tables["customers"]:
        changes.append((customer["created"], "customer.created", "customer", customer["id"]))
        if customer["updated"] != customer["created"]:
            changes.append((customer["updated"], "customer.updated", "customer", customer["id"]))
    for charge in tables["charges"]:
        changes.append((charge["created"], f"charge.{charge['status']}", "charge", charge["id"]))
    for n, refund in enumerate(tables["refunds"]):
        changes.append((refund["created"], "charge.refunded", "charge", refund["charge"]))
        if n % 3 == 0:
            changes.append((refund["created"], "charge.refund.updated", "refund", refund["id"]))
    for dispute in tables["disputes"]:
        changes.append((dispute["created"], "charge.dispute.created", "dispute", dispute["id"]))
        if dispute["updated"] != dispute["created"]:
            changes.append((dispute["updated"], "charge.dispute.closed", "dispute", dispute["id"]))
    changes.sort()
    return [
        {
            "id": f"evt_T{n:06d}",
            "created": created,
            "type": kind,
            "object_type": obj,
            "object_id": oid,
        }
        for n, (created, kind, obj, oid) in enumerate(changes)
    ]


def load_tables(settings: LocalShop, tables: Tables) -> None:
    """Recreate schema stripe from sandbox/sql/stripe.sql and COPY the rows in."""
    ddl = (REPO_ROOT / "sandbox" / "sql" / "stripe.sql").read_text()
    with postgres.connect(settings, settings.sandbox_db) as conn:
        conn.execute("drop schema if exists stripe cascade")
        conn.execute(ddl)
        # Parents first: charges reference customers, refunds and disputes reference charges.
        for table, rows in tables.items():
            columns = list(rows[0])
            with conn.cursor().copy(
                f"copy stripe.{table} ({', '.join(columns)}) from stdin"
            ) as copy_in:
                for row in rows:
                    copy_in.write_row([row[column] for column in columns])
        conn.execute("analyze")


def newest_first(rows: list[Row]) -> list[str]:
    return [row["id"] for row in sorted(rows, key=lambda r: (r["created"], r["id"]), reverse=True)]


# ---------------------------------------------------------------------------------------------
# Fixtures and a tiny HTTP client
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tables(pg: LocalShop) -> Tables:
    data = build_tables(int(time.time()))
    load_tables(pg, data)
    return data


@pytest.fixture(scope="module")
def server(pg: LocalShop, tables: Tables) -> Iterator[stripe_api.SandboxServer]:
    with stripe_api.start_background(pg) as running:
        yield running


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def call(
    base_url: str,
    path: str,
    params: list[tuple[str, str]] | dict[str, str] | None = None,
    *,
    key: str | None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Response:
    query = urllib.parse.urlencode(params or {})
    request = urllib.request.Request(
        f"{base_url}{path}{'?' + query if query else ''}", method=method, headers=headers or {}
    )
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return Response(answer.status, dict(answer.headers), json.load(answer))
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), json.load(error))


@pytest.fixture(scope="module")
def get(server: stripe_api.SandboxServer, pg: LocalShop):
    def get_ok(path: str, params: list[tuple[str, str]] | dict[str, str] | None = None) -> Any:
        response = call(server.url, path, params, key=pg.stripe_api_key)
        assert response.status == 200, response.body
        return response.body

    return get_ok


def walk(get_ok: Any, path: str, params: list[tuple[str, str]], limit: int) -> list[Any]:
    """Every object of a list, following starting_after while has_more."""
    objects: list[Any] = []
    cursor: list[tuple[str, str]] = []
    while True:
        page = get_ok(path, [*params, ("limit", str(limit)), *cursor])
        objects += page["data"]
        if not page["has_more"]:
            return objects
        cursor = [("starting_after", page["data"][-1]["id"])]


# ---------------------------------------------------------------------------------------------
# Lists: shape, pagination, filters, expansion
# ---------------------------------------------------------------------------------------------

LIST_PATHS = ["customers", "charges", "refunds", "disputes", "balance_transactions", "events"]


def test_list_body_is_exactly_stripes(get: Any) -> None:
    page = get("/v1/charges")
    assert list(page) == ["object", "data", "has_more", "url"]
    assert (page["object"], page["url"], page["has_more"], len(page["data"])) == (
        "list",
        "/v1/charges",
        True,
        10,
    )


@pytest.mark.parametrize("name", LIST_PATHS)
@pytest.mark.parametrize("limit", [7, 100])
def test_paging_forward_returns_every_object_once_newest_first(
    get: Any, tables: Tables, name: str, limit: int
) -> None:
    ids = [obj["id"] for obj in walk(get, f"/v1/{name}", [], limit)]
    assert ids == newest_first(tables[name])


@pytest.mark.parametrize("name", ["charges", "events"])
def test_paging_backward_with_ending_before(get: Any, tables: Tables, name: str) -> None:
    expected = newest_first(tables[name])
    collected: list[str] = []
    cursor = expected[-1]  # from the oldest object, walk back towards the newest
    while True:
        page = get(f"/v1/{name}", {"limit": "9", "ending_before": cursor})
        page_ids = [obj["id"] for obj in page["data"]]
        assert page_ids == sorted(page_ids, key=expected.index)  # still newest first
        collected = page_ids + collected
        if not page["has_more"]:
            break
        cursor = page_ids[0]
    assert collected == expected[:-1]


@pytest.mark.parametrize(
    ("operator", "keep"),
    [
        ("gt", lambda created, pivot: created > pivot),
        ("gte", lambda created, pivot: created >= pivot),
        ("lt", lambda created, pivot: created < pivot),
        ("lte", lambda created, pivot: created <= pivot),
    ],
)
def test_created_operators(get: Any, tables: Tables, operator: str, keep: Any) -> None:
    pivot = tables["charges"][150]["created"]  # a second three charges share
    expected = newest_first([c for c in tables["charges"] if keep(c["created"], pivot)])
    found = walk(get, "/v1/charges", [(f"created[{operator}]", str(pivot))], 100)
    assert [c["id"] for c in found] == expected
    assert 0 < len(expected) < len(tables["charges"])


def test_created_exact_and_windows_as_the_tap_sends_them(get: Any, tables: Tables) -> None:
    pivot = tables["charges"][150]["created"]
    exact = get("/v1/charges", {"created": str(pivot)})["data"]
    assert [c["id"] for c in exact] == ["ch_T00152", "ch_T00151", "ch_T00150"]
    start, end = tables["charges"][30]["created"], tables["charges"][90]["created"]
    window = walk(get, "/v1/charges", [("created[gte]", str(start)), ("created[lt]", str(end))], 7)
    assert [c["id"] for c in window] == [f"ch_T{i:05d}" for i in range(89, 29, -1)]


def test_refunds_are_embedded_only_when_expanded(get: Any, tables: Tables) -> None:
    # ch_T00013: two partial refunds; ch_T00014: one full refund.
    plain = get("/v1/charges/ch_T00013")
    assert "refunds" not in plain
    refunded_ids = {"ch_T00013": ["re_T000131", "re_T000130"], "ch_T00014": ["re_T000140"]}
    for param in ("expand[]", "expand[0]"):
        page = walk(get, "/v1/charges", [(param, "data.refunds")], 100)
        by_id = {charge["id"]: charge for charge in page}
        for charge_id, refund_ids in refunded_ids.items():
            refunds = by_id[charge_id]["refunds"]
            assert refunds["object"] == "list" and refunds["has_more"] is False
            assert refunds["url"] == f"/v1/charges/{charge_id}/refunds"
            assert [r["id"] for r in refunds["data"]] == refund_ids
        assert sum(len(c["refunds"]["data"]) for c in page) == len(tables["refunds"])
    one = get("/v1/charges/ch_T00014", {"expand[]": "refunds"})
    assert one["refunds"]["data"][0]["amount"] == one["amount"]
    # The embedded list's url answers too (the SDK would page there if has_more were true).
    listed = get("/v1/charges/ch_T00013/refunds")
    assert [r["id"] for r in listed["data"]] == refunded_ids["ch_T00013"]


def test_charge_fields_follow_the_rows(get: Any) -> None:
    full, partial, failed = (get(f"/v1/charges/ch_T{i:05d}") for i in (14, 13, 9))
    assert (full["refunded"], full["amount_refunded"]) == (True, full["amount"])
    assert (partial["refunded"], partial["amount_refunded"]) == (False, partial["amount"] // 4 * 2)
    assert (failed["paid"], failed["captured"], failed["status"]) == (False, False, "failed")
    assert failed["outcome"]["type"] == "issuer_declined" and failed["balance_transaction"] is None
    assert (full["paid"], full["captured"], full["outcome"]["type"]) == (True, True, "authorized")
    assert full["payment_method_details"]["card"]["brand"] == "amex"  # 14 % 3 == 2
    assert full["metadata"] == {"order_id": "50014"}
    assert (full["livemode"], full["currency"], full["disputed"]) == (False, "usd", False)
    assert get("/v1/charges/ch_T00005")["disputed"] is True
    customer = get("/v1/customers/cus_T00003")
    assert customer["metadata"] == {"shop_customer_id": "1003"}


def test_disputes_carry_their_balance_transactions(get: Any) -> None:
    won = get("/v1/disputes/dp_T00190")  # 190 % 3 == 1 → won
    assert won["status"] == "won"
    # The withdrawal only: see stripe_store._render_disputes for the reinstatement.
    [withdrawal] = won["balance_transactions"]
    assert (withdrawal["id"], withdrawal["reporting_category"]) == ("txn_dp_T00190", "dispute")
    assert withdrawal["amount"] == -won["amount"]


def test_account_endpoints(get: Any, pg: LocalShop) -> None:
    for path in ("/v1/account", f"/v1/accounts/{pg.stripe_account_id}"):
        account = get(path)
        assert account["id"] == pg.stripe_account_id
        assert account["settings"]["dashboard"]["display_name"]


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "matches"),
    [
        ([("type", "charge.*")], lambda t: t.startswith("charge.")),
        ([("type", "charge.dispute.*")], lambda t: t.startswith("charge.dispute.")),
        ([("type", "customer.updated")], lambda t: t == "customer.updated"),
        (
            [("types[]", "charge.refunded"), ("types[]", "customer.created")],
            lambda t: t in ("charge.refunded", "customer.created"),
        ),
        ([("types[0]", "charge.failed")], lambda t: t == "charge.failed"),
    ],
)
def test_event_type_filters(get: Any, tables: Tables, params: Any, matches: Any) -> None:
    expected = newest_first([e for e in tables["events"] if matches(e["type"])])
    found = walk(get, "/v1/events", params, 100)
    assert [e["id"] for e in found] == expected and expected


def test_events_render_the_objects_current_state(get: Any, tables: Tables) -> None:
    events = walk(get, "/v1/events", [("type", "charge.*")], 100)
    first = next(
        e
        for e in events
        if e["type"] == "charge.succeeded" and e["data"]["object"]["id"] == "ch_T00014"
    )
    charge = first["data"]["object"]
    assert charge["object"] == "charge" and charge["amount_refunded"] == charge["amount"]
    assert [r["id"] for r in charge["refunds"]["data"]] == ["re_T000140"]
    assert set(first) == {
        "id", "object", "api_version", "created", "data", "livemode", "pending_webhooks",
        "request", "type",
    }  # fmt: skip
    kinds = Counter(e["data"]["object"]["object"] for e in events)
    expected = Counter(
        e["object_type"] for e in tables["events"] if e["type"].startswith("charge.")
    )
    assert kinds == expected


# ---------------------------------------------------------------------------------------------
# Errors, rate limit, faults
# ---------------------------------------------------------------------------------------------


def test_wrong_or_missing_key_is_401_with_stripes_body(server: Any, pg: LocalShop) -> None:
    wrong = call(server.url, "/v1/charges", key="sk_test_wrongxyz")
    assert wrong.status == 401
    assert wrong.body == {
        "error": {
            "type": "invalid_request_error",
            "message": "Invalid API Key provided: sk_test_****xyz",
        }
    }
    missing = call(server.url, "/v1/charges", key=None)
    assert missing.status == 401 and missing.body["error"]["type"] == "invalid_request_error"
    basic = base64.b64encode(f"{pg.stripe_api_key}:".encode()).decode()
    as_user = call(server.url, "/v1/charges", key=None, headers={"Authorization": f"Basic {basic}"})
    assert as_user.status == 200


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/charges/ch_missing", "id"),
        ("/v1/customers/cus_missing", "id"),
        ("/v1/events/evt_missing", "id"),
        ("/v1/accounts/acct_other", "account"),
        ("/v1/nothing_here", None),
        ("/v2/charges", None),
    ],
)
def test_unknown_ids_and_paths_are_404(server: Any, pg: LocalShop, path: str, param: str) -> None:
    response = call(server.url, path, key=pg.stripe_api_key)
    assert response.status == 404
    assert response.body["error"]["type"] == "invalid_request_error"
    assert response.body["error"].get("param") == param
    if param:
        assert response.body["error"]["code"] == "resource_missing"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"created[gte]": "abc"}, "created[gte]"),
        ({"created": "yesterday"}, "created"),
        ({"starting_after": "ch_missing"}, "starting_after"),
        ({"ending_before": "ch_missing"}, "ending_before"),
        ({"colour": "blue"}, "colour"),
        ({"expand[]": "data.customer"}, "expand"),
    ],
)
def test_bad_parameters_are_400_naming_the_param(
    server: Any, pg: LocalShop, params: dict[str, str], param: str
) -> None:
    response = call(server.url, "/v1/charges", params, key=pg.stripe_api_key)
    assert response.status == 400
    assert response.body["error"]["type"] == "invalid_request_error"
    assert response.body["error"]["param"] == param


def test_writes_are_refused(server: Any, pg: LocalShop) -> None:
    response = call(server.url, "/v1/charges", key=pg.stripe_api_key, method="POST")
    assert response.status == 405 and response.body["error"]["type"] == "invalid_request_error"


def test_other_account_header_is_refused(server: Any, pg: LocalShop) -> None:
    response = call(
        server.url, "/v1/charges", key=pg.stripe_api_key, headers={"Stripe-Account": "acct_x"}
    )
    assert response.status == 403


def test_rate_limit_answers_429_with_retry_after(pg: LocalShop, tables: Tables) -> None:
    with stripe_api.start_background(pg, rate_limit_per_s=2) as limited:
        statuses = [call(limited.url, "/v1/account", key=pg.stripe_api_key) for _ in range(6)]
    assert [r.status for r in statuses[:2]] == [200, 200]
    refused = [r for r in statuses if r.status == 429]
    assert refused, [r.status for r in statuses]
    assert refused[0].headers["Retry-After"] == "1"
    assert refused[0].headers["Stripe-Should-Retry"] == "true"
    assert refused[0].body["error"]["type"] == "rate_limit_error"


def test_fault_injector_fails_every_nth_request(pg: LocalShop, tables: Tables) -> None:
    with stripe_api.start_background(pg, fail_every_n=3) as faulty:
        statuses = [call(faulty.url, "/v1/account", key=pg.stripe_api_key) for _ in range(6)]
    assert [r.status for r in statuses] == [200, 200, 500, 200, 200, 500]
    assert statuses[2].body["error"]["type"] == "api_error"


def test_only_loopback_is_bound(pg: LocalShop) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        stripe_api.serve(pg, host="0.0.0.0")


# ---------------------------------------------------------------------------------------------
# tap-stripe 3.3.0: its schemas, and the real tap through the launcher
# ---------------------------------------------------------------------------------------------

MELTANO_TAP_VENV = REPO_ROOT / "meltano" / ".meltano" / "extractors" / "tap-stripe" / "venv"
TAP_VENV_ENV = "TAP_STRIPE_VENV"  # a venv with meltano/plugins/tap-stripe-launcher installed
TAP_STREAMS = ["charges", "customers", "disputes", "balance_transactions", "events"]
# What the tap asks per stream (tap_stripe.STREAM_TO_EXPAND_FIELDS).
TAP_EXPANSIONS = {
    "charges": ["data.refunds"],
    "customers": ["data.sources", "data.subscriptions", "data.tax_ids"],
}


def tap_venv() -> Path:
    """The Meltano plugin's venv if installed, else the one $TAP_STRIPE_VENV names."""
    candidates = [MELTANO_TAP_VENV]
    if os.environ.get(TAP_VENV_ENV):
        candidates.append(Path(os.environ[TAP_VENV_ENV]))
    for venv in candidates:
        if any(venv.glob("lib/python3*/site-packages/tap_stripe/schemas")):
            return venv
    pytest.fail(
        "tap-stripe 3.3.0 is not installed, so its schemas and the launcher cannot be checked: "
        f"run `meltano install` in meltano/ (expected {MELTANO_TAP_VENV}), or set {TAP_VENV_ENV} "
        "to a venv where `pip install ./meltano/plugins/tap-stripe-launcher` was run."
    )


@functools.cache
def tap_schema(stream: str) -> dict[str, Any]:
    """The stream's schema with shared/*.json references inlined, as the tap's discovery does."""
    schemas = next(tap_venv().glob("lib/python3*/site-packages/tap_stripe/schemas"))

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(json.loads((schemas / node["$ref"].split("#")[0]).read_text()))
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(json.loads((schemas / f"{stream}.json").read_text()))


def unwrap_lists(value: Any) -> Any:
    """tap_stripe.unwrap_data_objects: embedded list objects become their data arrays."""
    if isinstance(value, dict):
        if value.get("object") == "list" and "data" in value:
            return unwrap_lists(value["data"])
        return {key: unwrap_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_lists(item) for item in value]
    return value


def epochs_to_datetimes(value: Any, schema: dict[str, Any]) -> Any:
    """The tap's Transformer makes integer epochs date-time strings where the schema says so."""
    if schema.get("format") == "date-time" and isinstance(value, int):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: epochs_to_datetimes(v, properties.get(k, {})) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [epochs_to_datetimes(item, schema["items"]) for item in value]
    return value


def as_tap_record(stream: str, obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    record = unwrap_lists(copy.deepcopy(obj))
    if stream == "customers":  # tap_stripe.reduce_foreign_keys
        record["subscriptions"] = [s["id"] for s in record.get("subscriptions", [])] or None
    record["updated"] = record["created"]
    return epochs_to_datetimes(record, schema)


@pytest.mark.parametrize("stream", TAP_STREAMS)
def test_every_object_validates_against_tap_stripes_schema(get: Any, stream: str) -> None:
    schema = tap_schema(stream)
    validator = jsonschema.Draft4Validator(schema)
    expand = [("expand[]", field) for field in TAP_EXPANSIONS.get(stream, [])]
    objects = walk(get, f"/v1/{stream}", expand, 100)
    assert objects
    for obj in objects:
        errors = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(as_tap_record(stream, obj, schema))
        ]
        assert not errors, f"{stream} {obj['id']}: {errors}"
    # Event payloads are what the tap writes as updates of charges, customers and disputes.
    if stream == "events":
        for obj in objects:
            payload = obj["data"]["object"]
            stream_of_payload = {
                "charge": "charges",
                "customer": "customers",
                "dispute": "disputes",
            }
            if payload["object"] in stream_of_payload:
                payload_stream = stream_of_payload[payload["object"]]
                payload_schema = tap_schema(payload_stream)
                record = as_tap_record(payload_stream, payload, payload_schema)
                errors = list(jsonschema.Draft4Validator(payload_schema).iter_errors(record))
                assert not errors, f"{obj['id']}: {[e.message for e in errors]}"


def run_tap(venv: Path, args: list[str], base_url: str, workdir: Path) -> list[dict[str, Any]]:
    launcher = venv / "bin" / "tap-stripe-launcher"
    assert launcher.exists(), f"{launcher} missing: install meltano/plugins/tap-stripe-launcher"
    env = {**os.environ, "STRIPE_API_BASE": base_url, "NO_PROXY": "127.0.0.1"}
    result = subprocess.run(
        [str(launcher), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if "--discover" in args:
        return [json.loads(result.stdout)]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_real_tap_through_the_launcher_emits_every_row(
    server: stripe_api.SandboxServer, pg: LocalShop, tables: Tables, tmp_path: Path
) -> None:
    venv = tap_venv()
    start_date = datetime.fromtimestamp(time.time() - 28 * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {"client_secret": pg.stripe_api_key, "account_id": pg.stripe_account_id,
              "start_date": start_date}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    [catalog] = run_tap(venv, ["--config", "config.json", "--discover"], server.url, tmp_path)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in TAP_STREAMS
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    messages = run_tap(
        venv, ["--config", "config.json", "--catalog", "catalog.json"], server.url, tmp_path
    )

    records = [m for m in messages if m["type"] == "RECORD"]
    created = {s: [r["record"]["id"] for r in records if r["stream"] == s and
                   "updated_by_event_type" not in r["record"]] for s in TAP_STREAMS}  # fmt: skip
    for stream in TAP_STREAMS:
        assert sorted(created[stream]) == sorted(row["id"] for row in tables[stream]), stream
    # Updates come from events: the newest event per object and (7-day) window, so an object
    # changed in two windows is written twice; every object with such an event is written.
    prefixes = {"charges": ("charge.", "charge"), "customers": ("customer.", "customer"),
                "disputes": ("charge.dispute.", "dispute")}  # fmt: skip
    for stream, (prefix, object_type) in prefixes.items():
        updated = [r["record"]["id"] for r in records if r["stream"] == stream and
                   "updated_by_event_type" in r["record"]]  # fmt: skip
        expected = {
            e["object_id"]
            for e in tables["events"]
            if e["type"].startswith(prefix) and e["object_type"] == object_type
        }
        assert set(updated) == expected, stream
    assert messages[-1]["type"] == "STATE"
    assert set(TAP_STREAMS) <= set(messages[-1]["value"]["bookmarks"])
