"""The Stripe stand-in answers as Stripe does: through stripe-python itself, with Stripe's
auth errors, unknown-parameter refusals, idempotency replays and webhook signatures."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from numeraloop_local.stripe_standin import StandinServer
from numeraloop_local.stripe_standin.cli import add_commands
from numeraloop_local.stripe_standin.client import StandinControl, StandinError
from tests.billing.conftest import STRIPE_TEST_KEY

SECRET = "whsec_standin_test"


def client(server, key=STRIPE_TEST_KEY):
    return stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=0)


def test_wrong_or_missing_key_gets_stripes_401(stripe_server):
    with pytest.raises(stripe.AuthenticationError) as caught:
        client(stripe_server, "sk_test_wrong_key_123456").v1.customers.create(params={"name": "x"})
    assert caught.value.http_status == 401 and "Invalid API Key provided" in caught.value.user_message
    assert "wrong_key" not in caught.value.user_message, "the key is masked, as Stripe masks it"
    r = requests.post(f"{stripe_server.url}/v1/customers", data={"name": "x"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in r.json()["error"]["message"]


def test_objects_are_stripe_shaped_and_params_are_decoded(stripe_server):
    c = client(stripe_server)
    customer = c.v1.customers.create(params={"name": "Acme", "metadata": {"workspace_id": "w1"}})
    assert (
        customer.id.startswith("cus_") and customer.object == "customer" and customer.metadata["workspace_id"] == "w1"
    )
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": "price_numeraloop_starter_monthly", "quantity": 1}],
            "success_url": "https://app.example.com/ok",
            "subscription_data": {"metadata": {"plan": "starter"}},
        }
    )
    assert session.id.startswith("cs_test_") and session.url.endswith(session.id) and session.amount_total == 2900
    assert c.v1.prices.retrieve("price_numeraloop_pro_monthly").unit_amount == 9900
    with pytest.raises(stripe.InvalidRequestError) as caught:
        c.v1.checkout.sessions.create(params={"mode": "subscription", "line_items": [{"price": "price_nope"}]})
    assert caught.value.code == "resource_missing" and caught.value.param == "line_items[0][price]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        c.v1.customers.create(params={"nmae": "typo"})
    assert "Received unknown parameter: nmae" in caught.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as caught:
        c.v1.subscriptions.retrieve("sub_missing")
    assert caught.value.http_status == 404


def test_idempotency_key_replays_the_first_answer(stripe_server):
    c = client(stripe_server)
    first = c.v1.customers.create(params={"name": "Once"}, options={"idempotency_key": "same-key-1"})
    again = c.v1.customers.create(params={"name": "Once"}, options={"idempotency_key": "same-key-1"})
    assert first.id == again.id
    with pytest.raises(stripe.IdempotencyError):
        c.v1.customers.create(params={"name": "Other"}, options={"idempotency_key": "same-key-1"})


def test_webhooks_are_signed_as_stripe_signs_them():
    received = []
    from flask import Flask, request

    from tests.support.live_server import serve

    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        received.append((request.get_data(), request.headers.get("Stripe-Signature")))
        return "", 200

    with (
        serve(app) as base,
        StandinServer(api_key=STRIPE_TEST_KEY, webhook_url=base + "/hook", webhook_secret=SECRET) as server,
    ):
        c = client(server)
        cus = c.v1.customers.create(params={"name": "Signed"})
        session = c.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": cus.id,
                "line_items": [{"price": "price_numeraloop_pro_monthly"}],
            }
        )
        control = StandinControl(server.url)
        done = control.complete_checkout(session.id, duplicates=1, order="reverse")
        assert [d["status"] for d in done["deliveries"]] == [200] * len(done["deliveries"])
        types = [json.loads(body)["type"] for body, _ in received]
        assert types[-1] == "customer.created" and types.count("checkout.session.completed") == 2
        for body, header in received:
            event = stripe.Webhook.construct_event(body, header, SECRET)
            assert event.id.startswith("evt_")
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(received[0][0], received[0][1], "whsec_other")
        bad = control.deliver(done["events"][0]["id"], signature="wrong_secret")["deliveries"][0]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(received[-1][0], received[-1][1], SECRET)
        assert bad["status"] == 200  # this receiver accepts anything; the service would say 400
        with pytest.raises(StandinError) as caught:
            control.complete_checkout(session.id)
        assert caught.value.status == 400, "a session completes once"


def test_cli_registers_serve_with_the_default_port():
    import argparse

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stripe-standin", "serve"])
    assert args.port == 8020 and args.host == "127.0.0.1"
