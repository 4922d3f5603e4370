"""Stripe's JSON shapes (API version 2022-11-15) rendered from the sandbox's relational rows.

Pure functions: a row (a dict from sandbox/sql/stripe.sql) in, a Stripe object out. Fields the
tables do not hold get Stripe's defaults or nulls; a few stable-looking values (card expiry,
fingerprint, risk score) are derived from the object's id so every render is identical.
"""

from __future__ import annotations

import zlib
from typing import Any

API_VERSION = "2022-11-15"
ACCOUNT_DISPLAY_NAME = "Sandbox Shop"

Row = dict[str, Any]
StripeObject = dict[str, Any]


def list_object(data: list[StripeObject], url: str, has_more: bool = False) -> StripeObject:
    # Key order and a relative url exactly as Stripe sends them: the SDK pages from "url".
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _stable_number(text: str, modulo: int) -> int:
    return zlib.crc32(text.encode()) % modulo


def _empty_address(country: str | None = None) -> dict[str, str | None]:
    return {
        "city": None,
        "country": country,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def render_account(account_id: str) -> StripeObject:
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": "5999",
            "name": ACCOUNT_DISPLAY_NAME,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": 1_577_836_800,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "payments@sandbox-shop.example",
        "livemode": False,
        "metadata": {},
        "payouts_enabled": True,
        "settings": {
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": None,
            },
            "dashboard": {"display_name": ACCOUNT_DISPLAY_NAME, "timezone": "Etc/UTC"},
            "payments": {"statement_descriptor": "SANDBOX SHOP"},
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "type": "standard",
    }


def render_customer(row: Row, expand: frozenset[str] = frozenset()) -> StripeObject:
    customer: StripeObject = {
        "id": row["id"],
        "object": "customer",
        "address": _empty_address(row["country"]),
        "balance": 0,
        "created": row["created"],
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": row["email"],
        "invoice_prefix": f"{_stable_number(row['id'], 16**8):08X}",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"shop_customer_id": str(row["shop_customer_id"])},
        "name": row["name"],
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    # Since 2020-08-27 these lists appear only when expanded; the shop stores none of them.
    for field in ("sources", "subscriptions", "tax_ids"):
        if field in expand:
            customer[field] = list_object([], f"/v1/customers/{row['id']}/{field}")
    return customer


def _outcome(row: Row) -> dict[str, Any]:
    risk_score = _stable_number(row["id"], 65)
    if row["status"] == "succeeded":
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": risk_score,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    decline_code = row["failure_code"] or "card_declined"
    return {
        "network_status": "declined_by_network",
        "reason": "generic_decline" if decline_code == "card_declined" else decline_code,
        "risk_level": "normal",
        "risk_score": risk_score,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def _card_details(row: Row) -> dict[str, Any]:
    return {
        "brand": row["card_brand"],
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": "pass",
            "cvc_check": "pass",
        },
        "country": row["card_country"],
        "exp_month": 1 + _stable_number(row["payment_intent"], 12),
        "exp_year": 2027 + _stable_number(row["payment_intent"], 5),
        "fingerprint": f"fp{_stable_number(str(row['customer']) + row['card_last4'], 10**14):014d}",
        "funding": "credit",
        "installments": None,
        "last4": row["card_last4"],
        "mandate": None,
        "network": row["card_brand"],
        "three_d_secure": None,
        "wallet": None,
    }


