"""A claim's owner token: a sender whose lease ran out presents its token, and once another
sender holds the recipient, nothing it does makes a message or texts anyone."""

from __future__ import annotations

import time

from numeraloop.campaigns.sender import CampaignSender

from .conftest import add_contacts, create_campaign, recipients


def test_a_sender_whose_lease_ran_out_cannot_send_for_the_recipient_another_now_holds(
        service, inbox, sandbox, db, database_url, sender_pool):
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["lease-lost"])
    campaign = create_campaign(database_url, inbox.user, workspace_id=inbox.workspace_id, name="Lease lost",
                               phone_number_id=inbox.number["id"], body="Hello", include_tags=["lease-lost"],
                               send_rate=50)
    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
    assert r.status_code == 201, r.text
    config = service.app.config["NUMERALOOP"]
    first = CampaignSender(sender_pool, config)
    second = CampaignSender(sender_pool, config)
    try:
        (stale,) = [row for row in first.claim() if str(row["campaign_id"]) == campaign]
        # The first sender stalls past its lease (it believes its claim still holds).
        db.execute("update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = %s",
                   (stale["recipient_id"],))
        first._leases.hold([str(stale["claim_token"])], time.monotonic() + 60)
        (held,) = [row for row in second.claim() if str(row["campaign_id"]) == campaign]
        assert held["recipient_id"] == stale["recipient_id"] and held["claim_token"] != stale["claim_token"]

        creds = first._credentials(inbox.workspace_id, [stale])
        assert first.send(stale, creds) == "claim_lost"
        row = recipients(db, campaign)[number]
        assert row["status"] == "claimed" and row["claim_token"] == held["claim_token"] and row["message_id"] is None
        assert sandbox.messages(account_sid=inbox.account["sid"], to=number) == []
        made = db.execute("select count(*) as n from public.messages where to_e164 = %s", (number,)).fetchone()["n"]
        assert made == 0

        second._leases.hold([str(held["claim_token"])], time.monotonic() + 60)
        assert second.send(held, creds) == "sent"
        row = recipients(db, campaign)[number]
        assert row["status"] == "sent" and row["claim_token"] is None and row["attempts"] == 2
        assert len(sandbox.messages(account_sid=inbox.account["sid"], to=number)) == 1
    finally:
        first.close()
        second.close()


def test_a_sender_does_not_start_a_send_its_lease_may_not_outlast(service, inbox, sandbox, db, database_url,
                                                                 sender_pool):
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["lease-short"])
    campaign = create_campaign(database_url, inbox.user, workspace_id=inbox.workspace_id, name="Lease short",
                               phone_number_id=inbox.number["id"], body="Hello", include_tags=["lease-short"],
                               send_rate=50)
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
