"""Who may lift an opt-out, end to end: the person's STOP arrives through Twilio's signed webhook,
members acting as themselves (as PostgREST runs them) cannot lift it, the person's START does,
and an admin's documented re-consent is audited."""

from __future__ import annotations

import itertools
import json

import psycopg
import pytest

from tests.support.database import acting_as, add_member

_n = itertools.count(1)


def customer() -> str:
    return f"+1628556{next(_n):04d}"


def opted_out(db, inbox, phone) -> str | None:
    row = db.execute(
        "select source from public.opt_outs where workspace_id = %s and phone_e164 = %s", (inbox.workspace_id, phone)
    ).fetchone()
    return row["source"] if row else None


def send(service, inbox, to):
    return service.post(
        "/api/v1/messages",
        user=inbox.user,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": to, "body": "Hi"},
    )


def test_the_persons_stop_is_lifted_only_by_their_start(service, inbox, sandbox, db, database_url, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    person = customer()
    assert sandbox.inject_sms(person, inbox.e164, "STOP")["status"] == 200
    assert opted_out(db, inbox, person) == "keyword:STOP"

    for user in (agent, inbox.user):  # an agent, and the workspace's owner
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            with acting_as(database_url, "authenticated", user.claims) as conn:
                conn.execute("select public.opt_in(%s, %s)", (inbox.workspace_id, person))
        assert "only the person texting START" in refused.value.diag.message_primary
    assert opted_out(db, inbox, person) == "keyword:STOP"
    r = send(service, inbox, person)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out"

    assert sandbox.inject_sms(person, inbox.e164, "start")["status"] == 200
    assert opted_out(db, inbox, person) is None
    assert send(service, inbox, person).status_code == 201


def test_a_member_lifts_a_members_opt_out(inbox, db, database_url, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    person = customer()
    with acting_as(database_url, "authenticated", agent.claims) as conn:
        assert conn.execute("select public.opt_out(%s, %s) as r", (inbox.workspace_id, person)).fetchone()["r"] is True
        assert conn.execute("select public.opt_in(%s, %s) as r", (inbox.workspace_id, person)).fetchone()["r"] is True


def test_an_admin_records_documented_consent_and_it_is_audited(inbox, sandbox, db, database_url):
    person = customer()
    sandbox.inject_sms(person, inbox.e164, "Unsubscribe")
    assert opted_out(db, inbox, person) == "keyword:UNSUBSCRIBE"
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        with acting_as(database_url, "authenticated", inbox.user.claims) as conn:
            conn.execute("select public.record_opt_in_consent(%s, %s, '')", (inbox.workspace_id, person))

    # acting_as rolls back; this transaction commits, as a client's call through PostgREST does.
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(inbox.user.claims),),
        )
        lifted = conn.execute(
            "select public.record_opt_in_consent(%s, %s, %s)",
            (inbox.workspace_id, person, "Called us on 2026-12-01 asking to get texts again"),
        ).fetchone()[0]
    assert lifted is True and opted_out(db, inbox, person) is None
    event = db.execute(
        "select id, actor_user_id::text, evidence from public.opt_out_events "
        "where workspace_id = %s and phone_e164 = %s and source = 'consent'",
        (inbox.workspace_id, person),
    ).fetchone()
    assert event["actor_user_id"] == inbox.user.id
    audit = db.execute(
        "select actor_user_id::text, details from public.audit_log "
        "where workspace_id = %s and action = 'opt_out.consent_recorded' and target_id = %s",
        (inbox.workspace_id, str(event["id"])),
    ).fetchone()
    assert audit["actor_user_id"] == inbox.user.id
    assert audit["details"] == {
        "previous_source": "keyword:UNSUBSCRIBE",
        "evidence": "Called us on 2026-12-01 asking to get texts again",
    }
