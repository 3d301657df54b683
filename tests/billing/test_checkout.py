"""Checkout, portal and the billing overview, end to end through the Stripe stand-in:
the service opens a Checkout Session, the stand-in "pays" and sends Stripe's events, signed,
to the service's webhook, and the billing tables end up describing the right workspace."""

from __future__ import annotations

import pytest

from numeraloop.billing import api as billing_api
from tests.support.database import add_member


def checkout(service, user, plan="pro", **extra):
    return service.post(
        "/api/v1/billing/checkout", user=user, json={"workspace_id": user.workspace_id, "plan": plan, **extra}
    )


def billing_rows(db, ws):
    return {
        "subscriptions": db.execute("select * from public.subscriptions where workspace_id = %s", (ws,)).fetchall(),
        "invoices": db.execute("select * from public.invoices where workspace_id = %s", (ws,)).fetchall(),
        "payment_methods": db.execute("select * from public.payment_methods where workspace_id = %s", (ws,)).fetchall(),
    }


@pytest.mark.parametrize("delivery", [{}, {"order": "reverse", "duplicates": 1}, {"order": "shuffle", "duplicates": 2}])
def test_full_checkout_ends_with_an_active_subscription_invoice_and_card(
    billing_service, stripe_server, stripe_control, make_user, db, delivery
):
    owner = make_user("owner")
    bystander = make_user("bystander")
    back = billing_service.base_url + "/billing?ok=1"
    r = checkout(billing_service, owner, success_url=back)
    assert r.status_code == 201, r.text
    session_id = r.json()["session_id"]
    assert session_id.startswith("cs_test_") and r.json()["url"] == f"{stripe_server.url}/checkout/{session_id}"
    customer = db.execute(
        "select stripe_customer_id from public.billing_customers where workspace_id = %s", (owner.workspace_id,)
    ).fetchone()["stripe_customer_id"]
    at_stripe = stripe_server.state.checkout_sessions[session_id]
    assert at_stripe["customer"] == customer and at_stripe["client_reference_id"] == owner.workspace_id
    assert at_stripe["line_items"] == [{"price": "price_numeraloop_pro_monthly", "quantity": 1}]
    assert at_stripe["success_url"] == back and at_stripe["cancel_url"] == billing_service.base_url + "/"

    done = stripe_control.complete_checkout(session_id, card={"brand": "mastercard", "last4": "4444"}, **delivery)
    types = [e["type"] for e in done["events"]]
    assert {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.paid",
        "payment_method.attached",
    } <= set(types)
    assert all(d["status"] == 200 for d in done["deliveries"]), done["deliveries"]
    assert len(done["deliveries"]) == len(types) * (1 + delivery.get("duplicates", 0))

    rows = billing_rows(db, owner.workspace_id)
    [sub] = rows["subscriptions"]
    assert (sub["stripe_subscription_id"], sub["status"], sub["plan_id"]) == (done["subscription"], "active", "pro")
    assert sub["current_period_end"] is not None and sub["cancel_at_period_end"] is False
    [inv] = rows["invoices"]
    assert (inv["stripe_invoice_id"], inv["status"], inv["amount_paid"], inv["currency"]) == (
        done["invoice"],
        "paid",
        9900,
        "usd",
    )
    assert inv["stripe_subscription_id"] == done["subscription"] and inv["number"] and inv["hosted_invoice_url"]
    [card] = rows["payment_methods"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == ("mastercard", "4444", 12, 2034)
    # Nothing landed anywhere else.
    assert billing_rows(db, bystander.workspace_id) == {"subscriptions": [], "invoices": [], "payment_methods": []}

    overview = billing_service.get(f"/api/v1/billing?workspace_id={owner.workspace_id}", user=owner).json()
    assert overview["plan"] == "pro" and overview["entitlements"]["limits"]["phone_numbers"] == 25
    assert overview["subscription"]["status"] == "active"
    assert [i["stripe_invoice_id"] for i in overview["invoices"]] == [done["invoice"]]
    assert overview["payment_methods"] == [
        {
            "stripe_payment_method_id": done["payment_method"],
            "brand": "mastercard",
            "last4": "4444",
            "exp_month": 12,
            "exp_year": 2034,
        }
    ]


def test_customer_is_created_once_per_workspace(billing_service, stripe_server, make_user, db):
    owner = make_user("owner")
    first, second = checkout(billing_service, owner, plan="starter"), checkout(billing_service, owner, plan="pro")
    assert first.status_code == second.status_code == 201
    customers = db.execute(
        "select stripe_customer_id from public.billing_customers where workspace_id = %s", (owner.workspace_id,)
    ).fetchall()
    assert len(customers) == 1
    made = [
        c for c in stripe_server.state.customers.values() if c["metadata"].get("workspace_id") == owner.workspace_id
    ]
    assert [c["id"] for c in made] == [customers[0]["stripe_customer_id"]]


def test_subscription_lifecycle_after_checkout(billing_service, stripe_control, make_user, db):
    owner = make_user("owner")
    session_id = checkout(billing_service, owner).json()["session_id"]
    sub = stripe_control.complete_checkout(session_id)["subscription"]
    again = checkout(billing_service, owner)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"

    stripe_control.renew_subscription(sub, paid=False)
    row = db.execute("select status from public.subscriptions where stripe_subscription_id = %s", (sub,)).fetchone()
    assert row["status"] == "past_due"
    failed = db.execute(
        "select status from public.invoices where workspace_id = %s and status = 'open'", (owner.workspace_id,)
    ).fetchall()
    assert len(failed) == 1, "the failed renewal's invoice is stored, still open"
    ent = billing_service.get(f"/api/v1/billing?workspace_id={owner.workspace_id}", user=owner).json()["entitlements"]
    assert ent["plan"] == "pro" and ent["subscription_status"] == "past_due", (
        "past_due keeps the plan while Stripe retries"
    )

    stripe_control.cancel_subscription(sub)
    ent = billing_service.get(f"/api/v1/billing?workspace_id={owner.workspace_id}", user=owner).json()["entitlements"]
    assert ent["plan"] == "free" and ent["limits"]["phone_numbers"] == 2


def test_portal_gives_a_url_for_the_workspace_customer(billing_service, stripe_server, stripe_control, make_user):
    owner = make_user("owner")
    r = billing_service.post("/api/v1/billing/portal", user=owner, json={"workspace_id": owner.workspace_id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_billing_account"
    checkout(billing_service, owner)
    back = billing_service.base_url + "/b"
    r = billing_service.post(
        "/api/v1/billing/portal", user=owner, json={"workspace_id": owner.workspace_id, "return_url": back}
    )
    assert r.status_code == 201, r.text
    portal_id = r.json()["url"].rsplit("/", 1)[1]
    assert portal_id.startswith("bps_")
    assert stripe_server.state.portal_sessions[portal_id]["return_url"] == back


def test_agents_get_403_and_other_workspaces_404(billing_service, make_user, db):
    owner, agent, admin, stranger = make_user("owner"), make_user("agent"), make_user("admin"), make_user("stranger")
    add_member(db, owner.workspace_id, agent, "agent")
    ws = owner.workspace_id
    for path in ("/api/v1/billing/checkout", "/api/v1/billing/portal"):
        r = billing_service.post(path, user=agent, json={"workspace_id": ws, "plan": "pro"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", path
        r = billing_service.post(path, user=stranger, json={"workspace_id": ws, "plan": "pro"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "workspace_not_found", path
    assert billing_service.get(f"/api/v1/billing?workspace_id={ws}", user=stranger).status_code == 404
    seen = billing_service.get(f"/api/v1/billing?workspace_id={ws}", user=agent).json()
    assert seen["plan"] == "free" and "invoices" not in seen and "payment_methods" not in seen
    # Free has 2 seats (owner and agent): the admin takes the agent's.
    db.execute("delete from public.workspace_members where workspace_id = %s and user_id = %s", (ws, agent.id))
    add_member(db, ws, admin, "admin")
    r = billing_service.post("/api/v1/billing/checkout", user=admin, json={"workspace_id": ws, "plan": "pro"})
    assert r.status_code == 201, "admins may check out"
    assert (
        db.execute("select count(*) as n from public.billing_customers where workspace_id = %s", (ws,)).fetchone()["n"]
        == 1
    )


@pytest.mark.parametrize(
    "body,code",
    [
        ({"plan": "free"}, "plan_not_purchasable"),
        ({"plan": "gold"}, "unknown_plan"),
        ({}, "missing_field"),
        ({"plan": "pro", "success_url": "javascript:alert(1)"}, "invalid_field"),
    ],
)
def test_checkout_rejects_bad_input(billing_service, make_user, body, code):
    owner = make_user("owner")
    r = billing_service.post("/api/v1/billing/checkout", user=owner, json={"workspace_id": owner.workspace_id, **body})
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_stripe_refusing_our_key_is_a_clean_502(billing_service, stripe_server, make_user):
    owner = make_user("owner")
    good = stripe_server.state.api_key
    stripe_server.state.api_key = "sk_test_rotated_elsewhere"
    try:
        r = checkout(billing_service, owner)
    finally:
        stripe_server.state.api_key = good
    assert r.status_code == 502 and r.json()["error"]["code"] == "stripe_misconfigured"
    assert "sk_test" not in r.text


def other_origins(base: str) -> list[str]:
    """URLs that read like the service's but are not on its scheme, host and port."""
    scheme, _, hostport = base.partition("://")
    host, _, port = hostport.partition(":")
    other_scheme = "https" if scheme == "http" else "http"
    return [
        "https://evil.example.com/billing",
        f"{other_scheme}://{hostport}/billing",
        f"{scheme}://{host}:1/billing",
        f"{scheme}://{host}.evil.example.com:{port}/",
        f"{scheme}://evil.example.com/{hostport}/",
        f"{scheme}://{host}.evil.example.com:{port}/",
        f"{scheme}://user@{hostport}/",
        f"{scheme}://localhost:{port}/",
    ]


def test_checkout_and_portal_send_the_customer_back_only_to_this_service(billing_service, stripe_server, make_user):
    owner = make_user("owner")
    sessions, customers = len(stripe_server.state.checkout_sessions), len(stripe_server.state.customers)
    for url in other_origins(billing_service.base_url):
        for name in ("success_url", "cancel_url"):
            r = checkout(billing_service, owner, **{name: url})
            assert r.status_code == 400, (name, url, r.text)
            assert r.json()["error"]["code"] == "url_not_allowed" and r.json()["error"]["field"] == name
    base = billing_service.base_url
    for url in (
        f"{base}\\@evil.example.com/",
        f"{base}/\n",
        "//evil.example.com/",
        base.replace("://", ":/"),
        f"{base}:99999/",
    ):
        r = checkout(billing_service, owner, success_url=url)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field", (url, r.text)
    assert len(stripe_server.state.checkout_sessions) == sessions and len(stripe_server.state.customers) == customers, (
        "nothing refused reached Stripe"
    )

    r = checkout(billing_service, owner, success_url=base + "/done?session={CHECKOUT_SESSION_ID}", cancel_url=base)
    assert r.status_code == 201, r.text

    for url in other_origins(billing_service.base_url):
        r = billing_service.post(
            "/api/v1/billing/portal", user=owner, json={"workspace_id": owner.workspace_id, "return_url": url}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "url_not_allowed", (url, r.text)


def test_an_origin_is_scheme_host_and_port_whatever_their_spelling():
    assert billing_api._origin("https://App.Example.com:443/x?y=1") == billing_api._origin("https://app.example.com")
    assert billing_api._origin("http://app.example.com:80") == ("http", "app.example.com", 80)
    assert billing_api._origin("https://app.example.com:8443/") != billing_api._origin("https://app.example.com")
    for not_one in (
        "javascript:alert(1)",
        "//app.example.com/",
        "https://:443/",
        "https://app.example.com:port/",
        "ftp://app.example.com/",
    ):
        assert billing_api._origin(not_one) is None, not_one
