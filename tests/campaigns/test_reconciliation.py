"""Uncertain sends are settled, not guessed: a worker that dies between handing a message to
Twilio and recording it leaves the recipient to its message's first status callback (which
carries the message's id) or to the next claim, which looks the message up in Twilio's Messages
list before sending anything. Nobody is texted twice, nobody is left untexted. Leases are short
and renewed while the worker lives, so a crash costs seconds."""

from __future__ import annotations

import time
import uuid

import pytest

from numeraloop.campaigns.sender import CampaignSender
from numeraloop.twilio.client import make_twilio_client

from .conftest import add_contacts, create_campaign, recipients, run_until


@pytest.fixture
def launched(service, inbox, db, database_url):
    def _launch(tag: str, count: int = 1, body: str = "Hello from the shop") -> tuple[str, list[str]]:
        numbers = add_contacts(db, inbox.workspace_id, count, tags=[tag])
        campaign = create_campaign(
            database_url,
            inbox.user,
            workspace_id=inbox.workspace_id,
            name=tag,
            phone_number_id=inbox.number["id"],
            body=body,
            include_tags=[tag],
            send_rate=50,
        )
        r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
        assert r.status_code == 201, r.text
        return campaign, numbers

    return _launch


def die_mid_send(sender, campaign, db, sandbox, inbox, reach_twilio: bool, callbacks: bool = False) -> dict:
    """What a SIGKILLed worker leaves: the recipient claimed, its message row made and, when
    `reach_twilio`, the message accepted by Twilio, but nothing recorded; then its lease runs out."""
    (row,) = [r for r in sender.claim() if str(r["campaign_id"]) == campaign]
    prepared = db.execute(
        "select private.prepare_campaign_message(%s, %s, %s, 1, 'gsm7') as r",
        (row["recipient_id"], row["claim_token"], row["body"]),
    ).fetchone()["r"]
    assert prepared["send"] is True
    if reach_twilio:
        if not callbacks:
            sandbox.set_scenario(row["to_e164"], "none")
        client = make_twilio_client(
            inbox.account["sid"], inbox.account["sid"], inbox.account["auth_token"], sandbox.api_base_url
        )
        options = {"to": row["to_e164"], "from_": row["from_e164"], "body": row["body"]}
        if callbacks:
            options["status_callback"] = (
                sender.config.public_base_url + "/twilio/messaging/status?message_id=" + str(prepared["message_id"])
            )
        client.api.v2010.accounts(inbox.account["sid"]).messages.create(**options)
    db.execute(
        "update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = %s",
        (row["recipient_id"],),
    )
    return {**row, "message_id": prepared["message_id"]}


def end_the_grace(db, campaign):
    db.execute(
        "update public.campaign_recipients set next_attempt_at = now() - interval '1 second' "
        "where campaign_id = %s and status = 'uncertain'",
        (campaign,),
    )


def report(service, inbox, campaign) -> dict:
    r = service.get(f"/api/v1/campaigns/{campaign}/report", user=inbox.user)
    assert r.status_code == 200, r.text
    return r.json()


def lookups(sandbox, inbox, number) -> list[dict]:
    return [
        q
        for q in sandbox.requests(inbox.account["sid"])
        if q["method"] == "GET" and q["path"].endswith("/Messages.json") and q["query"].get("To") == [number]
    ]


def test_a_send_twilio_accepted_whose_worker_died_is_recorded_with_its_sid_not_sent_again(
    service, inbox, sandbox, db, launched, sender
):
    campaign, (number,) = launched("died-after-send")
    try:
        died = die_mid_send(sender, campaign, db, sandbox, inbox, reach_twilio=True)
        assert sender.run_once() == 0  # the lease ran out: uncertain, waiting out the grace
        row = recipients(db, campaign)[number]
        assert row["status"] == "uncertain" and row["reconcile"] is True
        state = report(service, inbox, campaign)
        assert state["recipients"]["uncertain"] == 1 and state["status"] == "sending"

        end_the_grace(db, campaign)
        assert run_until(sender, lambda: recipients(db, campaign)[number]["status"] == "sent")
    finally:
        sandbox.clear_scenario(number)
    (at_twilio,) = sandbox.messages(account_sid=inbox.account["sid"], to=number)
    row = recipients(db, campaign)[number]
    assert str(row["message_id"]) == died["message_id"] and row["reconcile"] is False
    stored = db.execute("select twilio_sid from public.messages where id = %s", (died["message_id"],)).fetchone()
    assert stored["twilio_sid"] == at_twilio["sid"]
    assert len(lookups(sandbox, inbox, number)) == 1
    query = lookups(sandbox, inbox, number)[0]["query"]
    assert query["From"] == [inbox.e164] and "DateSent>" in query
    final = report(service, inbox, campaign)
    assert final["status"] == "completed" and final["recipients"]["sent"] == 1 and final["recipients"]["uncertain"] == 0


