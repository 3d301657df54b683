"""A service wired to the Stripe stand-in, which sends its events back to the service."""

from __future__ import annotations

import dataclasses

import pytest

from numeraloop.app import create_app
from numeraloop_local.stripe_standin import StandinServer
from numeraloop_local.stripe_standin.client import StandinControl
from tests.conftest import ServiceClient
from tests.support.live_server import serve_factory

STRIPE_TEST_KEY = "sk_test_numeraloop_tests_0123456789"
STRIPE_TEST_WEBHOOK_SECRET = "whsec_numeraloop_tests_0123456789"


@pytest.fixture(scope="session")
def stripe_server():
    with StandinServer(api_key=STRIPE_TEST_KEY, webhook_secret=STRIPE_TEST_WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture(scope="session")
def stripe_control(stripe_server) -> StandinControl:
    return StandinControl(stripe_server.url)


@pytest.fixture(scope="session")
def billing_service(service_config, stripe_server):
    """The real service over HTTP with Stripe settings, and the stand-in's webhooks pointed at it."""

    def build(base_url):
        return create_app(
            dataclasses.replace(
                service_config,
                public_base_url=base_url,
                stripe_secret_key=STRIPE_TEST_KEY,
                stripe_webhook_secret=STRIPE_TEST_WEBHOOK_SECRET,
                stripe_api_base_url=stripe_server.url,
                db_pool_max=4,
            )
        )

    with serve_factory(build) as (base_url, app):
        stripe_server.state.webhook_url = base_url + "/stripe/webhook"
        yield ServiceClient(base_url, app)
    app.extensions["numeraloop.pool"].close()
