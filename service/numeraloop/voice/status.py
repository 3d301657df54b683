"""POST /twilio/voice/status: call status callbacks, and the action callbacks of our own TwiML.

All signed by AccountSid (403 otherwise).
  plain            the number's StatusCallback: status only moves forward (a terminal one
                   never changes), CallDuration and ended_at are recorded → 204
  ?step=dial       the <Dial action> of a forwarded/browser ring: DialCallStatus is stored;
                   an unanswered inbound ring goes to voicemail when the number has it → TwiML
  ?step=voicemail  the <Record action>: RecordingSid and RecordingDuration are stored (never the URL:
                   the audio stays at Twilio, deleted there with the call) → <Hangup/>
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, request
from twilio.twiml.voice_response import VoiceResponse

from ..db import as_service, current_pool
from ..errors import ApiError
from ..twilio.signature import verify
from . import CALL_SID, add_voicemail, twiml_response

bp = Blueprint("voice_status", __name__)

log = logging.getLogger(__name__)
KNOWN_STATUSES = {
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
}


def _seconds(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise ApiError(400, "invalid_callback", f"{name} must be a whole number of seconds.") from None
    if seconds < 0:
        raise ApiError(400, "invalid_callback", f"{name} must not be negative.")
    return seconds


def _call_id() -> str:
    try:
        return str(uuid.UUID(request.args.get("call_id", "")))
    except ValueError:
        raise ApiError(400, "invalid_call_id", "call_id must be a UUID.") from None


@bp.post("/voice/status")
def call_status():
    form = request.form
    account_sid = form.get("AccountSid", "")
    verify("account", account_sid, account_sid)
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        raise ApiError(400, "invalid_callback", "CallSid is required.")
    step = request.args.get("step")
    pool = current_pool()

    if step == "dial":
        call_id = _call_id()
        with as_service(pool) as conn:
            result = conn.execute(
                "select private.apply_dial_result(%s, %s, %s, %s, %s) as r",
                (
                    account_sid,
                    call_id,
                    sid,
                    form.get("DialCallStatus"),
                    _seconds(form.get("DialCallDuration"), "DialCallDuration"),
                ),
            ).fetchone()["r"]
        twiml = VoiceResponse()
        if result.get("next") == "voicemail":
            add_voicemail(twiml, result)
        else:
            twiml.hangup()
        log.info("call %s dial %s -> %s", sid, result.get("dial_status"), result.get("next"))
        return twiml_response(twiml)

    if step == "voicemail":
        call_id = _call_id()
        with as_service(pool) as conn:
            result = conn.execute(
                "select private.record_voicemail(%s, %s, %s, %s, %s) as r",
                (
                    account_sid,
                    call_id,
                    sid,
                    form.get("RecordingSid"),
                    _seconds(form.get("RecordingDuration"), "RecordingDuration"),
                ),
            ).fetchone()["r"]
        log.info("call %s voicemail %s", sid, "recorded" if result.get("recorded") else "not recorded")
        twiml = VoiceResponse()
        twiml.hangup()
        return twiml_response(twiml)

    if step is not None:
        raise ApiError(400, "invalid_step", "step must be 'dial' or 'voicemail'.")
    status = (form.get("CallStatus") or "").lower()
    if status not in KNOWN_STATUSES:
        raise ApiError(400, "invalid_callback", "CallSid and a known CallStatus are required.")
    duration = _seconds(form.get("CallDuration"), "CallDuration")
    with as_service(pool) as conn:
        result = conn.execute(
            "select private.apply_call_status(%s, %s, %s, %s, now()) as r",
            (account_sid, sid, status, duration),
        ).fetchone()["r"]
    log.info(
        "call status %s -> %s (%s)",
        sid,
        status,
        "applied" if result.get("applied") else "parked" if result.get("pending") else "no change",
    )
    return "", 204
