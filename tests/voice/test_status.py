"""Call status callbacks, the <Dial> outcome (unanswered → voicemail) and the voicemail recording."""

from __future__ import annotations

import json

import pytest

from numeraloop.voice import RECORDING_NOTICE
from tests.support.twilio_signing import new_sid

from .conftest import add_rule, call_row, caller, enable_voicemail, says_then_records, twiml


def test_completed_with_duration_and_no_moving_back(inbox, sandbox, db, hooks):
    add_rule(db, inbox, action="forward", forward_to=["+14155550191"])
    r = sandbox.inject_call(caller(), inbox.e164, duration=37)
    assert r["status"] == 200
    assert sandbox.wait_for_callbacks(r["call_sid"], 1), "the call's status callback was delivered"
    row = call_row(db, r["call_sid"])
    assert row["status"] == "completed" and row["duration_seconds"] == 37 and row["ended_at"] is not None

    late = hooks.post("/twilio/voice/status", {"CallSid": r["call_sid"], "CallStatus": "ringing"})
    assert late.status_code == 204
    again = hooks.post(
        "/twilio/voice/status", {"CallSid": r["call_sid"], "CallStatus": "no-answer", "CallDuration": "0"}
    )
    assert again.status_code == 204
    after = call_row(db, r["call_sid"])
    assert (after["status"], after["duration_seconds"], after["ended_at"]) == ("completed", 37, row["ended_at"])


def test_status_moves_forward_step_by_step(inbox, hooks, db):
    enable_voicemail(db, inbox)  # the call stays up (ringing), as a voicemail call does
    sid = new_sid("CA")
    assert hooks.inbound(caller(), sid=sid).status_code == 200
    assert hooks.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "in-progress"}).status_code == 204
    assert call_row(db, sid)["status"] == "in-progress"
    assert hooks.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "ringing"}).status_code == 204
    assert call_row(db, sid)["status"] == "in-progress"


def test_callback_before_the_call_is_parked_then_applied(inbox, hooks, db):
    enable_voicemail(db, inbox)  # the call stays up (ringing), as a voicemail call does
    sid = new_sid("CA")
    assert (
        hooks.post(
            "/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "12"}
        ).status_code
        == 204
    )
    assert call_row(db, sid) is None
    assert hooks.inbound(caller(), sid=sid).status_code == 200
    row = call_row(db, sid)
    assert row["status"] == "completed" and row["duration_seconds"] == 12
    assert (
        db.execute("select count(*) as n from private.pending_call_statuses where call_sid = %s", (sid,)).fetchone()[
            "n"
        ]
        == 0
    )


def test_another_accounts_callback_changes_nothing(inbox, hooks, db, sandbox):
    enable_voicemail(db, inbox)  # the call stays up (ringing), as a voicemail call does
    sid = new_sid("CA")
    hooks.inbound(caller(), sid=sid)
    other = sandbox.create_account()
    # Correctly signed by the other account, which is connected to no workspace: refused at the signature.
    r = hooks.post(
        "/twilio/voice/status",
        {"AccountSid": other["sid"], "CallSid": sid, "CallStatus": "completed"},
        token=other["auth_token"],
    )
    assert r.status_code == 403
    assert call_row(db, sid)["status"] == "ringing"


@pytest.mark.parametrize(
    "params",
    [
        {"CallStatus": "exploded"},
        {"CallStatus": "completed", "CallDuration": "x"},
        {"CallStatus": "completed", "CallSid": "CAnope"},
    ],
)
def test_malformed_status_is_400(hooks, params):
    r = hooks.post("/twilio/voice/status", {"CallSid": new_sid("CA"), **params})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_callback"


def test_unanswered_forward_goes_to_voicemail_and_only_the_recording_sid_is_kept(inbox, sandbox, db, hooks):
    enable_voicemail(db, inbox)
    add_rule(db, inbox, action="forward", forward_to=["+14155550192"])
    r = sandbox.inject_call(caller(), inbox.e164)
    action = twiml(r["body"]).find("Dial").get("action")
    path = action.split("/twilio/voice/status", 1)[1]
    dial = hooks.post(
        "/twilio/voice/status" + path,
        {"CallSid": r["call_sid"], "DialCallStatus": "no-answer", "CallStatus": "in-progress"},
    )
    assert dial.status_code == 200, dial.text
    verbs = says_then_records(twiml(dial.text))
    assert verbs[-3:] == [f"Say: {RECORDING_NOTICE}", "Record", "Hangup"], verbs
    record = twiml(dial.text).find("Record")
    assert "step=voicemail" in record.get("action")
    assert call_row(db, r["call_sid"])["dial_status"] == "no-answer"

    # The caller leaves a message; Twilio posts the <Record action> (signed) with the recording.
    left = sandbox.record(r["call_sid"], action=record.get("action"), duration=9)
    assert left["webhook"]["status"] == 200 and twiml(left["webhook"]["body"]).find("Hangup") is not None
    row = call_row(db, r["call_sid"])
    assert row["recording_sid"] == left["recording"]["sid"] and row["recording_duration_seconds"] == 9
    assert "recording_url" not in row, "only the SID and the duration are stored; the audio stays at Twilio"
    assert left["recording"]["media_url"] not in json.dumps(row, default=str)


def test_unanswered_forward_without_voicemail_hangs_up_unrecorded(inbox, sandbox, db, hooks):
    add_rule(db, inbox, action="forward", forward_to=["+14155550191"])
    r = sandbox.inject_call(caller(), inbox.e164)
    row = call_row(db, r["call_sid"])
    dial = hooks.post(
        f"/twilio/voice/status?call_id={row['id']}&step=dial", {"CallSid": r["call_sid"], "DialCallStatus": "no-answer"}
    )
    assert dial.status_code == 200 and "<Record" not in dial.text
    assert twiml(dial.text).find("Hangup") is not None


def test_answered_forward_hangs_up_after_the_bridge(inbox, sandbox, db, hooks):
    add_rule(db, inbox, action="forward", forward_to=["+14155550193"])
    r = sandbox.inject_call(caller(), inbox.e164)
    row = call_row(db, r["call_sid"])
    dial = hooks.post(
        f"/twilio/voice/status?call_id={row['id']}&step=dial",
        {"CallSid": r["call_sid"], "DialCallStatus": "completed", "DialCallDuration": "44"},
    )
    assert dial.status_code == 200 and twiml(dial.text).find("Hangup") is not None
    assert call_row(db, r["call_sid"])["dial_status"] == "completed"


def test_unknown_step_is_400(hooks):
    r = hooks.post("/twilio/voice/status?step=other", {"CallSid": new_sid("CA"), "CallStatus": "completed"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/twilio/voice/inbound",
        "/twilio/voice/whisper?call_id=00000000-0000-4000-8000-000000000000",
        "/twilio/voice/browser",
        "/twilio/voice/status",
    ],
)
def test_bad_signature_is_403_on_every_voice_path(inbox, hooks, db, path):
    sid = new_sid("CA")
    params = {"CallSid": sid, "From": caller(), "To": inbox.e164, "CallStatus": "completed"}
    forged = hooks.post(path, params, signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "invalid_signature"
    assert hooks.post(path, params, token="f" * 32).status_code == 403  # signed with another token
    assert hooks.post(path, params, signature="").status_code == 403
    assert call_row(db, sid) is None
