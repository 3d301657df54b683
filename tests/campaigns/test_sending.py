"""Campaigns end to end: drafts under RLS, launched through the API, sent by the worker's
sender through the Twilio sandbox, delivery reported from the status callbacks."""

from __future__ import annotations

import logging
import re
import time

from .conftest import add_contacts, create_campaign, recipients, run_until


def launch(service, user, campaign_id, **body):
    return service.post(f"/api/v1/campaigns/{campaign_id}/launch", user=user, json=body or None)


def report(service, user, campaign_id) -> dict:
    r = service.get(f"/api/v1/campaigns/{campaign_id}/report", user=user)
    assert r.status_code == 200, r.text
    return r.json()


def wait_report(service, user, campaign_id, check, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = report(service, user, campaign_id)
        if check(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def test_fifty_recipient_campaign_is_sent_rendered_and_reported(
    service, inbox, sandbox, db, database_url, sender, caplog
):
    names = ["Ann" if i % 2 == 0 else None for i in range(50)]
    numbers = add_contacts(db, inbox.workspace_id, 50, tags=["spring"], first_names=names)
    failing = numbers[7]
    sandbox.set_scenario(failing, "failed", error_code=30007)
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Spring",
        phone_number_id=inbox.number["id"],
        body="Hi {{first_name|there}}, spring is here",
        include_tags=["spring"],
        send_rate=100,
    )
    r = launch(service, inbox.user, campaign)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "sending" and r.json()["recipients_total"] == 50

    with caplog.at_level(logging.INFO, logger="numeraloop.campaigns.sender"):
        assert run_until(sender, lambda: all(r["status"] == "sent" for r in recipients(db, campaign).values()))
    assert any(re.search(r"campaign \S+: \d+/50 sent", m) for m in caplog.messages), caplog.messages  # every 25

    # Twilio got each message once, rendered for its contact, with our StatusCallback.
    at_twilio = sandbox.messages(account_sid=inbox.account["sid"])
    sent = {m["to"]: m for m in at_twilio if m["to"] in set(numbers)}
    assert len(sent) == 50 and len([m for m in at_twilio if m["to"] in set(numbers)]) == 50
    assert sent[numbers[0]]["body"] == "Hi Ann, spring is here"
    assert sent[numbers[1]]["body"] == "Hi there, spring is here"
    rows = recipients(db, campaign)
    # Each message carries its own id in its StatusCallback, so its first callback links its SID.
    assert sent[numbers[0]]["status_callback"] == (
        service.base_url + "/twilio/messaging/status?message_id=" + str(rows[numbers[0]]["message_id"])
    )

    # Campaign messages are ordinary messages in each contact's conversation.
    assert {r["source"] for r in rows.values()} == {"campaign"}
    assert rows[numbers[0]]["body"] == "Hi Ann, spring is here"

    assert sandbox.wait_idle()
    final = wait_report(
        service, inbox.user, campaign, lambda rep: rep["delivery"]["delivered"] == 49 and rep["delivery"]["failed"] == 1
    )
    assert final["status"] == "completed" and final["completed_at"]
    assert final["recipients"]["sent"] == 50
    assert final["delivery"]["delivered"] == 49 and final["delivery"]["failed"] == 1
    assert [(e["error_code"], e["count"]) for e in final["errors"]] == [(30007, 1)]
    assert final["segments"] == 50


def test_opted_out_at_launch_and_since_are_never_texted(service, inbox, sandbox, db, database_url, sender):
    before, since, ok = add_contacts(db, inbox.workspace_id, 3, tags=["optout-check"])
    assert sandbox.inject_sms(before, inbox.e164, "STOP")["status"] == 200
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Opt-outs",
        phone_number_id=inbox.number["id"],
        body="News",
        include_tags=["optout-check"],
        send_rate=50,
    )
    assert launch(service, inbox.user, campaign).json()["skipped_opted_out"] == 1
    assert sandbox.inject_sms(since, inbox.e164, "STOP")["status"] == 200
    assert run_until(sender, lambda: recipients(db, campaign)[ok]["status"] == "sent")
    rows = recipients(db, campaign)
    assert rows[before]["status"] == rows[since]["status"] == "skipped_opted_out"
    for number, texted in ((ok, 1), (before, 0), (since, 0)):
        assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == texted
    assert report(service, inbox.user, campaign)["recipients"]["skipped_opted_out"] == 2


