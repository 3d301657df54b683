"""POST /twilio/voice/whisper: played to whoever answers a forwarded call, before it connects.

Twilio fetches a <Number url> for the forwarded leg, so To is the forwarded target, not one
of our numbers: the signature is checked by AccountSid. The whisper was chosen when the
call was routed (the rule's, else the number's); without one the call connects at once.
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, request
from twilio.twiml.voice_response import VoiceResponse

from ..db import as_service, current_pool
from ..errors import ApiError
from ..twilio.signature import verify
from . import twiml_response

bp = Blueprint("voice_whisper", __name__)

log = logging.getLogger(__name__)


@bp.post("/voice/whisper")
def whisper():
    account_sid = request.form.get("AccountSid", "")
    verify("account", account_sid, account_sid)
    try:
        call_id = str(uuid.UUID(request.args.get("call_id", "")))
    except ValueError:
        raise ApiError(400, "invalid_call_id", "call_id must be a UUID.") from None
    with as_service(current_pool()) as conn:
        found = conn.execute("select private.call_whisper(%s, %s) as r", (account_sid, call_id)).fetchone()["r"]
    twiml = VoiceResponse()
    if found.get("whisper_text"):
        twiml.say(found["whisper_text"])
    if not found.get("found"):
        log.warning("whisper for unknown call %s (account %s): connecting without one", call_id, account_sid)
    # An empty response ends the whisper; Twilio then bridges the two legs.
    return twiml_response(twiml)
