"""/api/v1/billing: the web client's billing calls.

  GET  /billing           any member: plan, entitlements, usage of each limit (public.workspace_usage),
                          subscription; owners and admins
                          also get invoices and payment methods (RLS decides, as the caller)
  POST /billing/checkout  owner/admin: {plan, success_url?, cancel_url?} → a Stripe Checkout url
  POST /billing/portal    owner/admin: {return_url?} → a Stripe Billing Portal url

The workspace's Stripe customer is created once, at its first checkout, with an idempotency
key derived from the workspace, so two concurrent first checkouts share one customer. What
the customer then does at Stripe reaches us only through the webhook (billing/webhook.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify

from .. import audit, workspaces
from ..api.inputs import field, json_body
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from ..stripe.client import client_for_app, stripe_call

bp = Blueprint("billing", __name__)

log = logging.getLogger(__name__)
LIVE_STATUSES = ("active", "trialing", "past_due")
SUBSCRIPTION_FIELDS = (
    "stripe_subscription_id",
    "plan_id",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
)


def _config():
    return current_app.config["NUMERALOOP"]


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, None for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _url(body: dict, name: str) -> str:
    """Where Stripe sends the customer back to: a URL of this service (PUBLIC_BASE_URL's scheme, host and port),
    so a checkout link cannot be made to land the customer on someone else's site."""
    base = _config().public_base_url
    value = field(body, name, max_length=2000)
    if value is None:
        # The web client passes where to come back to; without one, the service's public URL.
        return base + "/"
    # Browsers read a backslash as a slash and drop tabs and newlines, so such a URL may not go where it reads.
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in value) or _origin(value) is None:
        raise ApiError(422, "invalid_field", f"'{name}' must be an http(s) URL.", field=name)
    # User info is refused outright: "https://ours@elsewhere/" reads as ours at a glance.
    if "@" in urlsplit(value).netloc or _origin(value) != _origin(base):
        raise ApiError(400, "url_not_allowed", f"'{name}' must be a URL on {base}.", field=name)
    return value


def _customer_id(workspace_id: str) -> str | None:
    with as_service(current_pool()) as conn:
        row = conn.execute(
            "select stripe_customer_id from public.billing_customers where workspace_id = %s", (workspace_id,)
        ).fetchone()
    return row["stripe_customer_id"] if row else None


def _ensure_customer(workspace_id: str) -> str:
    existing = _customer_id(workspace_id)
    if existing:
        return existing
    with as_service(current_pool()) as conn:
        name = conn.execute("select name from public.workspaces where id = %s", (workspace_id,)).fetchone()["name"]
    client = client_for_app(current_app)
    with stripe_call("set up billing for the workspace"):
        customer = client.v1.customers.create(
            params={"name": name, "metadata": {"workspace_id": workspace_id}},
            # Same key for the same workspace: a retried or concurrent first checkout gets the same customer.
            options={"idempotency_key": f"numeraloop-customer-{workspace_id}"},
        )
    with as_service(current_pool()) as conn:
        conn.execute(
            "insert into public.billing_customers (workspace_id, stripe_customer_id) values (%s, %s) "
            "on conflict (workspace_id) do nothing",
            (workspace_id, customer.id),
        )
        stored = conn.execute(
            "select stripe_customer_id from public.billing_customers where workspace_id = %s", (workspace_id,)
        ).fetchone()["stripe_customer_id"]
        if stored == customer.id:
            audit.record(
                conn,
                workspace_id=workspace_id,
                actor=g.user_id,
                action="billing.customer_create",
                target_type="stripe_customer",
                target_id=customer.id,
            )
    return stored