def test_twilio_21610_fails_the_recipient_and_records_the_opt_out(service, inbox, sandbox, db, database_url, sender):
    gone, fine = add_contacts(db, inbox.workspace_id, 2, tags=["unsub"])
    sandbox.unsubscribe(inbox.account["sid"], gone)
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Unsub",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["unsub"],
        send_rate=50,
    )
    launch(service, inbox.user, campaign)
    assert run_until(
        sender,
        lambda: (
            db.execute("select status from public.campaigns where id = %s", (campaign,)).fetchone()["status"]
            == "completed"
        ),
    )
    rows = recipients(db, campaign)
    assert rows[gone]["status"] == "failed" and rows[gone]["error_code"] == 21610
    assert rows[gone]["message_status"] == "failed" and rows[gone]["message_error"] == 21610
    assert rows[fine]["status"] == "sent"
    opt_out = db.execute(
        "select source from public.opt_outs where workspace_id = %s and phone_e164 = %s", (inbox.workspace_id, gone)
    ).fetchone()
    assert opt_out["source"] == "twilio_21610"
    assert (21610, 1) in [(e["error_code"], e["count"]) for e in report(service, inbox.user, campaign)["errors"]]


def test_rate_limited_send_goes_back_in_the_queue_and_is_sent_once(service, inbox, sandbox, db, database_url, sender):
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["throttled"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Throttled",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["throttled"],
    )
    launch(service, inbox.user, campaign)
    # More 429s than the Twilio client's own retries: the recipient waits for its backoff.
    sandbox.add_fault(inbox.account["sid"], status=429, code=20429, times=3, method="POST", path_contains="Messages")
    try:
        assert sender.run_once() == 1
    finally:  # the account is every campaign test's: faults left over would throttle the next ones
        sandbox.clear_faults(inbox.account["sid"])
    row = recipients(db, campaign)[number]
    assert row["status"] == "pending" and row["error_code"] == 20429 and row["message_status"] == "queued"
    assert run_until(sender, lambda: recipients(db, campaign)[number]["status"] == "sent", timeout=5)
    row = recipients(db, campaign)[number]
    assert row["attempts"] == 2
    assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == 1
    assert db.execute("select count(*) as n from public.messages where to_e164 = %s", (number,)).fetchone()["n"] == 1


def test_pause_stops_sending_and_resume_picks_up(service, inbox, sandbox, db, database_url, sender):
    numbers = add_contacts(db, inbox.workspace_id, 3, tags=["pausable"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Pausable",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["pausable"],
        send_rate=50,
    )
    launch(service, inbox.user, campaign)
    r = service.post(f"/api/v1/campaigns/{campaign}/pause", user=inbox.user)
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert sender.run_once() == 0
    assert sandbox.messages(account_sid=inbox.account["sid"], to=numbers[0]) == []
    r = service.post(f"/api/v1/campaigns/{campaign}/resume", user=inbox.user)
    assert r.status_code == 200 and r.json()["status"] == "sending"
    assert run_until(sender, lambda: report(service, inbox.user, campaign)["status"] == "completed")
    assert report(service, inbox.user, campaign)["recipients"]["sent"] == 3


def test_a_campaign_whose_sender_number_is_gone_is_paused_with_the_reason(
    service, inbox, sandbox, db, database_url, sender
):
    add_contacts(db, inbox.workspace_id, 2, tags=["orphan"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Orphan",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["orphan"],
        send_rate=50,
    )
    launch(service, inbox.user, campaign)
    db.execute("update public.phone_numbers set status = 'released' where id = %s", (inbox.number["id"],))
    try:
        sender.run_once()
    finally:
        db.execute("update public.phone_numbers set status = 'active' where id = %s", (inbox.number["id"],))
    state = report(service, inbox.user, campaign)
    assert state["status"] == "paused" and "sender number" in state["last_error"]
    assert state["recipients"]["pending"] == 2 and state["recipients"]["failed"] == 0
