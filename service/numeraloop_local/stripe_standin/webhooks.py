"""Sending events to the application the way Stripe does: a JSON POST signed with
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The header is made by stripe-python's own `WebhookSignature.generate_signature_header`,
the counterpart of the `Webhook.construct_event` the service verifies with. Delivery is
synchronous (the control call returns what the application answered), never raises, and
can be asked to send duplicates, out of order, or with a signature that must fail.
"""

from __future__ import annotations

import json
import logging
import random
import time

import requests
from stripe import WebhookSignature

from .state import StandinState

log = logging.getLogger("numeraloop_local.stripe_standin.webhooks")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
ORDERS = {"natural", "reverse", "shuffle"}
SIGNATURES = {"valid", "wrong_secret", "missing", "expired"}


def signed_request(payload: str, secret: str, signature: str = "valid") -> dict[str, str]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if signature == "missing":
        return headers
    timestamp = int(time.time()) - (600 if signature == "expired" else 0)
    key = secret if signature != "wrong_secret" else secret + "-wrong"
    headers["Stripe-Signature"] = WebhookSignature.generate_signature_header(payload, key, timestamp=timestamp)
    return headers


def deliver_one(state: StandinState, event: dict, signature: str = "valid", timeout: float = 10.0) -> dict:
    url, secret = state.webhook_url, state.webhook_secret
    result = {"event_id": event["id"], "type": event["type"], "url": url, "status": None, "body": None, "error": None}
    if not url or not secret:
        result["error"] = "no webhook endpoint configured (url and secret)"
        return result
    # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    payload = json.dumps(event, indent=2)
    session = requests.Session()
    session.trust_env = False  # a local tool: never through an environment proxy
    try:
        response = session.post(
            url,
            data=payload.encode("utf-8"),
            headers=signed_request(payload, secret, signature),
            timeout=timeout,
            allow_redirects=False,
        )
        result.update(status=response.status_code, body=response.text[:2000])
    except requests.RequestException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        session.close()
    with state.lock:
        state.deliveries.append(result)
    if result["error"] or not (200 <= (result["status"] or 0) < 300):
        log.warning("stripe stand-in: %s %s -> %s", event["type"], event["id"], result["error"] or result["status"])
    return result


def deliver(
    state: StandinState, events: list[dict], order: str = "natural", duplicates: int = 0, signature: str = "valid"
) -> list[dict]:
    """Send `events`; `duplicates` extra copies of each; `order` natural, reverse or shuffle."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {sorted(ORDERS)}")
    if signature not in SIGNATURES:
        raise ValueError(f"signature must be one of {sorted(SIGNATURES)}")
    if not 0 <= int(duplicates) <= 10:
        raise ValueError("duplicates must be between 0 and 10")
    batch = [e for e in events for _ in range(1 + int(duplicates))]
    if order == "reverse":
        batch.reverse()
    elif order == "shuffle":
        random.shuffle(batch)
    return [deliver_one(state, e, signature) for e in batch]
