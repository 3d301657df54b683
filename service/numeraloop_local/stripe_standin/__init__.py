"""A local stand-in for the part of Stripe's API NumeraLoop uses, so no test or local run
reaches Stripe.

It speaks Stripe's v1 REST shapes: Bearer `sk_test_...` auth (a wrong key gets Stripe's 401
body), form-encoded parameters exactly as stripe-python sends them (`metadata[k]=v`,
`line_items[0][price]=...`), `Idempotency-Key` replays, and Stripe-shaped JSON objects
(cus_, cs_, bps_, sub_, in_, pm_, evt_). Supported: Customers create/retrieve, Checkout
Sessions create/retrieve (mode=subscription), Billing Portal Sessions create, Subscriptions
and Prices retrieve.

Completing a checkout (the control API under /_standin/, or the hosted page at the session's
`url`) produces the events a real checkout produces and POSTs them to the configured webhook
URL signed as Stripe signs them (stripe-python's own `WebhookSignature`), optionally
duplicated or out of order. `numeraloop stripe-standin serve` runs it on port 8020;
`StandinServer` runs it in a thread for tests.
"""

from .app import create_standin_app
from .server import StandinServer

__all__ = ["create_standin_app", "StandinServer"]
