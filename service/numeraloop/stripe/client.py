"""The service's only way to Stripe: stripe-python's `StripeClient`, pointed at
STRIPE_API_BASE_URL (the local stand-in in tests and `make dev`).

Timeouts are explicit (connect 3.05 s, read 20 s) and failed requests are retried twice by
stripe-python, which re-sends a POST with the same Idempotency-Key, so a retry never
creates a second object. Stripe failures become clean ApiErrors (`stripe_call`).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import stripe

from ..config import Config
from ..errors import ApiError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 20.0
MAX_NETWORK_RETRIES = 2

_lock = threading.Lock()


def make_stripe_client(config: Config) -> stripe.StripeClient:
    if not config.stripe_secret_key:
        raise ApiError(503, "billing_not_configured", "Billing is not configured on this server (STRIPE_SECRET_KEY).")
    return stripe.StripeClient(
        config.stripe_secret_key,
        base_addresses={"api": config.stripe_api_base_url},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)),
    )


def client_for_app(app) -> stripe.StripeClient:
    """One client per app (it holds a connection pool); built on first use."""
    client = app.extensions.get("numeraloop.stripe")
    if client is None:
        with _lock:
            client = app.extensions.get("numeraloop.stripe")
            if client is None:
                client = make_stripe_client(app.config["NUMERALOOP"])
                app.extensions["numeraloop.stripe"] = client
    return client


@contextmanager
def stripe_call(what: str):
    """Run Stripe calls; their failures become ApiErrors the web client can show."""
    try:
        yield
    except stripe.AuthenticationError:
        log.error("Stripe refused our API key while trying to %s", what)
        raise ApiError(
            502, "stripe_misconfigured", f"Could not {what}: billing is misconfigured on our side."
        ) from None
    except stripe.RateLimitError:
        raise ApiError(503, "stripe_busy", f"Could not {what}: Stripe is busy, try again shortly.") from None
    except stripe.APIConnectionError as exc:
        log.warning("Stripe unreachable while trying to %s: %s", what, type(exc).__name__)
        raise ApiError(502, "stripe_unreachable", f"Could not {what}: Stripe did not answer.") from None
    except stripe.StripeError as exc:
        log.warning("Stripe error while trying to %s: %s %s", what, exc.http_status, exc.code)
        extra = {"stripe_code": exc.code} if exc.code else {}
        raise ApiError(
            502, "stripe_error", f"Could not {what}: {exc.user_message or 'Stripe refused the request.'}", **extra
        ) from None
