"""Getting started: connect the workspace's Twilio account, then buy or import a number.

Both steps run the same code as /api/v1 (twilio_connection, numbers); a refusal is shown in
the words the API uses, and what was typed stays in the form (never the auth token).
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from ..db import as_user, current_pool
from ..errors import ApiError
from ..numbers import api as numbers_api
from ..twilio_connection import api as connection_api
from . import workspace
from .calls import call
from .signin import adult_required

bp = Blueprint("onboarding", __name__)


def _state(workspace_id: str) -> dict:
    with as_user(current_pool(), g.claims) as conn:
        account = conn.execute(
            "select account_sid, friendly_name from public.twilio_accounts where workspace_id = %s", (workspace_id,)
        ).fetchone()
        numbers = conn.execute(
            "select id, e164, friendly_name from public.phone_numbers "
            "where workspace_id = %s and status = 'active' order by created_at",
            (workspace_id,),
        ).fetchall()
    return {"account": account, "numbers": numbers}


@bp.get("/welcome")
@adult_required
def welcome():
    ws = workspace.current()
    state = _state(ws["id"])
    if state["account"] is None:
        return redirect(url_for("web.onboarding.twilio_page"))
    if not state["numbers"]:
        return redirect(url_for("web.onboarding.number_page"))
    return redirect(url_for("web.inbox.inbox_page"))


@bp.get("/welcome/twilio")
@adult_required
def twilio_page():
    ws = workspace.current()
    return render_template("onboarding/twilio.html", workspace=ws, state=_state(ws["id"]))


@bp.post("/welcome/twilio")
@adult_required
def connect():
    ws = workspace.current()
    account_sid = (request.form.get("account_sid") or "").strip()[:64]
    auth_token = (request.form.get("auth_token") or "").strip()[:128]
    try:
        call(
            connection_api.connect_twilio,
            {"workspace_id": ws["id"], "account_sid": account_sid, "auth_token": auth_token},
        )
    except ApiError as exc:
        return render_template(
            "onboarding/twilio.html", workspace=ws, state=_state(ws["id"]), error=exc.message, account_sid=account_sid
        ), 400 if exc.status < 500 else 502
    return redirect(url_for("web.onboarding.number_page"), 303)


@bp.get("/welcome/number")
@adult_required
def number_page():
    ws = workspace.current()
    state = _state(ws["id"])
    if state["account"] is None:
        return redirect(url_for("web.onboarding.twilio_page"))
    found, error = None, None
    if request.args.get("search"):
        try:
            answer, _ = call(numbers_api.available_numbers, {"workspace_id": ws["id"]}, {"X-Workspace-Id": ws["id"]})
            found = answer["numbers"]
        except ApiError as exc:
            error = exc.message
    return render_template(
        "onboarding/number.html", workspace=ws, state=state, found=found, error=error, search=request.args
    ), 400 if error else 200


@bp.post("/welcome/number/buy")
@adult_required
def buy():
    ws = workspace.current()
    phone = (request.form.get("phone_number") or "").strip()[:20]
    try:
        answer, _ = call(numbers_api.buy_number, {"workspace_id": ws["id"], "phone_number": phone})
    except ApiError as exc:
        return render_template(
            "onboarding/number.html", workspace=ws, state=_state(ws["id"]), found=None, error=exc.message, search={}
        ), 400 if exc.status < 500 else 502
    return redirect(url_for("web.inbox.inbox_page", bought=answer["e164"]), 303)


@bp.post("/welcome/number/import")
@adult_required
def import_numbers():
    ws = workspace.current()
    try:
        answer, _ = call(numbers_api.import_numbers, {"workspace_id": ws["id"]})
    except ApiError as exc:
        return render_template(
            "onboarding/number.html", workspace=ws, state=_state(ws["id"]), found=None, error=exc.message, search={}
        ), 400 if exc.status < 500 else 502
    return render_template(
        "onboarding/number.html",
        workspace=ws,
        state=_state(ws["id"]),
        found=None,
        imported=answer["imported"],
        skipped=answer["skipped"],
        search={},
    )
