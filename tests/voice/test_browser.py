"""Outbound calls from the browser: the TwiML App's Voice URL answers <Dial callerId><Number>."""

from __future__ import annotations

import pytest

from tests.support.twilio_signing import new_sid

from .conftest import call_row, twiml


@pytest.fixture
def app_sid(inbox, db):
    return db.execute(
        "select twiml_app_sid from public.twilio_accounts where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()["twiml_app_sid"]


def place(hooks, app_sid, user_id, to, **extra):
    sid = new_sid("CA")
    params = {
        "CallSid": sid,
        "ApplicationSid": app_sid,
        "From": f"client:user_{user_id}",
        "Caller": f"client:user_{user_id}",
        "To": to,
        "Direction": "inbound",
        "CallStatus": "ringing",
        **extra,
    }
    return sid, hooks.post("/twilio/voice/browser", params)


def test_member_calls_out_with_the_workspace_number(inbox, hooks, app_sid, db, service):
    sid, r = place(hooks, app_sid, inbox.user.id, "(415) 555-2671", CallerId=inbox.e164)
    assert r.status_code == 200, r.text
    dial = twiml(r.text).find("Dial")
    assert dial.get("callerId") == inbox.e164
    assert dial.get("action").startswith(service.base_url + "/twilio/voice/status?call_id=")
    assert [n.text for n in dial.findall("Number")] == ["+14155552671"]
    row = call_row(db, sid)
    assert row["direction"] == "outbound" and str(row["placed_by"]) == inbox.user.id
    assert (row["from_e164"], row["to_e164"], row["status"]) == (inbox.e164, "+14155552671", "queued")
    assert str(row["phone_number_id"]) == inbox.number["id"] and row["contact_id"] is not None

    # The dialed leg's outcome becomes the call's.
    done = hooks.post(
        f"/twilio/voice/status?call_id={row['id']}&step=dial",
        {"CallSid": sid, "DialCallStatus": "completed", "DialCallDuration": "63"},
    )
    assert done.status_code == 200 and twiml(done.text).find("Hangup") is not None
    row = call_row(db, sid)
    assert (row["status"], row["duration_seconds"], row["dial_status"]) == ("completed", 63, "completed")


def test_without_caller_id_the_oldest_number_is_used(inbox, hooks, app_sid, db):
    sid, r = place(hooks, app_sid, inbox.user.id, "+14155552672")
    assert twiml(r.text).find("Dial").get("callerId") == inbox.e164


def test_opted_out_numbers_can_still_be_called(inbox, hooks, app_sid, db):
    db.execute(
        "insert into public.opt_outs (workspace_id, phone_e164, source) values (%s, '+14155552673', 'manual')",
        (inbox.workspace_id,),
    )
    sid, r = place(hooks, app_sid, inbox.user.id, "+14155552673")
    assert twiml(r.text).find("Dial") is not None


def refused(r) -> bool:
    root = twiml(r.text)
    return (
        r.status_code == 200
        and root.find("Dial") is None
        and root.find("Say") is not None
        and root.find("Hangup") is not None
    )


def test_non_member_identity_hears_an_apology(inbox, hooks, app_sid, db, make_user):
    stranger = make_user("stranger")
    sid, r = place(hooks, app_sid, stranger.id, "+14155552674")
    assert refused(r) and call_row(db, sid) is None


@pytest.mark.parametrize(
    "change",
    [
        {"To": "not a number"},
        {"To": ""},
        {"CallerId": "+14155559999"},
        {"CallerId": "nope"},
        {"From": "client:alice"},
        {"From": "+14155552675"},
        {"ApplicationSid": "AP" + "0" * 32},
    ],
)
def test_bad_input_hears_an_apology(inbox, hooks, app_sid, db, change):
    sid, r = place(hooks, app_sid, inbox.user.id, "+14155552676", **change)
    assert refused(r), r.text
    assert call_row(db, sid) is None


def test_retried_request_records_one_call(inbox, hooks, app_sid, db):
    params = {
        "CallSid": new_sid("CA"),
        "ApplicationSid": app_sid,
        "From": f"client:user_{inbox.user.id}",
        "To": "+14155552677",
    }
    first = hooks.post("/twilio/voice/browser", params)
    second = hooks.post("/twilio/voice/browser", params)
    assert first.status_code == second.status_code == 200 and first.text == second.text
    assert (
        db.execute("select count(*) as n from public.calls where twilio_sid = %s", (params["CallSid"],)).fetchone()["n"]
        == 1
    )
