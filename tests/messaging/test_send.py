"""Sending from the shared inbox: POST /api/v1/messages through the sandbox, and its callbacks."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.database import add_member
from tests.support.twilio_signing import new_sid, signed_post

_n = itertools.count(1)


def customer() -> str:
    return f"+1628666{next(_n):04d}"


def send(service, inbox, to, body="Your plumber is on the way", user=None, headers=None, **extra):
    payload = {"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": to, "body": body, **extra}
    return service.post("/api/v1/messages", user=user or inbox.user, json=payload, headers=headers or {})


def wait_status(db, message_id, wanted, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        row = db.execute("select status, error_code from public.messages where id = %s", (message_id,)).fetchone()
        if row["status"] == wanted or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def sent_to(sandbox, inbox, to):
    return sandbox.messages(account_sid=inbox.account["sid"], to=to)


def test_send_reaches_twilio_and_callbacks_move_status(service, inbox, sandbox, db):
    to = customer()
    r = send(service, inbox, to)
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["twilio_sid"].startswith("SM") and msg["num_segments"] == 1 and msg["encoding"] == "gsm7"
    at_twilio = sent_to(sandbox, inbox, to)
    assert len(at_twilio) == 1
    assert at_twilio[0]["status_callback"] == service.base_url + "/twilio/messaging/status"
    assert wait_status(db, msg["id"], "delivered")["status"] == "delivered"
    conv = db.execute("select c.* from public.conversations c where c.id = %s", (msg["conversation_id"],)).fetchone()
    assert str(conv["phone_number_id"]) == inbox.number["id"]


def test_national_format_is_normalised_with_the_senders_country(service, inbox, sandbox):
    r = send(service, inbox, "(628) 555-0142")
    assert r.status_code == 201, r.text
    assert r.json()["to"] == "+16285550142"


def test_unicode_body_counts_ucs2_segments(service, inbox, db):
    r = send(service, inbox, customer(), body="Olá 👋 " * 20)
    assert r.status_code == 201
    row = db.execute("select num_segments, encoding from public.messages where id = %s", (r.json()["id"],)).fetchone()
    assert row["encoding"] == "ucs2" and row["num_segments"] == 3


def test_idempotency_key_sends_once(service, inbox, sandbox, db):
    to = customer()
    headers = {"Idempotency-Key": "retry-me-123"}
    first = send(service, inbox, to, headers=headers)
    second = send(service, inbox, to, headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["replayed"] is True
    assert len(sent_to(sandbox, inbox, to)) == 1


def test_opted_out_recipient_gets_409_and_nothing_reaches_twilio(service, inbox, sandbox):
    to = customer()
    assert sandbox.inject_sms(to, inbox.e164, "STOP")["status"] == 200
    r = send(service, inbox, to)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out"
    assert sent_to(sandbox, inbox, to) == []
    # START lifts it.
    sandbox.inject_sms(to, inbox.e164, "start")
    assert send(service, inbox, to).status_code == 201


def test_twilio_21610_is_409_and_recorded_as_opt_out(service, inbox, sandbox, db):
    to = customer()
    sandbox.unsubscribe(inbox.account["sid"], to)
    r = send(service, inbox, to)
    assert r.status_code == 409 and r.json()["error"]["twilio_code"] == 21610
    opt_out = db.execute(
        "select source from public.opt_outs where workspace_id = %s and phone_e164 = %s", (inbox.workspace_id, to)
    ).fetchone()
    assert opt_out["source"] == "twilio_21610"
    failed = db.execute(
        "select status, error_code from public.messages where to_e164 = %s and workspace_id = %s",
        (to, inbox.workspace_id),
    ).fetchone()
    assert failed["status"] == "failed" and failed["error_code"] == 21610


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"to": "12"}, "invalid_to"),
        ({"to": "not a number"}, "invalid_to"),
        ({"body": "x" * 1601}, "body_too_long"),
        ({"body": "", "media_urls": []}, "empty_message"),
        ({"media_urls": ["https://e.example/x.jpg"] * 11}, "too_many_media"),
        ({"media_urls": ["ftp://e.example/x.jpg"]}, "invalid_media_url"),
        ({"from": "+15005550000"}, "unknown_sender"),
    ],
)
def test_bad_input_is_422(service, inbox, payload, code):
    body = {"to": customer(), "body": "hi", **payload}
    r = send(service, inbox, **body)
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_status_never_moves_backwards_with_duplicates_and_out_of_order(service, inbox, sandbox, db):
    for scenario in ("duplicate", "out_of_order"):
        to = customer()
        sandbox.set_scenario(to, scenario)
        msg = send(service, inbox, to).json()
        assert sandbox.wait_idle()
        assert wait_status(db, msg["id"], "delivered")["status"] == "delivered", scenario


def test_failed_delivery_keeps_the_error_code(service, inbox, sandbox, db):
    to = customer()
    sandbox.set_scenario(to, "undelivered", error_code=30003)
    msg = send(service, inbox, to).json()
    assert sandbox.wait_idle()
    row = wait_status(db, msg["id"], "undelivered")
    assert row["status"] == "undelivered" and row["error_code"] == 30003


def test_late_sent_after_delivered_changes_nothing(service, inbox, sandbox, db):
    msg = send(service, inbox, customer()).json()
    assert sandbox.wait_idle()
    assert wait_status(db, msg["id"], "delivered")["status"] == "delivered"
    url = service.base_url + "/twilio/messaging/status"
    params = {"MessageSid": msg["twilio_sid"], "AccountSid": inbox.account["sid"], "MessageStatus": "sent"}
    assert signed_post(url, params, inbox.account["auth_token"]).status_code == 204
    assert wait_status(db, msg["id"], "delivered", timeout=0)["status"] == "delivered"


def test_callback_that_beats_the_send_write_is_not_lost(service, inbox, db):
    # A message prepared but not yet marked submitted; its callback arrives first.
    to = customer()
    sid = new_sid("SM")
    prepared = db.execute(
        "select private.prepare_outbound_message(%s, %s, %s, %s, 'hi', '{}', 1, 'gsm7', null) as r",
        (inbox.workspace_id, inbox.user.id, inbox.number["id"], to),
    ).fetchone()["r"]
    url = service.base_url + "/twilio/messaging/status"
    r = signed_post(
        url,
        {"MessageSid": sid, "AccountSid": inbox.account["sid"], "MessageStatus": "delivered"},
        inbox.account["auth_token"],
    )
    assert r.status_code == 204
    db.execute("select private.mark_message_submitted(%s, %s, 'queued')", (prepared["message_id"], sid))
    assert (
        db.execute("select status from public.messages where id = %s", (prepared["message_id"],)).fetchone()["status"]
        == "delivered"
    )


def test_status_callback_needs_a_valid_signature_and_form(service, inbox):
    url = service.base_url + "/twilio/messaging/status"
    params = {"MessageSid": new_sid("SM"), "AccountSid": inbox.account["sid"], "MessageStatus": "delivered"}
    assert signed_post(url, params, "0" * 32).status_code == 403
    assert signed_post(url, dict(params, MessageStatus="exploded"), inbox.account["auth_token"]).status_code == 400


def test_any_member_sends_and_strangers_get_404(service, inbox, make_user, db):
    agent, stranger = make_user("agent"), make_user("stranger")
    add_member(db, inbox.workspace_id, agent, "agent")
    assert send(service, inbox, customer(), user=agent).status_code == 201
    assert send(service, inbox, customer(), user=stranger).status_code == 404
