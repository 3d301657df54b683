"""Restriction of processing: while an account is restricted nothing is sent, called or launched
on its behalf (423 processing_restricted, nothing reaches Twilio), inbound messages are still
stored, and lifting it is audited."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.support.database import add_member
from tests.support.twilio_signing import new_sid, signed_post

CUSTOMER = "+16285557401"


def restrict(service, user) -> dict:
    r = service.post("/api/v1/me/restriction", user=user)
    assert r.status_code == 201, r.text
    return r.json()


def sent_to_twilio(sandbox, inbox) -> int:
    return len(sandbox.messages(account_sid=inbox.account["sid"]))


def send(service, inbox, user=None, to=CUSTOMER):
    return service.post(
        "/api/v1/messages",
        user=user or inbox.user,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": to, "body": "Hello"},
    )


def outbound_rows(db, workspace_id) -> int:
    return db.execute(
        "select count(*) as n from public.messages where workspace_id = %s and direction = 'outbound'", (workspace_id,)
    ).fetchone()["n"]


def test_restricting_refuses_sends_and_calls_and_lifting_is_audited(service, inbox, sandbox, db):
    before = service.get("/api/v1/me/restriction", user=inbox.user).json()
    assert before == {"restricted": False, "restricted_at": None, "source": None}
    state = restrict(service, inbox.user)
    assert state["restricted"] and state["source"] == "product" and state["restricted_at"]
    assert service.post("/api/v1/me/restriction", user=inbox.user).status_code == 200, "restricting again: 200"
    # Recorded as a GDPR restriction request, carried out at once, and audited.
    [req] = db.execute(
        "select law, kind, status, outcome from public.data_requests where user_id = %s and kind = 'restriction'",
        (inbox.user.id,),
    ).fetchall()
    assert (req["law"], req["status"]) == ("gdpr", "completed") and req["outcome"]
    assert (
        db.execute(
            "select count(*) as n from public.audit_log where action = 'processing.restricted' and target_id = %s",
            (inbox.user.id,),
        ).fetchone()["n"]
        == 1
    )

    twilio_before, rows_before = sent_to_twilio(sandbox, inbox), outbound_rows(db, inbox.workspace_id)
    r = send(service, inbox)
    assert r.status_code == 423, r.text
    assert r.json()["error"]["code"] == "processing_restricted"
    token = service.post("/api/v1/voice/token", user=inbox.user, json={"workspace_id": inbox.workspace_id})
    assert token.status_code == 423 and token.json()["error"]["code"] == "processing_restricted"
    assert sent_to_twilio(sandbox, inbox) == twilio_before and outbound_rows(db, inbox.workspace_id) == rows_before

    r = service.delete("/api/v1/me/restriction", user=inbox.user)
    assert r.status_code == 200 and r.json()["restricted"] is False
    lifted = db.execute(
        "select actor_user_id, details from public.audit_log where action = "
        "'processing.restriction_lifted' and target_id = %s",
        (inbox.user.id,),
    ).fetchall()
    assert [(str(a["actor_user_id"]), a["details"]["source"]) for a in lifted] == [(inbox.user.id, "product")]
    again = service.delete("/api/v1/me/restriction", user=inbox.user)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_restricted"
    assert send(service, inbox).status_code == 201, "sending works again once lifted"


def test_inbound_texts_are_stored_but_no_automated_reply_goes_out(service, inbox, sandbox, db):
    db.execute(
        "insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%s, 'always', 'Got it')",
        (inbox.workspace_id,),
    )
    db.execute(
        "insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%s, 'PRICE', 'Cheap')",
        (inbox.workspace_id,),
    )
    restrict(service, inbox.user)
    for body in ("Are you open?", "PRICE"):
        r = sandbox.inject_sms(CUSTOMER, inbox.e164, body)
        assert r["status"] == 200 and "<Message" not in r["body"], r["body"]
    stored = db.execute(
        "select body from public.messages where workspace_id = %s and direction = 'inbound' order by created_at",
        (inbox.workspace_id,),
    ).fetchall()
    assert [m["body"] for m in stored] == ["Are you open?", "PRICE"]
    assert outbound_rows(db, inbox.workspace_id) == 0


def test_a_browser_call_is_refused_with_spoken_twiml(service, inbox, db):
    app_sid = db.execute(
        "select twiml_app_sid from public.twilio_accounts where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()["twiml_app_sid"]
    restrict(service, inbox.user)
    sid = new_sid("CA")
    r = signed_post(
        service.base_url + "/twilio/voice/browser",
        {
            "AccountSid": inbox.account["sid"],
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "ApplicationSid": app_sid,
            "From": f"client:user_{inbox.user.id}",
            "To": "+14155552699",
            "Direction": "inbound",
            "CallStatus": "ringing",
        },
        inbox.account["auth_token"],
    )
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.text.encode())
    assert root.find("Dial") is None and "restricted" in root.find("Say").text
    assert db.execute("select count(*) as n from public.calls where twilio_sid = %s", (sid,)).fetchone()["n"] == 0


def test_campaigns_are_paused_and_cannot_be_launched_or_resumed(service, inbox, db):
    list_id = db.execute(
        "insert into public.contact_lists (workspace_id, name) values (%s, 'All') returning id", (inbox.workspace_id,)
    ).fetchone()["id"]
    contact = db.execute(
        "insert into public.contacts (workspace_id, phone_e164) values (%s, '+16285557404') returning id",
        (inbox.workspace_id,),
    ).fetchone()["id"]
    db.execute(
        "insert into public.contact_list_members (workspace_id, list_id, contact_id) values (%s, %s, %s)",
        (inbox.workspace_id, list_id, contact),
    )

    def draft(name):
        return db.execute(
            "insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) "
            "values (%s, %s, %s, 'Hi', %s) returning id::text",
            (inbox.workspace_id, name, inbox.number["id"], [list_id]),
        ).fetchone()["id"]

    scheduled, waiting = draft("Scheduled"), draft("Waiting")
    r = service.post(
        f"/api/v1/campaigns/{scheduled}/launch", user=inbox.user, json={"scheduled_at": "2099-01-01T00:00:00Z"}
    )
    assert r.status_code == 201, r.text
    restrict(service, inbox.user)
    row = db.execute("select status, last_error from public.campaigns where id = %s", (scheduled,)).fetchone()
    assert row["status"] == "paused" and "restricted" in row["last_error"]
    for path in (f"/api/v1/campaigns/{waiting}/launch", f"/api/v1/campaigns/{scheduled}/resume"):
        r = service.post(path, user=inbox.user, json={})
        assert r.status_code == 423 and r.json()["error"]["code"] == "processing_restricted", (path, r.text)
    assert db.execute("select status from public.campaigns where id = %s", (waiting,)).fetchone()["status"] == "draft"

    service.delete("/api/v1/me/restriction", user=inbox.user)
    assert (
        db.execute("select status from public.campaigns where id = %s", (scheduled,)).fetchone()["status"] == "paused"
    ), "a lifted restriction resumes nothing by itself"
    assert service.post(f"/api/v1/campaigns/{scheduled}/resume", user=inbox.user).status_code == 200


def test_a_restricted_member_cannot_send_from_a_team_workspace_others_still_can(service, inbox, make_user, db):
    agent = make_user("restricted-agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    restrict(service, agent)
    r = send(service, inbox, user=agent, to="+16285557402")
    assert r.status_code == 423 and r.json()["error"]["code"] == "processing_restricted"
    assert send(service, inbox, to="+16285557403").status_code == 201, "the workspace's owner is not restricted"


def test_restriction_routes_need_a_token(service):
    for method in ("GET", "POST", "DELETE"):
        r = service.request(method, "/api/v1/me/restriction")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"
