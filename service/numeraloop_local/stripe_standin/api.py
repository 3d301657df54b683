"""Stripe's v1 REST API, the subset NumeraLoop uses, under /v1.

Auth is `Authorization: Bearer <secret key>` (stripe-python's way); parameters are
form-encoded and decoded as Stripe does; an unknown parameter is refused as Stripe refuses
it ("Received unknown parameter"), so a typo in the service fails a test. A POST with an
`Idempotency-Key` seen before is answered with the first response (header
`Idempotent-Replayed: true`), or refused if its parameters differ.
"""

from __future__ import annotations

import copy
import json

from flask import Blueprint, Response, current_app, jsonify, request

from . import forms, lifecycle
from .errors import StripeApiError, invalid_api_key, invalid_param, missing_param, no_api_key, no_such
from .state import StandinState, new_id, now

bp = Blueprint("stripe_standin_api", __name__, url_prefix="/v1")


def state() -> StandinState:
    return current_app.extensions["numeraloop_local.stripe_standin"]


@bp.before_request
def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise no_api_key()
    if key.strip() != state().api_key:
        raise invalid_api_key(key.strip())


def _params(allowed: set[str]) -> dict:
    try:
        params = forms.decode(
            request.form.items(multi=True) if request.method == "POST" else request.args.items(multi=True)
        )
    except ValueError as exc:
        raise StripeApiError(400, "invalid_request_error", str(exc)) from None
    for name in params:
        if name not in allowed:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
            )
    return params


def _metadata(params: dict, name: str = "metadata") -> dict:
    value = params.get(name) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid_param(name, f"Invalid hash: {name} must be a set of key-value pairs.")
    return value


