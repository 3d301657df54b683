"""Stripe-shaped events for tests that talk to the webhook or the SQL function directly,
and signing them exactly as Stripe does (stripe-python's WebhookSignature)."""

from __future__ import annotations

import itertools
import json
import secrets
import time

from stripe import WebhookSignature

_seq = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(8)}{next(_seq)}"


def event(type_: str, obj: dict, created: int | None = None, event_id: str | None = None) -> dict:
    return {
        "id": event_id or new_id("evt_"),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "data": {"object": obj},
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def subscription(
    sub_id: str,
    customer: str,
    status: str = "active",
    price: str = "price_numeraloop_pro_monthly",
    cancel_at_period_end: bool = False,
    period_end: int | None = None,
) -> dict:
    start = int(time.time())
    end = period_end or start + 30 * 86400
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "metadata": {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": new_id("si_"),
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": start,
                    "current_period_end": end,
                }
            ],
        },
    }


def invoice(invoice_id: str, customer: str, sub_id: str | None, status: str = "paid", amount: int = 9900) -> dict:
    now = int(time.time())
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status": status,
        "number": "TEST-0001",
        "currency": "usd",
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "amount_remaining": 0 if status == "paid" else amount,
        "total": amount,
        "created": now,
        "hosted_invoice_url": "https://invoice.stripe.com/i/test",
        "invoice_pdf": None,
        "period_start": now,
        "period_end": now + 30 * 86400,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id, "metadata": {}}},
    }


def payment_method(pm_id: str, customer: str | None, last4: str = "4242") -> dict:
    return {
        "id": pm_id,
        "object": "payment_method",
        "type": "card",
        "customer": customer,
        "billing_details": {"email": "payer@example.com", "name": "Pat Payer"},
        "card": {
            "brand": "visa",
            "last4": last4,
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "country": "US",
            "funding": "credit",
            "checks": {"cvc_check": "pass"},
        },
    }


def signed(evt: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict]:
    payload = json.dumps(evt, indent=2)
    header = WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def apply(db, evt: dict) -> dict:
    """Straight through the SQL function, as the webhook does after verifying."""
    return db.execute("select private.apply_stripe_event(%s::jsonb) as r", (json.dumps(evt),)).fetchone()["r"]


def give_workspace_billing(db, workspace_id: str, status: str = "active", price: str = "price_numeraloop_pro_monthly"):
    """A Stripe customer, a subscription, a paid invoice and a card for the workspace: ids."""
    customer = new_id("cus_")
    db.execute(
        "insert into public.billing_customers (workspace_id, stripe_customer_id) values (%s, %s)",
        (workspace_id, customer),
    )
    sub, inv, pm = new_id("sub_"), new_id("in_"), new_id("pm_")
    assert apply(db, event("customer.subscription.created", subscription(sub, customer, status, price)))["applied"]
    assert apply(db, event("invoice.paid", invoice(inv, customer, sub)))["applied"]
    assert apply(db, event("payment_method.attached", payment_method(pm, customer)))["applied"]
    return {"customer": customer, "subscription": sub, "invoice": inv, "payment_method": pm}
