"""Inbound calls through the sandbox: rules decide forward (with whisper), browser, voicemail, reject."""

from __future__ import annotations

from numeraloop.voice import RECORDING_NOTICE
from tests.support.snapshots import changed_tables, workspace_state
from tests.support.twilio_signing import new_sid

from .conftest import add_rule, call_row, caller, enable_voicemail, says_then_records, twiml

ALL_WEEK = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_forward_rule_dials_every_target_with_the_whisper(inbox, sandbox, db, service):
    add_rule(
        db,
        inbox,
        action="forward",
        forward_to=["+14155550181", "+14155550182"],
        whisper_text="Call from NumeraLoop",
        timeout_seconds=25,
    )
    who = caller()
    r = sandbox.inject_call(who, inbox.e164)
    assert r["status"] == 200, r
    dial = twiml(r["body"]).find("Dial")
    assert dial is not None and dial.get("timeout") == "25"
    assert dial.get("action").startswith(service.base_url + "/twilio/voice/status?call_id=")
    numbers = dial.findall("Number")
    assert [n.text for n in numbers] == ["+14155550181", "+14155550182"]
    row = call_row(db, r["call_sid"])
    assert all(n.get("url") == f"{service.base_url}/twilio/voice/whisper?call_id={row['id']}" for n in numbers)
    assert row["direction"] == "inbound" and row["status"] == "ringing" and row["routed_action"] == "forward"
    assert row["from_e164"] == who and row["to_e164"] == inbox.e164
    assert row["forwarded_to"] == ["+14155550181", "+14155550182"] and row["whisper_text"] == "Call from NumeraLoop"
    contact = db.execute("select phone_e164 from public.contacts where id = %s", (row["contact_id"],)).fetchone()
    assert contact["phone_e164"] == who


def test_first_matching_rule_by_priority_wins(inbox, sandbox, db):
    enable_voicemail(db, inbox)
    add_rule(
        db,
        inbox,
        priority=1,
        condition="business_hours",
        business_hours={},
        action="forward",
        forward_to=["+14155550183"],
    )  # never open: does not match
    add_rule(db, inbox, priority=2, condition="after_hours", business_hours={}, action="voicemail")
    add_rule(db, inbox, priority=3, action="forward", forward_to=["+14155550184"])
    r = sandbox.inject_call(caller(), inbox.e164)
    root = twiml(r["body"])
    assert root.find("Dial") is None
    record = root.find("Record")
    assert record is not None and record.get("maxLength") == "120" and "step=voicemail" in record.get("action")
    assert call_row(db, r["call_sid"])["routed_action"] == "voicemail"


def test_business_hours_rule_matches_when_open(inbox, sandbox, db):
    db.execute("update public.workspaces set timezone = 'America/New_York' where id = %s", (inbox.workspace_id,))
    add_rule(db, inbox, priority=1, condition="business_hours", business_hours=ALL_WEEK, action="browser")
    add_rule(db, inbox, priority=2, action="voicemail")
    r = sandbox.inject_call(caller(), inbox.e164)
    clients = [c.text for c in twiml(r["body"]).find("Dial").findall("Client")]
    assert clients == [f"user_{inbox.user.id}"]
    assert call_row(db, r["call_sid"])["forwarded_to"] == [f"client:user_{inbox.user.id}"]


def test_caller_prefix_rule_only_for_matching_callers(inbox, sandbox, db):
    enable_voicemail(db, inbox)
    add_rule(
        db,
        inbox,
        priority=1,
        condition="caller_prefix",
        caller_prefix="+4420",
        action="forward",
        forward_to=["+14155550185"],
    )
    add_rule(db, inbox, priority=2, action="voicemail")
    uk = sandbox.inject_call("+442071838750", inbox.e164)
    assert [n.text for n in twiml(uk["body"]).find("Dial").findall("Number")] == ["+14155550185"]
    us = sandbox.inject_call(caller(), inbox.e164)
    assert twiml(us["body"]).find("Record") is not None


def test_no_rules_falls_back_to_the_numbers_forwarding(inbox, sandbox, db):
    db.execute(
        "update public.phone_numbers set forward_to = '{+14155550186}', whisper_text = 'Front desk' where id = %s",
        (inbox.number["id"],),
    )
    add_rule(db, inbox, action="voicemail", is_active=False)  # inactive rules are ignored
    r = sandbox.inject_call(caller(), inbox.e164)
    dial = twiml(r["body"]).find("Dial")
    assert [n.text for n in dial.findall("Number")] == ["+14155550186"]
    assert dial.get("timeout") == "20"
    assert call_row(db, r["call_sid"])["whisper_text"] == "Front desk"


