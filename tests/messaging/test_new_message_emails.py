"""New-message e-mails: a text nobody has open is e-mailed (to the assignee, or every member when
unassigned, never to one who opted out), at most once per conversation every 10 minutes, never
while a page has the conversation open, with no message text in it; two workers never e-mail
about one conversation. The clock is the database's, moved by passing p_now: nothing sleeps."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import psycopg
import pytest
from psycopg.rows import dict_row

from numeraloop.notifications.mail import MailConfigError, Mailer
from numeraloop.notifications.new_messages import NewMessageNotifier, note_viewed
from numeraloop_local.smtp_catcher import CatcherClient, CatcherServer
from tests.support.database import add_member

BASE = "https://numeraloop.example.test"


@pytest.fixture(scope="module")
def catcher():
    with CatcherServer() as server:
        yield server


@pytest.fixture
def mail(catcher):
    client = CatcherClient(catcher.url)
    client.clear()
    return client


@pytest.fixture
def config(service_config, catcher):
    return dataclasses.replace(service_config, smtp_url=catcher.smtp_url, public_base_url=BASE)


@pytest.fixture
def notifier(service, config, db):
    # Texts other tests left pending would be e-mailed too (harmlessly, but each test reads only
    # its own mail and wants its conversation claimed in the first batch).
    db.execute("update public.conversation_email_alerts set pending_since = null where pending_since is not null")
    return NewMessageNotifier(service.app.extensions["numeraloop.pool"], config)


def db_now(db, minutes: float = 0, seconds: float = 0):
    """The database's clock, moved on: what the functions' p_now is given instead of waiting."""
    return db.execute("select now() + make_interval(secs => %s) as t", (minutes * 60 + seconds,)).fetchone()["t"]


def run(notifier, now=None) -> int:
    claimed = total = notifier.run_once(now)
    while claimed:
        claimed = notifier.run_once(now)
        total += claimed
    return total


def conversation_of(db, workspace_id, phone) -> str:
    return str(
        db.execute(
            "select c.id from public.conversations c join public.contacts ct on ct.id = c.contact_id "
            "where c.workspace_id = %s and ct.phone_e164 = %s",
            (workspace_id, phone),
        ).fetchone()["id"]
    )


def text(sandbox, inbox, db, phone, body) -> str:
    assert sandbox.inject_sms(phone, inbox.e164, body)["status"] == 200
    return conversation_of(db, inbox.workspace_id, phone)


def as_member(db, user, sql, params=()):
    """Runs `sql` as the signed-in user and commits, as a page's request does."""
    with db.transaction():
        db.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(user.claims),),
        )
        return db.execute(sql, params).fetchone()


def view(db, user, conversation_id):
    return as_member(db, user, "select public.note_conversation_viewed(%s) as noted", (conversation_id,))["noted"]


def test_an_unread_text_is_emailed_once_in_ten_minutes_naming_who_and_where_but_not_what(
    notifier, sandbox, inbox, db, mail
):
    conversation = text(sandbox, inbox, db, "+16285557001", "my door code is 4711")
    db.execute(
        "update public.contacts set first_name = 'Ann', last_name = 'Lee' where workspace_id = %s "
        "and phone_e164 = '+16285557001'",
        (inbox.workspace_id,),
    )
    assert run(notifier) == 1
    [sent] = mail.messages(to=inbox.user.email)
    message = mail.message(sent["id"])
    assert message["subject"] == "New text from Ann Lee"
    assert "Ann Lee (+16285557001) texted " + inbox.e164 in message["text"]
    assert f"{BASE}/inbox/{conversation}" in message["text"]
    assert "4711" not in json.dumps(message) and "door code" not in json.dumps(message), "the text never leaves"
    assert ["Auto-Submitted", "auto-generated"] in message["headers"]

    text(sandbox, inbox, db, "+16285557001", "hello again")  # within the 10 minutes
    assert run(notifier) == 0
    assert run(notifier, db_now(db, minutes=9)) == 0
    assert len(mail.messages(to=inbox.user.email)) == 1, "one e-mail for two texts within 10 minutes"

    # Still unread once the 10 minutes are up: one more e-mail, about what came since.
    assert run(notifier, db_now(db, minutes=11)) == 1
    newest = mail.wait_for(inbox.user.email, count=2)
    assert "2 unread messages" in newest["text"] and "hello again" not in newest["text"]
    assert run(notifier, db_now(db, minutes=30)) == 0, "nothing new since: no third e-mail"


