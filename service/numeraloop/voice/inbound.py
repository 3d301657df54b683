"""POST /twilio/voice/inbound: a call arrives at one of a workspace's numbers.

Signature first (by the To number and AccountSid; 403 otherwise), then one SQL call
records the call and decides its routing (idempotent on CallSid, so a retried webhook is
answered the same way and stored once). The answer is TwiML:
  forward   <Dial timeout action> with a <Number url=whisper> per target: all ring at once,
            whoever answers hears the whisper first, then is connected
  browser   <Dial timeout action> with a <Client> per member (identity user_<uuid>)
  voicemail <Say> greeting, <Say> the recording notice, <Record maxLength action>: only for a
            number whose admin turned voicemail on (off by default; otherwise reject)
  reject    <Reject reason="busy"/>
The <Dial> action (/twilio/voice/status?step=dial) sends an unanswered ring to voicemail, if on.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from ..db import as_service, current_pool
from ..errors import ApiError
from ..twilio import webhook_urls
from ..twilio.signature import verify
from . import CALL_SID, add_voicemail, public_base_url, status_url, twiml_response

bp = Blueprint("voice_inbound", __name__)

log = logging.getLogger(__name__)


def routing_twiml(routing: dict) -> VoiceResponse:
    twiml = VoiceResponse()
    action = routing["action"]
    if action in ("forward", "browser"):
        dial = Dial(
            timeout=routing.get("timeout_seconds") or 20, action=status_url(routing["call_id"], "dial"), method="POST"
        )
        if action == "forward":
            whisper = webhook_urls.whisper(public_base_url(), call_id=routing["call_id"])
            for target in routing["forward_to"]:
                dial.number(target, url=whisper, method="POST")
        else:
            for identity in routing["clients"]:
                dial.client(identity)
        twiml.append(dial)
    elif action == "voicemail":
        add_voicemail(twiml, routing)
    else:
        twiml.reject(reason="busy")
    return twiml


@bp.post("/voice/inbound")
def inbound_call():
    form = request.form
    ctx = verify("number", form.get("To", ""), form.get("AccountSid"))
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        raise ApiError(400, "invalid_call", "CallSid is required.")
    with as_service(current_pool()) as conn:
        routing = conn.execute(
            "select private.route_inbound_call(%s, %s, %s, %s, %s) as r",
            (ctx.workspace_id, ctx.phone_number_id, sid, form.get("From", ""), form.get("To")),
        ).fetchone()["r"]
    log.info(
        "inbound call %s for workspace %s: %s%s",
        sid,
        ctx.workspace_id,
        routing["action"],
        " (retry)" if routing.get("duplicate") else "",
    )
    return twiml_response(routing_twiml(routing))