@bp.post("/billing/checkout")
def billing_checkout():
    body = json_body()
    workspace_id, _ = workspaces.for_caller(body, "admin")
    plan_id = field(body, "plan", required=True, max_length=32)
    success_url, cancel_url = _url(body, "success_url"), _url(body, "cancel_url")
    with as_user(current_pool(), g.claims) as conn:
        plan = conn.execute("select id, stripe_price_id from public.plans where id = %s", (plan_id,)).fetchone()
        live = conn.execute(
            "select plan_id, status from public.subscriptions where workspace_id = %s and status = any(%s) limit 1",
            (workspace_id, list(LIVE_STATUSES)),
        ).fetchone()
    if plan is None:
        raise ApiError(422, "unknown_plan", f"No plan {plan_id!r}.", field="plan")
    if not plan["stripe_price_id"]:
        raise ApiError(
            422,
            "plan_not_purchasable",
            f"The {plan_id} plan is not sold; it is what you have without one.",
            field="plan",
        )
    if live:
        raise ApiError(
            409,
            "already_subscribed",
            f"This workspace already has a {live['status']} {live['plan_id']} subscription; "
            "change it in the billing portal.",
        )
    customer_id = _ensure_customer(workspace_id)
    client = client_for_app(current_app)
    metadata = {"workspace_id": workspace_id, "plan": plan_id}
    with stripe_call("start the checkout"):
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": workspace_id,
                "line_items": [{"price": plan["stripe_price_id"], "quantity": 1}],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
            }
        )
    with as_service(current_pool()) as conn:
        audit.record(
            conn,
            workspace_id=workspace_id,
            actor=g.user_id,
            action="billing.checkout",
            target_type="checkout_session",
            target_id=session.id,
            details={"plan": plan_id},
        )
    return jsonify(url=session.url, session_id=session.id, plan=plan_id), 201


@bp.post("/billing/portal")
def billing_portal():
    body = json_body()
    workspace_id, _ = workspaces.for_caller(body, "admin")
    return_url = _url(body, "return_url")
    customer_id = _customer_id(workspace_id)
    if customer_id is None:
        raise ApiError(409, "no_billing_account", "This workspace has never checked out; choose a plan first.")
    client = client_for_app(current_app)
    with stripe_call("open the billing portal"):
        session = client.v1.billing_portal.sessions.create(params={"customer": customer_id, "return_url": return_url})
    return jsonify(url=session.url), 201


@bp.get("/billing")
def billing_overview():
    workspace_id, role = workspaces.for_caller(None, "agent")
    with as_user(current_pool(), g.claims) as conn:
        entitlements = conn.execute("select public.workspace_entitlements(%s) as e", (workspace_id,)).fetchone()["e"]
        subscription = conn.execute(
            f"select {', '.join(SUBSCRIPTION_FIELDS)} from public.subscriptions where workspace_id = %s "
            "order by (status = any(%s)) desc, current_period_end desc nulls last limit 1",
            (workspace_id, list(LIVE_STATUSES)),
        ).fetchone()
        plans = conn.execute(
            "select id, name, amount_cents, currency, interval, limits from public.plans order by sort_order"
        ).fetchall()
        usage = conn.execute("select public.workspace_usage(%s) as u", (workspace_id,)).fetchone()["u"]
        answer = {
            "workspace_id": workspace_id,
            "plan": entitlements["plan"],
            "entitlements": entitlements,
            "usage": usage,
            "subscription": subscription,
            "plans": plans,
        }
        if workspaces.ROLE_RANK[role] >= workspaces.ROLE_RANK["admin"]:
            answer["invoices"] = conn.execute(
                "select stripe_invoice_id, number, status, currency, amount_due, amount_paid, total, hosted_invoice_url, "
                "period_start, period_end, stripe_created from public.invoices where workspace_id = %s "
                "order by stripe_created desc limit 24",
                (workspace_id,),
            ).fetchall()
            answer["payment_methods"] = conn.execute(
                "select stripe_payment_method_id, brand, last4, exp_month, exp_year from public.payment_methods "
                "where workspace_id = %s and detached_at is null order by created_at desc",
                (workspace_id,),
            ).fetchall()
    return jsonify(answer)
