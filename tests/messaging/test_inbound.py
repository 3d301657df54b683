"""Inbound SMS/MMS end to end: sandbox → signed webhook → stored, threaded, answered."""

from __future__ import annotations

import itertools

import pytest

from tests.support.snapshots import changed_tables, workspace_state
from tests.support.twilio_signing import new_sid, signed_post

_n = itertools.count(1)


def customer() -> str:
    return f"+1628555{next(_n):04d}"


def inbound_params(inbox, sender, body="hello", **extra):
    return {
        "MessageSid": new_sid("SM"),
        "AccountSid": inbox.account["sid"],
        "From": sender,
        "To": inbox.e164,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def conversation(db, inbox, sender):
    return db.execute(
        "select c.*, k.phone_e164 from public.conversations c join public.contacts k on k.id = c.contact_id "
        "where c.workspace_id = %s and k.phone_e164 = %s",
        (inbox.workspace_id, sender),
    ).fetchone()


def test_inbound_sms_lands_in_the_right_conversation(inbox, sandbox, db):
    sender = customer()
    first = sandbox.inject_sms(sender, inbox.e164, "Is the plumber coming today?")
    assert first["status"] == 200, first
    assert first["body"].lstrip().startswith("<?xml") and "<Response" in first["body"]
    sandbox.inject_sms(sender, inbox.e164, "Hello?")
    conv = conversation(db, inbox, sender)
    assert conv is not None and conv["unread_count"] == 2
    assert str(conv["phone_number_id"]) == inbox.number["id"]
    bodies = [
        m["body"]
        for m in db.execute(
            "select body from public.messages where conversation_id = %s and direction = 'inbound' order by created_at",
            (conv["id"],),
        )
    ]
    assert bodies == ["Is the plumber coming today?", "Hello?"]
    # Another sender gets their own conversation.
    other = customer()
    sandbox.inject_sms(other, inbox.e164, "Different person")
    assert conversation(db, inbox, other)["id"] != conv["id"]


def test_inbound_mms_stores_media(inbox, sandbox, db):
    sender = customer()
    media = [
        {"url": "https://media.example.com/a.jpg", "content_type": "image/jpeg"},
        {"url": "https://media.example.com/b.png", "content_type": "image/png"},
    ]
    r = sandbox.inject_sms(sender, inbox.e164, "photos of the leak", media=media)
    assert r["status"] == 200
    rows = db.execute(
        "select mm.url, mm.content_type from public.message_media mm join public.messages m on m.id = mm.message_id "
        "join public.contacts k on k.phone_e164 = m.from_e164 and k.workspace_id = m.workspace_id "
        "where m.workspace_id = %s and m.from_e164 = %s order by mm.position",
        (inbox.workspace_id, sender),
    ).fetchall()
    assert [(r["url"], r["content_type"]) for r in rows] == [(m["url"], m["content_type"]) for m in media]


def test_retried_webhook_is_stored_once(inbox, service, db):
    sender = customer()
    params = inbound_params(inbox, sender, "only once please")
    url = service.base_url + "/twilio/messaging/inbound"
    for _ in range(3):
        r = signed_post(url, params, inbox.account["auth_token"])
        assert r.status_code == 200, r.text
    count = db.execute(
        "select count(*) as n from public.messages where twilio_sid = %s", (params["MessageSid"],)
    ).fetchone()["n"]
    assert count == 1
    assert conversation(db, inbox, sender)["unread_count"] == 1


def assert_refused(response, status: int, code: str | None = None):
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code if code else response.json()["error"]["code"], response.text


def test_bad_signature_is_403_and_stores_nothing(inbox, service, db, sandbox):
    sender = customer()
    params = inbound_params(inbox, sender, "forged", Body="STOP")  # would opt the sender out, were it accepted
    url = service.base_url + "/twilio/messaging/inbound"
    before = workspace_state(db, inbox.workspace_id)
    assert_refused(
        signed_post(url, params, inbox.account["auth_token"], signature="bm90IGEgc2lnbmF0dXJl"),
        403,
        "invalid_signature",
    )
    assert_refused(signed_post(url, params, "f" * 32), 403, "invalid_signature")  # signed with another token
    assert_refused(signed_post(url, params, inbox.account["auth_token"], signature=""), 403, "invalid_signature")
    tampered = dict(params, Body="tampered")
    sig_for_original = (
        __import__("twilio.request_validator", fromlist=["RequestValidator"])
        .RequestValidator(inbox.account["auth_token"])
        .compute_signature(url, params)
    )
    assert_refused(
        signed_post(url, tampered, inbox.account["auth_token"], signature=sig_for_original), 403, "invalid_signature"
    )
    other_account = sandbox.create_account()
    wrong_account = dict(params, AccountSid=other_account["sid"])
    assert_refused(signed_post(url, wrong_account, inbox.account["auth_token"]), 403)
    # No message, contact, conversation, opt-out, webhook delivery or audit row: nothing at all.
    assert changed_tables(before, workspace_state(db, inbox.workspace_id)) == []
    assert (
        db.execute(
            "select count(*) as n from public.messages where twilio_sid = %s", (params["MessageSid"],)
        ).fetchone()["n"]
        == 0
    )


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "not-a-sid"},
        {"From": ""},
        {"NumMedia": "many"},
        {"NumMedia": "2"},
        {"NumMedia": "11"},
        {"From": "NUMERALOOP"},
    ],
)
def test_malformed_signed_form_is_400_and_stores_nothing(inbox, service, db, change):
    params = inbound_params(inbox, customer(), "x")
    params.update(change)
    before = workspace_state(db, inbox.workspace_id)
    r = signed_post(service.base_url + "/twilio/messaging/inbound", params, inbox.account["auth_token"])
    assert_refused(r, 400)
    assert changed_tables(before, workspace_state(db, inbox.workspace_id)) == []


def test_unknown_number_is_403_and_stores_nothing(inbox, service, db):
    params = inbound_params(inbox, customer(), "hi", To="+15005550006")
    before = workspace_state(db, inbox.workspace_id)
    assert_refused(
        signed_post(service.base_url + "/twilio/messaging/inbound", params, inbox.account["auth_token"]), 403
    )
    assert changed_tables(before, workspace_state(db, inbox.workspace_id)) == []


def test_help_gets_the_help_text(inbox, sandbox):
    r = sandbox.inject_sms(customer(), inbox.e164, "  help ")
    assert r["status"] == 200
    assert "<Message" in r["body"]
