"""Stripe-Signature checking: on the raw body, with stripe-python's `Webhook.construct_event`."""

from __future__ import annotations

import json
import logging

import stripe
from flask import current_app, request

from ..errors import ApiError

log = logging.getLogger(__name__)


def verified_event() -> dict:
    """The event Stripe sent, as plain JSON, once its signature is valid; 400 otherwise.

    The signature covers the exact bytes received, so they are read raw and verified
    before anything parses them; an event older than Stripe's 5-minute tolerance is refused,
    and so is every event when no signing secret is configured.
    """
    payload = request.get_data(cache=True)
    secret = current_app.config["NUMERALOOP"].stripe_webhook_secret
    if not secret.strip():
        # construct_event would check the signature against an empty key, which anyone can compute.
        log.error("STRIPE_WEBHOOK_SECRET is not set: refusing the Stripe request to %s", request.path)
        raise ApiError(400, "invalid_signature", "Missing or invalid Stripe-Signature.")
    try:
        stripe.Webhook.construct_event(
            payload=payload, sig_header=request.headers.get("Stripe-Signature"), secret=secret
        )
    except stripe.SignatureVerificationError:
        log.warning("rejected Stripe request to %s: missing or invalid signature", request.path)
        raise ApiError(400, "invalid_signature", "Missing or invalid Stripe-Signature.") from None
    except (ValueError, TypeError, AttributeError, KeyError):  # signed, but not JSON / not an event
        raise ApiError(400, "invalid_event", "The body is not a Stripe event.") from None
    event = json.loads(payload)
    if not (
        isinstance(event, dict)
        and event.get("object") == "event"
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise ApiError(400, "invalid_event", "The body is not a Stripe event (object, id, type, created, data.object).")
    return event