def test_a_number_with_default_settings_records_nothing(inbox, sandbox, db):
    assert (
        db.execute(
            "select voicemail_enabled from public.phone_numbers where id = %s", (inbox.number["id"],)
        ).fetchone()["voicemail_enabled"]
        is False
    )
    r = sandbox.inject_call(caller(), inbox.e164)
    assert r["status"] == 200, r
    assert "<Record" not in r["body"]
    reject = twiml(r["body"]).find("Reject")
    assert reject is not None and reject.get("reason") == "busy"
    row = call_row(db, r["call_sid"])
    assert row["routed_action"] == "reject" and row["status"] == "busy" and row["ended_at"] is not None


def test_a_voicemail_rule_records_nothing_while_the_numbers_voicemail_is_off(inbox, sandbox, db):
    add_rule(db, inbox, action="voicemail")
    r = sandbox.inject_call(caller(), inbox.e164)
    assert "<Record" not in r["body"] and twiml(r["body"]).find("Reject") is not None
    assert call_row(db, r["call_sid"])["routed_action"] == "reject"


def test_with_voicemail_on_the_caller_hears_the_notice_before_anything_is_recorded(inbox, sandbox, db):
    enable_voicemail(db, inbox)
    r = sandbox.inject_call(caller(), inbox.e164)
    name = db.execute("select name from public.workspaces where id = %s", (inbox.workspace_id,)).fetchone()["name"]
    assert says_then_records(twiml(r["body"])) == [
        f"Say: You have reached {name}.",
        f"Say: {RECORDING_NOTICE}",
        "Record",
        "Hangup",
    ]
    assert "recorded" in RECORDING_NOTICE and "hang up" in RECORDING_NOTICE.lower()
    assert call_row(db, r["call_sid"])["routed_action"] == "voicemail"


def test_withheld_caller_is_logged_without_a_contact(inbox, hooks, db):
    enable_voicemail(db, inbox)
    sid = new_sid("CA")
    r = hooks.inbound("anonymous", sid=sid)
    assert r.status_code == 200 and twiml(r.text).find("Record") is not None
    row = call_row(db, sid)
    assert row["from_e164"] == "anonymous" and row["contact_id"] is None


def test_retried_webhook_routes_the_same_way_and_is_stored_once(inbox, hooks, db):
    add_rule(db, inbox, action="forward", forward_to=["+14155550187"])
    sid = new_sid("CA")
    first = hooks.inbound(caller(), sid=sid)
    assert first.status_code == 200, first.text
    # The rule changes between the attempts; the retry still gets the first decision.
    db.execute(
        "update public.call_routing_rules set action = 'voicemail' where phone_number_id = %s", (inbox.number["id"],)
    )
    second = hooks.inbound(caller(), sid=sid)
    assert second.status_code == 200 and second.text == first.text
    assert db.execute("select count(*) as n from public.calls where twilio_sid = %s", (sid,)).fetchone()["n"] == 1


def test_malformed_call_sid_is_400_and_stores_nothing(hooks, inbox, db):
    before = workspace_state(db, inbox.workspace_id)
    r = hooks.inbound(caller(), sid="not-a-sid")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_call"
    assert changed_tables(before, workspace_state(db, inbox.workspace_id)) == [], "no call, no contact"


def test_whisper_plays_the_routed_text(inbox, sandbox, db, hooks):
    add_rule(db, inbox, action="forward", forward_to=["+14155550188"], whisper_text="Sales line call")
    r = sandbox.inject_call(caller(), inbox.e164)
    call_id = call_row(db, r["call_sid"])["id"]
    w = hooks.post(
        f"/twilio/voice/whisper?call_id={call_id}",
        {
            "CallSid": new_sid("CA"),
            "ParentCallSid": r["call_sid"],
            "From": inbox.e164,
            "To": "+14155550188",
            "Direction": "outbound-dial",
            "CallStatus": "in-progress",
        },
    )
    assert w.status_code == 200, w.text
    assert twiml(w.text).find("Say").text == "Sales line call"
    # A call id that is not this account's connects without a whisper.
    other = hooks.post(
        "/twilio/voice/whisper?call_id=00000000-0000-4000-8000-000000000000",
        {"CallSid": new_sid("CA"), "To": "+14155550188"},
    )
    assert other.status_code == 200 and list(twiml(other.text)) == []
    bad = hooks.post("/twilio/voice/whisper?call_id=nope", {"CallSid": new_sid("CA")})
    assert bad.status_code == 400
