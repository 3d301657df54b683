"""A claim's owner token: a sender whose lease ran out presents its token, and once another
sender holds the recipient, nothing it does makes a message or texts anyone."""

from __future__ import annotations

import time

from numeraloop.campaigns.sender import CampaignSender

from .conftest import add_contacts, create_campaign, recipients


def test_a_sender_whose_lease_ran_out_cannot_send_or_record_for_the_recipient_another_now_holds(
    service, inbox, sandbox, db, database_url, sender_pool
):
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["lease-lost"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Lease lost",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["lease-lost"],
        send_rate=50,
    )
    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
    assert r.status_code == 201, r.text
    config = service.app.config["NUMERALOOP"]
    first = CampaignSender(sender_pool, config)
    second = CampaignSender(sender_pool, config)
    try:
        (stale,) = [row for row in first.claim() if str(row["campaign_id"]) == campaign]
        # The first sender stalls past its lease: the claim made its message, so the recipient is
        # uncertain, and after the grace the second sender claims it to look it up.
        db.execute(
            "update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = %s",
            (stale["recipient_id"],),
        )
        assert [row for row in second.claim() if str(row["campaign_id"]) == campaign] == []
        db.execute(
            "update public.campaign_recipients set next_attempt_at = now() where id = %s", (stale["recipient_id"],)
        )
        (held,) = [row for row in second.claim() if str(row["campaign_id"]) == campaign]
        assert held["recipient_id"] == stale["recipient_id"] and held["claim_token"] != stale["claim_token"]
        assert held["reconcile"] is True and held["message_id"] == stale["message_id"]

        creds = first._credentials(inbox.workspace_id, [stale])
        assert first.send(stale, creds) == "claim_expired"  # its own clock says the lease is over
        assert sandbox.messages(account_sid=inbox.account["sid"], to=number) == []
        for call in (
            "private.record_campaign_send(%s, %s, 'SM' || repeat('9', 32), 'sent')",
            "private.record_campaign_failure(%s, %s, 20429, 'Too Many Requests', 5)",
            "private.mark_campaign_uncertain(%s, %s, 'timeout')",
        ):
            result = db.execute(f"select {call} ->> 'status' as s", (stale["recipient_id"], stale["claim_token"]))
            assert result.fetchone()["s"] == "claim_lost", call
        row = recipients(db, campaign)[number]
        assert row["status"] == "claimed" and row["claim_token"] == held["claim_token"]

        second._leases.hold([str(held["claim_token"])], time.monotonic() + 60)
        assert second.send(held, creds) == "sent"  # Twilio had nothing: sent once, with the claim's message
        row = recipients(db, campaign)[number]
        assert row["status"] == "sent" and row["claim_token"] is None and row["attempts"] == 2
        assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == 1
        made = db.execute("select count(*) as n from public.messages where to_e164 = %s", (number,)).fetchone()["n"]
        assert made == 1
    finally:
        first.close()
        second.close()


def test_a_sender_does_not_start_a_send_its_lease_may_not_outlast(
    service, inbox, sandbox, db, database_url, sender_pool
):
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["lease-short"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Lease short",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=["lease-short"],
        send_rate=50,
    )
    assert service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user).status_code == 201
    s = CampaignSender(sender_pool, service.app.config["NUMERALOOP"])
    try:
        (row,) = [r for r in s.claim() if str(r["campaign_id"]) == campaign]
        # Less of the lease left (on this machine's clock) than a send may take: nothing is sent.
        s._leases.hold([str(row["claim_token"])], time.monotonic() + s.send_timeout)
        assert s.send(row, s._credentials(inbox.workspace_id, [row])) == "claim_expired"
        assert sandbox.messages(account_sid=inbox.account["sid"], to=number) == []
    finally:
        s.close()