def open_and_read(db, user, conversation_id):
    """What the inbox page does when it shows a conversation: marks it read, notes it is open."""
    as_member(db, user, "select public.mark_conversation_read(%s)", (conversation_id,))
    assert view(db, user, conversation_id) is True


def test_no_email_while_a_page_polls_the_conversation(notifier, sandbox, inbox, db, mail):
    conversation = text(sandbox, inbox, db, "+16285557002", "first")
    open_and_read(db, inbox.user, conversation)
    assert run(notifier) == 0, "read: nothing to tell"
    text(sandbox, inbox, db, "+16285557002", "while open")
    assert run(notifier) == 0, "open in a page that polled in the last 10 s"
    assert run(notifier, db_now(db, seconds=5)) == 0
    open_and_read(db, inbox.user, conversation)  # the page's next poll shows it
    assert run(notifier, db_now(db, minutes=20)) == 0
    assert mail.messages(to=inbox.user.email) == []


def test_a_page_closed_before_the_text_arrived_does_not_hold_it_back(notifier, sandbox, inbox, db, mail):
    conversation = text(sandbox, inbox, db, "+16285557003", "opening text")
    open_and_read(db, inbox.user, conversation)
    assert run(notifier) == 0
    text(sandbox, inbox, db, "+16285557003", "after the page was closed")  # no poll after this one
    assert run(notifier) == 0, "the page polled seconds ago: it may still be open"
    assert run(notifier, db_now(db, seconds=11)) == 1, "no poll for 10 s: nobody has it open"
    assert mail.wait_for(inbox.user.email)["subject"] == "New text from +16285557003"


def test_unassigned_goes_to_every_member_assigned_to_the_assignee_only(notifier, sandbox, inbox, db, mail, make_user):
    agent = make_user("agent")  # the Free plan's two seats: the owner and this agent
    add_member(db, inbox.workspace_id, agent)
    outsider = make_user("outsider")

    conversation = text(sandbox, inbox, db, "+16285557004", "anyone there?")
    assert run(notifier) == 1
    for user in (inbox.user, agent):
        assert "this conversation is unassigned" in mail.wait_for(user.email)["text"]
    assert mail.messages(to=outsider.email) == []

    mail.clear()
    db.execute("update public.conversations set assigned_to = %s where id = %s", (agent.id, conversation))
    text(sandbox, inbox, db, "+16285557004", "hello?")
    assert run(notifier, db_now(db, minutes=11)) == 1
    assert "you are assigned to this conversation" in mail.wait_for(agent.email)["text"]
    assert mail.messages(to=inbox.user.email) == []


def test_a_member_who_opted_out_gets_none(notifier, sandbox, inbox, db, mail, make_user):
    agent = make_user("quiet")
    add_member(db, inbox.workspace_id, agent)
    as_member(
        db,
        agent,
        "update public.profiles set preferences = preferences || %s where id = auth.uid() returning id",
        (json.dumps({"email_on_new_message": False}),),
    )  # as the settings page writes it
    conversation = text(sandbox, inbox, db, "+16285557005", "hi all")
    assert run(notifier) == 1
    mail.wait_for(inbox.user.email)
    assert mail.messages(to=agent.email) == []

    # Assigned to the one who opted out: nobody is e-mailed, and nothing stays pending.
    mail.clear()
    db.execute("update public.conversations set assigned_to = %s where id = %s", (agent.id, conversation))
    text(sandbox, inbox, db, "+16285557005", "hi you")
    assert run(notifier, db_now(db, minutes=11)) == 0
    assert mail.messages() == []
    assert (
        db.execute(
            "select pending_since from public.conversation_email_alerts where conversation_id = %s", (conversation,)
        ).fetchone()["pending_since"]
        is None
    )


