"""POST /api/v1/scheduled-messages (members): "send later" from the inbox.

One message, from one of the workspace's numbers, at a chosen time: public.schedule_message()
records it as a campaign of kind single, so the campaign workers send it with the same claims,
leases, reconciliation and quiet hours (the workspace's sending window, in the recipient's local
time) as every campaign; its message is a manual one, sent by the caller. It is canceled with
POST /api/v1/campaigns/{id}/cancel (any member, for a single message).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
from flask import Blueprint, g, jsonify

from .. import phones, workspaces
from ..api.inputs import field, json_body
from ..db import as_user, current_pool
from ..errors import ApiError

bp = Blueprint("scheduled_messages", __name__)


def _uuid(body: dict, name: str) -> str:
    raw = field(body, name, required=True, max_length=64)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name} must be a UUID.", field=name) from None


def _send_at(body: dict) -> datetime:
    raw = body.get("send_at")
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ApiError(
            422,
            "invalid_field",
            "send_at must be an ISO 8601 time with a timezone, e.g. 2026-12-01T09:00:00Z.",
            field="send_at",
        )
    return when


@bp.post("/scheduled-messages")
def schedule_message():
    body = json_body()
    workspace_id, _ = workspaces.for_caller(body, "agent")
    number_id = _uuid(body, "from_number_id")
    text = field(body, "body", required=True, max_length=1600)
    when = _send_at(body)
    with as_user(current_pool(), g.claims) as conn:
        sender = conn.execute(
            "select e164 from public.phone_numbers where id = %s and workspace_id = %s", (number_id, workspace_id)
        ).fetchone()
    if sender is None:
        raise ApiError(
            422, "invalid_field", "from_number_id is not a number of this workspace.", field="from_number_id"
        )
    to = phones.to_e164(field(body, "to", required=True, max_length=32), phones.region_of(sender["e164"]))
    if to is None:
        raise ApiError(422, "invalid_to", "'to' is not a valid phone number; use E.164, e.g. +14155550100.", field="to")
    try:
        with as_user(current_pool(), g.claims) as conn:
            state = conn.execute(
                "select public.schedule_message(%s, %s, %s, %s, %s) as r", (workspace_id, number_id, to, text, when)
            ).fetchone()["r"]
    except psycopg.Error as exc:
        message = exc.diag.message_primary or "The message cannot be scheduled."
        if exc.sqlstate == "P0409":
            raise ApiError(
                409, "recipient_opted_out", "The recipient has opted out of messages from this workspace."
            ) from None
        if exc.sqlstate == "22023":
            raise ApiError(422, "invalid_field", message[0].upper() + message[1:] + ".") from None
        raise
    return jsonify(state), 201
