"""Quiet hours: recipients' time zones come from phonenumbers' data, which each worker loads into
the database (campaigns/time_zones.py); the claim reads them there (the window logic itself,
across zones and a DST change, is in supabase/tests/campaigns.test.sql with its own clock)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone

from .conftest import add_contacts, create_campaign, recipients


def test_the_database_knows_each_number_s_time_zones_as_phonenumbers_does(sender, db):
    # Geographic numbers (phonenumbers answers a non-geographic one, a mobile in some countries,
    # with its country's zones; the longest prefix may name fewer).
    for number in ("+12125550100", "+14155550100", "+18505550100", "+61255550100", "+33142685300"):
        expected = [z for z in timezone.time_zones_for_number(phonenumbers.parse(number)) if z != "Etc/Unknown"]
        stored = db.execute("select private.time_zones_for_number(%s) as z", (number,)).fetchone()["z"]
        assert stored == expected, number


def test_a_recipient_outside_the_window_waits_for_it_to_open(service, inbox, db, database_url, sender, sandbox):
    # Its window opens one hour from now, in Los Angeles time (the number's zone).
    (number,) = add_contacts(db, inbox.workspace_id, 1, tags=["quiet"])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Quiet",
        phone_number_id=inbox.number["id"],
        body="Not now",
        include_tags=["quiet"],
        send_rate=50,
    )
    db.execute(
        "update public.campaigns set send_window_start = (now() at time zone 'America/Los_Angeles')::time "
        "+ interval '1 hour', send_window_end = (now() at time zone 'America/Los_Angeles')::time "
        "+ interval '2 hours' where id = %s",
        (campaign,),
    )
    assert service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user).status_code == 201
    assert sender.run_once() == 0
    row = recipients(db, campaign)[number]
    waits = db.execute(
        "select next_attempt_at - now() as wait from public.campaign_recipients where id = %s", (row["id"],)
    ).fetchone()["wait"]
    assert row["status"] == "pending" and 3500 <= waits.total_seconds() <= 3601, waits
    assert sandbox.messages(account_sid=inbox.account["sid"], to=number) == []
