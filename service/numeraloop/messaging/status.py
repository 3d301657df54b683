"""POST /twilio/messaging/status: Twilio's delivery status callback for a message we sent.

Statuses only move forward (the SQL function decides), duplicates are no-ops, and a
callback that beats the send's own database write is kept and applied when that write
lands. Twilio retries on errors, so every answer after the signature check is 2xx unless
the request is malformed.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Blueprint, request

from ..db import as_service, current_pool
from ..errors import ApiError
from ..twilio.signature import verify

bp = Blueprint("messaging_status", __name__)

log = logging.getLogger(__name__)
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}\Z")
KNOWN_STATUSES = {
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "canceled",
    "receiving",
    "received",
    "partially_delivered",
}


@bp.post("/messaging/status")
def message_status():
    form = request.form
    account_sid = form.get("AccountSid", "")
    verify("account", account_sid, account_sid)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not MESSAGE_SID.match(sid) or status not in KNOWN_STATUSES:
        raise ApiError(400, "invalid_callback", "MessageSid and a known MessageStatus are required.")
    error_code = form.get("ErrorCode") or None
    try:
        error_code = int(error_code) if error_code is not None else None
    except ValueError:
        raise ApiError(400, "invalid_callback", "ErrorCode must be a number.") from None

    with as_service(current_pool()) as conn:
        reply_id = request.args.get("message_id")
        if reply_id:
            # A TwiML reply: its row was written before Twilio knew its SID; link them now.
            try:
                reply_id = str(uuid.UUID(reply_id))
            except ValueError:
                raise ApiError(400, "invalid_callback", "message_id must be a UUID.") from None
            owned = conn.execute(
                "select 1 from public.messages m join public.twilio_accounts a on a.workspace_id = m.workspace_id "
                "where m.id = %s and a.account_sid = %s and m.twilio_sid is null",
                (reply_id, account_sid),
            ).fetchone()
            if owned:
                conn.execute("select private.mark_message_submitted(%s, %s, %s)", (reply_id, sid, status))
        result = conn.execute(
            "select private.apply_message_status(%s, %s, %s, %s, %s) as r",
            (account_sid, sid, status, error_code, form.get("ErrorMessage")),
        ).fetchone()["r"]
    log.info("status %s -> %s (%s)", sid, status, "applied" if result.get("applied") else "no change")
    return "", 204
