"""POST /api/v1/scheduled-messages: "send later" from the inbox, sent by the campaign workers with
the same claims and quiet hours; any member schedules and cancels one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.database import add_member

from .conftest import fresh_number, recipients, run_until


def schedule(service, user, inbox, to, body="See you at 5", when=None):
    when = when or datetime.now(UTC)
    return service.post(
        "/api/v1/scheduled-messages",
        user=user,
        json={
            "workspace_id": inbox.workspace_id,
            "from_number_id": inbox.number["id"],
            "to": to,
            "body": body,
            "send_at": when.isoformat(),
        },
    )


def test_a_member_schedules_a_message_the_workers_send_at_its_time(service, inbox, sandbox, db, make_user, sender):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    to = fresh_number()
    later = schedule(
        service,
        agent,
        inbox,
        to,
        body="Your table is ready {{first_name}}",
        when=datetime.now(UTC) + timedelta(hours=2),
    )
    assert later.status_code == 201, later.text
    state = later.json()
    assert (state["status"], state["kind"], state["to"], state["recipients_total"]) == ("scheduled", "single", to, 1)
    campaign = state["campaign_id"]
    assert sender.run_once() == 0 or recipients(db, campaign)[to]["status"] == "pending"
    assert sandbox.messages(account_sid=inbox.account["sid"], to=to) == []

    db.execute(
        "update public.campaigns set scheduled_at = now() - interval '1 second', "
        "next_send_at = now() - interval '1 second' where id = %s",
        (campaign,),
    )  # its time has come
    assert run_until(sender, lambda: recipients(db, campaign)[to]["status"] == "sent")
    (sent,) = sandbox.messages(account_sid=inbox.account["sid"], to=to)
    assert sent["body"] == "Your table is ready {{first_name}}"  # as written: no template
    row = recipients(db, campaign)[to]
    assert row["source"] == "manual"
    assert (
        str(db.execute("select sent_by from public.messages where id = %s", (row["message_id"],)).fetchone()["sent_by"])
        == agent.id
    )


def test_a_scheduled_message_waits_for_the_recipients_sending_window(service, inbox, db, sender, sandbox):
    db.execute(
        "update public.workspaces set campaign_window_start = (now() at time zone 'America/Los_Angeles')::time "
        "+ interval '1 hour', campaign_window_end = (now() at time zone 'America/Los_Angeles')::time "
        "+ interval '2 hours' where id = %s",
        (inbox.workspace_id,),
    )
    try:
        to = fresh_number()  # a San Francisco number
        r = schedule(service, inbox.user, inbox, to)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "sending"
        sender.run_once()
        waits = db.execute(
            "select status, next_attempt_at - now() as wait from public.campaign_recipients where campaign_id = %s",
            (r.json()["campaign_id"],),
        ).fetchone()
        assert waits["status"] == "pending" and 3500 <= waits["wait"].total_seconds() <= 3601
        assert sandbox.messages(account_sid=inbox.account["sid"], to=to) == []
    finally:
        db.execute(
            "update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = %s",
            (inbox.workspace_id,),
        )


def test_any_member_cancels_a_scheduled_message(service, inbox, db, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    r = schedule(service, inbox.user, inbox, fresh_number(), when=datetime.now(UTC) + timedelta(days=1))
    campaign = r.json()["campaign_id"]
    canceled = service.post(f"/api/v1/campaigns/{campaign}/cancel", user=agent)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"


def test_scheduling_refusals(service, inbox, db, make_user):
    opted_out = fresh_number()
    db.execute("select private.record_opt_out(%s, %s, 'manual')", (inbox.workspace_id, opted_out))
    r = schedule(service, inbox.user, inbox, opted_out)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "recipient_opted_out")
    r = service.post(
        "/api/v1/scheduled-messages",
        user=inbox.user,
        json={
            "workspace_id": inbox.workspace_id,
            "from_number_id": inbox.number["id"],
            "to": fresh_number(),
            "body": "Hi",
            "send_at": "tomorrow",
        },
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_field")
    r = schedule(service, inbox.user, inbox, "not a number")
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_to")
    outsider = make_user("outsider")
    r = schedule(service, outsider, inbox, fresh_number())
    assert r.status_code == 404 and r.json()["error"]["code"] == "workspace_not_found"
