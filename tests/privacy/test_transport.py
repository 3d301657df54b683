"""Transport: with an https PUBLIC_BASE_URL every response carries HSTS; in production the service
refuses to start with an http one unless NUMERALOOP_ALLOW_HTTP says it is meant."""

from __future__ import annotations

import dataclasses

import pytest

from numeraloop import server
from numeraloop.app import HSTS, create_app
from numeraloop.config import Config, ConfigError

STRIPE_SECRET = "whsec_transport_tests"


@pytest.fixture
def production(service_config) -> Config:
    return dataclasses.replace(
        service_config,
        environment="production",
        stripe_webhook_secret=STRIPE_SECRET,
        public_base_url="https://numeraloop.example.com",
    )


def responses(app) -> list:
    client = app.test_client()
    return [
        client.get("/healthz"),
        client.get("/api/v1/me"),
        client.get("/no/such/page"),
        client.post("/twilio/voice/inbound", data={"To": "+14155550100"}),
    ]


def test_https_responses_carry_hsts_errors_included(production):
    app = create_app(production)
    try:
        answered = responses(app)
        assert [r.status_code for r in answered][:2] == [200, 401]
        assert all(r.headers.get("Strict-Transport-Security") == HSTS for r in answered), [
            (r.status_code, r.headers.get("Strict-Transport-Security")) for r in answered
        ]
        assert "max-age=63072000" in HSTS and "includeSubDomains" in HSTS
    finally:
        app.extensions["numeraloop.pool"].close()


def test_plain_http_outside_production_sends_no_hsts(service_config):
    assert service_config.public_base_url.startswith("http://") and service_config.environment == "test"
    app = create_app(service_config)
    try:
        assert all("Strict-Transport-Security" not in r.headers for r in responses(app))
    finally:
        app.extensions["numeraloop.pool"].close()


@pytest.mark.parametrize(
    "url", ["http://numeraloop.example.com", "HTTP://numeraloop.example.com", "http://127.0.0.1:8000"]
)
def test_production_refuses_to_start_with_an_http_public_url(production, url, capsys):
    plain = dataclasses.replace(production, public_base_url=url)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL.*https.*NUMERALOOP_ALLOW_HTTP"):
        create_app(plain)
    assert server.serve(plain) == 2, "numeraloop serve exits before starting gunicorn"
    assert "NUMERALOOP_ALLOW_HTTP" in capsys.readouterr().err


def test_plain_http_in_production_when_told_it_is_intended():
    env = {
        "NUMERALOOP_ENV": "production",
        "PUBLIC_BASE_URL": "http://numeraloop.internal",
        "NUMERALOOP_ALLOW_HTTP": "1",
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    }
    told = Config.from_env(env=env)
    assert told.allow_http and not told.hsts
    told.require_servable()
    assert not Config.from_env(env={**env, "NUMERALOOP_ALLOW_HTTP": ""}).allow_http
    with pytest.raises(ConfigError):
        Config.from_env(env={k: v for k, v in env.items() if k != "NUMERALOOP_ALLOW_HTTP"}).require_servable()
