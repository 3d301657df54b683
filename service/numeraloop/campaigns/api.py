"""/api/v1/campaigns/{id}/launch|pause|resume|cancel (admins) and /report (members).

Drafts are created and edited through PostgREST (public.campaigns, under RLS); these routes
call the SQL functions as the caller, so the database decides who may do what, and turn its
answers into the API's errors: an unknown campaign or another workspace's is 404, an agent
acting is 403, a campaign in the wrong state is 409, a draft that cannot be sent is 422, and a
launch whose audience needs more messages than the plan has left this period is 402
plan_limit_reached.
Launching also checks that the workspace has Twilio connected.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
from flask import Blueprint, g, jsonify

from .. import workspaces
from ..api.inputs import json_body
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from ..messaging.error_codes import meaning

bp = Blueprint("campaigns", __name__)


def _not_found() -> ApiError:
    return ApiError(404, "campaign_not_found", "No such campaign.")


def _campaign_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _not_found() from None


def _call(function: str, campaign_id: str, *args) -> dict:
    """The SQL function's answer, as the caller. Its refusals are the API's (errors.SQLSTATE_ERRORS: 403 for a
    role too low, 402 for a launch past the plan's messages) except where campaigns have their own codes."""
    pool = current_pool()
    placeholders = ", ".join(["%s"] * (1 + len(args)))
    try:
        with as_user(pool, g.claims) as conn:
            return conn.execute(f"select public.{function}({placeholders}) as r", (campaign_id, *args)).fetchone()["r"]
    except psycopg.Error as exc:
        message = exc.diag.message_primary or "The campaign cannot do that."
        if exc.sqlstate == "P0002":
            raise _not_found() from None
        if exc.sqlstate == "55000":
            raise ApiError(409, "campaign_state", message[0].upper() + message[1:] + ".") from None
        if exc.sqlstate == "22023":
            raise ApiError(422, "campaign_not_sendable", message[0].upper() + message[1:] + ".") from None
        raise


def _scheduled_at(body: dict) -> datetime | None:
    raw = body.get("scheduled_at")
    if raw is None or raw == "":
        return None
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ApiError(
            422,
            "invalid_field",
            "scheduled_at must be an ISO 8601 time with a timezone, e.g. 2026-12-01T09:00:00Z.",
            field="scheduled_at",
        )
    return when


def _require_admin_and_twilio(campaign_id: str) -> None:
    pool = current_pool()
    with as_user(pool, g.claims) as conn:  # RLS: a campaign the caller cannot see is not found
        row = conn.execute("select workspace_id::text from public.campaigns where id = %s", (campaign_id,)).fetchone()
        if row is None:
            raise _not_found()
        _, role = workspaces.resolve(conn, row["workspace_id"])
        workspaces.require_role(role, "admin")
    with as_service(pool) as conn:
        connected = conn.execute(
            "select 1 from public.twilio_accounts where workspace_id = %s", (row["workspace_id"],)
        ).fetchone()
    if connected is None:
        raise ApiError(409, "twilio_not_connected", "Connect a Twilio account to this workspace first.")


@bp.post("/campaigns/<campaign_id>/launch")
def launch_campaign(campaign_id: str):
    campaign_id = _campaign_id(campaign_id)
    when = _scheduled_at(json_body())
    _require_admin_and_twilio(campaign_id)
    state = _call("launch_campaign", campaign_id, when)
    return jsonify(state), 200 if state.get("already_launched") else 201


@bp.post("/campaigns/<campaign_id>/pause")
def pause_campaign(campaign_id: str):
    return jsonify(_call("pause_campaign", _campaign_id(campaign_id)))


@bp.post("/campaigns/<campaign_id>/resume")
def resume_campaign(campaign_id: str):
    return jsonify(_call("resume_campaign", _campaign_id(campaign_id)))


@bp.post("/campaigns/<campaign_id>/cancel")
def cancel_campaign(campaign_id: str):
    return jsonify(_call("cancel_campaign", _campaign_id(campaign_id)))


@bp.get("/campaigns/<campaign_id>/report")
def campaign_report(campaign_id: str):
    report = _call("campaign_report", _campaign_id(campaign_id))
    for entry in report["errors"]:  # each code explained in a sentence
        entry["meaning"] = meaning(entry["error_code"])
    return jsonify(report)
