"""POST /api/v1/voice/token: a Voice access token for the member's own identity."""

from __future__ import annotations

import json
import time

import jwt

from tests.support.database import add_member


def api_key(db, service_config, workspace_id):
    return db.execute(
        "select api_key_sid, api_key_secret, twiml_app_sid, account_sid "
        "from private.twilio_credentials_for_workspace(%s, %s::jsonb)",
        (workspace_id, json.dumps(service_config.keyring())),
    ).fetchone()


def test_member_gets_a_voice_token(inbox, service, db, service_config):
    r = service.post("/api/v1/voice/token", user=inbox.user, json={"workspace_id": inbox.workspace_id})
    assert r.status_code == 200, r.text
    body = r.json()
    creds = api_key(db, service_config, inbox.workspace_id)
    claims = jwt.decode(body["token"], creds["api_key_secret"], algorithms=["HS256"])
    assert jwt.get_unverified_header(body["token"])["cty"] == "twilio-fpa;v=1"
    assert claims["iss"] == creds["api_key_sid"] and claims["sub"] == creds["account_sid"]
    assert claims["grants"]["identity"] == f"user_{inbox.user.id}" == body["identity"]
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == creds["twiml_app_sid"]
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    assert 3500 <= claims["exp"] - int(time.time()) <= 3600


def test_agent_gets_their_own_identity(inbox, service, db, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    r = service.post("/api/v1/voice/token", user=agent, json={"workspace_id": inbox.workspace_id})
    assert r.status_code == 200 and r.json()["identity"] == f"user_{agent.id}"


def test_not_connected_is_409(service, make_user):
    user = make_user("unconnected")
    r = service.post("/api/v1/voice/token", user=user, json={"workspace_id": user.workspace_id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "twilio_not_connected"


def test_connection_without_api_key_is_409(inbox, service, db):
    db.execute("update public.twilio_accounts set twiml_app_sid = null where workspace_id = %s", (inbox.workspace_id,))
    r = service.post("/api/v1/voice/token", user=inbox.user, json={"workspace_id": inbox.workspace_id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "voice_not_configured"


def test_another_workspace_is_404(inbox, service, make_user):
    outsider = make_user("outsider")
    r = service.post("/api/v1/voice/token", user=outsider, json={"workspace_id": inbox.workspace_id})
    assert r.status_code == 404 and r.json()["error"]["code"] == "workspace_not_found"


def test_needs_a_user(service, inbox):
    assert service.post("/api/v1/voice/token", json={"workspace_id": inbox.workspace_id}).status_code == 401
