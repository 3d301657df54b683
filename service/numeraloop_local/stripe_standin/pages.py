"""The hosted pages a Checkout or Billing Portal session's `url` opens, for local runs:
a page with a Pay button (completes the checkout with a test card, then goes to
success_url) and a portal page that can cancel at period end (then goes to return_url)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, abort, current_app, redirect

from . import lifecycle, webhooks

bp = Blueprint("stripe_standin_pages", __name__)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<p><small>Stripe stand-in (local, test mode)</small></p><h1>{title}</h1>{body}</body></html>"""


def state():
    return current_app.extensions["numeraloop_local.stripe_standin"]


@bp.get("/checkout/<session_id>")
def checkout_page(session_id):
    with state().lock:
        session = state().checkout_sessions.get(session_id)
        if session is None:
            abort(404)
        price = state().prices[session["line_items"][0]["price"]]
    if session["status"] != "open":
        body = "<p>This checkout is already complete.</p>"
    else:
        body = (
            f"<p>{escape(price['nickname'])}: {price['unit_amount'] / 100:.2f} {price['currency'].upper()} "
            f"per month.</p><form method=post action='/checkout/{escape(session_id)}/pay'>"
            "<p>Card: visa •••• 4242</p><button>Pay</button></form>"
        )
    return PAGE.format(title="Checkout", body=body)


@bp.post("/checkout/<session_id>/pay")
def checkout_pay(session_id):
    with state().lock:
        if session_id not in state().checkout_sessions:
            abort(404)
    webhooks.deliver(state(), lifecycle.complete_checkout(state(), session_id))
    success = state().checkout_sessions[session_id].get("success_url")
    return (
        redirect(success.replace("{CHECKOUT_SESSION_ID}", session_id))
        if success
        else PAGE.format(title="Paid", body="<p>Thank you.</p>")
    )


def _portal(session_id):
    with state().lock:
        session = state().portal_sessions.get(session_id)
        if session is None:
            abort(404)
        subs = [
            s
            for s in state().subscriptions.values()
            if s["customer"] == session["customer"] and s["status"] != "canceled"
        ]
    return session, subs


@bp.get("/billing_portal/<session_id>")
def portal_page(session_id):
    session, subs = _portal(session_id)
    rows = "".join(
        f"<li>{escape(s['items']['data'][0]['price']['nickname'])}: {escape(s['status'])}"
        + (
            " (cancels at period end)"
            if s["cancel_at_period_end"]
            else f" <form method=post action='/billing_portal/{escape(session_id)}/cancel/{escape(s['id'])}' "
            "style='display:inline'><button>Cancel at period end</button></form>"
        )
        + "</li>"
        for s in subs
    )
    return PAGE.format(title="Billing", body=f"<ul>{rows or '<li>No subscription.</li>'}</ul>")


@bp.post("/billing_portal/<session_id>/cancel/<sub_id>")
def portal_cancel(session_id, sub_id):
    session, subs = _portal(session_id)
    if sub_id not in {s["id"] for s in subs}:
        abort(404)
    webhooks.deliver(state(), lifecycle.update_subscription(state(), sub_id, {"cancel_at_period_end": True}))
    return redirect(session["return_url"]) if session.get("return_url") else portal_page(session_id)
