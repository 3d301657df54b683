"""Automations end to end: keyword and auto replies come back as TwiML, and their delivery
status (sent by Twilio from our TwiML) is linked back to the stored reply."""

from __future__ import annotations

import re
from html import unescape

from tests.support.twilio_signing import signed_post


def test_auto_reply_comes_back_once_within_cooldown(inbox, sandbox, db):
    db.execute(
        "insert into public.auto_reply_rules (workspace_id, kind, reply_text, cooldown_minutes) "
        "values (%s, 'always', 'Thanks! We will text you back shortly.', 60)",
        (inbox.workspace_id,),
    )
    first = sandbox.inject_sms("+16285557001", inbox.e164, "hello?")
    assert "Thanks! We will text you back shortly." in first["body"]
    second = sandbox.inject_sms("+16285557001", inbox.e164, "anyone?")
    assert "<Message" not in second["body"], "the cooldown stops a second auto reply (no loops)"


def test_keyword_trigger_replies_tags_and_lists(inbox, sandbox, db):
    list_id = db.execute(
        "insert into public.contact_lists (workspace_id, name) values (%s, 'Winter promo') returning id",
        (inbox.workspace_id,),
    ).fetchone()["id"]
    db.execute(
        "insert into public.keyword_triggers (workspace_id, keyword, reply_text, add_tag, add_to_list_id) "
        "values (%s, 'WINTER', 'You are in! 10%% off boiler checks.', 'promo', %s)",
        (inbox.workspace_id, list_id),
    )
    r = sandbox.inject_sms("+16285557002", inbox.e164, " winter ")
    assert "You are in! 10% off boiler checks." in unescape(r["body"])
    contact = db.execute(
        "select id, tags from public.contacts where workspace_id = %s and phone_e164 = %s",
        (inbox.workspace_id, "+16285557002"),
    ).fetchone()
    assert "promo" in contact["tags"]
    assert (
        db.execute(
            "select count(*) as n from public.contact_list_members where list_id = %s and contact_id = %s",
            (list_id, contact["id"]),
        ).fetchone()["n"]
        == 1
    )


def test_reply_status_callback_links_the_twiml_reply(service, inbox, sandbox, db):
    db.execute(
        "insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%s, 'always', 'Got it')",
        (inbox.workspace_id,),
    )
    r = sandbox.inject_sms("+16285557003", inbox.e164, "status please")
    action = unescape(re.search(r'action="([^"]+)"', r["body"]).group(1))
    assert action.startswith(service.base_url + "/twilio/messaging/status?message_id=")
    reply_id = action.split("message_id=", 1)[1]
    sid = "SM" + "7" * 32
    # Twilio sends the reply and reports its status to the action URL.
    for status in ("sent", "delivered"):
        resp = signed_post(
            action,
            {"MessageSid": sid, "AccountSid": inbox.account["sid"], "MessageStatus": status},
            inbox.account["auth_token"],
        )
        assert resp.status_code == 204
    row = db.execute("select twilio_sid, status, source from public.messages where id = %s", (reply_id,)).fetchone()
    assert row["twilio_sid"] == sid and row["status"] == "delivered" and row["source"] == "auto_reply"
