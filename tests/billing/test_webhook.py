"""POST /stripe/webhook: signed on the raw body, idempotent on event id, newest `created` wins."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import pytest
import requests
import stripe

from numeraloop import server
from numeraloop.app import create_app
from numeraloop.billing.webhook import HANDLED_EVENT_TYPES
from numeraloop.config import Config, ConfigError
from tests.billing import events as ev
from tests.billing.conftest import STRIPE_TEST_WEBHOOK_SECRET as SECRET
from tests.support.live_server import serve
from tests.support.url_map import routes_under


@pytest.fixture
def customer(db, make_user):
    user = make_user("payer")
    cus = ev.new_id("cus_")
    db.execute(
        "insert into public.billing_customers (workspace_id, stripe_customer_id) values (%s, %s)",
        (user.workspace_id, cus),
    )
    return user.workspace_id, cus


def post(service, evt, secret=SECRET, timestamp=None, headers=None):
    body, signed_headers = ev.signed(evt, secret, timestamp)
    return service.post("/stripe/webhook", data=body, headers={**signed_headers, **(headers or {})})


def recorded(db, event_id):
    return db.execute("select * from public.stripe_events where id = %s", (event_id,)).fetchone()


def sub_row(db, sub_id):
    return db.execute("select * from public.subscriptions where stripe_subscription_id = %s", (sub_id,)).fetchone()


def test_valid_signature_applies_the_event(billing_service, customer, db):
    ws, cus = customer
    sub = ev.new_id("sub_")
    evt = ev.event("customer.subscription.created", ev.subscription(sub, cus, "active"))
    r = post(billing_service, evt)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "event_id": evt["id"], "duplicate": False, "applied": True}
    row = sub_row(db, sub)
    assert str(row["workspace_id"]) == ws and row["status"] == "active" and row["plan_id"] == "pro"
    assert row["stripe_updated"].timestamp() == evt["created"]
    assert recorded(db, evt["id"])["processed_at"] is not None


@pytest.mark.parametrize("how", ["missing", "wrong_secret", "tampered", "expired", "garbage_header"])
def test_bad_or_missing_signature_is_400_and_records_nothing(billing_service, customer, db, how):
    ws, cus = customer
    sub = ev.new_id("sub_")
    evt = ev.event("customer.subscription.created", ev.subscription(sub, cus))
    body, headers = ev.signed(evt, SECRET)
    if how == "missing":
        headers.pop("Stripe-Signature")
    elif how == "wrong_secret":
        body, headers = ev.signed(evt, "whsec_someone_else")
    elif how == "tampered":
        body = body.replace(b'"active"', b'"canceled"')
    elif how == "expired":
        body, headers = ev.signed(evt, SECRET, timestamp=int(time.time()) - 3600)
    else:
        headers["Stripe-Signature"] = "not a signature"
    r = billing_service.post("/stripe/webhook", data=body, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_signature"
    assert recorded(db, evt["id"]) is None and sub_row(db, sub) is None


def test_an_event_signed_with_an_empty_key_is_refused(billing_service, customer, db):
    ws, cus = customer
    sub = ev.new_id("sub_")
    evt = ev.event("customer.subscription.created", ev.subscription(sub, cus))
    r = post(billing_service, evt, secret="")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert recorded(db, evt["id"]) is None and sub_row(db, sub) is None


def stripe_10_verify_header(payload, header, secret, tolerance=None):
    """stripe-python 10.x's check (the pin allows it): the HMAC is compared under whatever secret it is given,
    the empty one included; only recent releases refuse an empty secret themselves."""
    payload = payload.decode() if isinstance(payload, bytes) else payload
    try:
        timestamp, signatures = stripe.WebhookSignature._get_timestamp_and_signatures(header or "", "v1")
    except Exception:
        raise stripe.SignatureVerificationError("bad header", header, payload) from None
    if stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret) not in signatures:
        raise stripe.SignatureVerificationError("no match", header, payload)
    return True


@pytest.mark.parametrize("library", ["installed", "stripe-10"])
@pytest.mark.parametrize("unset", ["", "   "])
def test_without_a_webhook_secret_every_stripe_request_is_refused_and_logged(
    service_config, customer, db, caplog, monkeypatch, unset, library
):
    """Outside production the service starts without STRIPE_WEBHOOK_SECRET; it still verifies nothing as valid,
    not even a signature computed with the empty key, whichever stripe-python checks it."""
    if library == "stripe-10":
        monkeypatch.setattr(stripe.WebhookSignature, "verify_header", staticmethod(stripe_10_verify_header))
    ws, cus = customer
    app = create_app(dataclasses.replace(service_config, stripe_webhook_secret=unset))
    try:
        with serve(app) as base, caplog.at_level(logging.ERROR, logger="numeraloop.stripe.signature"):
            for secret in ("", unset, SECRET, None):
                sub = ev.new_id("sub_")
                evt = ev.event("customer.subscription.created", ev.subscription(sub, cus))
                body, headers = ev.signed(evt, secret or "")
                if secret is None:
                    headers.pop("Stripe-Signature")
                r = requests.post(base + "/stripe/webhook", data=body, headers=headers, timeout=10)
                assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature", (secret, r.text)
                assert recorded(db, evt["id"]) is None and sub_row(db, sub) is None
    finally:
        app.extensions["numeraloop.pool"].close()
    refusals = [rec for rec in caplog.records if rec.name == "numeraloop.stripe.signature"]
    assert len(refusals) == 4 and all(
        rec.levelno == logging.ERROR and "STRIPE_WEBHOOK_SECRET" in rec.getMessage() for rec in refusals
    )


def test_production_does_not_start_without_a_webhook_secret(service_config, capsys):
    production = dataclasses.replace(
        service_config,
        environment="production",
        stripe_webhook_secret="",
        public_base_url="https://numeraloop.example.com",
    )
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        create_app(production)
    assert server.serve(production) == 2, "numeraloop serve exits before starting gunicorn"
    assert "STRIPE_WEBHOOK_SECRET" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        create_app(dataclasses.replace(production, stripe_webhook_secret="  "))
    app = create_app(dataclasses.replace(production, stripe_webhook_secret=SECRET))
    app.extensions["numeraloop.pool"].close()


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, "production"),
        ({"NUMERALOOP_ENV": ""}, "production"),
        ({"NUMERALOOP_ENV": "production"}, "production"),
        ({"NUMERALOOP_ENV": "Development"}, "development"),
        ({"NUMERALOOP_ENV": "test"}, "test"),
    ],
)
def test_numeraloop_env_is_production_unless_it_says_otherwise(env, expected):
    assert Config.from_env(env=env).environment == expected


def test_an_unknown_numeraloop_env_is_a_configuration_error():
    with pytest.raises(ConfigError, match="NUMERALOOP_ENV"):
        Config.from_env(env={"NUMERALOOP_ENV": "prod"})


def test_signed_body_that_is_not_an_event_is_400(billing_service, db):
    for body in (b"[1, 2]", b"not json", json.dumps({"object": "event", "id": "evt_x"}).encode()):
        header = ev.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        r = billing_service.post(
            "/stripe/webhook", data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_event", body
    assert recorded(db, "evt_x") is None


def test_replayed_event_is_a_no_op(billing_service, customer, db):
    ws, cus = customer
    sub = ev.new_id("sub_")
    evt = ev.event("customer.subscription.created", ev.subscription(sub, cus, "active"))
    assert post(billing_service, evt).json()["applied"] is True
    # Something else changes the row after that event (a newer event, say) ...
    db.execute("update public.subscriptions set status = 'past_due' where stripe_subscription_id = %s", (sub,))
    again = post(billing_service, evt)
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["applied"] is False
    # ... and the replay did not put its own state back.
    assert sub_row(db, sub)["status"] == "past_due"
    assert db.execute("select count(*) as n from public.stripe_events where id = %s", (evt["id"],)).fetchone()["n"] == 1


def test_older_update_after_newer_changes_nothing(billing_service, customer, db):
    ws, cus = customer
    sub = ev.new_id("sub_")
    now = int(time.time())
    newer = ev.event(
        "customer.subscription.updated", ev.subscription(sub, cus, "active", cancel_at_period_end=True), created=now
    )
    older = ev.event("customer.subscription.updated", ev.subscription(sub, cus, "past_due"), created=now - 60)
    assert post(billing_service, newer).json()["applied"] is True
    r = post(billing_service, older)
    assert r.status_code == 200 and r.json() == {
        "received": True,
        "event_id": older["id"],
        "duplicate": False,
        "applied": False,
    }
    row = sub_row(db, sub)
    assert row["status"] == "active" and row["cancel_at_period_end"] is True
    assert row["stripe_updated"].timestamp() == now
    assert recorded(db, older["id"])["result"]["reason"] == "stale"


def test_unhandled_type_is_acknowledged_and_recorded_not_applied(billing_service, customer, db):
    ws, cus = customer
    evt = ev.event(
        "charge.refunded", {"id": "ch_123", "object": "charge", "customer": cus, "billing_details": {"name": "Pat"}}
    )
    r = post(billing_service, evt)
    assert r.status_code == 200 and r.json()["applied"] is False
    row = recorded(db, evt["id"])
    assert row["type"] == "charge.refunded" and row["result"]["reason"] == "unhandled_type"


def test_every_handled_type_is_known_to_the_database(db, customer):
    ws, cus = customer
    objects = {
        "checkout": {"id": "cs_test_1", "object": "checkout.session", "customer": cus},
        "customer": ev.subscription(ev.new_id("sub_"), cus),
        "invoice": ev.invoice(ev.new_id("in_"), cus, None),
        "payment_method": ev.payment_method(ev.new_id("pm_"), cus),
    }
    for kind in sorted(HANDLED_EVENT_TYPES):
        result = ev.apply(db, ev.event(kind, objects[kind.split(".")[0]]))
        assert result.get("reason") != "unhandled_type", kind


def test_card_data_beyond_brand_last4_expiry_is_never_stored(billing_service, customer, db):
    ws, cus = customer
    pm = ev.new_id("pm_")
    assert post(billing_service, ev.event("payment_method.attached", ev.payment_method(pm, cus, "1881"))).json()[
        "applied"
    ]
    row = db.execute("select * from public.payment_methods where stripe_payment_method_id = %s", (pm,)).fetchone()
    assert (row["brand"], row["last4"], row["exp_month"], row["exp_year"]) == ("visa", "1881", 12, 2034)
    columns = {
        r["column_name"]
        for r in db.execute(
            "select column_name from information_schema.columns where table_schema = 'public' "
            "and table_name = 'payment_methods'"
        )
    }
    assert columns == {
        "id",
        "workspace_id",
        "stripe_payment_method_id",
        "stripe_customer_id",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "detached_at",
        "stripe_updated",
        "created_at",
        "updated_at",
    }
    assert "Xt5EWLLDS7FJjR1c" not in json.dumps(row, default=str)
    # A later detach marks it, and a late (older) attach does not bring it back.
    detach = ev.event("payment_method.detached", ev.payment_method(pm, None), created=int(time.time()) + 5)
    assert post(billing_service, detach).json()["applied"] is True
    late = ev.event("payment_method.attached", ev.payment_method(pm, cus), created=int(time.time()) - 5)
    assert post(billing_service, late).json()["applied"] is False
    assert (
        db.execute(
            "select detached_at from public.payment_methods where stripe_payment_method_id = %s", (pm,)
        ).fetchone()["detached_at"]
        is not None
    )


def test_event_for_an_unknown_customer_is_recorded_but_applies_nothing(billing_service, db):
    sub = ev.new_id("sub_")
    evt = ev.event("customer.subscription.created", ev.subscription(sub, "cus_nobodyweknow"))
    r = post(billing_service, evt)
    assert r.status_code == 200 and r.json()["applied"] is False
    assert sub_row(db, sub) is None and recorded(db, evt["id"])["result"]["reason"] == "unknown_customer"


@pytest.mark.parametrize("which", ["configured", "no_secret"])
def test_every_stripe_route_refuses_unsigned_requests(request, db, which):
    """Every /stripe rule of the url_map, with STRIPE_WEBHOOK_SECRET (billing_service) and without it (service)."""
    client = request.getfixturevalue("billing_service" if which == "configured" else "service")
    before = db.execute("select count(*) as n from public.stripe_events").fetchone()["n"]
    evt = ev.event("customer.subscription.created", ev.subscription(ev.new_id("sub_"), ev.new_id("cus_")))
    body, signed_with_nothing = ev.signed(evt, "")
    unsigned = [
        {"Content-Type": "application/json"},
        signed_with_nothing,
        {**signed_with_nothing, "Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
    ]
    for path, method in routes_under(client.app, "/stripe/"):
        for headers in unsigned:
            r = requests.request(method, client.base_url + path, data=body, headers=headers, timeout=15)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature", (path, headers, r.text)
        r = requests.request(
            method,
            client.base_url + path,
            data="AccountSid=AC%00",
            timeout=15,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature", (path, r.text)
    assert recorded(db, evt["id"]) is None
    assert db.execute("select count(*) as n from public.stripe_events").fetchone()["n"] == before
