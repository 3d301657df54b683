"""Seats and monthly messages enforced (supabase/migrations/20261128011000_entitlement_limits.sql):
over HTTP a send past the period's messages is a 402 plan_limit_reached that never reaches
Twilio, a campaign whose audience needs more than is left is not launched, GET /api/v1/billing
shows the usage, and a client joining a workspace past the plan's seats is refused."""

from __future__ import annotations

import itertools
import json

import psycopg
import pytest

from tests.billing import events as ev
from tests.campaigns.conftest import create_campaign
from tests.support.database import acting_as, add_member

_n = itertools.count(1)


def customer() -> str:
    return f"+1628777{next(_n):04d}"


def already_sent(db, inbox, count: int) -> None:
    """`count` outbound messages sent earlier this period, recorded as a send records them."""
    db.execute(
        "with c as (select private.upsert_conversation(%(ws)s, %(num)s, private.upsert_contact(%(ws)s, %(to)s)) as id) "
        "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source) "
        "select %(ws)s, c.id, 'outbound', %(from)s, %(to)s, 'earlier', 'delivered', 'manual' "
        "from c, generate_series(1, %(n)s)",
        {"ws": inbox.workspace_id, "num": inbox.number["id"], "to": customer(), "from": inbox.e164, "n": count},
    )


def send(service, inbox, to, body="On the way"):
    return service.post(
        "/api/v1/messages",
        user=inbox.user,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": to, "body": body},
    )


def sandbox_messages(sandbox, inbox) -> list[dict]:
    return sandbox.messages(account_sid=inbox.account["sid"])


def test_a_free_workspace_past_its_monthly_messages_gets_402_and_nothing_reaches_twilio(service, inbox, sandbox, db):
    already_sent(db, inbox, 249)
    last = customer()
    r = send(service, inbox, last)
    assert r.status_code == 201, "the 250th message of the period goes out"
    before = len(sandbox_messages(sandbox, inbox))

    refused = customer()
    r = send(service, inbox, refused)
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert err["code"] == "plan_limit_reached"
    assert (err["limit"], err["used"], err["plan"]) == (250, 250, "free")
    assert err["message"].startswith("The Free plan's 250 messages for this period are used up")
    assert len(sandbox_messages(sandbox, inbox)) == before, "nothing was sent to Twilio"
    assert sandbox.messages(account_sid=inbox.account["sid"], to=refused) == []
    assert (
        db.execute(
            "select count(*) as n from public.messages m join public.contacts c "
            "on c.workspace_id = m.workspace_id and c.phone_e164 = m.to_e164 where c.phone_e164 = %s",
            (refused,),
        ).fetchone()["n"]
        == 0
    ), "and nothing was recorded"

    # Upgrading raises the limit: the same send goes through.
    ev.give_workspace_billing(db, inbox.workspace_id, price="price_numeraloop_starter_monthly")
    r = send(service, inbox, refused)
    assert r.status_code == 201, r.text
    assert len(sandbox.messages(account_sid=inbox.account["sid"], to=refused)) == 1


def test_launching_a_campaign_larger_than_what_is_left_is_refused(service, inbox, db, database_url):
    tag = "limits-spring"
    for _ in range(3):
        db.execute(
            "insert into public.contacts (workspace_id, phone_e164, tags) values (%s, %s, %s)",
            (inbox.workspace_id, customer(), [tag]),
        )
    already_sent(db, inbox, 248)
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Spring",
        phone_number_id=inbox.number["id"],
        body="Spring sale",
        include_tags=[tag],
    )

    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert err["code"] == "plan_limit_reached"
    assert (err["limit"], err["used"], err["plan"], err["remaining"], err["needed"]) == (250, 248, "free", 2, 3)
    assert "would text 3 recipients" in err["message"]
    row = db.execute(
        "select status, recipients_total, (select count(*) from public.campaign_recipients r "
        "where r.campaign_id = k.id) as recipients from public.campaigns k where id = %s",
        (campaign,),
    ).fetchone()
    assert (row["status"], row["recipients_total"], row["recipients"]) == ("draft", 0, 0), "the draft is untouched"


def test_billing_shows_the_usage_of_each_limit(service, inbox, db, make_user):
    already_sent(db, inbox, 7)
    add_member(db, inbox.workspace_id, make_user("teammate"), "agent")
    r = service.get(f"/api/v1/billing?workspace_id={inbox.workspace_id}", user=inbox.user)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["plan"] == "free"
    assert usage["phone_numbers"] == {"used": 1, "limit": 2}
    assert usage["seats"] == {"used": 2, "limit": 2}
    messages = usage["monthly_messages"]
    assert (messages["used"], messages["limit"], messages["remaining"]) == (7, 250, 243)
    assert messages["period_start"] < messages["period_end"]


def test_a_client_joining_past_the_seats_is_refused(make_user, db, database_url):
    owner, first, second = make_user("owner"), make_user("first"), make_user("second")
    add_member(db, owner.workspace_id, first, "agent")
    # Clients join only by accepting an invitation (PostgREST RPCs, as here, or the API).
    with psycopg.connect(database_url, autocommit=True) as setup, setup.transaction():
        setup.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(owner.claims),),
        )
        token = setup.execute(
            "select public.invite_to_workspace(%s, %s) ->> 'token'", (owner.workspace_id, second.email)
        ).fetchone()[0]
    with acting_as(database_url, "authenticated", second.claims) as conn:
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("select public.accept_workspace_invitation(%s)", (token,))
    assert refused.value.sqlstate == "P0402"
    assert refused.value.diag.message_primary == (
        "the Free plan allows 2 seats and this workspace has 2 members; upgrade to add more"
    )