def _idempotent(create):
    """Run `create()` once per Idempotency-Key, as Stripe does (keys are per API key)."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        body = create()
        return jsonify(body)
    fingerprint = (request.path, json.dumps(request.form.to_dict(flat=False), sort_keys=True))
    st = state()
    with st.lock:
        seen = st.idempotency.get((st.api_key, key))
        if seen is not None:
            if seen["fingerprint"] != fingerprint:
                raise StripeApiError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                )
            response = jsonify(copy.deepcopy(seen["body"]))
            response.headers["Idempotent-Replayed"] = "true"
            response.headers["Original-Request"] = seen["request_id"]
            return response
        body = create()
        st.idempotency[(st.api_key, key)] = {
            "fingerprint": fingerprint,
            "body": copy.deepcopy(body),
            "request_id": new_id("req_", 14),
        }
        while len(st.idempotency) > 10_000:
            st.idempotency.popitem(last=False)
    return jsonify(body)


def _customer(customer_id: str, param: str | None = None, deleted_too: bool = False) -> dict:
    """A customer; a deleted one only for retrieve, which answers {id, object, deleted: true} as Stripe does."""
    customer = state().customers.get(customer_id)
    if customer is None or (customer.get("deleted") and not deleted_too):
        raise no_such("customer", customer_id, param)
    return customer


# -- customers ------------------------------------------------------------------------------
@bp.post("/customers")
def create_customer():
    params = _params({"email", "name", "description", "metadata", "expand"})
    _metadata(params)

    def create():
        return copy.deepcopy(state().create_customer(params))

    return _idempotent(create)


@bp.get("/customers/<customer_id>")
def retrieve_customer(customer_id):
    with state().lock:
        return jsonify(copy.deepcopy(_customer(customer_id, deleted_too=True)))


@bp.delete("/customers/<customer_id>")
def delete_customer(customer_id):
    _params(set())
    st = state()
    st.undelivered.extend(e["id"] for e in lifecycle.delete_customer(st, customer_id))
    return jsonify({"id": customer_id, "object": "customer", "deleted": True})


# -- checkout sessions ----------------------------------------------------------------------
CHECKOUT_PARAMS = {
    "mode",
    "customer",
    "customer_email",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "subscription_data",
    "allow_promotion_codes",
    "billing_address_collection",
    "locale",
    "expand",
}


@bp.post("/checkout/sessions")
def create_checkout_session():
    params = _params(CHECKOUT_PARAMS)
    mode = params.get("mode")
    if not mode:
        raise missing_param("mode")
    if mode != "subscription":
        raise invalid_param("mode", f"The stand-in only sells subscriptions; mode={mode!r} is not supported.")
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise missing_param("line_items")
    if len(items) != 1 or not isinstance(items[0], dict):
        raise invalid_param("line_items", "The stand-in accepts exactly one line item.")
    price_id = items[0].get("price")
    if not price_id:
        raise missing_param("line_items[0][price]")
    try:
        quantity = int(items[0].get("quantity", "1"))
    except ValueError:
        raise invalid_param("line_items[0][quantity]", "Invalid integer: quantity") from None
    subscription_data = params.get("subscription_data") or {}
    if not isinstance(subscription_data, dict) or set(subscription_data) - {"metadata", "description"}:
        raise invalid_param("subscription_data", "subscription_data accepts metadata and description here.")
    metadata = _metadata(params)
    _metadata(subscription_data)
    for url_param in ("success_url", "cancel_url"):
        value = params.get(url_param)
        if value is not None and not value.startswith(("http://", "https://")):
            raise invalid_param(url_param, f"Not a valid URL: {url_param}")

    def create():
        st = state()
        with st.lock:
            price = st.prices.get(price_id)
            if price is None:
                raise no_such("price", price_id, "line_items[0][price]")
            if params.get("customer"):
                _customer(params["customer"], "customer")
            session_id = new_id("cs_test_", 58)
            created = now()
            session = {
                "id": session_id,
                "object": "checkout.session",
                "allow_promotion_codes": None,
                "amount_subtotal": price["unit_amount"] * quantity,
                "amount_total": price["unit_amount"] * quantity,
                "cancel_url": params.get("cancel_url"),
                "client_reference_id": params.get("client_reference_id"),
                "created": created,
                "currency": price["currency"],
                "customer": params.get("customer"),
                "customer_email": params.get("customer_email"),
                "expires_at": created + 24 * 3600,
                "invoice": None,
                "livemode": False,
                "metadata": metadata,
                "mode": "subscription",
                "payment_status": "unpaid",
                "status": "open",
                "subscription": None,
                "success_url": params.get("success_url"),
                "ui_mode": "hosted",
                "url": f"{st.public_url}/checkout/{session_id}",
                # Kept for completion; Stripe keeps them too (line_items is expandable there).
                "line_items": [{"price": price_id, "quantity": quantity}],
                "subscription_data": subscription_data,
            }
            st.checkout_sessions[session_id] = session
            return _public_session(session)

    return _idempotent(create)


def _public_session(session: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in session.items() if k not in {"line_items", "subscription_data"}}


@bp.get("/checkout/sessions/<session_id>")
def retrieve_checkout_session(session_id):
    with state().lock:
        session = state().checkout_sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id)
        return jsonify(_public_session(session))


# -- billing portal -------------------------------------------------------------------------
@bp.post("/billing_portal/sessions")
def create_portal_session():
    params = _params({"customer", "return_url", "locale", "expand"})
    if not params.get("customer"):
        raise missing_param("customer")

    def create():
        st = state()
        with st.lock:
            _customer(params["customer"], "customer")
            session_id = new_id("bps_")
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "configuration": new_id("bpc_"),
                "created": now(),
                "customer": params["customer"],
                "flow": None,
                "livemode": False,
                "locale": params.get("locale"),
                "on_behalf_of": None,
                "return_url": params.get("return_url"),
                "url": f"{st.public_url}/billing_portal/{session_id}",
            }
            st.portal_sessions[session_id] = session
            return copy.deepcopy(session)

    return _idempotent(create)


# -- retrieve -------------------------------------------------------------------------------
@bp.get("/subscriptions/<sub_id>")
def retrieve_subscription(sub_id):
    with state().lock:
        sub = state().subscriptions.get(sub_id)
        if sub is None:
            raise no_such("subscription", sub_id)
        return jsonify(copy.deepcopy(sub))


@bp.delete("/subscriptions/<sub_id>")
def cancel_subscription(sub_id):
    params = _params({"invoice_now", "prorate", "cancellation_details", "expand"})
    st = state()
    with st.lock:
        sub = st.subscriptions.get(sub_id)
        if sub is None:
            raise no_such("subscription", sub_id)
        if sub["status"] == "canceled":
            # Stripe refuses to cancel a subscription twice.
            raise StripeApiError(
                400,
                "invalid_request_error",
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        details = params.get("cancellation_details") or {}
        st.undelivered.extend(e["id"] for e in lifecycle.cancel_subscription(st, sub_id))
        if isinstance(details, dict):
            sub["cancellation_details"] = {
                "comment": details.get("comment"),
                "feedback": details.get("feedback"),
                "reason": "cancellation_requested",
            }
        return jsonify(copy.deepcopy(sub))


@bp.get("/prices/<price_id>")
def retrieve_price(price_id):
    with state().lock:
        price = state().prices.get(price_id)
        if price is None:
            raise no_such("price", price_id)
        return jsonify(copy.deepcopy(price))


def not_found_response() -> Response:
    return StripeApiError(
        404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path})."
    ).response()
