"""The control API under /_standin/: how tests and developers play Stripe's side.

JSON in and out, no authentication (a local tool bound to 127.0.0.1); errors are
`{"error": {"code", "message"}}` like the service's. Actions that make events deliver them
to the configured webhook before answering, and answer what the application said:

  POST /_standin/checkout_sessions/<cs>/complete   {card?, order?, duplicates?, signature?, deliver?}
  POST /_standin/subscriptions/<sub>/update        {cancel_at_period_end?, status?, price?, ...delivery}
  POST /_standin/subscriptions/<sub>/cancel        {...delivery}
  POST /_standin/subscriptions/<sub>/renew         {paid?: true, ...delivery}
  POST /_standin/events/<evt>/deliver              {duplicates?, signature?}   re-send one stored event
  GET  /_standin/events[?type=]                    stored events, oldest first
  GET  /_standin/deliveries                        what the application answered
  PUT  /_standin/webhook                           {url, secret}
  POST /_standin/reset                             forget everything (webhook settings stay)

Delivery options: order natural|reverse|shuffle, duplicates 0..10 extra copies of each,
signature valid|wrong_secret|missing|expired, deliver false to only record the events.
"""

from __future__ import annotations

import copy

from flask import Blueprint, current_app, jsonify, request

from ..http_server import ControlError, install_control_errors
from . import lifecycle, webhooks
from .errors import StripeApiError
from .state import StandinState

bp = Blueprint("stripe_standin_control", __name__, url_prefix="/_standin")


install_control_errors(bp)


@bp.errorhandler(StripeApiError)
def _stripe_error(exc: StripeApiError):
    return jsonify({"error": {"code": exc.code or exc.type, "message": exc.message}}), exc.status


def state() -> StandinState:
    return current_app.extensions["numeraloop_local.stripe_standin"]


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None and request.content_length:
        raise ControlError(400, "invalid_json", "the body must be a JSON object")
    if data is not None and not isinstance(data, dict):
        raise ControlError(400, "invalid_json", "the body must be a JSON object")
    return data or {}


DELIVERY_OPTIONS = ("order", "duplicates", "signature", "deliver")


def _send(events: list[dict], data: dict) -> dict:
    options = {k: data[k] for k in ("order", "duplicates", "signature") if k in data}
    answer = {"events": [{"id": e["id"], "type": e["type"], "created": e["created"]} for e in events]}
    if data.get("deliver", True):
        answer["deliveries"] = webhooks.deliver(state(), events, **options)
    return answer


@bp.get("/health")
def health():
    return jsonify({"ok": True})


@bp.put("/webhook")
def set_webhook():
    data = _body()
    with state().lock:
        if "url" in data:
            state().webhook_url = data["url"] or None
        if "secret" in data:
            state().webhook_secret = data["secret"] or None
        return jsonify({"url": state().webhook_url, "secret_set": bool(state().webhook_secret)})


@bp.post("/reset")
def reset():
    state().reset()
    return "", 204


@bp.post("/checkout_sessions/<session_id>/complete")
def complete_checkout(session_id):
    data = _body()
    unknown = set(data) - {"card", *DELIVERY_OPTIONS}
    if unknown:
        raise ControlError(400, "unknown_field", f"unknown fields {sorted(unknown)}")
    events = lifecycle.complete_checkout(state(), session_id, data.get("card"))
    with state().lock:
        session = state().checkout_sessions[session_id]
        result = {
            "session": session_id,
            "customer": session["customer"],
            "subscription": session["subscription"],
            "invoice": session["invoice"],
            "payment_method": state().subscriptions[session["subscription"]]["default_payment_method"],
        }
    return jsonify({**result, **_send(events, data)})


@bp.post("/subscriptions/<sub_id>/update")
def update_subscription(sub_id):
    data = _body()
    changes = {k: v for k, v in data.items() if k not in DELIVERY_OPTIONS}
    return jsonify(_send(lifecycle.update_subscription(state(), sub_id, changes), data))


@bp.post("/subscriptions/<sub_id>/cancel")
def cancel_subscription(sub_id):
    data = _body()
    return jsonify(_send(lifecycle.cancel_subscription(state(), sub_id), data))


@bp.post("/subscriptions/<sub_id>/renew")
def renew_subscription(sub_id):
    data = _body()
    return jsonify(_send(lifecycle.renew_subscription(state(), sub_id, bool(data.get("paid", True))), data))


@bp.get("/events")
def list_events():
    kind = request.args.get("type")
    with state().lock:
        events = [copy.deepcopy(e) for e in state().events.values() if kind is None or e["type"] == kind]
    return jsonify(events)


@bp.post("/events/<event_id>/deliver")
def redeliver(event_id):
    data = _body()
    with state().lock:
        event = state().events.get(event_id)
    if event is None:
        raise ControlError(404, "unknown_event", f"no stored event {event_id}")
    return jsonify(_send([event], data))


@bp.get("/deliveries")
def list_deliveries():
    with state().lock:
        return jsonify(list(state().deliveries))
