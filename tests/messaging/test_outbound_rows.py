"""Outbound message rows are made only by the service's send path, which hands each one to Twilio:
a member cannot create one through the database (PostgREST rpc or a direct insert)."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.database import acting_as, add_member


def test_a_member_cannot_record_an_outbound_message_that_never_reaches_twilio(inbox, db, database_url, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    before = db.execute(
        "select count(*) as n from public.messages where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()["n"]
    attempts = [
        (
            "select private.prepare_outbound_message(%s, %s, %s, '+16285550100', 'hi', '{}', 1, 'gsm7', null)",
            (inbox.workspace_id, agent.id, inbox.number["id"]),
        ),
        (
            "select public.prepare_outbound_message(%s, %s, '+16285550100', 'hi', '{}', 1, 'gsm7', null)",
            (inbox.workspace_id, inbox.number["id"]),
        ),
        (
            "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, status, source) "
            "select %s, id, 'outbound', %s, '+16285550100', 'queued', 'manual' from public.conversations limit 1",
            (inbox.workspace_id, inbox.e164),
        ),
    ]
    for statement, params in attempts:
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFunction)):
            with acting_as(database_url, "authenticated", agent.claims) as conn:
                conn.execute(statement, params)
    after = db.execute(
        "select count(*) as n from public.messages where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()["n"]
    assert after == before


def test_the_send_route_records_the_member_who_sent(service, inbox, sandbox, db, make_user):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    r = service.post(
        "/api/v1/messages",
        user=agent,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": "+16285550101", "body": "Hi"},
    )
    assert r.status_code == 201, r.text
    row = db.execute(
        "select sent_by::text, twilio_sid from public.messages where id = %s", (r.json()["id"],)
    ).fetchone()
    assert row["sent_by"] == agent.id and row["twilio_sid"] == r.json()["twilio_sid"]
    assert sandbox.wait_idle()
