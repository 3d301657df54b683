"""POST /api/v1/voice/token: a Twilio Voice access token for calling from the browser.

Any member of the workspace gets one for their own identity (user_<uuid>), valid for an
hour, signed with the workspace's API key (decrypted for this request only), granting
outgoing calls through the workspace's TwiML app (whose Voice URL is /twilio/voice/browser)
and incoming calls to that identity (the `browser` routing action rings it). 409 when no
Twilio account is connected, or it has no API key or TwiML app.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from .. import workspaces
from ..api.inputs import json_body
from ..db import current_pool
from ..errors import ApiError
from ..privacy.restriction import refuse_if_restricted
from ..twilio import credentials
from . import client_identity

bp = Blueprint("voice_token", __name__)

TOKEN_TTL_SECONDS = 3600


@bp.post("/voice/token")
def voice_token():
    body = json_body()
    pool = current_pool()
    config = current_app.config["NUMERALOOP"]
    workspace_id, _ = workspaces.for_caller(body, "agent")
    refuse_if_restricted(workspace_id, "calling from the browser")  # 423 while the account is restricted
    creds = credentials.require_for_workspace(pool, config, workspace_id)
    if not (creds.api_key_sid and creds.api_key_secret and creds.twiml_app_sid):
        raise ApiError(
            409, "voice_not_configured", "This workspace's Twilio connection has no API key or TwiML app; reconnect it."
        )

    identity = client_identity(g.user_id)
    token = AccessToken(
        creds.account_sid, creds.api_key_sid, creds.api_key_secret, identity=identity, ttl=TOKEN_TTL_SECONDS
    )
    token.add_grant(VoiceGrant(outgoing_application_sid=creds.twiml_app_sid, incoming_allow=True))
    return jsonify(
        token=token.to_jwt(),
        identity=identity,
        expires_in=TOKEN_TTL_SECONDS,
        workspace_id=workspace_id,
        twiml_app_sid=creds.twiml_app_sid,
    )
