"""Carrier filtering defence: delivery errors classified as they arrive (status callbacks). An
unreachable number (30003, 30005, 30006) marks its contact, so later campaigns skip it; a campaign
whose 30007 (filtered) share passes its threshold is paused with the reason, before the sender's
reputation is burned."""

from __future__ import annotations

import time
import uuid

from .conftest import add_contacts, create_campaign, recipients


def wait(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def campaign_status(db, campaign) -> dict:
    return db.execute("select status, last_error from public.campaigns where id = %s", (campaign,)).fetchone()


def test_a_campaign_whose_messages_carriers_filter_is_paused_with_the_reason(
    service, inbox, sandbox, db, database_url, sender
):
    tag = f"filtered-{uuid.uuid4().hex[:8]}"
    numbers = add_contacts(db, inbox.workspace_id, 60, tags=[tag])
    filtered = numbers[::4]  # a quarter of what the carriers see, from the start
    for number in filtered:
        sandbox.set_scenario(number, "undelivered", error_code=30007)
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Filtered",
        phone_number_id=inbox.number["id"],
        body="WIN A PRIZE NOW",
        include_tags=[tag],
        send_rate=15,
    )
    try:
        assert service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user).status_code == 201
        deadline = time.monotonic() + 30
        while campaign_status(db, campaign)["status"] == "sending" and time.monotonic() < deadline:
            if not sender.run_once():
                time.sleep(0.05)
        assert sandbox.wait_idle()
    finally:
        for number in filtered:
            sandbox.clear_scenario(number)
    state = campaign_status(db, campaign)
    assert state["status"] == "paused", state
    assert "30007" in state["last_error"] and "review the content" in state["last_error"]
    rows = recipients(db, campaign)
    assert sum(r["status"] == "pending" for r in rows.values()) > 0, "paused before everyone was texted"
    assert (
        db.execute(
            "select count(*) as n from public.audit_log where action = 'campaign.halted' and target_id = %s",
            (campaign,),
        ).fetchone()["n"]
        == 1
    )


def test_an_unreachable_number_marks_its_contact_and_later_campaigns_skip_it(
    service, inbox, sandbox, db, database_url, sender
):
    tag = f"unreachable-{uuid.uuid4().hex[:8]}"
    gone, fine = add_contacts(db, inbox.workspace_id, 2, tags=[tag])
    sandbox.set_scenario(gone, "undelivered", error_code=30005)
    first = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="First",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=[tag],
        send_rate=50,
    )
    try:
        assert service.post(f"/api/v1/campaigns/{first}/launch", user=inbox.user).status_code == 201
        assert wait(lambda: sender.run_once() >= 0 and campaign_status(db, first)["status"] == "completed")
        assert sandbox.wait_idle()
    finally:
        sandbox.clear_scenario(gone)
    contact = db.execute(
        "select unreachable_code, unreachable_at from public.contacts where workspace_id = %s and phone_e164 = %s",
        (inbox.workspace_id, gone),
    ).fetchone()
    assert contact["unreachable_code"] == 30005 and contact["unreachable_at"] is not None

    second = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Second",
        phone_number_id=inbox.number["id"],
        body="Hello again",
        include_tags=[tag],
    )
    e = service.get(f"/api/v1/campaigns/{second}/estimate", user=inbox.user).json()
    assert e["skipped"]["unreachable"] == 1 and e["sendable"] == 1
    r = service.post(f"/api/v1/campaigns/{second}/launch", user=inbox.user)
    assert r.status_code == 201, r.text
    rows = recipients(db, second)
    assert rows[gone]["status"] == "skipped_unreachable" and rows[fine]["status"] == "pending"
    report = service.get(f"/api/v1/campaigns/{second}/report", user=inbox.user).json()
    assert report["recipients"]["skipped_unreachable"] == 1