def claim(database_url, now=None, hold: threading.Event | None = None, out: list | None = None):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute("set role service_role")
        rows = conn.execute(
            "select * from private.claim_new_message_emails(50, 120, coalesce(%s, now()))", (now,)
        ).fetchall()
        if out is not None:
            out.extend(rows)
        if hold is not None:
            hold.wait(30)  # keeps the transaction, and its row locks, open
        conn.commit()
    return rows


def test_two_workers_never_claim_one_conversation(notifier, sandbox, inbox, db, database_url):
    conversation = text(sandbox, inbox, db, "+16285557006", "race")
    release, first = threading.Event(), []
    holder = threading.Thread(target=claim, args=(database_url, None, release, first))
    holder.start()
    try:
        for _ in range(1500):  # until the first worker has claimed (30 s at most)
            if first:
                break
            release.wait(0.02)
        assert [str(r["conversation_id"]) for r in first] == [conversation]
        assert claim(database_url) == [], "locked by the first worker's open transaction: skipped"
    finally:
        release.set()
        holder.join(30)
    assert claim(database_url) == [], "claimed, under lease"
    # The first worker died: once its lease ends another takes over, and the dead one's late
    # report changes nothing.
    [again] = claim(database_url, db_now(db, minutes=3))
    assert str(again["conversation_id"]) == conversation and again["claim_token"] != first[0]["claim_token"]
    with db.transaction():
        db.execute("set local role service_role")
        late = db.execute(
            "select private.complete_new_message_email(%s, %s, true) as r", (conversation, first[0]["claim_token"])
        ).fetchone()["r"]
    assert late == {"recorded": False}


def test_an_smtp_failure_is_retried_and_nothing_is_lost(notifier, service, config, sandbox, inbox, db, mail):
    conversation = text(sandbox, inbox, db, "+16285557007", "are you open?")
    unreachable = socket_free_port()
    broken = NewMessageNotifier(
        service.app.extensions["numeraloop.pool"],
        config,
        mailer=Mailer(f"smtp://127.0.0.1:{unreachable}", "NumeraLoop <no-reply@example.test>"),
    )
    assert run(broken) == 1
    row = db.execute(
        "select pending_since, claimed_until > now() as waiting from public.conversation_email_alerts "
        "where conversation_id = %s",
        (conversation,),
    ).fetchone()
    assert row["pending_since"] is not None and row["waiting"], "kept pending, retried a minute later"
    assert run(notifier) == 0
    assert run(notifier, db_now(db, minutes=2)) == 1
    assert mail.wait_for(inbox.user.email)["subject"] == "New text from +16285557007"


def socket_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_only_members_note_a_conversation_as_open(sandbox, inbox, db, make_user):
    conversation = text(sandbox, inbox, db, "+16285557008", "who is looking")
    outsider = make_user("peeker")
    assert view(db, outsider, conversation) is False
    assert view(db, inbox.user, conversation) is True
    seen = db.execute(
        "select user_id from public.conversation_viewers where conversation_id = %s", (conversation,)
    ).fetchall()
    assert [str(r["user_id"]) for r in seen] == [inbox.user.id]
    with db.transaction():  # what the inbox page passes along: anything at all, never an error
        for junk in (None, "", "not-a-uuid", "'; drop table x; --", "00000000-0000-0000-0000-000000000000"):
            note_viewed(db, junk)


@pytest.mark.parametrize("url", ["http://mail.example.test", "smtp://", "mail.example.test:25"])
def test_a_malformed_smtp_url_is_a_configuration_error_naming_it(url):
    with pytest.raises(MailConfigError, match="SMTP_URL"):
        Mailer(url, "NumeraLoop <no-reply@example.test>")