def test_a_send_that_never_reached_twilio_is_sent_exactly_once(service, inbox, sandbox, db, launched, sender):
    campaign, (number,) = launched("died-before-send")
    died = die_mid_send(sender, campaign, db, sandbox, inbox, reach_twilio=False)
    sender.run_once()
    end_the_grace(db, campaign)
    assert run_until(sender, lambda: recipients(db, campaign)[number]["status"] == "sent")
    (at_twilio,) = sandbox.messages(account_sid=inbox.account["sid"], to=number)
    row = recipients(db, campaign)[number]
    assert str(row["message_id"]) == died["message_id"]  # the message row made before the crash is the one sent
    assert at_twilio["status_callback"].endswith("?message_id=" + str(died["message_id"]))
    assert db.execute("select count(*) as n from public.messages where to_e164 = %s", (number,)).fetchone()["n"] == 1


def test_the_first_status_callback_settles_a_send_whose_worker_died(service, inbox, sandbox, db, launched, sender):
    campaign, (number,) = launched("died-callback")
    died = die_mid_send(sender, campaign, db, sandbox, inbox, reach_twilio=True, callbacks=True)
    assert sandbox.wait_idle()
    # The callback found the message by the id in its URL and linked the SID.
    stored = db.execute(
        "select twilio_sid, status from public.messages where id = %s", (died["message_id"],)
    ).fetchone()
    assert stored["twilio_sid"] and stored["status"] == "delivered"
    sender.run_once()  # the expired lease is settled as sent: no lookup, no second send
    row = recipients(db, campaign)[number]
    assert row["status"] == "sent"
    assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == 1
    assert lookups(sandbox, inbox, number) == []
    assert report(service, inbox, campaign)["status"] == "completed"


def test_a_callback_settles_an_uncertain_recipient(service, inbox, sandbox, db, launched, sender):
    campaign, (number,) = launched("uncertain-callback")
    (row,) = [r for r in sender.claim() if str(r["campaign_id"]) == campaign]
    prepared = db.execute(
        "select private.prepare_campaign_message(%s, %s, %s, 1, 'gsm7') as r",
        (row["recipient_id"], row["claim_token"], row["body"]),
    ).fetchone()["r"]
    # Twilio took the message but the answer was lost (a read timeout): uncertain.
    assert (
        db.execute(
            "select private.mark_campaign_uncertain(%s, %s, 'read timeout') ->> 'status' as s",
            (row["recipient_id"], row["claim_token"]),
        ).fetchone()["s"]
        == "uncertain"
    )
    db.execute(
        "select private.mark_message_submitted(%s, %s, 'sent')", (prepared["message_id"], "SM" + uuid.uuid4().hex)
    )
    assert recipients(db, campaign)[number]["status"] == "sent"


def test_a_send_twilio_did_not_answer_is_looked_up_then_sent_once(service, inbox, sandbox, db, launched, sender):
    campaign, (number,) = launched("timed-out")
    # Twilio stalls past the send's read timeout and never creates the message.
    sandbox.add_fault(
        inbox.account["sid"],
        status=500,
        code=20500,
        times=1,
        method="POST",
        path_contains="Messages",
        delay=sender.send_timeout + 0.5,
    )
    try:
        assert sender.run_once() == 1
    finally:
        sandbox.clear_faults(inbox.account["sid"])
    row = recipients(db, campaign)[number]
    assert row["status"] == "uncertain" and row["reconcile"] is True
    end_the_grace(db, campaign)
    assert run_until(sender, lambda: recipients(db, campaign)[number]["status"] == "sent")
    assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == 1
    assert len(lookups(sandbox, inbox, number)) == 1


def test_leases_are_short_and_renewed_while_the_worker_lives(service, inbox, db, launched, sender_pool):
    campaign, _ = launched("renewed")
    s = CampaignSender(sender_pool, service.app.config["NUMERALOOP"], lease_seconds=3, send_timeout=1.0)
    try:
        (row,) = [r for r in s.claim() if str(r["campaign_id"]) == campaign]
        first = db.execute(
            "select claimed_until - now() as left, claimed_until from public.campaign_recipients where id = %s",
            (row["recipient_id"],),
        ).fetchone()
        assert first["left"].total_seconds() <= 3  # a stopped worker holds a recipient for seconds, not minutes
        s._leases.hold([str(row["claim_token"])], time.monotonic() + 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = db.execute(
                "select claimed_until from public.campaign_recipients where id = %s", (row["recipient_id"],)
            ).fetchone()["claimed_until"]
            if now > first["claimed_until"]:
                break
            time.sleep(0.1)
        assert now > first["claimed_until"], "the heartbeat renewed the lease"
        s._leases.release(str(row["claim_token"]))
    finally:
        s.close()
