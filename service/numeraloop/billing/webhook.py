"""POST /stripe/webhook: Stripe's events → the billing tables.

The signature is checked on the raw body first (400 otherwise, and nothing is recorded).
Every verified event goes through one SQL function, private.apply_stripe_event, which
records the event id (a replay is a no-op) and writes an object only when the event is
newer than what last wrote it, so duplicates and out-of-order deliveries are harmless.
Only the types in HANDLED_EVENT_TYPES are applied; any other type is recorded and
acknowledged with its payload left out. Once recorded the answer is 200, so Stripe stops
retrying; a database failure is a 500, so Stripe retries it later.
"""

from __future__ import annotations

import json
import logging

import psycopg
from flask import Blueprint, jsonify

from ..db import as_service, current_pool
from ..errors import ApiError
from ..stripe.signature import verified_event

bp = Blueprint("billing_webhook", __name__)

log = logging.getLogger(__name__)

# Keep in step with private.apply_stripe_event (supabase/migrations/20261128009000_billing.sql).
HANDLED_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "invoice.created",
        "invoice.finalized",
        "invoice.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.automatically_updated",
        "payment_method.detached",
    }
)


def _for_database(event: dict) -> dict:
    """What the database gets: the whole event for handled types, only the envelope otherwise."""
    if event["type"] in HANDLED_EVENT_TYPES:
        return event
    kind = event["data"]["object"].get("object")
    return {
        "id": event["id"],
        "object": "event",
        "type": event["type"],
        "created": event["created"],
        "data": {"object": {"object": kind} if isinstance(kind, str) else {}},
    }


@bp.post("/webhook")
def stripe_webhook():
    event = verified_event()
    try:
        with as_service(current_pool()) as conn:
            result = conn.execute(
                "select private.apply_stripe_event(%s::jsonb) as r", (json.dumps(_for_database(event)),)
            ).fetchone()["r"]
    except (
        psycopg.errors.InvalidParameterValue,
        psycopg.errors.CheckViolation,
        psycopg.errors.InvalidTextRepresentation,
        psycopg.errors.NumericValueOutOfRange,
    ) as exc:
        # Signed by Stripe but not something we can store (a malformed id, say): retrying cannot help.
        log.warning(
            "Stripe event %s (%s) refused by the database: %s", event["id"], event["type"], exc.diag.message_primary
        )
        raise ApiError(400, "invalid_event", "The event could not be stored.") from None
    if result.get("duplicate"):
        log.info("stripe event %s (%s): duplicate, ignored", event["id"], event["type"])
    else:
        log.info(
            "stripe event %s (%s): %s",
            event["id"],
            event["type"],
            "applied" if result.get("applied") else result.get("reason", "not applied"),
        )
    return jsonify(
        received=True,
        event_id=event["id"],
        duplicate=bool(result.get("duplicate")),
        applied=bool(result.get("applied")),
    ), 200