def render_charge(row: Row, refunds: list[StripeObject] | None = None) -> StripeObject:
    """A charge; `refunds` embeds the refund list (only when expanded, as in 2022-11-15)."""
    succeeded = row["status"] == "succeeded"
    charge: StripeObject = {
        "id": row["id"],
        "object": "charge",
        "amount": row["amount"],
        "amount_captured": row["amount_captured"],
        "amount_refunded": row["amount_refunded"],
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": row["balance_transaction"],
        "billing_details": {
            "address": _empty_address(),
            "email": None,
            "name": None,
            "phone": None,
        },
        "calculated_statement_descriptor": "SANDBOX SHOP",
        "captured": succeeded,
        "created": row["created"],
        "currency": row["currency"],
        "customer": row["customer"],
        "description": f"Order {row['shop_order_id']}",
        "disputed": row["disputed"],
        "failure_balance_transaction": None,
        "failure_code": row["failure_code"],
        "failure_message": row["failure_message"],
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": {"order_id": str(row["shop_order_id"])},
        "on_behalf_of": None,
        "outcome": _outcome(row),
        "paid": succeeded,
        "payment_intent": row["payment_intent"],
        "payment_method": "pm_" + row["id"].removeprefix("ch_"),
        "payment_method_details": {"card": _card_details(row), "type": "card"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": succeeded and row["amount_refunded"] >= row["amount"],
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": row["status"],
        "transfer_data": None,
        "transfer_group": None,
    }
    if refunds is not None:
        charge["refunds"] = list_object(refunds, f"/v1/charges/{row['id']}/refunds")
    return charge


def render_refund(row: Row) -> StripeObject:
    """A refund; the row carries its charge's payment_intent and shop_order_id (joined)."""
    return {
        "id": row["id"],
        "object": "refund",
        "amount": row["amount"],
        "balance_transaction": row["balance_transaction"],
        "charge": row["charge"],
        "created": row["created"],
        "currency": row["currency"],
        "metadata": {"order_id": str(row["shop_order_id"])},
        "payment_intent": row["payment_intent"],
        "reason": row["reason"],
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": row["status"],
        "transfer_reversal": None,
    }


_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy",
    "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
    "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
    "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
    "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address",
    "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
    "uncategorized_file", "uncategorized_text",
)  # fmt: skip

_OPEN_DISPUTE_STATUSES = ("warning_needs_response", "needs_response")


def render_dispute(row: Row, balance_transactions: list[StripeObject], now: int) -> StripeObject:
    """A dispute; the row carries its charge's payment_intent and card_brand (joined)."""
    return {
        "id": row["id"],
        "object": "dispute",
        "amount": row["amount"],
        "balance_transactions": balance_transactions,
        "charge": row["charge"],
        "created": row["created"],
        "currency": row["currency"],
        "evidence": dict.fromkeys(_EVIDENCE_FIELDS),
        "evidence_details": {
            "due_by": row["evidence_due_by"],
            "has_evidence": False,
            "past_due": row["status"] in _OPEN_DISPUTE_STATUSES and row["evidence_due_by"] < now,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": row["payment_intent"],
        "payment_method_details": {
            "card": {"brand": row["card_brand"], "network_reason_code": None},
            "type": "card",
        },
        "reason": row["reason"],
        "status": row["status"],
    }


def render_balance_transaction(row: Row) -> StripeObject:
    fee_details = (
        [
            {
                "amount": row["fee"],
                "application": None,
                "currency": row["currency"],
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if row["fee"]
        else []
    )
    return {
        "id": row["id"],
        "object": "balance_transaction",
        "amount": row["amount"],
        "available_on": row["available_on"],
        "created": row["created"],
        "currency": row["currency"],
        "description": None,
        "exchange_rate": None,
        "fee": row["fee"],
        "fee_details": fee_details,
        "net": row["net"],
        "reporting_category": row["reporting_category"],
        "source": row["source"],
        "status": row["status"],
        "type": row["type"],
    }


def render_event(row: Row, data_object: StripeObject) -> StripeObject:
    return {
        "id": row["id"],
        "object": "event",
        "api_version": API_VERSION,
        "created": row["created"],
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 0,
        # Nullable in Stripe's spec; an object {id, idempotency_key} since 2017, but tap-stripe's
        # schema still types it as a string, and the sandbox's events come from no API request.
        "request": None,
        "type": row["type"],
    }
