"""What happens at Stripe after the API calls: a checkout paid, a renewal, a cancellation.

Each function changes the stored objects and returns the events Stripe would send, in the
order Stripe sends them. Events made together share one `created` second, as they do at
Stripe, so receivers cannot order them by `created` alone.
"""

from __future__ import annotations

from .errors import StripeApiError, no_such
from .state import PERIOD_SECONDS, StandinState, new_id, now

DEFAULT_CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
SUBSCRIPTION_STATUSES = {
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
}


def _card(card: dict | None) -> dict:
    card = {**DEFAULT_CARD, **(card or {})}
    if not (isinstance(card["last4"], str) and len(card["last4"]) == 4 and card["last4"].isdigit()):
        raise ValueError("card.last4 must be four digits")
    return card


def _payment_method(state: StandinState, customer_id: str, card: dict) -> dict:
    # Stripe's card carries more than NumeraLoop may keep (fingerprint, checks, country...);
    # the stand-in sends it all, so a test can show the receiver keeps only brand/last4/expiry.
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "always",
        "billing_details": {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": "94107",
                "state": None,
            },
            "email": "payer@example.com",
            "name": "Test Payer",
            "phone": None,
        },
        "card": {
            "brand": card["brand"],
            "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
            "country": "US",
            "display_brand": card["brand"],
            "exp_month": int(card["exp_month"]),
            "exp_year": int(card["exp_year"]),
            "fingerprint": new_id("", 16),
            "funding": "credit",
            "last4": card["last4"],
            "networks": {"available": [card["brand"]], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": now(),
        "customer": customer_id,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def _invoice(state: StandinState, sub: dict, price: dict, start: int, end: int, created: int) -> dict:
    invoice_id = new_id("in_")
    amount = price["unit_amount"]
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount,
        "amount_paid": 0,
        "amount_remaining": amount,
        "attempt_count": 0,
        "attempted": False,
        "billing_reason": "subscription_create",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "customer": sub["customer"],
        "hosted_invoice_url": f"{state.public_url}/invoice/{invoice_id}",
        "invoice_pdf": f"{state.public_url}/invoice/{invoice_id}/pdf",
        "livemode": False,
        "metadata": {},
        "number": None,
        "parent": {
            "quote_details": None,
            "type": "subscription_details",
            "subscription_details": {"metadata": dict(sub.get("metadata") or {}), "subscription": sub["id"]},
        },
        "period_end": end,
        "period_start": start,
        "status": "draft",
        "subtotal": amount,
        "total": amount,
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": new_id("il_"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": price["currency"],
                    "description": f"1 × {price['nickname']}",
                    "period": {"start": start, "end": end},
                    "pricing": {
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details",
                    },
                    "quantity": 1,
                }
            ],
        },
    }


def _finalize_and_charge(state: StandinState, invoice: dict, paid: bool, created: int) -> list[dict]:
    events = [state.record_event("invoice.created", invoice, created=created)]
    invoice.update(status="open", number=state.next_invoice_number(invoice["customer"]))
    events.append(
        state.record_event("invoice.finalized", invoice, previous={"status": "draft", "number": None}, created=created)
    )
    invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
    if paid:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        events.append(state.record_event("invoice.paid", invoice, previous={"status": "open"}, created=created))
        events.append(state.record_event("invoice.payment_succeeded", invoice, created=created))
    else:
        events.append(state.record_event("invoice.payment_failed", invoice, created=created))
    return events


