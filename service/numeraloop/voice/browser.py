"""POST /twilio/voice/browser: the TwiML App's Voice URL, fetched when a member places a call
from the browser (Twilio Voice SDK, identity user_<uuid> from /api/v1/voice/token).

The signature is checked by AccountSid (403 otherwise). Then one SQL call decides, for the
workspace whose TwiML app made the request (AccountSid + ApplicationSid): the caller
(From=client:user_<uuid>) must be its member, the caller ID (the `CallerId` parameter the
client passes, else the workspace's oldest active number) one of its numbers, and To a
number (normalised to E.164 with phonenumbers). The call is recorded as an outbound call
and answered with <Dial callerId><Number>; SMS opt-outs do not apply to calls. Bad input
is answered with TwiML (an apology and <Hangup/>, HTTP 200), since Twilio cannot use JSON.
"""

from __future__ import annotations

import logging
import re

import psycopg
from flask import Blueprint, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from .. import phones
from ..db import as_service, current_pool
from ..twilio.signature import verify
from . import CALL_SID, apology, status_url, twiml_response

bp = Blueprint("voice_browser", __name__)

log = logging.getLogger(__name__)
IDENTITY = re.compile(r"^client:user_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\Z")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
DIAL_TIMEOUT = 30

REFUSALS = {
    "not_a_member": "Sorry, you are not allowed to call from this workspace.",
    "invalid_caller_id": "Sorry, that caller ID is not one of this workspace's numbers.",
    "invalid_to": "Sorry, that number cannot be called.",
    "processing_restricted": "Sorry, calls cannot be placed while this account's processing is restricted.",
}


@bp.post("/voice/browser")
def browser_call():
    form = request.form
    account_sid = form.get("AccountSid", "")
    verify("account", account_sid, account_sid)

    sid = form.get("CallSid", "")
    identity = IDENTITY.match(form.get("From") or form.get("Caller") or "")
    caller_id = (form.get("CallerId") or "").strip() or None
    if not CALL_SID.match(sid) or identity is None:
        log.info("browser call %s refused: missing CallSid or not a member identity", sid or "-")
        return apology(REFUSALS["not_a_member"] if CALL_SID.match(sid) else "Sorry, this call cannot be placed.")
    if caller_id is not None and not E164.match(caller_id):
        return apology(REFUSALS["invalid_caller_id"])
    region = (phones.region_of(caller_id) if caller_id else None) or "US"
    to = phones.to_e164((form.get("To") or "").strip(), region)
    if to is None:
        return apology(REFUSALS["invalid_to"])

    try:
        with as_service(current_pool()) as conn:
            result = conn.execute(
                "select private.start_browser_call(%s, %s, %s, %s, %s, %s) as r",
                (account_sid, form.get("ApplicationSid") or None, sid, identity.group(1), caller_id, to),
            ).fetchone()["r"]
    except psycopg.Error as exc:
        if exc.sqlstate != "P0423":
            raise
        # The account's processing is restricted (privacy/restriction.py): no call is placed.
        log.info("browser call %s refused: processing is restricted", sid)
        return apology(REFUSALS["processing_restricted"])
    if result.get("refused"):
        log.info("browser call %s refused: %s", sid, result["refused"])
        return apology(REFUSALS.get(result["refused"], "Sorry, this call cannot be placed."))

    twiml = VoiceResponse()
    dial = Dial(
        caller_id=result["caller_id"], timeout=DIAL_TIMEOUT, action=status_url(result["call_id"], "dial"), method="POST"
    )
    dial.number(result["to"])
    twiml.append(dial)
    log.info("browser call %s from workspace %s", sid, result["workspace_id"])
    return twiml_response(twiml)
