"""The period's monthly messages under concurrent writers (private.message_usage, moved with each
outbound message in its transaction: supabase/migrations/20261128011000_entitlement_limits.sql):
sends racing for the last messages of the period take exactly what is left, and a send and an
inbound message's automated reply in the same conversation wait for each other instead of
deadlocking."""

from __future__ import annotations

import itertools
import threading
import time

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.database import create_user

_numbers = itertools.count(1)


@pytest.fixture
def workspace(db):
    """A free workspace (250 messages a period) with an active number; its owner sends."""
    owner = create_user(db, "usage")
    number = db.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) "
        "values (%s, 'PN' || md5(%s), %s) returning id, e164",
        (owner.workspace_id, owner.workspace_id, f"+1555000{next(_numbers):04d}"),
    ).fetchone()
    return owner, str(number["id"]), number["e164"]


def already_sent(db, workspace_id: str, number_id: str, count: int) -> None:
    db.execute(
        "with c as (select private.upsert_conversation(%(ws)s, %(num)s, private.upsert_contact(%(ws)s, '+15557770001'))"
        " as id) insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, "
        "status, source) select %(ws)s, c.id, 'outbound', p.e164, '+15557770001', 'earlier', 'delivered', 'manual' "
        "from c, public.phone_numbers p, generate_series(1, %(n)s) where p.id = %(num)s",
        {"ws": workspace_id, "num": number_id, "n": count},
    )


def usage(db, workspace_id: str) -> tuple[int, int]:
    """(used as the counter says, outbound messages this period as counted from the messages)."""
    row = db.execute(
        "select (private.message_allowance(%(ws)s) ->> 'used')::bigint as used, "
        "(select count(*) from public.messages m, private.message_period(%(ws)s) p where m.workspace_id = %(ws)s "
        "and m.direction = 'outbound' and m.created_at >= p.period_start and m.created_at < p.period_end) as counted",
        {"ws": workspace_id},
    ).fetchone()
    return row["used"], row["counted"]


def prepare(conn, owner, number_id: str, to: str):
    return conn.execute(
        "select private.prepare_outbound_message(%s, %s, %s, %s, 'Hello', null, 1, 'gsm7') as r",
        (owner.workspace_id, owner.id, number_id, to),
    ).fetchone()["r"]


def test_sends_racing_for_the_last_messages_take_exactly_what_is_left(db, database_url, workspace):
    owner, number_id, number = workspace
    already_sent(db, owner.workspace_id, number_id, 240)
    senders = 24
    barrier = threading.Barrier(senders)
    outcomes: list[str] = []

    def send(i: int) -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            barrier.wait()
            try:
                prepare(conn, owner, number_id, f"+1555888{i:04d}")
                outcomes.append("sent")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes).count("sent") == 10, outcomes
    assert sorted(outcomes).count("P0402") == senders - 10, outcomes
    assert usage(db, owner.workspace_id) == (250, 250)


def _wait_until_blocked(db, pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
        if row and row["wait_event_type"] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_a_send_and_an_automated_reply_in_one_conversation_wait_for_each_other(db, database_url, workspace):
    """The interleaving that deadlocked: a send that holds the allowance lock before it touches its
    conversation, and an inbound message that touched it before its reply takes the allowance lock."""
    owner, number_id, number = workspace
    contact = "+15557770042"
    conversation = db.execute(
        "select private.upsert_conversation(%s, %s, private.upsert_contact(%s, %s)) as id",
        (owner.workspace_id, number_id, owner.workspace_id, contact),
    ).fetchone()["id"]
    already_sent(db, owner.workspace_id, number_id, 3)
    outcomes: dict[str, object] = {}

    def run(name: str, work) -> threading.Thread:
        def target():
            try:
                work()
                outcomes[name] = "ok"
            except psycopg.Error as exc:
                outcomes[name] = exc

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with (
        psycopg.connect(database_url, row_factory=dict_row) as holder,
        psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as sender,
        psycopg.connect(database_url, row_factory=dict_row) as inbound,
    ):
        sender_pid, inbound_pid = (
            c.execute("select pg_backend_pid() as pid").fetchone()["pid"] for c in (sender, inbound)
        )
        # Holding the workspace row stops the send at its message's foreign-key check: past the
        # trigger, before it touches the conversation.
        holder.execute("select 1 from public.workspaces where id = %s for update", (owner.workspace_id,))
        send = run("send", lambda: prepare(sender, owner, number_id, contact))
        _wait_until_blocked(db, sender_pid)

        def receive():
            # receive_inbound_message's order: touch the conversation, then record the reply.
            inbound.execute(
                "update public.conversations set unread_count = unread_count + 1, status = 'open' where id = %s",
                (conversation,),
            )
            inbound.execute(
                "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, "
                "status, source) values (%s, %s, 'outbound', %s, %s, 'Reply STOP to unsubscribe', 'queued', 'help')",
                (owner.workspace_id, conversation, number, contact),
            )
            inbound.commit()

        reply = run("reply", receive)
        _wait_until_blocked(db, inbound_pid)
        holder.commit()
        send.join(timeout=30)
        reply.join(timeout=30)

    assert outcomes == {"send": "ok", "reply": "ok"}, outcomes
    assert usage(db, owner.workspace_id) == (5, 5)