def complete_checkout(state: StandinState, session_id: str, card: dict | None = None) -> list[dict]:
    """The customer paid on the hosted page: customer, card, subscription, invoice, and their events."""
    card = _card(card)
    with state.lock:
        session = state.checkout_sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id)
        if session["status"] != "open":
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Checkout Session {session_id} is {session['status']}.",
                code="checkout_session_not_open",
            )
        events = state.take_undelivered()
        created = now()
        customer_id = session["customer"]
        if customer_id is None:
            customer = state.create_customer({"email": session.get("customer_email")})
            customer_id = customer["id"]
            events += state.take_undelivered()
        pm = _payment_method(state, customer_id, card)
        state.payment_methods[pm["id"]] = pm
        state.customers[customer_id]["invoice_settings"]["default_payment_method"] = pm["id"]
        events.append(state.record_event("payment_method.attached", pm, created=created))

        price = state.prices[session["line_items"][0]["price"]]
        start, end = created, created + PERIOD_SECONDS
        sub_id = new_id("sub_")
        sub = {
            "id": sub_id,
            "object": "subscription",
            "billing_cycle_anchor": start,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": created,
            "currency": price["currency"],
            "customer": customer_id,
            "default_payment_method": pm["id"],
            "ended_at": None,
            "items": {
                "object": "list",
                "has_more": False,
                "data": [
                    {
                        "id": new_id("si_"),
                        "object": "subscription_item",
                        "created": created,
                        "current_period_end": end,
                        "current_period_start": start,
                        "metadata": {},
                        "price": price,
                        "quantity": 1,
                        "subscription": sub_id,
                    }
                ],
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": dict((session.get("subscription_data") or {}).get("metadata") or {}),
            "start_date": start,
            "status": "incomplete",
            "trial_end": None,
            "trial_start": None,
        }
        invoice = _invoice(state, sub, price, start, end, created)
        sub["latest_invoice"] = invoice["id"]
        state.subscriptions[sub_id] = sub
        state.invoices[invoice["id"]] = invoice
        events.append(state.record_event("customer.subscription.created", sub, created=created))
        events += _finalize_and_charge(state, invoice, True, created)
        sub["status"] = "active"
        events.append(
            state.record_event("customer.subscription.updated", sub, previous={"status": "incomplete"}, created=created)
        )
        session.update(
            status="complete", payment_status="paid", subscription=sub_id, customer=customer_id, invoice=invoice["id"]
        )
        events.append(state.record_event("checkout.session.completed", session, created=created))
    return events


def _subscription(state: StandinState, sub_id: str) -> dict:
    sub = state.subscriptions.get(sub_id)
    if sub is None:
        raise no_such("subscription", sub_id)
    return sub


def update_subscription(state: StandinState, sub_id: str, changes: dict) -> list[dict]:
    """Changes made in the billing portal or the dashboard: cancel_at_period_end, status, price."""
    allowed = {"cancel_at_period_end", "status", "price"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"unknown subscription changes {sorted(unknown)}; known: {sorted(allowed)}")
    with state.lock:
        sub = _subscription(state, sub_id)
        previous = {}
        if "cancel_at_period_end" in changes:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = bool(changes["cancel_at_period_end"])
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if sub["cancel_at_period_end"] else None
        if "status" in changes:
            if changes["status"] not in SUBSCRIPTION_STATUSES:
                raise ValueError(f"unknown status {changes['status']!r}")
            previous["status"] = sub["status"]
            sub["status"] = changes["status"]
        if "price" in changes:
            price = state.prices.get(changes["price"])
            if price is None:
                raise no_such("price", changes["price"])
            previous["items"] = sub["items"]
            sub["items"] = {**sub["items"], "data": [{**sub["items"]["data"][0], "price": price}]}
        events = state.take_undelivered()
        events.append(state.record_event("customer.subscription.updated", sub, previous=previous))
    return events


def cancel_subscription(state: StandinState, sub_id: str) -> list[dict]:
    with state.lock:
        sub = _subscription(state, sub_id)
        at = now()
        sub.update(status="canceled", canceled_at=at, ended_at=at)
        events = state.take_undelivered()
        events.append(state.record_event("customer.subscription.deleted", sub, created=at))
    return events


def delete_customer(state: StandinState, customer_id: str) -> list[dict]:
    """The customer is deleted: its live subscriptions are canceled with it, its invoices stay."""
    with state.lock:
        customer = state.customers.get(customer_id)
        if customer is None or customer.get("deleted"):
            raise no_such("customer", customer_id)
        events = state.take_undelivered()
        for sub_id, sub in state.subscriptions.items():
            if sub["customer"] == customer_id and sub["status"] not in ("canceled", "incomplete_expired"):
                events += cancel_subscription(state, sub_id)
        events.append(state.record_event("customer.deleted", customer))
        # What Stripe answers for a deleted customer from then on, retrieve included.
        state.customers[customer_id] = {"id": customer_id, "object": "customer", "deleted": True}
    return events


def renew_subscription(state: StandinState, sub_id: str, paid: bool = True) -> list[dict]:
    """The next period's invoice: paid (subscription stays active) or failed (it goes past_due)."""
    with state.lock:
        sub = _subscription(state, sub_id)
        item = sub["items"]["data"][0]
        created = now()
        start = item["current_period_end"]
        end = start + PERIOD_SECONDS
        invoice = _invoice(state, sub, item["price"], start, end, created)
        invoice["billing_reason"] = "subscription_cycle"
        state.invoices[invoice["id"]] = invoice
        events = state.take_undelivered()
        events += _finalize_and_charge(state, invoice, paid, created)
        previous = {"items": sub["items"], "latest_invoice": sub["latest_invoice"]}
        sub["items"] = {**sub["items"], "data": [{**item, "current_period_start": start, "current_period_end": end}]}
        sub["latest_invoice"] = invoice["id"]
        if not paid:
            previous["status"] = sub["status"]
            sub["status"] = "past_due"
        events.append(state.record_event("customer.subscription.updated", sub, previous=previous, created=created))
    return events
