"""Voice: inbound call routing (forward with whisper, browser clients, voicemail), outbound
calls from the browser, call status, and browser-calling access tokens.

Twilio's routes live on the `twilio` blueprint (inbound.py, whisper.py, browser.py,
status.py), the token on the `api` blueprint (token.py). Routing decisions and the call log
are SQL functions in supabase/migrations/20261128005000_calls.sql; this package turns their
answers into TwiML.
"""

from __future__ import annotations

import re

from flask import Response, current_app
from twilio.twiml.voice_response import VoiceResponse

from ..twilio import webhook_urls

CALL_SID = re.compile(r"^CA[0-9a-f]{32}\Z")
VOICEMAIL_MAX_SECONDS = 120
# Said before anything is recorded: what is recorded, by whom, and how not to be.
RECORDING_NOTICE = (
    "If you leave a message after the tone, it will be recorded and kept for this business. "
    "To not be recorded, hang up now."
)


def client_identity(user_id: str) -> str:
    """The Twilio Client identity of a member: what the token carries and <Client> rings."""
    return f"user_{user_id}"


def public_base_url() -> str:
    return current_app.config["NUMERALOOP"].public_base_url


def status_url(call_id: str, step: str) -> str:
    """Where a <Dial> or <Record> action reports back: /twilio/voice/status with the call and step."""
    return webhook_urls.voice_status(public_base_url(), call_id=call_id, step=step)


def add_voicemail(twiml: VoiceResponse, routing: dict) -> VoiceResponse:
    """The greeting, the recording notice, then <Record>; only for a number whose admin turned voicemail on.

    The database already routes a call without voicemail elsewhere; this is the last check before
    anything is recorded, so a routing answer without `voicemail_enabled: true` never records.
    """
    if routing.get("voicemail_enabled") is not True:
        twiml.reject(reason="busy")
        return twiml
    if routing.get("greeting"):
        twiml.say(routing["greeting"])
    twiml.say(RECORDING_NOTICE)
    twiml.record(
        max_length=VOICEMAIL_MAX_SECONDS,
        play_beep=True,
        method="POST",
        action=status_url(routing["call_id"], "voicemail"),
    )
    twiml.hangup()
    return twiml


def twiml_response(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), mimetype="text/xml")


def apology(message: str = "Sorry, this call cannot be placed.") -> Response:
    """Twilio needs TwiML, not JSON: a refused call hears why and hangs up (HTTP 200)."""
    twiml = VoiceResponse()
    twiml.say(message)
    twiml.hangup()
    return twiml_response(twiml)
